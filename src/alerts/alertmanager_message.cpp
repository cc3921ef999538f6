// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/alertmanager_message.hpp"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace mxwatch
{
namespace
{

std::optional<std::string> field(const RenderedAlert &alert, std::string_view name)
{
	const auto it = std::find_if(alert.fields.begin(), alert.fields.end(),
	                             [&](const auto &entry) { return entry.first == name; });
	if (it == alert.fields.end() || it->second.empty())
		return std::nullopt;
	return it->second;
}

void set(nlohmann::json &object, const char *key, const std::optional<std::string> &value)
{
	if (value && !value->empty())
		object[key] = *value;
}

std::optional<std::string> first_of(const RenderedAlert &alert, std::initializer_list<std::string_view> names)
{
	for (const std::string_view name : names)
		if (auto value = field(alert, name))
			return value;
	return std::nullopt;
}

} // namespace

nlohmann::json alertmanager_labels(const RenderedAlert &alert)
{
	nlohmann::json labels = {{"alertname", kAlertmanagerAlertName}};
	if (alert.stage != AlertStage::Resolved) // a Close keeps the severity it fired with (the sink's)
		labels["severity"] = std::string(alertmanager_severity(alert.severity));
	set(labels, "host", alert.host_name.empty() ? std::nullopt : std::optional(alert.host_name));
	set(labels, "pid", field(alert, "process.pid"));
	set(labels, "process", field(alert, "process.name"));
	set(labels, "container", first_of(alert, {"container.name", "container.id"}));
	set(labels, "namespace", field(alert, "orchestrator.namespace"));
	set(labels, "pod", first_of(alert, {"orchestrator.resource.name", "orchestrator.resource.id"}));
	set(labels, "image", field(alert, "container.image.name"));
	return labels;
}

nlohmann::json alertmanager_annotations(const RenderedAlert &alert)
{
	nlohmann::json annotations = nlohmann::json::object();
	set(annotations, "summary", alert.message);
	set(annotations, "reason", alert.reason);
	set(annotations, "evidence", alert.evidence);
	set(annotations, "event_id", alert.event_id);
	set(annotations, "entity_id", field(alert, "process.entity_id"));
	set(annotations, "executable", field(alert, "process.executable"));
	return annotations;
}

nlohmann::json alertmanager_alert(const nlohmann::json &labels, const nlohmann::json &annotations,
                                  std::chrono::system_clock::time_point starts_at,
                                  std::chrono::system_clock::time_point ends_at)
{
	return {{"labels", labels},
	        {"annotations", annotations},
	        {"startsAt", rfc3339(starts_at)},
	        {"endsAt", rfc3339(ends_at)}};
}

} // namespace mxwatch
