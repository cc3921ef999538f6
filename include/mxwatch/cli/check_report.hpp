// SPDX-License-Identifier: GPL-2.0-only
// What `mxwatch check` prints at the end: a table for people, a document for tools.
#pragma once

#include "mxwatch/alerts/assessment.hpp"
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/kernel/kernel_sampler.hpp"
#include "mxwatch/enrich/process_info.hpp"
#include "mxwatch/util/utf8.hpp" // terminal_safe, for the commands that print names

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mxwatch {

struct CheckRow {
	ProcessKey key;
	std::string name;
	ProcessInfo info;
	ModeCounts counts; // over the whole check
	Verdict verdict;
	std::optional<std::string> allowed; // why the allowlist lets it be; not counted as a miner
	// What corroborates the verdict, read at the end of the check for miners and
	// suspicious processes still running (nothing: not looked at).
	std::optional<Footprint> footprint;
	std::optional<ProcessSockets> sockets;
	std::optional<std::vector<MinerMatch>> miner;
	bool corroboration_read = false;
	Assessment assessment() const;
};

struct CheckResult {
	double duration_s = 0;
	std::string attach;
	std::string fpu_layout;
	SamplerCounters counters;
	std::vector<CheckRow> rows; // processes that showed a non-default rounding mode
	int miners() const;
};

// Rows for every process the detector saw outside the default mode, miners first.
CheckResult collect_check_result(const Detector &detector, const KernelSampler &sampler, double duration_s,
				 const std::function<ProcessInfo(const ProcessKey &)> &process_info,
				 const std::function<std::optional<std::string>(const ProcessKey &)> &allowed = {});

std::string render_table(const CheckResult &result, bool unicode);
nlohmann::json to_json(const CheckResult &result);

} // namespace mxwatch
