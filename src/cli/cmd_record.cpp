// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch record -o FILE`: the samples the kernel sends, as JSON lines, for
// offline study and test fixtures, with what /proc said about each process at
// its first sample: the file holds exactly what `run`'s detector is fed.
#include "mxwatch/alerts/alert.hpp"
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/kernel/host_checks.hpp"
#include "mxwatch/recording/sample_file.hpp"
#include "mxwatch/util/kernel_version.hpp"
#include "mxwatch/version.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <spdlog/spdlog.h>

namespace mxwatch {
namespace {

struct RecordOptions {
	std::string output;
	double duration_s = 0; // 0: until SIGINT/SIGTERM
	bool raw = false;      // one record per sample instead of per-thread summaries
};

int run_record(const CommonOptions &common, const RecordOptions &options)
{
	StopSignals::install();
	LiveSourceOptions live = common.to_live_source_options();
	// The floor always awake: a recording should show the sample rates run gets.
	live.park_sampling_floor = false;
	live.sampler.raw_samples = options.raw;
	LiveSource source(live); // attached first: a failed attach leaves no empty file

	const bool to_stdout = options.output == "-";
	const std::string shown = to_stdout ? "stdout" : options.output;
	std::ofstream file;
	if (!to_stdout) {
		file.open(options.output, std::ios::binary | std::ios::trunc);
		if (!file)
			throw std::runtime_error(
				fmt::format("cannot open {} for writing: {}", options.output, std::strerror(errno)));
	}
	std::ostream &out = to_stdout ? std::cout : file;
	SampleWriter writer(out);
	// The header goes out with the first line (or at the end): by then the
	// program has run and knows which struct fpu layout this kernel has.
	writer.defer_header([&source] { return recording_header(source); });
	// The same pipeline as `run`, without alerts: its enrich stage writes each
	// process's facts beside its samples, so that replay judges groups alike.
	ProcDirectory processes;
	PipelineOptions pipeline_options = common.to_pipeline_options();
	pipeline_options.action = ResponseAction::None;
	Pipeline pipeline(pipeline_options, source, processes, nullptr);
	pipeline.set_recorder(&writer);
	spdlog::info("recording samples to {}{}", shown,
		     options.duration_s > 0 ? fmt::format(" for {} s", options.duration_s) : " until SIGINT/SIGTERM");

	// A full disk ends the recording at once, not hours later.
	auto flush_or_throw = [&] {
		if (!out.flush())
			throw std::runtime_error(fmt::format("writing {} failed: {}", shown, std::strerror(errno)));
	};
	using clock = std::chrono::steady_clock;
	const auto start = clock::now();
	const auto until = options.duration_s > 0
				   ? start + std::chrono::duration_cast<clock::duration>(
						     std::chrono::duration<double>(options.duration_s))
				   : clock::time_point::max();
	auto next_flush = start + std::chrono::seconds(1);
	// A reader following the file (tail -f, a pipe into replay) sees samples
	// within a second; a crash loses at most that much.
	pipeline.run(StopSignals::stop_requested(), until, [&] {
		if (const auto now = clock::now(); now >= next_flush) {
			flush_or_throw();
			next_flush = now + std::chrono::seconds(1);
		}
	});
	writer.finish();
	flush_or_throw();

	const double seconds = std::chrono::duration<double>(clock::now() - start).count();
	const SamplerCounters c = source.sampler().counters();
	spdlog::info("wrote {} records to {} in {:.1f} s (kernel: {} hits, {} records sent, {} lost, {}+{} summaries "
		     "deferred)",
		     writer.samples_written(), shown, seconds, c.hits, c.sent, c.lost, c.deferred_budget,
		     c.deferred_full);
	if (c.lost)
		spdlog::warn("{} records were lost in the kernel (ring buffer full): the recording has gaps; "
			     "try a larger --ring-buffer-kib",
			     c.lost);
	return kExitClean;
}

} // namespace

SampleFileHeader recording_header(const LiveSource &source)
{
	SampleFileHeader header;
	// Taken back to back, so that replay can turn sample timestamps into wall time.
	header.monotonic_ns = source.now_ns();
	header.recorded_at = rfc3339(std::chrono::system_clock::now());
	header.host = HostIdentity::read().name;
	header.kernel = kernel_release();
	header.mxwatch = fmt::format("{} ({})", kVersion, kGitRevision);
	header.fpu_layout = source.sampler().fpu_layout();
	header.attach = to_string(source.sampler().attach_type());
	header.sampling_floor_hz = source.sampling_floor().wakers() ? source.sampling_floor().rate_hz() : 0;
	return header;
}

void add_record_command(CLI::App &app, const CommonOptions &common, CommandAction &action)
{
	auto options = std::make_shared<RecordOptions>();
	CLI::App *cmd = add_command(app, "record", "Write what the kernel sends, and each process's facts, as JSON lines (docs/sample-format.md), "
						     "for offline study and test fixtures", action, options,
				    [&common](const auto &o) { return run_record(common, o); });
	cmd->add_option("-o,--output", options->output, "File to write, - for stdout (overwritten)")
		->required()
		->configurable(false);
	cmd->add_option("-d,--duration", options->duration_s, "Seconds to record (default: until SIGINT/SIGTERM)")
		->check(CLI::Range(0.1, 31'536'000.0))
		->configurable(false);
	cmd->add_flag("--raw", options->raw,
		      "One record per sample (every non-default sample and return to the default mode) instead of "
		      "per-thread summaries")
		->configurable(false);
}

} // namespace mxwatch
