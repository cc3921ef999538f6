// SPDX-License-Identifier: GPL-2.0-only
// Prometheus metrics of `run`: a snapshot the poll loop publishes about once a
// second, rendered in the text exposition format (0.0.4) on each scrape by an
// HTTP server (cpp-httplib) in its own thread. Off unless --metrics-address.
#pragma once

#include "mxwatch/enrich/container_resolver.hpp"

#include "mxwatch/sinks/alert_output.hpp"
#include "mxwatch/kernel/kernel_sampler.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace mxwatch {

struct MetricsSnapshot {
	SamplerCounters kernel;
	std::string attach_type;
	std::string fpu_layout;
	std::uint64_t malformed_records = 0;
	std::uint64_t samples = 0;
	std::array<std::uint64_t, 3> detections{}; // by AlertStage: first (kind="alert"), ongoing, resolved
	std::uint64_t allowlisted = 0;
	std::size_t tracked_processes = 0;
	std::size_t tracked_threads = 0;
	std::vector<SinkStats> sinks;
	unsigned sampling_floor_hz = 0;
	std::uint64_t reloads_succeeded = 0;
	std::uint64_t reloads_failed = 0;
	bool last_reload_ok = true;
	double last_reload_success_unix = 0; // start, or the last successful reload
	std::string attachment_problem;      // empty while the program is attached and running
	bool reader_realtime = false;
	ResolverStats containers;                 // the container runtimes' lookups
	std::uint64_t container_waits = 0;        // first alerts held back for their container's metadata
	std::uint64_t container_wait_timeouts = 0; // ... that went out without it
};

// What the kernel says about this process (/proc/self).
struct ProcessStats {
	double cpu_seconds = 0;
	std::uint64_t resident_bytes = 0;
	std::uint64_t virtual_bytes = 0;
	double start_unix = 0;
	std::uint64_t open_fds = 0;
	std::uint64_t max_fds = 0;
};
ProcessStats read_process_stats();

// The exposition text: HELP, TYPE and samples of every metric.
std::string render_metrics(const MetricsSnapshot &snapshot, const ProcessStats &process);

// "HOST:PORT" or "[V6]:PORT"; false with a reason when malformed.
struct ListenAddress {
	std::string host;
	int port = 0;
};
std::optional<ListenAddress> parse_listen_address(const std::string &text, std::string &error);

class MetricsServer {
public:
	// Binds now (throws SetupError naming the address when it cannot) and serves
	// /metrics and /healthz from its own thread.
	explicit MetricsServer(const std::string &address);
	~MetricsServer();
	MetricsServer(const MetricsServer &) = delete;
	MetricsServer &operator=(const MetricsServer &) = delete;

	void publish(MetricsSnapshot snapshot);
	// Where it listens, with the port the kernel chose for port 0.
	std::string url() const { return url_; }

private:
	std::unique_ptr<httplib::Server> server_;
	std::thread thread_;
	std::string url_;
	mutable std::mutex mutex_;
	MetricsSnapshot snapshot_;
	std::chrono::steady_clock::time_point published_;
};

} // namespace mxwatch
