// SPDX-License-Identifier: GPL-2.0-only
// How bad and how sure: the rounding verdict is the trigger; evidence of other
// kinds — what the executable is (YARA), its CPU and memory (the footprint),
// whom it talks to (its sockets) — raises or lowers the alert's severity and
// confidence by the rule in docs/detection.md ("Severity and confidence").
//
// Nothing here can silence an alert: the rounding verdict alone decides that
// there is one. An attacker who removes the banner, proxies the pool through
// another process or throttles the miner lowers at most the severity, and only
// with memory no RandomX VM can run in.
#pragma once

#include "mxwatch/detect/detector.hpp"
#include "mxwatch/detect/footprint.hpp"
#include "mxwatch/enrich/miner_identity.hpp"
#include "mxwatch/enrich/process_sockets.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxwatch {

// The alert's severity, on the scales every format has (ECS 21/47/73/99, OCSF
// severity_id 1-5, syslog severity, Alertmanager's severity label).
enum class AlertSeverity { Informational, Low, Medium, High, Critical };
std::string_view to_string(AlertSeverity severity); // "informational", "low", "medium", "high", "critical"
int ecs_severity(AlertSeverity severity);            // 21, 21, 47, 73, 99 (Elastic's rule scale)
int ocsf_severity_id(AlertSeverity severity);        // 1, 2, 3, 4, 5
std::string_view ocsf_severity(AlertSeverity severity); // "Informational" ... "Critical"
int syslog_severity(AlertSeverity severity);         // 5 notice, 5, 4 warning, 2 crit, 1 alert
std::string_view alertmanager_severity(AlertSeverity severity); // "info", "info", "warning", "critical", "critical"

enum class Confidence { Low, Medium, High };
std::string_view to_string(Confidence confidence); // "low", "medium", "high"
int ocsf_confidence_id(Confidence confidence);     // 1, 2, 3

// The kinds of corroborating evidence, strongest first.
enum class Corroboration { Identity, Cpu, Memory, Network };
std::string_view to_string(Corroboration kind); // "identity", "cpu", "memory", "network"

// Thresholds of the rule (docs/detection.md).
inline constexpr std::uint32_t kBusyThreadPermille = 500;            // a thread at >= 50% of a CPU
inline constexpr std::uint64_t kRandomXResidentBytes = 200ull << 20; // RandomX's light cache alone is 256 MiB
inline constexpr std::uint64_t kTooSmallResidentBytes = 64ull << 20; // no RandomX VM runs in less
inline constexpr std::uint32_t kIdleThreadPermille = 50;             // every thread below 5% of a CPU
inline constexpr std::size_t kRaiseAfterCorroborations = 3;          // of the four kinds

// What was gathered about a process beside its rounding modes; nothing: not looked at.
struct EvidenceView {
	const Footprint *footprint = nullptr;
	const ProcessSockets *sockets = nullptr;
	const std::vector<MinerMatch> *miner = nullptr;
};

struct Assessment {
	AlertSeverity base = AlertSeverity::High; // the decision rule's alone
	AlertSeverity severity = AlertSeverity::High;
	Confidence confidence = Confidence::Medium;
	int confidence_score = 0; // 0..100
	std::vector<Corroboration> corroborating; // strongest first
	// One short phrase per corroborating kind, in the same order, for people:
	// "XMRig (YARA)", "2 threads at up to 100% CPU", "268 MiB resident, largest
	// mapping 256 MiB", "connected to tcp 203.0.113.7:3333".
	std::vector<std::string> phrases;
	// Evidence against a RandomX VM, when there is any: "only 12 MiB resident and
	// no thread above 5% of a CPU".
	std::optional<std::string> against;
};

// The assessment of a verdict at an alert stage (Resolved: Informational).
Assessment assess(const Verdict &verdict, AlertStage stage, const EvidenceView &evidence);

// "tcp 203.0.113.7:3333, tcp [2001:db8::1]:443": the first `limit` connected peers.
std::string describe_peers(const ProcessSockets &sockets, std::size_t limit = 3);

} // namespace mxwatch
