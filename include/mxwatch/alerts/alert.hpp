// SPDX-License-Identifier: GPL-2.0-only
// An alert, independent of its format: what the detector found (AlertEvidence),
// about which process (ProcessInfo), on which host. alert_format.hpp turns it
// into ECS or OCSF; the sinks only ever see the rendered result.
#pragma once

#include "mxwatch/detect/detector.hpp"
#include "mxwatch/enrich/process_info.hpp"
#include "mxwatch/decide/response_action.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace mxwatch {

struct HostIdentity {
	std::string name;                   // hostname
	std::optional<std::string> id;      // /etc/machine-id
	std::optional<std::string> boot_id; // /proc/sys/kernel/random/boot_id, 32 hex digits
	static HostIdentity read();
};

inline constexpr const char *kRuleId = "mxwatch-randomx-rounding";
inline constexpr const char *kRuleName = "RandomX cryptominer: random MXCSR rounding modes";
inline constexpr const char *kDetectorVersion = "1";

// Where an alert is in its lifecycle (DESIGN.md §3).
enum class AlertStage { First, Ongoing, Resolved };
std::string_view to_string(AlertStage stage); // "first", "ongoing", "resolved"
// What happened, as ECS event.action and syslog MSGID: "miner-detected", "miner-ongoing", "miner-resolved".
std::string_view alert_action(AlertStage stage);

// The detector's findings in the alert's own terms.
struct AlertEvidence {
	AlertStage stage = AlertStage::First;
	std::uint32_t pid = 0;
	std::uint64_t process_start_ns = 0; // kernel start time: with pid and boot id, names the process
	std::string comm;                   // raw bytes from the kernel
	std::vector<std::uint32_t> threads;
	ModeCounts counts; // over the window
	VerdictKind verdict = VerdictKind::Miner;
	double score = 0;
	std::string reason;
	std::string scope; // which evidence decided ("thread", "process", "group"), may be empty
	DecisionRule rule = DecisionRule::None; // which rule made it a miner (docs/detection.md)
	Severity severity = Severity::High;     // what that rule implies
	double window_s = 0;
	double seconds_to_detect = 0;
	std::uint64_t cgroup_id = 0;
};

// The one place that reads a Detection: when the detector's output changes, only
// this function changes.
AlertEvidence evidence_of(const Detection &detection, std::uint64_t window_ns);

struct Alert {
	std::string id; // unique per alert event
	std::chrono::system_clock::time_point time;
	HostIdentity host;
	AlertEvidence evidence;
	ProcessInfo process;
	// The --action taken against the process, on first alerts when one is configured.
	std::optional<ResponseOutcome> response;

	// Stable across PID reuse and alert stages: boot id + pid + start time.
	std::optional<std::string> entity_id() const;
	// One sentence for people (valid UTF-8, no control characters).
	std::string message() const;
};

Alert make_alert(const Detection &detection, const ProcessInfo &process, const HostIdentity &host,
                 std::uint64_t window_ns, std::chrono::system_clock::time_point now);

// {"action": "kill", "result": "failed", "reason": "..."}: mxwatch.response in
// ECS, unmapped.mxwatch.response in OCSF.
nlohmann::json response_document(const ResponseOutcome &response);

// ECS document of DESIGN.md §3 (see alert_format.hpp for OCSF).
nlohmann::json to_ecs(const Alert &alert);
nlohmann::json make_ecs_alert(const Detection &detection, const ProcessInfo &process, const HostIdentity &host,
                              std::uint64_t window_ns, std::chrono::system_clock::time_point now);

// One JSON line. Invalid UTF-8 in any string (process names and command lines
// come from whoever started the process) is replaced with U+FFFD, never thrown on.
std::string to_json_line(const nlohmann::json &document);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-27T01:02:03.456Z.
std::string rfc3339(std::chrono::system_clock::time_point when);

// Command line as ECS wants it: the arguments joined by spaces.
std::string join_args(const std::vector<std::string> &args);

} // namespace mxwatch
