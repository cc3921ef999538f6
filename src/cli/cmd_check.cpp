// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch check`: watch for a while, then report every process that left the
// default rounding mode and whether it looks like a miner.
#include "mxwatch/cli/check_report.hpp"
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/kernel/privileges.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <unistd.h>

namespace mxwatch {
namespace {

struct CheckOptions {
	double duration_s = 30;
	bool json = false;
};

bool utf8_terminal()
{
	for (const char *name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
		const char *value = std::getenv(name);
		if (value && *value)
			return std::strstr(value, "UTF-8") || std::strstr(value, "utf8") || std::strstr(value, "UTF8");
	}
	return false;
}

// What corroborates each miner's and suspicious process's verdict, read now
// (the process may be gone: then nothing), with the privileges run keeps.
void add_corroboration(CheckResult &result, Pipeline &pipeline, ProcDirectory &processes, MinerIdentifier *identifier)
{
	for (auto &row : result.rows) {
		if (row.verdict.kind == VerdictKind::Benign || row.allowed)
			continue;
		auto evidence = pipeline.corroborating(row.key);
		row.footprint = std::move(evidence.footprint);
		row.sockets = std::move(evidence.sockets);
		if (identifier && processes.hasher()) {
			complete_process_info(row.info, *processes.hasher());
			if (row.info.sha256 && row.info.executable_file)
				row.miner = identifier->identify(*row.info.executable_file, *row.info.sha256);
		}
		row.corroboration_read = true;
	}
}

int run_check(const CommonOptions &common, const CheckOptions &options)
{
	StopSignals::install();
	const auto identifier = make_miner_identifier(common.output); // rules that do not compile: before attaching
	LiveSource source(common.to_live_source_options());
	const auto containers = common.make_container_resolver();
	ProcDirectory processes({}, "/proc", containers);
	Pipeline pipeline(common.to_pipeline_options(), source, processes);
	drop_capabilities_after_attach(privilege_needs(common));
	// Alerts go to the report at the end; stdout carries only the table or the document.

	const bool progress = isatty(STDERR_FILENO);
	const auto start = std::chrono::steady_clock::now();
	const auto until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
					   std::chrono::duration<double>(options.duration_s));
	auto show_progress = [&] {
		const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
		const int width = 24;
		const int done = std::min(width, static_cast<int>(width * elapsed / options.duration_s));
		std::fprintf(stderr, "\r[%s%s] %3.0f/%.0f s  samples %llu  miners %zu ", std::string(done, '#').c_str(),
			     std::string(width - done, '.').c_str(), elapsed, options.duration_s,
			     static_cast<unsigned long long>(pipeline.samples_seen()), pipeline.reports().size());
		std::fflush(stderr);
	};
	pipeline.run(StopSignals::stop_requested(), until,
			   progress ? std::function<void()>(show_progress) : std::function<void()>());
	if (progress)
		std::fprintf(stderr, "\r%*s\r", 80, "");

	const double observed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	CheckResult result = collect_check_result(pipeline.detector(), source.sampler(), observed,
						       [&](const ProcessKey &key) { return pipeline.process_info(key); },
						       [&](const ProcessKey &key) { return pipeline.allowed(key); });
	add_corroboration(result, pipeline, processes, identifier.get());
	if (options.json) {
		std::puts(to_json_line(to_json(result)).c_str());
	} else {
		std::fputs(render_table(result, utf8_terminal()).c_str(), stdout);
	}
	std::fflush(stdout);
	return result.miners() > 0 ? kExitMinerFound : kExitClean;
}

} // namespace

void add_check_command(CLI::App &app, const CommonOptions &common, CommandAction &action)
{
	auto options = std::make_shared<CheckOptions>();
	CLI::App *cmd = add_command(app, "check", "Watch for a while, then list processes with unusual rounding "
						    "modes (exit 1 if a miner was found)", action, options,
				    [&common](const auto &o) { return run_check(common, o); });
	cmd->add_option("-d,--duration", options->duration_s, "Seconds to observe")
		->check(CLI::Range(1.0, 86400.0))
		->capture_default_str()
		->configurable(false);
	cmd->add_flag("--json", options->json, "Print one JSON document instead of the table")->configurable(false);
}

} // namespace mxwatch
