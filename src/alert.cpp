// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alert.hpp"

#include <array>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <unistd.h>

namespace mxwatch {
namespace {

std::string random_event_id()
{
	std::random_device device;
	std::uniform_int_distribution<std::uint32_t> dist;
	return fmt::format("{:08x}{:08x}{:08x}{:08x}", dist(device), dist(device), dist(device), dist(device));
}

std::string join_args(const std::vector<std::string> &args)
{
	std::string line;
	for (const auto &arg : args) {
		if (!line.empty())
			line += ' ';
		line += arg;
	}
	return line;
}

} // namespace

HostIdentity HostIdentity::read()
{
	HostIdentity host;
	std::array<char, 256> name{};
	if (gethostname(name.data(), name.size() - 1) == 0)
		host.name = name.data();
	std::ifstream machine_id("/etc/machine-id");
	std::string id;
	if (machine_id >> id && !id.empty())
		host.id = id;
	return host;
}

std::string rfc3339(std::chrono::system_clock::time_point when)
{
	const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(when);
	const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(when - seconds).count();
	return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", seconds, millis);
}

nlohmann::json make_ecs_alert(const Detection &detection, const ProcessInfo &process, const HostIdentity &host,
			      std::uint64_t window_ns, std::chrono::system_clock::time_point now)
{
	using nlohmann::json;
	const ModeCounts &counts = detection.window_counts;
	const auto total = counts.total();

	json alert;
	alert["@timestamp"] = rfc3339(now);
	alert["message"] = fmt::format("RandomX-like rounding-mode pattern in process {} ({}): {}", detection.key.tgid,
				       detection.comm, detection.verdict.reason);
	alert["event"] = {
		{"kind", "alert"},
		{"category", {"malware", "process"}},
		{"type", {"info"}},
		{"id", random_event_id()},
		{"severity", 73},
		{"module", "mxwatch"},
		{"dataset", "mxwatch.alert"},
	};
	alert["rule"] = {{"id", kRuleId}, {"name", "RandomX cryptominer: random MXCSR rounding modes"}};
	alert["threat"] = {{"framework", "MITRE ATT&CK"},
			   {"technique", {{"id", {"T1496"}}, {"name", {"Resource Hijacking"}}}}};

	alert["host"]["name"] = host.name;
	if (host.id)
		alert["host"]["id"] = *host.id;

	json &proc = alert["process"];
	proc["pid"] = detection.key.tgid;
	proc["name"] = detection.comm;
	if (process.executable)
		proc["executable"] = *process.executable;
	if (!process.args.empty()) {
		proc["args"] = process.args;
		proc["command_line"] = join_args(process.args);
	}
	if (process.parent_pid)
		proc["parent"]["pid"] = *process.parent_pid;
	proc["thread"]["id"] = detection.threads;
	if (process.uid) {
		alert["user"]["id"] = std::to_string(*process.uid);
		if (process.user_name)
			alert["user"]["name"] = *process.user_name;
	}

	json &evidence = alert["mxwatch"];
	evidence["samples_by_mode"] = {
		{"nearest", counts.by_mode[0]},
		{"down", counts.by_mode[1]},
		{"up", counts.by_mode[2]},
		{"toward_zero", counts.by_mode[3]},
	};
	evidence["samples"] = total;
	evidence["transitions"] = counts.transitions;
	evidence["ftz_daz_share"] = total ? static_cast<double>(counts.ftz_daz) / static_cast<double>(total) : 0.0;
	evidence["verdict"] = to_string(detection.verdict.kind);
	evidence["score"] = detection.verdict.score;
	evidence["reason"] = detection.verdict.reason;
	evidence["window_s"] = static_cast<double>(window_ns) / 1e9;
	evidence["seconds_to_detect"] =
		static_cast<double>(detection.timestamp_ns - detection.first_seen_ns) / 1e9;
	evidence["cgroup_id"] = detection.cgroup_id;
	evidence["detector_version"] = kDetectorVersion;
	return alert;
}

std::string to_json_line(const nlohmann::json &document)
{
	return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace mxwatch
