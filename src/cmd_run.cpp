// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch run`: the daemon. Attach, detect, send alerts until SIGTERM/SIGINT.
#include "mxwatch/cli.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace mxwatch {
namespace {

int run_daemon(const CommonOptions &common)
{
	StopSignals::install();
	// Sinks first: one that cannot work (an alert file that cannot be opened) is
	// a setup error before anything is attached.
	auto output = make_output(common.output, HostIdentity::read());
	Pipeline pipeline(common.to_pipeline_options());
	pipeline.set_output(std::move(output));
	sd_notify(0, "READY=1\nSTATUS=watching FPU context switches");
	spdlog::info("watching; alerts go to {}", describe_output(common.output));

	unsigned hangups_seen = StopSignals::hangups().load();
	const auto forever = std::chrono::steady_clock::time_point::max();
	auto next_stats = std::chrono::steady_clock::now() + std::chrono::minutes(1);
	pipeline.run_until(StopSignals::stop_requested(), forever, [&] {
		if (const unsigned hangups = StopSignals::hangups().load(); hangups != hangups_seen) {
			hangups_seen = hangups;
			spdlog::info("SIGHUP: reopening sinks");
			pipeline.reopen_output();
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

void add_run_command(CLI::App &app, const CommonOptions &common, int &status)
{
	CLI::App *cmd = app.add_subcommand("run", "Run the detector in the foreground; alerts go to the --sink "
						  "destinations (stdout by default)");
	cmd->callback([&common, &status] { status = run_daemon(common); });
}

} // namespace mxwatch
