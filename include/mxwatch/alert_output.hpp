// SPDX-License-Identifier: GPL-2.0-only
// The boundary between detection and delivery. The pipeline hands every alert
// event to one AlertOutput; how it is formatted (ECS, OCSF), queued and where it
// goes (stdout, file, syslog, journald) is the output's business.
#pragma once

#include "mxwatch/alert.hpp"
#include "mxwatch/alert_sink.hpp"
#include "mxwatch/detector.hpp"
#include "mxwatch/process_info.hpp"

#include <chrono>
#include <memory>
#include <vector>

namespace mxwatch {

struct AlertEvent {
	Detection detection;
	ProcessInfo process;
	std::chrono::system_clock::time_point when;
	std::uint64_t window_ns = 0;
};

class AlertOutput {
public:
	virtual ~AlertOutput() = default;
	// Must not block detection for long: slow destinations queue or drop (and count).
	virtual void publish(const AlertEvent &event) = 0;
	// SIGHUP: reopen files and connections.
	virtual void reopen() {}
};

// ECS JSON lines written synchronously to each sink.
class JsonLinesOutput final : public AlertOutput {
public:
	explicit JsonLinesOutput(HostIdentity host);
	void add_sink(std::unique_ptr<AlertSink> sink) { sinks_.push_back(std::move(sink)); }
	void publish(const AlertEvent &event) override;
	void reopen() override;

private:
	HostIdentity host_;
	std::vector<std::unique_ptr<AlertSink>> sinks_;
};

} // namespace mxwatch
