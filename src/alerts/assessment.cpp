// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/assessment.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace mxwatch {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

AlertSeverity raised(AlertSeverity s)
{
	return s == AlertSeverity::Critical ? s : static_cast<AlertSeverity>(static_cast<int>(s) + 1);
}

AlertSeverity lowered(AlertSeverity s)
{
	return s <= AlertSeverity::Low ? AlertSeverity::Low : static_cast<AlertSeverity>(static_cast<int>(s) - 1);
}

AlertSeverity base_of(const Verdict &verdict, AlertStage stage)
{
	if (stage == AlertStage::Resolved)
		return AlertSeverity::Informational;
	switch (verdict.severity()) {
	case Severity::High:
		return AlertSeverity::High;
	case Severity::Medium:
		return AlertSeverity::Medium;
	case Severity::None:
		break;
	}
	return AlertSeverity::Low; // not a miner (check's suspicious rows)
}

std::optional<std::string> identity_phrase(const std::vector<MinerMatch> &matches)
{
	std::vector<std::string> names;
	for (const auto &m : matches)
		if (std::find(names.begin(), names.end(), m.software) == names.end())
			names.push_back(m.software);
	if (names.empty())
		return std::nullopt;
	return fmt::format("{} (YARA)", fmt::join(names, ", "));
}

std::optional<std::string> cpu_phrase(const Footprint &footprint)
{
	std::size_t busy = 0;
	std::uint32_t top = 0;
	for (const auto &t : footprint.threads)
		if (t.busy_permille >= kBusyThreadPermille) {
			busy++;
			top = std::max(top, t.busy_permille);
		}
	if (busy == 0)
		return std::nullopt;
	const auto percent = (std::min<std::uint32_t>(top, 1000) + 5) / 10;
	if (busy == 1)
		return fmt::format("1 thread at {}% CPU", percent);
	return fmt::format("{} threads at up to {}% CPU", busy, percent);
}

std::optional<std::string> memory_phrase(const Footprint &footprint)
{
	if (footprint.resident_bytes < kRandomXResidentBytes)
		return std::nullopt;
	std::string text = fmt::format("{:.0f} MiB resident, largest mapping {:.0f} MiB",
				       static_cast<double>(footprint.resident_bytes) / kMiB,
				       static_cast<double>(footprint.largest_mapping_bytes) / kMiB);
	if (footprint.huge_page_bytes >= (2u << 20))
		text += fmt::format(", {:.0f} MiB in huge pages", static_cast<double>(footprint.huge_page_bytes) / kMiB);
	return text;
}

bool established_tcp(const SocketEndpoint &e)
{
	return e.transport == "tcp" && e.state == "established" && e.connected();
}

std::optional<std::string> network_phrase(const ProcessSockets &sockets)
{
	if (std::none_of(sockets.endpoints.begin(), sockets.endpoints.end(), established_tcp))
		return std::nullopt;
	return "connected to " + describe_peers(sockets);
}

std::optional<std::string> against_phrase(const Footprint &footprint)
{
	if (footprint.resident_bytes >= kTooSmallResidentBytes)
		return std::nullopt;
	for (const auto &t : footprint.threads)
		if (t.busy_permille >= kIdleThreadPermille)
			return std::nullopt;
	return fmt::format("only {:.0f} MiB resident and no thread above {}% of a CPU",
			   static_cast<double>(footprint.resident_bytes) / kMiB, kIdleThreadPermille / 10);
}

} // namespace

std::string_view to_string(AlertSeverity severity)
{
	switch (severity) {
	case AlertSeverity::Informational:
		return "informational";
	case AlertSeverity::Low:
		return "low";
	case AlertSeverity::Medium:
		return "medium";
	case AlertSeverity::High:
		return "high";
	case AlertSeverity::Critical:
		return "critical";
	}
	return "high";
}

int ecs_severity(AlertSeverity severity)
{
	switch (severity) {
	case AlertSeverity::Informational:
	case AlertSeverity::Low:
		return 21;
	case AlertSeverity::Medium:
		return 47;
	case AlertSeverity::High:
		return 73;
	case AlertSeverity::Critical:
		return 99;
	}
	return 73;
}

int ocsf_severity_id(AlertSeverity severity)
{
	return static_cast<int>(severity) + 1;
}

std::string_view ocsf_severity(AlertSeverity severity)
{
	switch (severity) {
	case AlertSeverity::Informational:
		return "Informational";
	case AlertSeverity::Low:
		return "Low";
	case AlertSeverity::Medium:
		return "Medium";
	case AlertSeverity::High:
		return "High";
	case AlertSeverity::Critical:
		return "Critical";
	}
	return "High";
}

int syslog_severity(AlertSeverity severity)
{
	switch (severity) {
	case AlertSeverity::Informational:
	case AlertSeverity::Low:
		return 5; // notice
	case AlertSeverity::Medium:
		return 4; // warning
	case AlertSeverity::High:
		return 2; // crit
	case AlertSeverity::Critical:
		return 1; // alert: act now
	}
	return 2;
}

std::string_view alertmanager_severity(AlertSeverity severity)
{
	switch (severity) {
	case AlertSeverity::Informational:
	case AlertSeverity::Low:
		return "info";
	case AlertSeverity::Medium:
		return "warning";
	case AlertSeverity::High:
	case AlertSeverity::Critical:
		return "critical";
	}
	return "critical";
}

std::string_view to_string(Confidence confidence)
{
	switch (confidence) {
	case Confidence::Low:
		return "low";
	case Confidence::Medium:
		return "medium";
	case Confidence::High:
		return "high";
	}
	return "medium";
}

int ocsf_confidence_id(Confidence confidence)
{
	return static_cast<int>(confidence) + 1;
}

std::string_view to_string(Corroboration kind)
{
	switch (kind) {
	case Corroboration::Identity:
		return "identity";
	case Corroboration::Cpu:
		return "cpu";
	case Corroboration::Memory:
		return "memory";
	case Corroboration::Network:
		return "network";
	}
	return "identity";
}

std::string describe_peers(const ProcessSockets &sockets, std::size_t limit)
{
	std::string peers;
	std::size_t shown = 0;
	for (const auto &e : sockets.endpoints) {
		if (!e.connected() || shown++ >= limit)
			continue;
		const bool v6 = e.remote_ip.find(':') != std::string::npos;
		peers += fmt::format("{}{} {}{}{}:{}", peers.empty() ? "" : ", ", e.transport, v6 ? "[" : "", e.remote_ip,
				     v6 ? "]" : "", e.remote_port);
	}
	return peers;
}

Assessment assess(const Verdict &verdict, AlertStage stage, const EvidenceView &evidence)
{
	Assessment a;
	a.base = base_of(verdict, stage);
	a.severity = a.base;
	auto add = [&a](Corroboration kind, std::optional<std::string> phrase) {
		if (phrase) {
			a.corroborating.push_back(kind);
			a.phrases.push_back(std::move(*phrase));
		}
	};
	if (evidence.miner)
		add(Corroboration::Identity, identity_phrase(*evidence.miner));
	if (evidence.footprint) {
		add(Corroboration::Cpu, cpu_phrase(*evidence.footprint));
		add(Corroboration::Memory, memory_phrase(*evidence.footprint));
		a.against = against_phrase(*evidence.footprint);
	}
	if (evidence.sockets)
		add(Corroboration::Network, network_phrase(*evidence.sockets));

	const auto n = a.corroborating.size();
	const bool identified = !a.corroborating.empty() && a.corroborating.front() == Corroboration::Identity;
	if (stage != AlertStage::Resolved) {
		if (n >= kRaiseAfterCorroborations)
			a.severity = raised(a.severity);
		else if (a.against && !identified)
			a.severity = lowered(a.severity);
	}
	// How sure: the rounding test's own score, weighted by what agrees with it.
	const double start = a.base >= AlertSeverity::High ? 60 : 40;
	double score = std::clamp(verdict.score, 0.0, 1.0) * (start + 10.0 * static_cast<double>(n));
	if (a.against)
		score -= 30;
	a.confidence_score = static_cast<int>(std::lround(std::clamp(score, 0.0, 100.0)));
	a.confidence = a.confidence_score >= 75 ? Confidence::High
		       : a.confidence_score >= 45 ? Confidence::Medium
						  : Confidence::Low;
	return a;
}

} // namespace mxwatch
