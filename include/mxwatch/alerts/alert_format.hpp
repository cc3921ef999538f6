// SPDX-License-Identifier: GPL-2.0-only
// Alert formats (ECS, OCSF) and the rendered alert every sink receives.
#pragma once

#include "mxwatch/alerts/alert.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxwatch {

enum class AlertFormat { Ecs, Ocsf };
std::optional<AlertFormat> alert_format_from_string(std::string_view name); // "ecs", "ocsf"
std::string_view to_string(AlertFormat format);

// The OCSF schema version the documents follow.
inline constexpr const char *kOcsfVersion = "1.5.0";

// OCSF Detection Finding (class_uid 2004): Create for the first alert, Update
// while it goes on, Close when the process is gone.
nlohmann::json to_ocsf(const Alert &alert);

// One alert, formatted once, shared by every sink.
struct RenderedAlert {
	// The document in the chosen format as one line of JSON. Pure ASCII (anything
	// else as \u escapes) and no newline, so every transport carries it unchanged.
	std::string document;
	std::string message; // one sentence: valid UTF-8, no control characters
	AlertStage stage = AlertStage::First;
	AlertSeverity severity = AlertSeverity::High; // Alert::assessment()'s
	std::string event_id;
	std::chrono::system_clock::time_point time;
	// When the process was first alerted on (wall time): the same for its first,
	// ongoing and resolved alerts (Alertmanager's startsAt).
	std::chrono::system_clock::time_point started;
	std::string host_name;
	std::string reason;   // the detector's reason, one line
	std::string evidence; // the evidence in one line for people: samples per mode, transitions, score

	// The key facts under their ECS names, whatever the format, for transports
	// with fields of their own (syslog structured data, journald): ecs_key_fields(),
	// from the ECS document's own table. Valid UTF-8; control characters are
	// kept, each transport makes them safe its own way.
	std::vector<std::pair<std::string, std::string>> fields;
};

RenderedAlert render_alert(const Alert &alert, AlertFormat format);

// "samples per mode: nearest 120, down 41, up 38, toward zero 40; 96 transitions; FTZ/DAZ 100%; score 1.00
// (process evidence, 60 s window)".
std::string evidence_line(const Alert &alert);

} // namespace mxwatch
