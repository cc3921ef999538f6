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

std::string Alert::message() const
{
	std::string text;
	const Detection &d = detection;
	switch (d.stage) {
	case AlertStage::First:
		text = fmt::format("RandomX miner detected: process {} ({}): {}", d.key.tgid, d.comm, d.verdict.reason);
		break;
	case AlertStage::Ongoing:
		text = fmt::format("RandomX miner still running: process {} ({}): {}", d.key.tgid, d.comm,
		                   d.verdict.reason);
		break;
	case AlertStage::Resolved:
		text = fmt::format("RandomX miner gone: process {} ({}) exited or went idle", d.key.tgid, d.comm);
		break;
	}
	if (sockets) {
		std::string peers;
		int shown = 0;
		for (const auto &e : sockets->endpoints)
			if (e.connected() && shown++ < 3)
				peers += fmt::format("{}{} {}", peers.empty() ? "" : ", ", e.transport,
						     e.remote_ip.find(':') == std::string::npos
							     ? fmt::format("{}:{}", e.remote_ip, e.remote_port)
							     : fmt::format("[{}]:{}", e.remote_ip, e.remote_port));
		if (!peers.empty())
			text += "; connected to " + peers;
	}
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

std::vector<std::string> remote_ips(const ProcessSockets &sockets)
{
	std::vector<std::string> ips;
	for (const auto &e : sockets.endpoints)
		if (e.connected() && std::find(ips.begin(), ips.end(), e.remote_ip) == ips.end())
			ips.push_back(e.remote_ip);
	return ips;
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
