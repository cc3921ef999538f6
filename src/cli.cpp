// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli.hpp"

#include "mxwatch/errors.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mxwatch {

PipelineOptions CommonOptions::to_pipeline_options() const
{
	PipelineOptions options;
	options.sampler.attach = attach_type_from_string(attach);
	options.sampler.ring_buffer_bytes = ring_buffer_kib * 1024;
	options.sampling_floor_hz = sampling_floor_hz;
	detection.apply(options);
	return options;
}

int run_cli(int argc, char **argv)
{
	CLI::App app{"mxwatch: finds RandomX (Monero) cryptominers by the rounding modes they leave in the\n"
		     "x86 MXCSR register, sampled by an eBPF program at every FPU context switch."};
	app.name("mxwatch");
	app.require_subcommand(1);
	app.fallthrough();

	CommonOptions common;
	app.add_flag("-v,--verbose", common.verbosity, "More detail on stderr (-v debug, -vv trace)");
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
	add_detection_options(app, common.detection);
	add_output_options(app, common.output);
	app.footer("Exit status: 0 clean, 1 miner found (check), 2 error.\n"
		   "Needs root, or CAP_BPF and CAP_PERFMON, and a kernel with BTF.");

	int status = kExitClean;
	add_run_command(app, common, status);
	add_check_command(app, common, status);
	add_record_command(app, common, status);
	add_replay_command(app, status);
	add_version_command(app, status);
	add_doctor_command(app, common, status);

	// Subcommand callbacks run before the app's own: set logging up as soon as options are parsed.
	for (CLI::App *cmd : app.get_subcommands({}))
		cmd->preparse_callback([&common](std::size_t) { setup_logging(common.verbosity); });
	try {
		app.parse(argc, argv);
	} catch (const CLI::CallForHelp &e) {
		return app.exit(e);
	} catch (const CLI::CallForAllHelp &e) {
		return app.exit(e);
	} catch (const CLI::CallForVersion &e) {
		return app.exit(e);
	} catch (const CLI::ParseError &e) {
		app.exit(e);
		return kExitError;
	} catch (const SetupError &e) {
		std::fprintf(stderr, "mxwatch: %s\n", e.what());
		return kExitError;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "mxwatch: %s\n", e.what());
		return kExitError;
	}
	return status;
}

} // namespace mxwatch
