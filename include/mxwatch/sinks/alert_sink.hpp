// SPDX-License-Identifier: GPL-2.0-only
// Where rendered alerts go. One small interface, one source file per sink:
// stdout_sink.cpp, file_sink.cpp, syslog_sink.cpp, journald_sink.cpp.
//
// Each sink is driven by its own thread behind a bounded queue (sink_queue.hpp),
// so a sink may block, but only for a bounded time: sockets carry send timeouts.
// A sink never retries on its own: it says what became of the alert, and the
// queue keeps it and tries again with backoff (the same for every sink, so that
// network sinks to come, such as Alertmanager or HTTP, only need to classify).
#pragma once

#include "mxwatch/alerts/alert_format.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

// What became of one alert handed to a sink.
enum class Delivery {
	Delivered, // it reached the destination
	Retry,     // not now (peer down, disk full): the queue keeps it and tries again later
	Rejected,  // never (the destination refuses this alert): counted as failed, not retried
};

class AlertSink {
public:
	virtual ~AlertSink() = default;
	// Delivers one alert, whole, or not at all: on Retry nothing of it may remain
	// at the destination, since it is sent again.
	virtual Delivery write(const RenderedAlert &alert) = 0;
	// Why the last write did not deliver, for the log ("connect: Connection refused").
	virtual std::string last_error() const { return {}; }
	// Reopens files or connections (SIGHUP, log rotation). Called from the sink's thread.
	virtual void reopen() {}
	// "stdout", "file:/var/log/mxwatch/alerts.jsonl", "syslog:udp:[::1]:514", ...
	virtual std::string name() const = 0;
};

// JSON lines on standard output (make_stdout_sink() also ignores SIGPIPE).
class StdoutSink final : public AlertSink {
public:
	Delivery write(const RenderedAlert &alert) override;
	std::string last_error() const override { return error_; }
	std::string name() const override { return "stdout"; }

private:
	std::string error_;
};

enum class SyslogTransport { Unix, Udp, Tcp };

// One --sink value, parsed:
//   stdout | file:PATH | journald
//   syslog | syslog:unix:PATH | syslog:udp:HOST:PORT | syslog:tcp:HOST:PORT
// ("syslog" alone is the local socket /dev/log; HOST may be [v6-address]).
struct SinkSpec {
	enum class Kind { Stdout, File, Syslog, Journald } kind = Kind::Stdout;
	std::string path; // file, syslog unix socket
	SyslogTransport transport = SyslogTransport::Unix;
	std::string host; // syslog udp/tcp
	std::string port;
};

// The spec, or a sentence saying what is wrong with it.
struct SinkSpecResult {
	std::optional<SinkSpec> spec;
	std::string error;
};
SinkSpecResult parse_sink_spec(std::string_view text);

// Each throws SetupError when the sink cannot work at all (a file that cannot be
// opened); a peer that is down at start is not an error: its alerts wait in the
// queue and are retried.
std::unique_ptr<AlertSink> make_stdout_sink();
std::unique_ptr<AlertSink> make_file_sink(const std::string &path);
std::unique_ptr<AlertSink> make_syslog_sink(const SinkSpec &spec, int facility);
std::unique_ptr<AlertSink> make_journald_sink();
std::unique_ptr<AlertSink> make_sink(const SinkSpec &spec, int syslog_facility);

// Writes all of `data` to a file descriptor, retrying short writes and EINTR;
// false (errno says why) when it could not, with how much it wrote in `written`.
bool write_all(int fd, std::string_view data, std::size_t *written = nullptr);

} // namespace mxwatch
