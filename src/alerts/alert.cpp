// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/alert.hpp"

#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <array>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <unistd.h>

namespace mxwatch {
namespace {

// Unique ids, not secrets: a generator seeded once per thread from the kernel
// (opening std::random_device per alert cost a quarter of a replay's time).
std::string random_event_id()
{
	thread_local std::mt19937_64 generator{[] {
		std::random_device device;
		std::seed_seq seed{device(), device(), device(), device()};
		return std::mt19937_64(seed);
	}()};
	return fmt::format("{:016x}{:016x}", generator(), generator());
}

std::optional<std::string> first_word_of(const char *path)
{
	std::ifstream in(path);
	std::string word;
	if (in >> word && !word.empty())
		return word;
	return std::nullopt;
}

} // namespace

std::string_view to_string(AlertStage stage)
{
	switch (stage) {
	case AlertStage::First:
		return "first";
	case AlertStage::Ongoing:
		return "ongoing";
	case AlertStage::Resolved:
		return "resolved";
	}
	return "first";
}

std::string_view alert_action(AlertStage stage)
{
	switch (stage) {
	case AlertStage::First:
		return "miner-detected";
	case AlertStage::Ongoing:
		return "miner-ongoing";
	case AlertStage::Resolved:
		return "miner-resolved";
	}
	return "miner-detected";
}

HostIdentity HostIdentity::read()
{
	HostIdentity host;
	std::array<char, 256> name{};
	if (gethostname(name.data(), name.size() - 1) == 0)
		host.name = name.data();
	host.id = first_word_of("/etc/machine-id");
	if (auto boot = first_word_of("/proc/sys/kernel/random/boot_id")) {
		std::erase(*boot, '-');
		host.boot_id = std::move(*boot);
	}
	return host;
}

std::string rfc3339(std::chrono::system_clock::time_point when)
{
	const auto seconds = std::chrono::floor<std::chrono::seconds>(when);
	const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(when - seconds).count();
	return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", seconds, millis);
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

AlertEvidence evidence_of(const Detection &detection, std::uint64_t window_ns)
{
	AlertEvidence e;
	switch (detection.kind) {
	case AlertKind::Alert:
		e.stage = AlertStage::First;
		break;
	case AlertKind::Ongoing:
		e.stage = AlertStage::Ongoing;
		break;
	case AlertKind::Resolved:
		e.stage = AlertStage::Resolved;
		break;
	}
	e.pid = detection.key.tgid;
	e.process_start_ns = detection.key.start_ns;
	e.comm = detection.comm;
	e.threads = detection.threads;
	e.counts = detection.window_counts;
	e.verdict = detection.verdict.kind;
	e.score = detection.verdict.score;
	e.reason = detection.verdict.reason;
	e.scope = detection.scope;
	e.rule = detection.verdict.rule;
	e.severity = detection.verdict.rule == DecisionRule::None ? Severity::High : severity_of(detection.verdict.rule);
	e.window_s = static_cast<double>(window_ns) / 1e9;
	if (detection.timestamp_ns >= detection.first_seen_ns)
		e.seconds_to_detect = static_cast<double>(detection.timestamp_ns - detection.first_seen_ns) / 1e9;
	e.cgroup_id = detection.cgroup_id;
	return e;
}

Alert make_alert(const Detection &detection, const ProcessInfo &process, const HostIdentity &host,
                 std::uint64_t window_ns, std::chrono::system_clock::time_point now)
{
	return Alert{random_event_id(), now, host, evidence_of(detection, window_ns), process};
}

std::optional<std::string> Alert::entity_id() const
{
	// The kernel's start time, not /proc's: it is known even when the process
	// was gone before /proc could be read, and it is what the detector keys on.
	if (!host.boot_id || evidence.process_start_ns == 0)
		return std::nullopt;
	return fmt::format("{}-{}-{}", *host.boot_id, evidence.pid, evidence.process_start_ns);
}

std::string Alert::message() const
{
	std::string text;
	switch (evidence.stage) {
	case AlertStage::First:
		text = fmt::format("RandomX miner detected: process {} ({}): {}", evidence.pid, evidence.comm,
		                   evidence.reason);
		break;
	case AlertStage::Ongoing:
		text = fmt::format("RandomX miner still running: process {} ({}): {}", evidence.pid, evidence.comm,
		                   evidence.reason);
		break;
	case AlertStage::Resolved:
		text =
		    fmt::format("RandomX miner gone: process {} ({}) exited or went idle", evidence.pid, evidence.comm);
		break;
	}
	if (response)
		text += fmt::format("; response {}: {}", to_string(response->action), response->describe());
	return printable_utf8(text);
}

nlohmann::json response_document(const ResponseOutcome &r)
{
	nlohmann::json response = {{"action", to_string(r.action)}, {"result", to_string(r.result)}};
	if (!r.reason.empty())
		response["reason"] = r.reason;
	return response;
}

std::string to_json_line(const nlohmann::json &document)
{
	return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json make_ecs_alert(const Detection &detection, const ProcessInfo &process, const HostIdentity &host,
                              std::uint64_t window_ns, std::chrono::system_clock::time_point now)
{
	return to_ecs(make_alert(detection, process, host, window_ns, now));
}

} // namespace mxwatch
