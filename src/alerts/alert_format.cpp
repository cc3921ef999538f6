// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/alert_format.hpp"

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
	rendered.event_id = alert.id;
	rendered.time = alert.time;
	rendered.host_name = alert.host.name;
	rendered.fields = ecs_key_fields(alert);
	return rendered;
}

} // namespace mxwatch
