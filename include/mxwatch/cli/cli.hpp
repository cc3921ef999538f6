// SPDX-License-Identifier: GPL-2.0-only
// The command line: one CLI11 app, one file per command.
#pragma once

#include "mxwatch/cli/output_options.hpp"
#include "mxwatch/enrich/container_resolver.hpp"
#include "mxwatch/kernel/live_source.hpp"
#include "mxwatch/service/pipeline.hpp"
#include "mxwatch/kernel/privileges.hpp"
#include "mxwatch/service/logging.hpp"

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mxwatch {

// Exit statuses shared by every command.
enum ExitStatus : int {
	kExitClean = 0,
	kExitMinerFound = 1,
	kExitError = 2, // setup error: the unit does not restart (RestartPreventExitStatus=2)
	// `run` lost its view of the kernel after it started (the program detached or
	// silent, its ring buffer tampered with): the unit restarts it, attached again.
	kExitBlind = 3,
};

// The detector's knobs and the allowlist.
struct DetectionOptions {
	double false_alarm = DetectorConfig{}.false_alarm;
	double window_s = static_cast<double>(DetectorConfig{}.window_ns) / 1e9;
	double ongoing_interval_s = static_cast<double>(DetectorConfig{}.ongoing_interval_ns) / 1e9;
	double sustained_churn_s = static_cast<double>(DetectorConfig{}.sustained_churn_ns) / 1e9;
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
	unsigned sampling_boost = FloorBoost{}.factor;
	DetectionOptions detection;
	OutputOptions output; // where alerts go (run)
	std::string metrics_address; // --metrics-address, empty: no metrics endpoint
	std::string config_file; // --config, empty: none
	RuntimeSockets containers; // --container-lookups, --containerd-socket, --crio-socket, --*-bundles, --docker-socket, --podman-socket
	unsigned container_wait_ms = 500; // --container-wait
	std::string cluster_name;         // --cluster-name, empty: none
	// This host as alerts name it, with the configured cluster.
	HostIdentity host_identity() const;
	PipelineOptions to_pipeline_options() const;
	LiveSourceOptions to_live_source_options() const; // what is attached, and the sampling floor
	// Where processes' containers are looked up; null when lookups are off.
	std::shared_ptr<ContainerResolver> make_container_resolver() const;
};

// The capabilities these options need once attached.
PrivilegeNeeds privilege_needs(const CommonOptions &options);

// What the command line asks for, run once parsing is complete (so that a
// config file and --dump-config are taken into account first).
using CommandAction = std::function<int()>;

// The whole command line: options, config file, the chosen command.
struct CommandLine {
	CommonOptions common;
	std::unique_ptr<CLI::App> app; // owns the subcommands' option storage
	CommandAction action;          // empty when no command was given
	bool dump_config = false;
	std::string command;           // "run", "check", ...
	std::vector<std::string> args; // as given, for a reload
};

// The app with every command registered, nothing parsed yet.
std::unique_ptr<CommandLine> make_command_line();
// Parses argv (and the --config file it names); throws CLI11's errors.
void parse_command_line(CommandLine &cli, std::vector<std::string> args);
std::unique_ptr<CommandLine> parse_command_line(std::vector<std::string> args);

int run_cli(int argc, char **argv);

// A recording's header for samples from this live source, taken when the first
// line is written (`record`, `run --record`).
SampleFileHeader recording_header(const LiveSource &source);

// Registers the subcommand `name`; once the command line (and config file) is
// parsed, `action` becomes `run(*options)`. Returns it for its own options.
template <typename Options, typename Run>
CLI::App *add_command(CLI::App &app, const char *name, const char *description, CommandAction &action,
		      std::shared_ptr<Options> options, Run run)
{
	CLI::App *cmd = app.add_subcommand(name, description);
	cmd->callback([&action, options, run] { action = [options, run] { return run(*options); }; });
	return cmd;
}

// Each registers its subcommand; the callback it installs sets `action`.
void add_run_command(CLI::App &app, const CommandLine &cli, CommandAction &action);
void add_check_command(CLI::App &app, const CommonOptions &common, CommandAction &action);
void add_record_command(CLI::App &app, const CommonOptions &common, CommandAction &action);
void add_replay_command(CLI::App &app, const CommonOptions &common, CommandAction &action);
void add_version_command(CLI::App &app, CommandAction &action);
void add_doctor_command(CLI::App &app, const CommonOptions &common, CommandAction &action);

} // namespace mxwatch
