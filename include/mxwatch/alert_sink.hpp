// SPDX-License-Identifier: GPL-2.0-only
// Where alert lines go. One small interface, one file per sink.
#pragma once

#include <cstdio>
#include <string>

namespace mxwatch {

class AlertSink {
public:
	virtual ~AlertSink() = default;
	// Delivers one line (no trailing newline). Returns false when it was dropped.
	virtual bool write(const std::string &line) = 0;
	// Reopens files or connections (SIGHUP, log rotation).
	virtual void reopen() {}
	virtual const char *name() const = 0;
};

class StdoutSink final : public AlertSink {
public:
	bool write(const std::string &line) override;
	const char *name() const override { return "stdout"; }
};

} // namespace mxwatch
