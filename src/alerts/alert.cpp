// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/alert.hpp"

#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <array>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <random>
#include <unistd.h>

namespace mxwatch {
namespace {

std::optional<std::string> first_word_of(const char *path)
{
	std::ifstream in(path);
	std::string word;
	if (in >> word && !word.empty())
		return word;
	return std::nullopt;
}

} // namespace

// Unique ids, not secrets: a generator seeded once per thread from the kernel
// (opening std::random_device per alert cost a quarter of a replay's time).
std::string new_alert_id()
{
	thread_local std::mt19937_64 generator{[] {
		std::random_device device;
		std::seed_seq seed{device(), device(), device(), device()};
		return std::mt19937_64(seed);
	}()};
	return fmt::format("{:016x}{:016x}", generator(), generator());
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

Alert make_alert(Detection detection, ProcessInfo process, HostIdentity host, std::uint64_t window_ns,
                 std::chrono::system_clock::time_point now)
{
	Alert alert{std::move(detection), std::move(process), now, window_ns};
	alert.host = std::move(host);
	alert.id = new_alert_id();
	return alert;
}

double Alert::seconds_to_detect() const
{
	if (detection.timestamp_ns < detection.first_seen_ns)
		return 0;
	return static_cast<double>(detection.timestamp_ns - detection.first_seen_ns) / 1e9;
}

std::optional<std::string> Alert::entity_id() const
{
	// The kernel's start time, not /proc's: it is known even when the process
	// was gone before /proc could be read, and it is what the detector keys on.
	if (!host.boot_id || detection.key.start_ns == 0)
		return std::nullopt;
	return fmt::format("{}-{}-{}", *host.boot_id, detection.key.tgid, detection.key.start_ns);
}

Assessment Alert::assessment() const
{
	EvidenceView evidence;
	evidence.footprint = footprint ? &*footprint : nullptr;
	evidence.sockets = sockets ? &*sockets : nullptr;
	evidence.miner = miner ? &*miner : nullptr;
	return mxwatch::assess(detection.verdict, detection.stage, evidence);
}

std::string Alert::message() const
{
	const Detection &d = detection;
	if (d.stage == AlertStage::Resolved)
		return printable_utf8(
			fmt::format("RandomX miner gone: process {} ({}) exited or went idle", d.key.tgid, d.comm));
	const Assessment a = assessment();
	// The strongest evidence first, then the rounding verdict that triggered.
	std::string text = fmt::format("RandomX miner {}: process {} ({}): ",
				       d.stage == AlertStage::First ? "detected" : "still running", d.key.tgid, d.comm);
	if (!a.phrases.empty())
		text += fmt::format("{}; ", fmt::join(a.phrases, ", "));
	text += d.verdict.reason;
	if (a.against)
		text += "; but " + *a.against;
	if (response)
		text += fmt::format("; response {}: {}", to_string(response->action), response->describe());
	return printable_utf8(text);
}

nlohmann::json sockets_document(const ProcessSockets &sockets)
{
	nlohmann::json list = nlohmann::json::array();
	for (const auto &e : sockets.endpoints)
		list.push_back({{"transport", e.transport},
				{"local_ip", e.local_ip},
				{"local_port", e.local_port},
				{"remote_ip", e.remote_ip},
				{"remote_port", e.remote_port},
				{"state", e.state}});
	return list;
}

nlohmann::json miner_document(const std::vector<MinerMatch> &matches)
{
	nlohmann::json list = nlohmann::json::array();
	for (const auto &m : matches)
		list.push_back({{"rule", m.rule}, {"software", m.software}});
	return list;
}

std::vector<std::string> remote_ips(const ProcessSockets &sockets)
{
	std::vector<std::string> ips;
	for (const auto &e : sockets.endpoints)
		if (e.connected() && std::find(ips.begin(), ips.end(), e.remote_ip) == ips.end())
			ips.push_back(e.remote_ip);
	return ips;
}

nlohmann::json footprint_document(const Footprint &footprint)
{
	std::vector<ThreadCpu> threads = footprint.threads;
	std::sort(threads.begin(), threads.end(),
		  [](const ThreadCpu &a, const ThreadCpu &b) { return a.busy_permille > b.busy_permille; });
	std::size_t busy = 0;
	nlohmann::json list = nlohmann::json::array();
	for (const auto &t : threads) {
		busy += t.busy_permille >= kBusyThreadPermille;
		if (list.size() < kMaxFootprintThreadsShown)
			list.push_back({{"tid", t.tid}, {"cpu_share", std::min<std::uint32_t>(t.busy_permille, 1000) / 1000.0}});
	}
	return {{"resident_bytes", footprint.resident_bytes},
		{"largest_mapping_bytes", footprint.largest_mapping_bytes},
		{"huge_page_bytes", footprint.huge_page_bytes},
		{"threads_count", footprint.threads.size()},
		{"busy_threads", busy},
		{"threads", std::move(list)}};
}

nlohmann::json assessment_document(const Assessment &a)
{
	nlohmann::json kinds = nlohmann::json::array();
	for (const auto kind : a.corroborating)
		kinds.push_back(to_string(kind));
	nlohmann::json doc = {{"severity", to_string(a.severity)},
			      {"base_severity", to_string(a.base)},
			      {"confidence", to_string(a.confidence)},
			      {"confidence_score", a.confidence_score},
			      {"corroborated_by", std::move(kinds)},
			      {"evidence", a.phrases}};
	if (a.against)
		doc["against"] = *a.against;
	return doc;
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

} // namespace mxwatch
