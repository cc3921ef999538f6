// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch run`: the daemon. Attach, detect, send alerts until SIGTERM/SIGINT;
// SIGHUP reloads the configuration and reopens the sinks.
#include "mxwatch/cli.hpp"
#include "mxwatch/errors.hpp"

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
}

// SIGHUP: the same command line read again with the config file as it is now.
// Detection settings, the allowlist, the sinks and the log level change in
// place; a configuration that does not parse or whose sinks cannot be opened is
// refused as a whole and the running one kept.
void reload(const CommandLine &cli, CommonOptions &running, Pipeline &pipeline)
{
	sd_notify(0, "RELOADING=1");
	try {
		const auto fresh = parse_command_line(cli.args);
		const CommonOptions &wanted = fresh->common;
		auto output = make_output(wanted.output, HostIdentity::read());
		const PipelineOptions options = wanted.to_pipeline_options();
		pipeline.reconfigure(options.detector, options.allowlist);
		pipeline.set_output(std::move(output));
		setup_logging(wanted.verbosity);
		warn_restart_needed(running, wanted);
		const CommonOptions kept = running;
		running = wanted;
		running.attach = kept.attach;
		running.ring_buffer_kib = kept.ring_buffer_kib;
		running.sampling_floor_hz = kept.sampling_floor_hz;
		spdlog::info("reload: configuration{}{} applied; alerts go to {}",
			     running.config_file.empty() ? "" : " from ", running.config_file,
			     describe_output(running.output));
	} catch (const std::exception &e) {
		spdlog::error("reload failed, the running configuration stays: {}", e.what());
		pipeline.reopen_output(); // still do what SIGHUP always did: logrotate may have moved the files
	}
	sd_notify(0, "READY=1");
}

int run_daemon(const CommandLine &cli)
{
	CommonOptions running = cli.common;
	StopSignals::install();
	// Sinks first: one that cannot work (an alert file that cannot be opened) is
	// a setup error before anything is attached.
	auto output = make_output(running.output, HostIdentity::read());
	Pipeline pipeline(running.to_pipeline_options());
	pipeline.set_output(std::move(output));
	sd_notify(0, "READY=1\nSTATUS=watching FPU context switches");
	spdlog::info("watching; alerts go to {}", describe_output(running.output));

	unsigned hangups_seen = StopSignals::hangups().load();
	const auto forever = std::chrono::steady_clock::time_point::max();
	auto next_stats = std::chrono::steady_clock::now() + std::chrono::minutes(1);
	pipeline.run_until(StopSignals::stop_requested(), forever, [&] {
		if (const unsigned hangups = StopSignals::hangups().load(); hangups != hangups_seen) {
			hangups_seen = hangups;
			spdlog::info("SIGHUP: reloading the configuration and reopening sinks");
			reload(cli, running, pipeline);
		}
		if (const auto now = std::chrono::steady_clock::now(); now >= next_stats) {
			const auto c = pipeline.sampler().counters();
			spdlog::info("kernel: {} hits, {} records sent, {} lost; tracking {} processes", c.hits, c.sent,
				     c.lost, pipeline.detector().processes().size());
			next_stats = now + std::chrono::minutes(1);
		}
	});
	sd_notify(0, "STOPPING=1");
	const auto c = pipeline.sampler().counters();
	spdlog::info("stopping: {} hits, {} records sent, {} lost, {} alerts", c.hits, c.sent, c.lost,
		     pipeline.reports().size());
	return kExitClean;
}

} // namespace

void add_run_command(CLI::App &app, const CommandLine &cli, CommandAction &action)
{
	CLI::App *cmd = app.add_subcommand("run", "Run the detector in the foreground; alerts go to the --sink "
						  "destinations (stdout by default)");
	cmd->callback([&cli, &action] { action = [&cli] { return run_daemon(cli); }; });
}

} // namespace mxwatch
