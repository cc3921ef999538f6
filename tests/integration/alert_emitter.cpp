// SPDX-License-Identifier: GPL-2.0-only
// mxw-alert-emitter: sends synthetic alerts through the real output of `mxwatch
// run` (same options, same queue, same sinks) without loading any BPF, so the
// sink tests can drive real peers (rsyslog, journald, logrotate-style renames)
// with as many alerts, as fast and as hostile as they need.
//
//   mxw-alert-emitter [--sink ...] [--format ...] --count N --interval-us U
//                     [--pid-base P] [--hostile]
//
// SIGHUP reopens the sinks, as in `mxwatch run`. At the end the sinks' counts
// are printed on stderr as one line: "stats {json}".
#include "../unit/alert_samples.hpp"

#include "mxwatch/util/errors.hpp"
#include "mxwatch/cli/output_options.hpp"

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

namespace {

std::atomic<unsigned> g_hangups{0};

void on_hangup(int)
{
	g_hangups.fetch_add(1);
}

} // namespace

int main(int argc, char **argv)
{
	using namespace mxwatch;
	CLI::App app{"Synthetic alerts through mxwatch's alert output"};
	OutputOptions output_options;
	add_output_options(app, output_options);
	unsigned count = 1, interval_us = 0, pid_base = 100000;
	bool hostile = false;
	app.add_option("--count", count);
	app.add_option("--interval-us", interval_us);
	app.add_option("--pid-base", pid_base);
	app.add_flag("--hostile", hostile, "Every name full of quotes, control characters and invalid UTF-8");
	CLI11_PARSE(app, argc, argv);

	struct sigaction action {
	};
	action.sa_handler = on_hangup;
	sigaction(SIGHUP, &action, nullptr);

	std::unique_ptr<QueuedOutput> output;
	try {
		output = make_output(output_options, test::sample_host(), nullptr);
	} catch (const SetupError &e) {
		std::fprintf(stderr, "mxw-alert-emitter: %s\n", e.what());
		return 2;
	}
	unsigned hangups_seen = 0;
	for (unsigned i = 0; i < count; i++) {
		if (const unsigned hangups = g_hangups.load(); hangups != hangups_seen) {
			hangups_seen = hangups;
			output->reopen();
		}
		Detection detection = test::sample_detection(hostile ? test::kHostile : "xmrig");
		detection.key.tgid = pid_base + i;
		ProcessInfo process = hostile ? test::hostile_process() : test::enriched_process();
		process.pid = detection.key.tgid;
		output->publish({detection, process, std::chrono::system_clock::now(), 60'000'000'000});
		if (interval_us)
			std::this_thread::sleep_for(std::chrono::microseconds(interval_us));
	}
	output->flush(std::chrono::seconds(30));
	nlohmann::json stats = nlohmann::json::array();
	for (const auto &s : output->stats())
		stats.push_back(
		    {{"sink", s.name}, {"delivered", s.delivered}, {"failed", s.failed}, {"dropped", s.dropped}});
	output.reset();
	std::fprintf(stderr, "stats %s\n", stats.dump().c_str());
	return 0;
}
