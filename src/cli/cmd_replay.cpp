// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch replay FILE`: the detector over recorded samples, printing the alerts
// `run` would have sent. No BPF, no root: it runs anywhere, on files from
// anywhere, so everything about the recorded host comes from the file's header.
#include "mxwatch/sinks/alert_output.hpp"
#include "mxwatch/cli/check_report.hpp"
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/recording/sample_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <spdlog/spdlog.h>
#include <vector>

namespace mxwatch {
namespace {

// How often `run` forgets idle processes; replay does it on the samples' clock.
constexpr std::uint64_t kExpiryIntervalNs = 10'000'000'000;

struct ReplayOptions {
	std::string file;
};

[[noreturn]] void fail(const std::string &message)
{
	throw std::runtime_error(message);
}

// Errors reach a terminal. The reader's reasons never quote the file's bytes;
// the name is the operator's own, but may still hold control characters.
[[noreturn]] void fail(SampleFileError error)
{
	error.file = terminal_safe(error.file);
	fail(error.message());
}

int run_replay(const ReplayOptions &options)
{
	const bool from_stdin = options.file == "-";
	std::vector<char> read_buffer(256 * 1024); // outlives `file`; 32 times the default: fewer read()s
	std::ifstream file;
	if (!from_stdin) {
		std::error_code ec;
		if (std::filesystem::is_directory(options.file, ec))
			fail(fmt::format("cannot read {}: it is a directory", terminal_safe(options.file)));
		file.rdbuf()->pubsetbuf(read_buffer.data(), static_cast<std::streamsize>(read_buffer.size()));
		file.open(options.file, std::ios::binary);
		if (!file)
			fail(fmt::format("cannot open {}: {}", terminal_safe(options.file), std::strerror(errno)));
	} else {
		std::ios::sync_with_stdio(false); // else std::cin reads through stdio a byte at a time
	}
	SampleReader reader(from_stdin ? std::cin : file, options.file);
	if (!reader.read_header())
		fail(*reader.error());
	const SampleFileHeader &header = reader.header();

	// The same output as `run`, so that replayed alerts read exactly like live ones,
	// naming the recording host: this host's identity would be a lie.
	JsonLinesOutput output(HostIdentity{header.host, std::nullopt});
	output.add_sink(std::make_unique<StdoutSink>());
	Detector detector;
	Sample sample;
	std::uint64_t samples = 0, alerts = 0, first_ns = 0, next_expiry_ns = 0;
	auto publish = [&](Detection detection) {
		alerts++;
		// The process ran on the recording host, maybe long ago: all we know of it is its pid.
		ProcessInfo process;
		process.pid = detection.key.tgid;
		const auto when = sample_wall_time(header, first_ns, detection.timestamp_ns)
					  .value_or(std::chrono::system_clock::now());
		output.publish({std::move(detection), std::move(process), when, detector.config().window_ns});
	};
	const auto started = std::chrono::steady_clock::now();
	while (reader.next(sample)) {
		if (samples++ == 0) {
			first_ns = sample.timestamp_ns;
			next_expiry_ns = first_ns + kExpiryIntervalNs;
		}
		if (sample.timestamp_ns >= next_expiry_ns) {
			for (auto &resolved : detector.expire(sample.timestamp_ns))
				publish(std::move(resolved));
			next_expiry_ns = sample.timestamp_ns + kExpiryIntervalNs;
		}
		if (auto detection = detector.observe(sample))
			publish(std::move(*detection));
	}
	std::fflush(stdout);
	if (reader.error())
		fail(*reader.error());

	const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
	spdlog::info("replayed {} samples from {} in {:.3f} s: {} alert{}", samples,
		     from_stdin ? "stdin" : terminal_safe(options.file), seconds, alerts, alerts == 1 ? "" : "s");
	return alerts ? kExitMinerFound : kExitClean;
}

} // namespace

void add_replay_command(CLI::App &app, CommandAction &action)
{
	auto options = std::make_shared<ReplayOptions>();
	CLI::App *cmd = app.add_subcommand("replay", "Run the detector over a recorded sample file and print the "
						     "alerts as JSON lines (exit 1 if any)");
	cmd->add_option("file", options->file, "Sample file written by `mxwatch record`, - for stdin")
		->required()
		->configurable(false);
	cmd->callback([&action, options] { action = [options] { return run_replay(*options); }; });
}

} // namespace mxwatch
