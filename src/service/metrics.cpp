// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/service/metrics.hpp"

#include "mxwatch/util/clock.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/util/proc_stat.hpp"
#include "mxwatch/util/sigpipe.hpp"
#include "mxwatch/version.hpp"

#include <bpf/libbpf.h>
#include <filesystem>
#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <httplib.h>
#include <sys/resource.h>
#include <unistd.h>

namespace mxwatch {
namespace {

// Label values may carry file paths (sink names): escape as the format says.
std::string label_value(std::string_view text)
{
	std::string out;
	for (const char c : text) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

class Exposition {
public:
	// Starts a metric family; samples follow.
	Exposition &family(std::string_view name, std::string_view type, std::string_view help)
	{
		name_ = name;
		text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
		return *this;
	}
	Exposition &sample(double value, std::string_view labels = {})
	{
		text_ += name_;
		if (!labels.empty())
			text_ += fmt::format("{{{}}}", labels);
		text_ += fmt::format(" {}\n", value);
		return *this;
	}
	Exposition &sample(std::uint64_t value, std::string_view labels = {})
	{
		text_ += name_;
		if (!labels.empty())
			text_ += fmt::format("{{{}}}", labels);
		text_ += fmt::format(" {}\n", value);
		return *this;
	}
	std::string take() { return std::move(text_); }

private:
	std::string name_;
	std::string text_;
};

} // namespace

ProcessStats read_process_stats()
{
	ProcessStats stats;
	const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
	const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
	if (const auto stat = read_proc_stat_file("/proc/self/stat"); stat && stat->vsize && stat->rss) {
		stats.cpu_seconds = static_cast<double>(stat->utime + stat->stime) / ticks;
		stats.virtual_bytes = *stat->vsize;
		stats.resident_bytes = static_cast<std::uint64_t>(static_cast<double>(*stat->rss) * page);
		std::ifstream uptime_file("/proc/uptime");
		double uptime = 0;
		uptime_file >> uptime;
		stats.start_unix = unix_now() - uptime + static_cast<double>(stat->starttime) / ticks;
	}
	std::error_code ec;
	for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
	     !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
		stats.open_fds++;
	if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0)
		stats.max_fds = limit.rlim_cur;
	return stats;
}

std::string render_metrics(const MetricsSnapshot &s, const ProcessStats &process)
{
	Exposition out;
	out.family("mxwatch_build_info", "gauge", "Version of the running mxwatch; always 1.")
		.sample(std::uint64_t{1}, fmt::format(R"(version="{}",revision="{}",libbpf="{}")", label_value(kVersion),
						      label_value(kGitRevision), label_value(libbpf_version_string())));
	out.family("mxwatch_attach_info", "gauge", "How the BPF program is attached and the kernel's FPU layout; always 1.")
		.sample(std::uint64_t{1},
			fmt::format(R"(attach="{}",fpu_layout="{}")", label_value(s.attach_type), label_value(s.fpu_layout)));
	out.family("mxwatch_tracepoint_hits_total", "counter",
		   "Times the BPF program ran (user-task FPU context switches).")
		.sample(s.kernel.hits);
	out.family("mxwatch_bpf_attached", "gauge",
		   "1 while the BPF program is attached and running; 0 once it was found detached or silent "
		   "(then mxwatch exits with an error).")
		.sample(std::uint64_t{s.attachment_problem.empty() ? 1u : 0u});
	out.family("mxwatch_reader_realtime", "gauge",
		   "1 when the ring-buffer reader thread runs SCHED_FIFO (keeps up on saturated CPUs).")
		.sample(std::uint64_t{s.reader_realtime ? 1u : 0u});
	// The kernel's and the detector's plain counters, one family each.
	const struct {
		const char *name;
		const char *help;
		std::uint64_t value;
	} counters[] = {
		{"mxwatch_kernel_records_sent_total",
		 "Records (samples and summaries) the BPF program put in the ring buffer.",
		 s.kernel.sent},
		{"mxwatch_kernel_records_lost_total",
		 "Records lost because the ring buffer was full and they could not be kept for later.",
		 s.kernel.lost},
		{"mxwatch_kernel_samples_lost_total",
		 "Samples in the lost records.",
		 s.kernel.lost_samples},
		{"mxwatch_kernel_samples_folded_total",
		 "Raw mode: default-mode samples of followed threads counted in the next record instead of sent.",
		 s.kernel.suppressed},
		{"mxwatch_kernel_track_failures_total",
		 "Samples of threads that could not be followed because the tracking map was full (one per attempt: such a thread tries again at each non-default sample).",
		 s.kernel.track_failed},
		{"mxwatch_kernel_read_failures_total",
		 "Saved FPU states the BPF program could not read.",
		 s.kernel.read_failed},
		{"mxwatch_records_malformed_total",
		 "Ring buffer records that could not be decoded.",
		 s.malformed_records},
		{"mxwatch_samples_processed_total",
		 "Samples the detector has judged.",
		 s.samples},
	};
	for (const auto &counter : counters)
		out.family(counter.name, "counter", counter.help).sample(counter.value);
	out.family("mxwatch_kernel_followed_threads", "gauge",
		   "Threads the BPF program follows now: entries in its tracking map, freed when a thread exits "
		   "or stays in the default mode.")
		.sample(s.kernel.followed_threads);
	out.family("mxwatch_kernel_summaries_deferred_total", "counter",
		   "Times a thread's summary was due and held back in the kernel, still counting, to go out later.")
		.sample(s.kernel.deferred_budget, R"(reason="process_budget")")
		.sample(s.kernel.deferred_full, R"(reason="ring_buffer_full")");
	out.family("mxwatch_detections_total", "counter",
		   "Alert events by kind: alert (a new miner), ongoing (still mining), resolved (gone).");
	const char *kinds[] = {"alert", "ongoing", "resolved"};
	for (std::size_t i = 0; i < s.detections.size(); i++)
		out.sample(s.detections[i], fmt::format(R"(kind="{}")", kinds[i]));
	out.family("mxwatch_allowlisted_detections_total", "counter",
		   "Alert events not sent because the process is allowlisted.")
		.sample(s.allowlisted);
	out.family("mxwatch_tracked_processes", "gauge", "Processes the detector holds evidence for.")
		.sample(static_cast<std::uint64_t>(s.tracked_processes));
	out.family("mxwatch_tracked_threads", "gauge", "Threads the detector holds evidence for.")
		.sample(static_cast<std::uint64_t>(s.tracked_threads));
	// Per sink: a family each, a sample per sink.
	const struct {
		const char *name;
		const char *type;
		const char *help;
		std::uint64_t (*value)(const SinkStats &);
	} sink_families[] = {
		{"mxwatch_sink_alerts_delivered_total", "counter",
		 "Alert events a sink delivered.",
		 [](const SinkStats &sink) -> std::uint64_t { return sink.delivered; }},
		{"mxwatch_sink_alerts_failed_total", "counter",
		 "Alert events a sink gave up on: rejected, or still queued when shutdown's drain ended.",
		 [](const SinkStats &sink) -> std::uint64_t { return sink.failed; }},
		{"mxwatch_sink_alerts_dropped_total", "counter",
		 "Alert events that never reached a sink because its queue was full.",
		 [](const SinkStats &sink) -> std::uint64_t { return sink.dropped; }},
		{"mxwatch_sink_alerts_retried_total", "counter",
		 "Delivery attempts that failed and were retried (peer down, disk full).",
		 [](const SinkStats &sink) -> std::uint64_t { return sink.retried; }},
		{"mxwatch_sink_alerts_late_total", "counter",
		 "Alert events a sink delivered after an outage.",
		 [](const SinkStats &sink) -> std::uint64_t { return sink.late; }},
		{"mxwatch_sink_alerts_queued", "gauge",
		 "Alert events waiting in a sink's queue.",
		 [](const SinkStats &sink) -> std::uint64_t { return sink.queued; }},
		{"mxwatch_sink_failing", "gauge",
		 "Whether a sink's last delivery attempt failed (1) or not (0).",
		 [](const SinkStats &sink) -> std::uint64_t { return std::uint64_t{sink.failing ? 1u : 0u}; }},
	};
	for (const auto &family : sink_families) {
		out.family(family.name, family.type, family.help);
		for (const auto &sink : s.sinks)
			out.sample(family.value(sink), fmt::format(R"(sink="{}")", label_value(sink.name)));
	}
	out.family("mxwatch_container_lookups_total", "counter",
		   "Container runtime lookups answered, by runtime and result (found, not_found).");
	for (const auto &runtime : s.containers.runtimes) {
		const std::string name = label_value(runtime.runtime);
		out.sample(runtime.found, fmt::format(R"(runtime="{}",result="found")", name));
		out.sample(runtime.not_found, fmt::format(R"(runtime="{}",result="not_found")", name));
	}
	out.family("mxwatch_container_lookup_failures_total", "counter",
		   "Container runtime lookups that failed (socket absent, timeout, hang-up, garbage), by runtime.");
	for (const auto &runtime : s.containers.runtimes)
		out.sample(runtime.failed, fmt::format(R"(runtime="{}")", label_value(runtime.runtime)));
	out.family("mxwatch_container_bundle_lookups_total", "counter",
		   "Names read from a container's OCI bundle (config.json) after its runtime's API failed, by runtime.");
	for (const auto &runtime : s.containers.runtimes)
		out.sample(runtime.bundle_found, fmt::format(R"(runtime="{}")", label_value(runtime.runtime)));
	out.family("mxwatch_container_bundle_failures_total", "counter",
		   "OCI bundles (config.json) that could not be read: a symbolic link, not a regular file, too large, "
		   "not JSON; by runtime.");
	for (const auto &runtime : s.containers.runtimes)
		out.sample(runtime.bundle_failed, fmt::format(R"(runtime="{}")", label_value(runtime.runtime)));
	out.family("mxwatch_container_lookup_queue_drops_total", "counter",
		   "Container lookups not made because the resolver's queue was full.")
		.sample(s.containers.queue_drops);
	out.family("mxwatch_container_cache_entries", "gauge", "Containers whose metadata is cached.")
		.sample(static_cast<std::uint64_t>(s.containers.cached));
	out.family("mxwatch_container_waits_total", "counter",
		   "First alerts held back for their container's metadata, by outcome (answered, timeout).")
		.sample(s.container_waits - std::min(s.container_waits, s.container_wait_timeouts), R"(result="answered")")
		.sample(s.container_wait_timeouts, R"(result="timeout")");
	out.family("mxwatch_sampling_floor_hz", "gauge", "How often each CPU is woken so that busy tasks are sampled.")
		.sample(static_cast<std::uint64_t>(s.sampling_floor_hz));
	out.family("mxwatch_config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.")
		.sample(s.reloads_succeeded, R"(result="success")")
		.sample(s.reloads_failed, R"(result="failure")");
	out.family("mxwatch_config_last_reload_successful", "gauge", "Whether the last reload succeeded (1) or not (0).")
		.sample(std::uint64_t{s.last_reload_ok ? 1u : 0u});
	out.family("mxwatch_config_last_reload_success_timestamp_seconds", "gauge",
		   "When the configuration was last loaded successfully (Unix time).")
		.sample(s.last_reload_success_unix);
	out.family("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.")
		.sample(process.cpu_seconds);
	out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
		.sample(process.resident_bytes);
	out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
		.sample(process.virtual_bytes);
	out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
		.sample(process.start_unix);
	out.family("process_open_fds", "gauge", "Number of open file descriptors.").sample(process.open_fds);
	out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.").sample(process.max_fds);
	return out.take();
}

std::optional<ListenAddress> parse_listen_address(const std::string &text, std::string &error)
{
	ListenAddress address;
	std::string port;
	if (text.starts_with('[')) {
		const auto close = text.find("]:");
		if (close == std::string::npos) {
			error = "expected [IPV6]:PORT";
			return std::nullopt;
		}
		address.host = text.substr(1, close - 1);
		port = text.substr(close + 2);
	} else {
		const auto colon = text.rfind(':');
		if (colon == std::string::npos || text.find(':') != colon) {
			error = "expected HOST:PORT (IPv6 in brackets)";
			return std::nullopt;
		}
		address.host = text.substr(0, colon);
		port = text.substr(colon + 1);
	}
	if (address.host.empty() || port.empty() || port.size() > 5 ||
	    port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
		error = "expected HOST:PORT with a port from 0 to 65535";
		return std::nullopt;
	}
	address.port = std::stoi(port);
	return address;
}

MetricsServer::MetricsServer(const std::string &address)
    : server_(std::make_unique<httplib::Server>()), published_(std::chrono::steady_clock::now())
{
	// A scraper that hangs up mid-response must not take the daemon with it.
	ignore_sigpipe();
	std::string error;
	const auto where = parse_listen_address(address, error);
	if (!where)
		throw SetupError(fmt::format("--metrics-address {}: {}", address, error));
	// Two workers: a slow client holds one for at most the read timeout.
	server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
	server_->set_read_timeout(5, 0);
	server_->set_write_timeout(5, 0);
	server_->set_payload_max_length(4096);
	server_->Get("/metrics", [this](const httplib::Request &, httplib::Response &response) {
		MetricsSnapshot snapshot;
		{
			std::lock_guard lock(mutex_);
			snapshot = snapshot_;
		}
		response.set_content(render_metrics(snapshot, read_process_stats()), "text/plain; version=0.0.4; charset=utf-8");
	});
	// Liveness: the poll loop publishes every second; a stuck loop stops doing so.
	server_->Get("/healthz", [this](const httplib::Request &, httplib::Response &response) {
		std::chrono::steady_clock::duration age;
		{
			std::lock_guard lock(mutex_);
			age = std::chrono::steady_clock::now() - published_;
		}
		const bool alive = age < std::chrono::seconds(30);
		response.status = alive ? 200 : 503;
		response.set_content(alive ? "ok\n" : "the detection loop has stalled\n", "text/plain");
	});
	int port = where->port;
	if (port == 0)
		port = server_->bind_to_any_port(where->host);
	else if (!server_->bind_to_port(where->host, port))
		port = -1;
	if (port <= 0)
		throw SetupError(fmt::format("--metrics-address {}: cannot listen there (in use, or not an address "
					     "of this host)",
					     address));
	const bool v6 = where->host.find(':') != std::string::npos;
	url_ = fmt::format("http://{}{}{}:{}/metrics", v6 ? "[" : "", where->host, v6 ? "]" : "", port);
	thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
}

MetricsServer::~MetricsServer()
{
	server_->stop();
	if (thread_.joinable())
		thread_.join();
}

void MetricsServer::publish(MetricsSnapshot snapshot)
{
	std::lock_guard lock(mutex_);
	snapshot_ = std::move(snapshot);
	published_ = std::chrono::steady_clock::now();
}

} // namespace mxwatch
