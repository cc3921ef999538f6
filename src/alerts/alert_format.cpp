// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/alert_format.hpp"

#include "mxwatch/util/utf8.hpp"

#include <fmt/format.h>

namespace mxwatch {
namespace {

// Transports with fields of their own get the facts an analyst filters on first.
std::vector<std::pair<std::string, std::string>> key_fields(const Alert &a)
{
	std::vector<std::pair<std::string, std::string>> fields;
	auto add = [&](const char *name, const std::string &value) { fields.emplace_back(name, valid_utf8(value)); };
	const ProcessInfo &p = a.process;
	add("event.id", a.id);
	add("event.action", std::string(alert_action(a.evidence.stage)));
	add("rule.id", kRuleId);
	add("process.pid", std::to_string(a.evidence.pid));
	add("process.name", a.evidence.comm);
	if (auto entity = a.entity_id())
		add("process.entity_id", *entity);
	if (p.executable)
		add("process.executable", *p.executable);
	if (!p.args.empty())
		add("process.command_line", join_args(p.args));
	if (p.sha256)
		add("process.hash.sha256", *p.sha256);
	if (p.parent_pid)
		add("process.parent.pid", std::to_string(*p.parent_pid));
	if (p.uid)
		add("user.id", std::to_string(*p.uid));
	if (p.user_name)
		add("user.name", *p.user_name);
	if (p.container) {
		if (p.container->id)
			add("container.id", *p.container->id);
		if (p.container->runtime)
			add("container.runtime", *p.container->runtime);
		if (p.container->pod_uid)
			add("orchestrator.resource.id", *p.container->pod_uid);
	}
	add("mxwatch.verdict", std::string(to_string(a.evidence.verdict)));
	add("mxwatch.score", fmt::format("{:.3f}", a.evidence.score));
	if (a.response) {
		add("mxwatch.response.action", std::string(to_string(a.response->action)));
		add("mxwatch.response.result", std::string(to_string(a.response->result)));
		if (!a.response->reason.empty())
			add("mxwatch.response.reason", a.response->reason);
	}
	return fields;
}

} // namespace

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
	rendered.stage = alert.evidence.stage;
	rendered.event_id = alert.id;
	rendered.time = alert.time;
	rendered.host_name = alert.host.name;
	rendered.fields = key_fields(alert);
	return rendered;
}

} // namespace mxwatch
