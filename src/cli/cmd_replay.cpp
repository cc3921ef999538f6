// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch replay FILE`: recorded samples through the same pipeline as `run`,
// with every detection, allowlist, format and sink option, printing (or
// sending) the alerts `run` would have sent. No BPF, no root: it runs anywhere,
// on files from anywhere, so everything about the recorded host comes from the
// file (its header and process lines), and nothing is done to any process.
#include "mxwatch/cli/check_report.hpp"
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/recording/recording_source.hpp"
#include "mxwatch/util/fd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fcntl.h>
#include <unistd.h>
#include <spdlog/spdlog.h>
#include <vector>

namespace mxwatch {
namespace {

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

int run_replay(const CommonOptions &common, const ReplayOptions &options)
{
	StopSignals::install();
	const bool from_stdin = options.file == "-";
	UniqueFd file;
	if (!from_stdin) {
		std::error_code ec;
		if (std::filesystem::is_directory(options.file, ec))
			fail(fmt::format("cannot read {}: it is a directory", terminal_safe(options.file)));
		file = UniqueFd(::open(options.file.c_str(), O_RDONLY | O_CLOEXEC));
		if (!file)
			fail(fmt::format("cannot open {}: {}", terminal_safe(options.file), std::strerror(errno)));
	}
	std::optional<RecordingSource> source;
	try {
		source.emplace(from_stdin ? STDIN_FILENO : file.get(), terminal_safe(options.file));
	} catch (const std::runtime_error &e) {
		fail(e.what());
	}
	if (common.detection.action != "none")
		spdlog::info("replay: --action {} is not applied (the recorded processes are not here)",
			     common.detection.action);

	// run's pipeline, with the recording as both sample source and process
	// directory; alerts name the recording host: this host's identity would be a lie.
	Pipeline pipeline(common.to_pipeline_options(), *source, *source, nullptr);
	pipeline.set_output(make_batch_output(common.output, HostIdentity{source->header().host, std::nullopt}));
	const auto started = std::chrono::steady_clock::now();
	pipeline.run(StopSignals::stop_requested());
	std::fflush(stdout);
	if (source->error())
		fail(*source->error());

	const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
	std::uint64_t alerts = 0;
	for (const auto n : pipeline.counts().detections)
		alerts += n;
	// Records are the file's sample lines; a kernel summary stands for many samples.
	spdlog::info("replayed {} records ({} samples) from {} in {:.3f} s: {} alert{}", source->records_read(),
		     source->samples_read(),
		     from_stdin ? "stdin" : terminal_safe(options.file), seconds, alerts, alerts == 1 ? "" : "s");
	return alerts ? kExitMinerFound : kExitClean;
}

} // namespace

void add_replay_command(CLI::App &app, const CommonOptions &common, CommandAction &action)
{
	auto options = std::make_shared<ReplayOptions>();
	CLI::App *cmd = add_command(app, "replay", "Run the detector over a recorded sample file and send the "
						     "alerts `run` would have sent to the --sink destinations (exit 1 if any)", action, options,
				    [&common](const auto &o) { return run_replay(common, o); });
	cmd->add_option("file", options->file, "Sample file written by `mxwatch record`, - for stdin")
		->required()
		->configurable(false);
}

} // namespace mxwatch
