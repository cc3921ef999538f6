// SPDX-License-Identifier: GPL-2.0-only
// Turns a Detection into an alert document shaped after the Elastic Common Schema.
#pragma once

#include "mxwatch/detector.hpp"
#include "mxwatch/process_info.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace mxwatch {

struct HostIdentity {
	std::string name;                 // hostname
	std::optional<std::string> id;    // /etc/machine-id
	static HostIdentity read();
};

inline constexpr const char *kRuleId = "mxwatch-randomx-rounding";
inline constexpr const char *kDetectorVersion = "1";

nlohmann::json make_ecs_alert(const Detection &detection, const ProcessInfo &process, const HostIdentity &host,
			      std::uint64_t window_ns, std::chrono::system_clock::time_point now);

// One JSON line. Invalid UTF-8 in any string (process names and command lines
// come from whoever started the process) is replaced with U+FFFD, never thrown on.
std::string to_json_line(const nlohmann::json &document);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-27T01:02:03.456Z.
std::string rfc3339(std::chrono::system_clock::time_point when);

} // namespace mxwatch
