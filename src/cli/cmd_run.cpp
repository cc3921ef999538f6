// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch run`: the daemon. Attach, detect, send alerts until SIGTERM/SIGINT;
// SIGHUP reloads the configuration and reopens the sinks.
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/service/metrics.hpp"
#include "mxwatch/kernel/privileges.hpp"
#include "mxwatch/util/clock.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace mxwatch {
namespace {

// Options that shape what is attached; changing them means a restart.
void warn_restart_needed(const CommonOptions &running, const CommonOptions &wanted)
{
	auto check = [](const char *name, bool changed) {
		if (changed)
			spdlog::warn("reload: {} changed; it takes effect after a restart", name);
	};
	check("attach", running.attach != wanted.attach);
	check("ring-buffer-kib", running.ring_buffer_kib != wanted.ring_buffer_kib);
	check("sampling-floor-hz", running.sampling_floor_hz != wanted.sampling_floor_hz);
	check("sampling-boost", running.sampling_boost != wanted.sampling_boost);
	check("metrics-address", running.metrics_address != wanted.metrics_address);
	check("container lookups (--container-lookups, --containerd-socket, --crio-socket, --containerd-bundles, "
	      "--crio-bundles, --docker-socket, --podman-socket)",
	      running.containers.enabled != wanted.containers.enabled ||
		  running.containers.containerd != wanted.containers.containerd ||
		  running.containers.crio != wanted.containers.crio ||
		  running.containers.containerd_bundles != wanted.containers.containerd_bundles ||
		  running.containers.crio_bundles != wanted.containers.crio_bundles ||
		  running.containers.docker != wanted.containers.docker ||
		  running.containers.podman != wanted.containers.podman ||
		  running.container_wait_ms != wanted.container_wait_ms);
	// CAP_KILL is kept only when an action was configured at start.
	check("action", running.detection.action != wanted.detection.action);
}

// Reloads, for the metrics.
struct ReloadCounts {
	std::uint64_t succeeded = 0;
	std::uint64_t failed = 0;
	bool last_ok = true;
	double last_success_unix = unix_now();
};

MetricsSnapshot snapshot(const LiveSource &source, const Pipeline &pipeline, const ReloadCounts &reloads,
			 const ContainerResolver *containers)
{
	MetricsSnapshot s;
	if (containers)
		s.containers = containers->stats();
	s.container_waits = pipeline.counts().container_waits;
	s.container_wait_timeouts = pipeline.counts().container_wait_timeouts;
	s.kernel = source.sampler().counters();
	s.attach_type = std::string(to_string(source.sampler().attach_type()));
	s.fpu_layout = std::string(source.sampler().fpu_layout());
	s.malformed_records = source.sampler().malformed_records();
	s.samples = pipeline.samples_seen();
	s.detections = pipeline.counts().detections;
	s.allowlisted = pipeline.counts().allowlisted;
	s.tracked_processes = pipeline.detector().processes().size();
	for (const auto &[key, process] : pipeline.detector().processes())
		s.tracked_threads += process.threads.size();
	s.sinks = pipeline.output_stats();
	s.sampling_floor_hz = source.sampling_floor().rate_hz();
	s.attachment_problem = source.attachment_problem();
	s.reader_realtime = source.reader_realtime_refusal().empty();
	s.reloads_succeeded = reloads.succeeded;
	s.reloads_failed = reloads.failed;
	s.last_reload_ok = reloads.last_ok;
	s.last_reload_success_unix = reloads.last_success_unix;
	return s;
}

// SIGHUP: the same command line read again with the config file as it is now.
// Detection settings, the allowlist, the sinks and the log level change in
// place; a configuration that does not parse or whose sinks cannot be opened is
// refused as a whole and the running one kept.
bool reload(const CommandLine &cli, CommonOptions &running, Pipeline &pipeline,
	    const std::shared_ptr<ExecutableHasher> &hasher)
{
	bool ok = true;
	sd_notify(0, "RELOADING=1");
	try {
		const auto fresh = parse_command_line(cli.args);
		const CommonOptions &wanted = fresh->common;
		auto output = make_output(wanted.output, wanted.host_identity(), hasher);
		const PipelineOptions options = wanted.to_pipeline_options();
		pipeline.reconfigure(options.detector, options.allowlist);
		// A sink configured again keeps what it was still trying to deliver (an outage).
		if (auto *previous = dynamic_cast<QueuedOutput *>(pipeline.output()))
			if (const std::size_t moved = output->take_over_sinks(*previous))
				spdlog::info("reload: {} queued alert{} kept for delivery", moved, moved == 1 ? "" : "s");
		pipeline.set_output(std::move(output));
		setup_logging(wanted.verbosity);
		warn_restart_needed(running, wanted);
		const CommonOptions kept = running;
		running = wanted;
		running.attach = kept.attach;
		running.ring_buffer_kib = kept.ring_buffer_kib;
		running.sampling_floor_hz = kept.sampling_floor_hz;
		running.sampling_boost = kept.sampling_boost;
		running.metrics_address = kept.metrics_address;
		running.containers = kept.containers;
		running.container_wait_ms = kept.container_wait_ms;
		running.detection.action = kept.detection.action;
		spdlog::info("reload: configuration{}{} applied; alerts go to {}",
			     running.config_file.empty() ? "" : " from ", running.config_file,
			     describe_output(running.output));
	} catch (const std::exception &e) {
		spdlog::error("reload failed, the running configuration stays: {}", e.what());
		pipeline.reopen_output(); // still do what SIGHUP always did: logrotate may have moved the files
		ok = false;
	}
	// Compiling the YARA rules again took ~11 MiB of short-lived allocations
	// (heaptrack); glibc keeps freed heap pages, so without this the daemon held
	// them until the next churn's trim (the hour's soak: +8 MiB after each SIGHUP).
	malloc_trim(0);
	sd_notify(0, "READY=1");
	return ok;
}

struct RunOptions {
	std::string record; // --record FILE: every sample consumed, for replay
};

// `run --record FILE`: what the daemon's detector is fed, with each process's
// facts, so that `mxwatch replay FILE` reproduces its alerts exactly.
class RunRecording {
public:
	RunRecording(const std::string &path, const LiveSource &source) : path_(path)
	{
		file_.open(path, std::ios::binary | std::ios::trunc);
		if (!file_)
			throw SetupError(fmt::format("--record {}: cannot open for writing: {}", path, std::strerror(errno)));
		writer_.emplace(file_);
		writer_->defer_header([&source] { return recording_header(source); });
	}
	SampleWriter *writer() { return &*writer_; }
	// Once a second: a reader following the file sees samples within a second.
	void flush()
	{
		if (!failed_ && !file_.flush()) {
			failed_ = true;
			spdlog::error("--record {}: writing failed ({}); the recording stops here", path_, std::strerror(errno));
		}
	}
	~RunRecording()
	{
		writer_->finish();
		flush();
	}

private:
	std::string path_;
	std::ofstream file_;
	std::optional<SampleWriter> writer_;
	bool failed_ = false;
};

int run_daemon(const CommandLine &cli, const RunOptions &run_options)
{
	CommonOptions running = cli.common;
	check_output(running.output); // a sink that cannot work is reported before attaching
	StopSignals::install();
	PipelineOptions options = running.to_pipeline_options();
	// An exited process that was not alerted on goes 1 s after its last sample:
	// under process churn that bounds what is kept to about a second's worth of
	// processes. Its group's evidence outlives it (DetectorConfig::max_idle_groups),
	// so a respawning miner's workers still pool across gaps.
	options.forget_exited_after_ns = 1'000'000'000;
	LiveSource source(running.to_live_source_options());
	const auto containers = running.make_container_resolver();
	ProcDirectory processes({}, "/proc", containers);
	Pipeline pipeline(options, source, processes);
	std::optional<RunRecording> recording;
	if (!run_options.record.empty()) {
		recording.emplace(run_options.record, source);
		pipeline.set_recorder(recording->writer());
	}
	// Attached: keep only what reading other processes needs. Capabilities
	// are per thread, so this comes before the sinks' and the metrics' threads
	// start (they inherit the reduced set); the sampling floor's wakers drop
	// theirs themselves.
	drop_capabilities_after_attach(privilege_needs(running));
	pipeline.set_output(make_output(running.output, running.host_identity(), processes.hasher()));
	malloc_trim(0); // what compiling the YARA rules freed (see reload())
	ReloadCounts reloads;
	std::unique_ptr<MetricsServer> metrics;
	if (!running.metrics_address.empty()) {
		metrics = std::make_unique<MetricsServer>(running.metrics_address);
		metrics->publish(snapshot(source, pipeline, reloads, containers.get()));
		spdlog::info("metrics on {}", metrics->url());
	}
	sd_notify(0, "READY=1\nSTATUS=watching FPU context switches");
	spdlog::info("watching; alerts go to {}", describe_output(running.output));

	unsigned hangups_seen = StopSignals::hangups().load();
	const auto forever = std::chrono::steady_clock::time_point::max();
	auto next_stats = std::chrono::steady_clock::now() + std::chrono::minutes(1);
	auto next_metrics = std::chrono::steady_clock::now();
	auto next_flush = std::chrono::steady_clock::now();
	pipeline.run(StopSignals::stop_requested(), forever, [&] {
		if (const unsigned hangups = StopSignals::hangups().load(); hangups != hangups_seen) {
			hangups_seen = hangups;
			spdlog::info("SIGHUP: reloading the configuration and reopening sinks");
			const bool ok = reload(cli, running, pipeline, processes.hasher());
			(ok ? reloads.succeeded : reloads.failed)++;
			reloads.last_ok = ok;
			if (ok)
				reloads.last_success_unix = unix_now();
		}
		if (const auto now = std::chrono::steady_clock::now(); metrics && now >= next_metrics) {
			metrics->publish(snapshot(source, pipeline, reloads, containers.get()));
			next_metrics = now + std::chrono::seconds(1);
		}
		if (const auto now = std::chrono::steady_clock::now(); recording && now >= next_flush) {
			recording->flush();
			next_flush = now + std::chrono::seconds(1);
		}
		if (const auto now = std::chrono::steady_clock::now(); now >= next_stats) {
			const auto c = source.sampler().counters();
			spdlog::info("kernel: {} hits, {} records sent, {} lost ({} samples), {}+{} summaries deferred "
				     "(budget, ring full); tracking {} processes",
				     c.hits, c.sent, c.lost, c.lost_samples, c.deferred_budget, c.deferred_full,
				     pipeline.detector().processes().size());
			next_stats = now + std::chrono::minutes(1);
		}
	});
	sd_notify(0, "STOPPING=1");
	const auto c = source.sampler().counters();
	spdlog::info("stopping: {} hits, {} records sent, {} lost, {} alerts", c.hits, c.sent, c.lost,
		     pipeline.reports().size());
	if (!source.attachment_problem().empty()) {
		if (metrics)
			metrics->publish(snapshot(source, pipeline, reloads, containers.get())); // a last scrape shows why
		spdlog::error("exiting with status {}: mxwatch was blind ({})", int{kExitBlind},
		              source.attachment_problem());
		return kExitBlind;
	}
	return kExitClean;
}

} // namespace

void add_run_command(CLI::App &app, const CommandLine &cli, CommandAction &action)
{
	auto options = std::make_shared<RunOptions>();
	CLI::App *cmd = add_command(app, "run", "Run the detector in the foreground; alerts go to the --sink "
						  "destinations (stdout by default)", action, options,
				    [&cli](const auto &o) { return run_daemon(cli, o); });
	cmd->add_option("--record", options->record,
			"Also write every sample the detector is fed to FILE (docs/sample-format.md): "
			"`mxwatch replay FILE` reproduces the alerts")
		->type_name("FILE");
}

} // namespace mxwatch
