// SPDX-License-Identifier: GPL-2.0-only
// Where rendered alerts go. One small interface, one source file per sink:
// stdout_sink.cpp, file_sink.cpp, syslog_sink.cpp, relp_sink.cpp,
// journald_sink.cpp, http_sink.cpp, alertmanager_sink.cpp (the last two share
// http_post.hpp).
//
// Each sink is driven by its own thread behind a bounded queue (sink_queue.hpp),
// so a sink may block, but only for a bounded time: sockets carry send timeouts.
// A sink never retries on its own: it says what became of the alert, and the
// queue keeps it and tries again with backoff (the same for every sink, so that
// the network sinks, Alertmanager and HTTP, only classify the answer).
#pragma once

#include "mxwatch/alerts/alert_format.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <span>
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
	// How many alerts write_batch() takes at once; 1 (the default): write() only.
	virtual std::size_t batch_limit() const { return 1; }
	// Several queued alerts (2 to batch_limit(), in order) delivered together, all
	// or none: the http sink's NDJSON batches.
	virtual Delivery write_batch(std::span<const RenderedAlert *const> alerts)
	{
		return alerts.size() == 1 ? write(*alerts.front()) : Delivery::Rejected;
	}
	// For destinations that forget what they are not told again (Alertmanager
	// resolves an alert that is not re-sent): when the sink's thread should call
	// refresh() next, if at all. Asked between alerts, never during an outage
	// (the alert being retried goes first).
	virtual std::optional<std::chrono::steady_clock::time_point> refresh_due() const { return std::nullopt; }
	virtual void refresh() {}
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
//   relp:HOST:PORT   (RFC 5424 over RELP: acknowledged delivery; the port is required)
//   http:URL | alertmanager:URL   (URL: http[s]://HOST[:PORT][/PATH])
// ("syslog" alone is the local socket /dev/log; HOST may be [v6-address]).
struct SinkSpec {
	enum class Kind { Stdout, File, Syslog, Journald, Http, Alertmanager, Relp } kind = Kind::Stdout;
	std::string path; // file, syslog unix socket
	SyslogTransport transport = SyslogTransport::Unix;
	std::string host; // syslog udp/tcp, relp
	std::string port;
	std::string url; // http, alertmanager (checked by parse_http_url)
};

// What the http and alertmanager sinks share (--http-* and --alertmanager-* options).
struct HttpSinkOptions {
	enum class Body { Json, Ndjson } body = Body::Json; // http: one document per POST, or NDJSON batches
	std::size_t batch_max = 100;                        // ndjson: alerts per POST at most
	std::string token_file;                             // bearer token, read at start (and reload)
	std::string basic_auth_file;                        // "user:password", one line
	std::string ca_file;                                // PEM CA bundle instead of the system trust store
	std::chrono::milliseconds timeout{5000};            // connect, send and answer, each
	// Alertmanager: how often active alerts are sent again, and for how long each
	// sending keeps them firing (endsAt) if no other follows (mxwatch gone):
	// resend * resend_validity, or the detector's ongoing interval and one resend
	// if that is longer (a reload starts the sink afresh; the next ongoing alert
	// must come before the last endsAt).
	std::chrono::milliseconds resend{60'000};
	unsigned resend_validity = 4;
	std::chrono::milliseconds ongoing_interval{300'000};
	// Alertmanager: an alert not confirmed by an ongoing alert for this long is
	// dropped from the re-sent set (its resolution was lost); twice the detector's
	// ongoing interval and a minute, by default.
	std::chrono::milliseconds stale_after{11 * 60'000};
};

// Everything make_sink needs besides the spec.
struct SinkOptions {
	int syslog_facility = 3; // daemon
	HttpSinkOptions http;
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
// Facility as for syslog; SIGPIPE is ignored from then on (librelp writes with plain send()).
std::unique_ptr<AlertSink> make_relp_sink(const SinkSpec &spec, int facility);
std::unique_ptr<AlertSink> make_journald_sink();
std::unique_ptr<AlertSink> make_http_sink(const std::string &url, const HttpSinkOptions &options);
std::unique_ptr<AlertSink> make_alertmanager_sink(const std::string &url, const HttpSinkOptions &options);
std::unique_ptr<AlertSink> make_sink(const SinkSpec &spec, const SinkOptions &options);
std::unique_ptr<AlertSink> make_sink(const SinkSpec &spec, int syslog_facility);

// Writes all of `data` to a file descriptor, retrying short writes and EINTR;
// false (errno says why) when it could not, with how much it wrote in `written`.
bool write_all(int fd, std::string_view data, std::size_t *written = nullptr);

} // namespace mxwatch
