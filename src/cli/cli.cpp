// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/kernel/live_source.hpp"

#include "mxwatch/service/config_file.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/service/metrics.hpp"
#include "mxwatch/decide/response_action.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mxwatch {

PipelineOptions CommonOptions::to_pipeline_options() const
{
	PipelineOptions options;
	detection.apply(options);
	options.container_wait = std::chrono::milliseconds(containers.enabled ? container_wait_ms : 0);
	return options;
}

HostIdentity CommonOptions::host_identity() const
{
	HostIdentity host = HostIdentity::read();
	if (!cluster_name.empty())
		host.cluster = cluster_name;
	return host;
}

std::shared_ptr<ContainerResolver> CommonOptions::make_container_resolver() const
{
	auto runtimes = make_runtimes(containers);
	if (runtimes.empty())
		return nullptr;
	return std::make_shared<ContainerResolver>(std::move(runtimes));
}

LiveSourceOptions CommonOptions::to_live_source_options() const
{
	LiveSourceOptions options;
	options.sampler.attach = attach_type_from_string(attach);
	options.sampler.ring_buffer_bytes = ring_buffer_kib * 1024;
	options.sampling_floor_hz = sampling_floor_hz;
	options.sampling_boost = sampling_boost;
	return options;
}

PrivilegeNeeds privilege_needs(const CommonOptions &options)
{
	PrivilegeNeeds needs;
	needs.signal_processes = needs_kill_capability(
		response_action_from_string(options.detection.action).value_or(ResponseAction::None));
	needs.bpf_syscalls = kernel_needs_cap_bpf_for_map_reads();
	return needs;
}

namespace {

void add_common_options(CLI::App &app, CommonOptions &common, bool &dump_config)
{
	// Every option below may also be set in the file, under its long name:
	// `sampling-floor-hz = 20`, `sink = ["journald", "file:/var/log/mxwatch.json"]`.
	app.set_config("--config", "", "Read options from this TOML file (docs/configuration.md); "
				       "options on the command line win")
		->type_name("FILE");
	app.config_formatter(std::make_shared<ConfigFileFormat>());
	app.allow_config_extras(CLI::config_extras_mode::error);
	app.add_flag("--dump-config", dump_config,
		     "Print the effective configuration (defaults, file, command line) as TOML and exit")
		->configurable(false);
	app.add_flag("-v,--verbose", common.verbosity, "More detail on stderr (-v debug, -vv trace)")->default_str("0");
	app.add_option("--attach", common.attach, "How to attach: auto, tp_btf, raw_tp or tracepoint")
		->check(CLI::IsMember({"auto", "tp_btf", "raw_tp", "tracepoint"}))
		->capture_default_str();
	app.add_option("--ring-buffer-kib", common.ring_buffer_kib, "Kernel ring buffer size in KiB (power of two)")
		->check(CLI::IsMember({4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}))
		->capture_default_str();
	app.add_option("--sampling-floor-hz", common.sampling_floor_hz,
		       "Wake each CPU this often so that CPU-bound tasks are sampled (0: off)")
		->check(CLI::Range(0u, 1000u))
		->capture_default_str();
	app.add_option("--sampling-boost", common.sampling_boost,
		       "While a thread that left the default rounding mode is undecided, wake this many times faster "
		       "(for at most 30 s per thread; 1: never)")
		->check(CLI::Range(1u, 100u))
		->capture_default_str();
	app.add_option("--metrics-address", common.metrics_address,
		       "Serve Prometheus metrics on http://HOST:PORT/metrics (run only; e.g. 127.0.0.1:9469)")
		->type_name("HOST:PORT")
		->check(CLI::Validator(
			[](std::string &value) {
				std::string error;
				return value.empty() || parse_listen_address(value, error) ? std::string{} : error;
			},
			"HOST:PORT", "listen address"));
	const char *containers = "Containers";
	app.add_flag("--container-lookups,!--no-container-lookups", common.containers.enabled,
		     "Ask the container runtime (containerd, CRI-O, Docker, Podman) for a container's name, image and pod (run, check)")
		->default_str("true")
		->group(containers);
	app.add_option("--containerd-socket", common.containers.containerd,
		       "containerd's socket, asked through its CRI plugin (empty: never asked)")
		->type_name("PATH")
		->capture_default_str()
		->group(containers);
	app.add_option("--crio-socket", common.containers.crio, "CRI-O's socket (empty: never asked)")
		->type_name("PATH")
		->capture_default_str()
		->group(containers);
	app.add_option("--containerd-bundles", common.containers.containerd_bundles,
		       "containerd's OCI bundles (NAMESPACE/ID/config.json), read where its CRI does not answer "
		       "(empty: never read)")
		->type_name("DIR")
		->capture_default_str()
		->group(containers);
	app.add_option("--crio-bundles", common.containers.crio_bundles,
		       "CRI-O's OCI bundles (ID/userdata/config.json), read where its CRI does not answer (empty: never read)")
		->type_name("DIR")
		->capture_default_str()
		->group(containers);
	app.add_option("--docker-socket", common.containers.docker,
		       "The Docker Engine API socket (empty: never asked)")
		->type_name("PATH")
		->capture_default_str()
		->group(containers);
	app.add_option("--podman-socket", common.containers.podman,
		       "Podman's API socket (`podman system service`; empty: never asked)")
		->type_name("PATH")
		->capture_default_str()
		->group(containers);
	app.add_option("--container-wait", common.container_wait_ms,
		       "Milliseconds a first alert waits at most for its container's metadata (0: never waits)")
		->type_name("MS")
		->check(CLI::Range(0u, 10000u))
		->capture_default_str()
		->group(containers);
	app.add_option("--cluster-name", common.cluster_name,
		       "orchestrator.cluster.name of alerts about processes in a pod (empty: left out)")
		->type_name("NAME")
		->capture_default_str()
		->group(containers);
	add_detection_options(app, common.detection);
	add_output_options(app, common.output);
}

} // namespace

std::unique_ptr<CommandLine> make_command_line()
{
	auto cli = std::make_unique<CommandLine>();
	cli->app = std::make_unique<CLI::App>(
		"mxwatch: finds RandomX (Monero) cryptominers by the rounding modes they leave in the\n"
		"x86 MXCSR register, sampled by an eBPF program at every FPU context switch.");
	CLI::App &app = *cli->app;
	app.name("mxwatch");
	app.require_subcommand(0, 1);
	app.fallthrough();
	add_common_options(app, cli->common, cli->dump_config);
	app.footer("Exit status: 0 clean, 1 miner found (check), 2 error.\n"
		   "Needs root, or CAP_BPF and CAP_PERFMON, and a kernel with BTF.");

	add_run_command(app, *cli, cli->action);
	add_check_command(app, cli->common, cli->action);
	add_record_command(app, cli->common, cli->action);
	add_replay_command(app, cli->common, cli->action);
	add_version_command(app, cli->action);
	add_doctor_command(app, cli->common, cli->action);
	return cli;
}

void parse_command_line(CommandLine &cli, std::vector<std::string> args)
{
	CLI::App &app = *cli.app;
	cli.args = args;
	// CLI11 wants argv without the program name, in reverse order.
	std::vector<std::string> reversed(args.rbegin(), args.rend());
	if (!reversed.empty())
		reversed.pop_back();
	try {
		app.parse(reversed);
	} catch (const CLI::ConfigError &e) {
		// CLI11 says "INI was not able to parse KEY": name the file and the key.
		const std::string prefix = "INI was not able to parse ";
		const std::string what = e.what();
		if (what.starts_with(prefix)) {
			const std::string file = app.get_config_ptr()->as<std::string>();
			throw CLI::ConfigError(fmt::format("{}: unknown key '{}'", file, what.substr(prefix.size())));
		}
		throw;
	}
	cli.common.config_file = app.get_config_ptr()->as<std::string>();
	// The alertmanager sink stops re-sending an alert no ongoing alert confirmed for a while.
	cli.common.output.ongoing_interval_s = cli.common.detection.ongoing_interval_s;
	if (!app.get_subcommands().empty())
		cli.command = app.get_subcommands().front()->get_name();
}

std::unique_ptr<CommandLine> parse_command_line(std::vector<std::string> args)
{
	auto cli = make_command_line();
	parse_command_line(*cli, std::move(args));
	return cli;
}

int run_cli(int argc, char **argv)
{
	std::unique_ptr<CommandLine> cli = make_command_line();
	try {
		parse_command_line(*cli, std::vector<std::string>(argv, argv + argc));
	} catch (const CLI::ParseError &e) {
		const int code = cli->app->exit(e); // help and version print and succeed
		return code == 0 ? kExitClean : kExitError;
	}
	try {
		if (cli->dump_config) {
			std::fputs(cli->app->config_to_str(true, true).c_str(), stdout);
			return kExitClean;
		}
		if (!cli->action) {
			std::fprintf(stderr, "mxwatch: a command is required (run, check, record, replay, version); "
					     "see --help\n");
			return kExitError;
		}
		setup_logging(cli->common.verbosity);
		return cli->action();
	} catch (const SetupError &e) {
		std::fprintf(stderr, "mxwatch: %s\n", e.what());
		return kExitError;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "mxwatch: %s\n", e.what());
		return kExitError;
	}
}

} // namespace mxwatch
