// SPDX-License-Identifier: GPL-2.0-only
// An alert, independent of its format: what the detector found (Detection),
// about which process (ProcessInfo), on which host. alert_format.hpp turns it
// into ECS or OCSF; the sinks only ever see the rendered result.
#pragma once

#include "mxwatch/alerts/assessment.hpp"
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/enrich/process_info.hpp"
#include "mxwatch/enrich/process_sockets.hpp"
#include "mxwatch/enrich/miner_identity.hpp"
#include "mxwatch/decide/response_action.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxwatch {

struct HostIdentity {
	std::string name;                   // hostname
	std::optional<std::string> id;      // /etc/machine-id
	std::optional<std::string> boot_id; // /proc/sys/kernel/random/boot_id, 32 hex digits
	std::optional<std::string> cluster; // --cluster-name: orchestrator.cluster.name of alerts in a pod
	static HostIdentity read();
};

inline constexpr const char *kRuleId = "mxwatch-randomx-rounding";
inline constexpr const char *kRuleName = "RandomX cryptominer: random MXCSR rounding modes";
inline constexpr const char *kDetectorVersion = "1";

// What happened, as ECS event.action and syslog MSGID: "miner-detected", "miner-ongoing", "miner-resolved".
std::string_view alert_action(AlertStage stage);

// One alert event: the detector's Detection itself, plus what the pipeline
// adds (the process's facts, the wall time, the window, the --action taken)
// and what the output stamps before it renders (host, id, the executable's hash).
// The formats read the Detection's fields directly.
struct Alert {
	Detection detection;
	ProcessInfo process;
	std::chrono::system_clock::time_point time; // wall time of the detection
	std::uint64_t window_ns = 0;
	// The --action taken against the process, on first alerts when one is configured.
	std::optional<ResponseOutcome> response;
	// The process's sockets when the event was made (first and ongoing alerts of
	// a live process): where the hash power goes.
	std::optional<ProcessSockets> sockets;
	// Its memory and CPU use when the event was made (first and ongoing alerts).
	std::optional<Footprint> footprint;
	// The YARA rules its executable matches (MinerIdentifier), stamped by the
	// output with the hash; nothing when not scanned.
	std::optional<std::vector<MinerMatch>> miner;
	HostIdentity host;
	std::string id; // unique per alert event

	AlertStage stage() const { return detection.stage; }
	double window_s() const { return static_cast<double>(window_ns) / 1e9; }
	// From the process's first sample to this event (0 if the clock went back).
	double seconds_to_detect() const;
	// Stable across PID reuse and alert stages: boot id + pid + start time.
	std::optional<std::string> entity_id() const;
	// Severity and confidence from the verdict and the evidence (assessment.hpp).
	Assessment assessment() const;
	// One sentence for people, the strongest evidence first (valid UTF-8, no
	// control characters).
	std::string message() const;
};

// A new unique alert id (32 hex digits).
std::string new_alert_id();

// An alert with a new id.
Alert make_alert(Detection detection, ProcessInfo process, HostIdentity host, std::uint64_t window_ns,
                 std::chrono::system_clock::time_point now);

// [{"transport": "tcp", "local_ip": ..., "local_port": ..., "remote_ip": ...,
// "remote_port": ..., "state": "established"}, ...]: mxwatch.sockets in ECS,
// unmapped.mxwatch.sockets in OCSF.
nlohmann::json sockets_document(const ProcessSockets &sockets);
// [{"rule": "mxwatch_xmrig", "software": "XMRig"}, ...]: mxwatch.yara in ECS,
// unmapped.mxwatch.yara in OCSF (an empty list: scanned, nothing matched).
nlohmann::json miner_document(const std::vector<MinerMatch> &matches);
// {"resident_bytes": .., "largest_mapping_bytes": .., "huge_page_bytes": ..,
// "busy_threads": .., "threads": [{"tid": .., "cpu_share": 0.99}, ..]} (busiest
// first, at most 16): mxwatch.footprint in ECS, unmapped.mxwatch.footprint in OCSF.
nlohmann::json footprint_document(const Footprint &footprint);
inline constexpr std::size_t kMaxFootprintThreadsShown = 16;
// {"severity": "critical", "base_severity": "high", "confidence": "high",
// "confidence_score": 90, "corroborated_by": ["identity", ...], "evidence": [...],
// "against": "..."}: mxwatch.assessment in ECS, unmapped.mxwatch.assessment in OCSF.
nlohmann::json assessment_document(const Assessment &assessment);
// The remote addresses of its connected sockets, each once, in order (ECS related.ip).
std::vector<std::string> remote_ips(const ProcessSockets &sockets);

// {"action": "kill", "result": "failed", "reason": "..."}: mxwatch.response in
// ECS, unmapped.mxwatch.response in OCSF.
nlohmann::json response_document(const ResponseOutcome &response);

// ECS document of DESIGN.md §3 (see alert_format.hpp for OCSF).
nlohmann::json to_ecs(const Alert &alert);

// The facts transports with fields of their own (syslog structured data,
// journald) carry, under their ECS names, from the same table as the ECS
// document: valid UTF-8, control characters kept.
std::vector<std::pair<std::string, std::string>> ecs_key_fields(const Alert &alert);

// One JSON line. Invalid UTF-8 in any string (process names and command lines
// come from whoever started the process) is replaced with U+FFFD, never thrown on.
std::string to_json_line(const nlohmann::json &document);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-27T01:02:03.456Z.
std::string rfc3339(std::chrono::system_clock::time_point when);

// Command line as ECS wants it: the arguments joined by spaces.
std::string join_args(const std::vector<std::string> &args);

} // namespace mxwatch
