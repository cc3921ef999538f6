// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/alert_format.hpp"

#include "mxwatch/util/utf8.hpp"

#include <fmt/format.h>

namespace mxwatch {

std::optional<AlertFormat> alert_format_from_string(std::string_view name)
{
	if (name == "ecs")
		return AlertFormat::Ecs;
	if (name == "ocsf")
		return AlertFormat::Ocsf;
	return std::nullopt;
}

std::string_view to_string(AlertFormat format)
{
	return format == AlertFormat::Ocsf ? "ocsf" : "ecs";
}

RenderedAlert render_alert(const Alert &alert, AlertFormat format)
{
	const nlohmann::json document = format == AlertFormat::Ocsf ? to_ocsf(alert) : to_ecs(alert);
	RenderedAlert rendered;
	// ensure_ascii: invalid UTF-8 is replaced, everything non-ASCII escaped.
	rendered.document = document.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
	rendered.message = alert.message();
	rendered.stage = alert.stage();
	rendered.severity = alert.assessment().severity;
	rendered.event_id = alert.id;
	rendered.time = alert.time;
	const Detection &d = alert.detection;
	const auto since_first = std::chrono::nanoseconds(
	    d.first_alert_ns != 0 && d.timestamp_ns >= d.first_alert_ns ? d.timestamp_ns - d.first_alert_ns : 0);
	rendered.started = alert.time - std::chrono::duration_cast<std::chrono::system_clock::duration>(since_first);
	rendered.host_name = alert.host.name;
	rendered.reason = printable_utf8(d.verdict.reason);
	rendered.evidence = evidence_line(alert);
	rendered.fields = ecs_key_fields(alert);
	return rendered;
}

std::string evidence_line(const Alert &alert)
{
	const Detection &d = alert.detection;
	const ModeCounts &c = d.window_counts;
	return fmt::format("samples per mode: nearest {}, down {}, up {}, toward zero {}; {} transitions; FTZ/DAZ "
	                   "{:.0f}%; score {:.2f} ({} evidence, {:.0f} s window)",
	                   c.by_mode[0], c.by_mode[1], c.by_mode[2], c.by_mode[3], c.transitions,
	                   c.ftz_daz_share() * 100, d.verdict.score, to_string(d.scope), alert.window_s());
}

} // namespace mxwatch
