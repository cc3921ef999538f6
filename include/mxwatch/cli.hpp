// SPDX-License-Identifier: GPL-2.0-only
// The command line: one CLI11 app, one file per command.
#pragma once

#include "mxwatch/output_options.hpp"
#include "mxwatch/pipeline.hpp"

#include <CLI/CLI.hpp>

namespace mxwatch {

// Exit statuses shared by every command.
enum ExitStatus : int {
	kExitClean = 0,
	kExitMinerFound = 1,
	kExitError = 2,
};

// The detector's knobs and the allowlist.
struct DetectionOptions {
	double false_alarm = DetectorConfig{}.false_alarm;
	double window_s = static_cast<double>(DetectorConfig{}.window_ns) / 1e9;
	double ongoing_interval_s = static_cast<double>(DetectorConfig{}.ongoing_interval_ns) / 1e9;
	AllowlistConfig allowlist;
	std::string action = "none"; // --action none|stop|kill
	void apply(PipelineOptions &options) const;
};
void add_detection_options(CLI::App &app, DetectionOptions &options);

// Options every command that attaches shares.
struct CommonOptions {
	int verbosity = 0;
	std::string attach = "auto";
	std::uint32_t ring_buffer_kib = 1024;
	unsigned sampling_floor_hz = 50;
	DetectionOptions detection;
	OutputOptions output; // where alerts go (run)
	PipelineOptions to_pipeline_options() const;
};

int run_cli(int argc, char **argv);

// Each registers its subcommand; the callback it installs sets `status`.
void add_run_command(CLI::App &app, const CommonOptions &common, int &status);
void add_check_command(CLI::App &app, const CommonOptions &common, int &status);
void add_record_command(CLI::App &app, const CommonOptions &common, int &status);
void add_replay_command(CLI::App &app, int &status);
void add_version_command(CLI::App &app, int &status);
void add_doctor_command(CLI::App &app, const CommonOptions &common, int &status);

// spdlog on stderr, with libbpf's own messages routed through it.
void setup_logging(int verbosity);

} // namespace mxwatch
