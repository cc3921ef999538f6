// SPDX-License-Identifier: GPL-2.0-only
// The default alert document, shaped after the Elastic Common Schema so that
// Elastic, OpenSearch, Splunk and Vector ingest it without a mapping (DESIGN.md §3).
// A field that could not be resolved is left out, never filled with a placeholder.
//
// Every ECS field is named once, in kEcsFields: the document is built from the
// table, and so are the key fields that syslog structured data and journald carry.
#include "mxwatch/alerts/alert.hpp"

#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace mxwatch {
namespace {

using Value = std::optional<nlohmann::json>;

struct EcsField {
	const char *name;              // dotted ECS name: where it goes in the document
	bool key;                      // also one of the key fields (RenderedAlert::fields)
	Value (*value)(const Alert &); // nothing: left out
};

// The rule that decided, when one did (docs/detection.md).
Value rule_value(const Alert &a, std::string_view (*name)(DecisionRule))
{
	const DecisionRule rule = a.detection.verdict.rule;
	return rule == DecisionRule::None ? std::nullopt : Value(std::string(name(rule)));
}

const ContainerInfo *container_of(const Alert &a)
{
	return a.process.container ? &*a.process.container : nullptr;
}

const ContainerMetadata *metadata_of(const Alert &a)
{
	const ContainerInfo *c = container_of(a);
	return c && c->metadata ? &*c->metadata : nullptr;
}

// A metadata field, when the runtime answered.
template <typename F> Value from_metadata(const Alert &a, F field)
{
	const ContainerMetadata *m = metadata_of(a);
	return m ? field(*m) : std::nullopt;
}

// The pod's UID: from the cgroup path (Kubernetes), else the runtime's (a Podman pod).
std::optional<std::string> pod_id(const Alert &a)
{
	const ContainerInfo *c = container_of(a);
	if (c && c->pod_uid)
		return c->pod_uid;
	const ContainerMetadata *m = metadata_of(a);
	return m ? m->pod_uid : std::nullopt;
}

std::optional<std::string> orchestrator_type(const Alert &a)
{
	const ContainerInfo *c = container_of(a);
	if (c && c->pod_uid)
		return "kubernetes";
	const ContainerMetadata *m = metadata_of(a);
	return m && m->pod_uid ? m->orchestrator : std::nullopt;
}

template <typename T> Value optional_value(const std::optional<T> &value)
{
	return value ? Value(*value) : std::nullopt;
}

// The key fields come first, in the order an analyst filters on them (the order
// syslog structured data and journald carry them in).
const EcsField kEcsFields[] = {
    {"event.id", true, [](const Alert &a) -> Value { return a.id; }},
    {"event.action", true, [](const Alert &a) -> Value { return alert_action(a.stage()); }},
    {"rule.id", true, [](const Alert &) -> Value { return kRuleId; }},
    {"process.pid", true, [](const Alert &a) -> Value { return a.detection.key.tgid; }},
    {"process.name", true, [](const Alert &a) -> Value { return a.detection.comm; }},
    {"process.entity_id", true, [](const Alert &a) -> Value { return optional_value(a.entity_id()); }},
    {"process.executable", true, [](const Alert &a) -> Value { return optional_value(a.process.executable); }},
    {"process.command_line", true,
     [](const Alert &a) -> Value { return a.process.args.empty() ? Value() : join_args(a.process.args); }},
    {"process.hash.sha256", true, [](const Alert &a) -> Value { return optional_value(a.process.sha256); }},
    {"process.parent.pid", true, [](const Alert &a) -> Value { return optional_value(a.process.parent_pid); }},
    {"user.id", true,
     [](const Alert &a) -> Value { return a.process.uid ? Value(std::to_string(*a.process.uid)) : std::nullopt; }},
    {"user.name", true,
     [](const Alert &a) -> Value { return a.process.uid ? optional_value(a.process.user_name) : std::nullopt; }},
    {"container.id", true,
     [](const Alert &a) -> Value {
	     const ContainerInfo *c = container_of(a);
	     return c ? optional_value(c->id) : std::nullopt;
     }},
    {"container.runtime", true,
     [](const Alert &a) -> Value {
	     const ContainerInfo *c = container_of(a);
	     return c && c->id ? optional_value(c->runtime) : std::nullopt;
     }},
    {"container.name", true,
     [](const Alert &a) -> Value { return from_metadata(a, [](const ContainerMetadata &m) { return optional_value(m.name); }); }},
    {"container.image.name", true,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) { return optional_value(m.image_name); });
     }},
    {"container.image.tag", true,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) { return optional_value(m.image_tag); });
     }},
    {"orchestrator.namespace", true,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) { return optional_value(m.pod_namespace); });
     }},
    {"orchestrator.resource.name", true,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) { return optional_value(m.pod_name); });
     }},
    {"orchestrator.resource.id", true, [](const Alert &a) -> Value { return optional_value(pod_id(a)); }},
    {"mxwatch.verdict", true, [](const Alert &a) -> Value { return to_string(a.detection.verdict.kind); }},
    {"mxwatch.score", true, [](const Alert &a) -> Value { return a.detection.verdict.score; }},
    {"mxwatch.response.action", true,
     [](const Alert &a) -> Value { return a.response ? Value(to_string(a.response->action)) : std::nullopt; }},
    {"mxwatch.response.result", true,
     [](const Alert &a) -> Value { return a.response ? Value(to_string(a.response->result)) : std::nullopt; }},
    {"mxwatch.response.reason", true,
     [](const Alert &a) -> Value {
	     return a.response && !a.response->reason.empty() ? Value(a.response->reason) : std::nullopt;
     }},

    {"@timestamp", false, [](const Alert &a) -> Value { return rfc3339(a.time); }},
    {"message", false, [](const Alert &a) -> Value { return a.message(); }},
    {"ecs.version", false, [](const Alert &) -> Value { return "8.11.0"; }},
    {"event.kind", false, [](const Alert &) -> Value { return "alert"; }},
    {"event.category", false, [](const Alert &) -> Value { return nlohmann::json{"malware", "process"}; }},
    // The --action taken: event.type gains "denied" (ECS: the activity was
    // blocked) when the process was stopped or killed.
    {"event.type", false,
     [](const Alert &a) -> Value {
	     nlohmann::json type = {a.stage() == AlertStage::Resolved ? "end" : "info"};
	     if (a.response && a.response->result == ResponseResult::Applied)
		     type.push_back("denied");
	     return type;
     }},
    // Elastic's rule scale (21 low, 47 medium, 73 high, 99 critical), from the
    // decision rule raised or lowered by the corroborating evidence (assessment.hpp).
    {"event.severity", false, [](const Alert &a) -> Value { return ecs_severity(a.assessment().severity); }},
    {"event.risk_score", false,
     [](const Alert &a) -> Value { return static_cast<double>(ecs_severity(a.assessment().severity)); }},
    {"event.module", false, [](const Alert &) -> Value { return "mxwatch"; }},
    {"event.dataset", false, [](const Alert &) -> Value { return "mxwatch.alert"; }},
    {"rule.name", false, [](const Alert &) -> Value { return kRuleName; }},
    {"threat.framework", false, [](const Alert &) -> Value { return "MITRE ATT&CK"; }},
    {"threat.tactic.id", false, [](const Alert &) -> Value { return nlohmann::json{"TA0040"}; }},
    {"threat.tactic.name", false, [](const Alert &) -> Value { return nlohmann::json{"Impact"}; }},
    {"threat.technique.id", false, [](const Alert &) -> Value { return nlohmann::json{"T1496"}; }},
    {"threat.technique.name", false, [](const Alert &) -> Value { return nlohmann::json{"Resource Hijacking"}; }},
    {"host.name", false, [](const Alert &a) -> Value { return a.host.name.empty() ? Value() : a.host.name; }},
    {"host.id", false, [](const Alert &a) -> Value { return optional_value(a.host.id); }},
    {"process.args", false,
     [](const Alert &a) -> Value { return a.process.args.empty() ? Value() : nlohmann::json(a.process.args); }},
    {"process.args_count", false,
     [](const Alert &a) -> Value {
	     return a.process.args.empty() || a.process.args_truncated ? Value() : a.process.args.size();
     }},
    {"process.start", false,
     [](const Alert &a) -> Value { return a.process.start_time ? Value(rfc3339(*a.process.start_time)) : Value(); }},
    {"process.parent.executable", false,
     [](const Alert &a) -> Value { return optional_value(a.process.parent_executable); }},
    {"process.thread.id", false,
     [](const Alert &a) -> Value {
	     return a.detection.threads.empty() ? Value() : nlohmann::json(a.detection.threads);
     }},
    {"container.image.hash.all", false,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) {
		     return m.image_digests.empty() ? Value() : nlohmann::json(m.image_digests);
	     });
     }},
    {"container.labels", false,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) {
		     if (m.labels.empty())
			     return Value();
		     nlohmann::json labels = nlohmann::json::object();
		     for (const auto &[key, value] : m.labels)
			     labels[key] = value;
		     return Value(std::move(labels));
	     });
     }},
    {"orchestrator.type", false, [](const Alert &a) -> Value { return optional_value(orchestrator_type(a)); }},
    {"orchestrator.cluster.name", false,
     [](const Alert &a) -> Value { return pod_id(a) ? optional_value(a.host.cluster) : std::nullopt; }},
    {"orchestrator.resource.type", false,
     [](const Alert &a) -> Value { return pod_id(a) ? Value("pod") : std::nullopt; }},

    {"threat.software.name", false,
     [](const Alert &a) -> Value {
	     return a.miner && !a.miner->empty() ? Value(a.miner->front().software) : std::nullopt;
     }},
    {"related.ip", false,
     [](const Alert &a) -> Value {
	     if (!a.sockets)
		     return std::nullopt;
	     auto ips = remote_ips(*a.sockets);
	     return ips.empty() ? Value() : nlohmann::json(std::move(ips));
     }},

    // mxwatch's own evidence (OCSF carries the same under unmapped.mxwatch).
    {"mxwatch.yara", false,
     [](const Alert &a) -> Value { return a.miner ? Value(miner_document(*a.miner)) : std::nullopt; }},
    {"mxwatch.sockets", false,
     [](const Alert &a) -> Value {
	     return a.sockets && !a.sockets->endpoints.empty() ? Value(sockets_document(*a.sockets)) : std::nullopt;
     }},
    {"mxwatch.sockets_omitted", false,
     [](const Alert &a) -> Value { return a.sockets && a.sockets->omitted ? Value(a.sockets->omitted) : std::nullopt; }},
    {"mxwatch.alert", false, [](const Alert &a) -> Value { return to_string(a.stage()); }},
    {"mxwatch.samples_by_mode", false,
     [](const Alert &a) -> Value {
	     const auto &by_mode = a.detection.window_counts.by_mode;
	     return nlohmann::json{
	         {"nearest", by_mode[0]}, {"down", by_mode[1]}, {"up", by_mode[2]}, {"toward_zero", by_mode[3]}};
     }},
    {"mxwatch.samples", false, [](const Alert &a) -> Value { return a.detection.window_counts.total(); }},
    {"mxwatch.transitions", false, [](const Alert &a) -> Value { return a.detection.window_counts.transitions; }},
    {"mxwatch.ftz_daz_share", false,
     [](const Alert &a) -> Value { return a.detection.window_counts.ftz_daz_share(); }},
    {"mxwatch.reason", false, [](const Alert &a) -> Value { return a.detection.verdict.reason; }},
    {"mxwatch.rule", false, [](const Alert &a) -> Value { return rule_value(a, to_string); }},
    {"mxwatch.rule_description", false, [](const Alert &a) -> Value { return rule_value(a, describe); }},
    {"mxwatch.severity", false,
     [](const Alert &a) -> Value {
	     return a.detection.verdict.rule == DecisionRule::None ? Value()
								    : Value(to_string(a.assessment().severity));
     }},
    {"mxwatch.assessment", false,
     [](const Alert &a) -> Value {
	     return a.stage() == AlertStage::Resolved ? Value() : Value(assessment_document(a.assessment()));
     }},
    {"mxwatch.footprint", false,
     [](const Alert &a) -> Value { return a.footprint ? Value(footprint_document(*a.footprint)) : std::nullopt; }},
    {"mxwatch.scope", false, [](const Alert &a) -> Value { return to_string(a.detection.scope); }},
    {"mxwatch.window_s", false, [](const Alert &a) -> Value { return a.window_s(); }},
    {"mxwatch.seconds_to_detect", false, [](const Alert &a) -> Value { return a.seconds_to_detect(); }},
    {"mxwatch.cgroup_id", false, [](const Alert &a) -> Value { return a.detection.cgroup_id; }},
    {"mxwatch.detector_version", false, [](const Alert &) -> Value { return kDetectorVersion; }},
    {"mxwatch.container_labels_truncated", false,
     [](const Alert &a) -> Value {
	     return from_metadata(a, [](const ContainerMetadata &m) { return m.labels_truncated ? Value(true) : Value(); });
     }},
    {"mxwatch.args_truncated", false,
     [](const Alert &a) -> Value { return a.process.args_truncated ? Value(true) : std::nullopt; }},
};

// "process.hash.sha256" as "/process/hash/sha256", once per field.
const std::vector<nlohmann::json::json_pointer> &field_pointers()
{
	static const std::vector<nlohmann::json::json_pointer> pointers = [] {
		std::vector<nlohmann::json::json_pointer> out;
		for (const EcsField &field : kEcsFields) {
			std::string path = std::string("/") + field.name;
			std::replace(path.begin(), path.end(), '.', '/');
			out.emplace_back(path);
		}
		return out;
	}();
	return pointers;
}

// A value as a key field's text: numbers as JSON writes them, fractions to three places.
std::string field_text(const nlohmann::json &value)
{
	if (value.is_string())
		return valid_utf8(value.get_ref<const std::string &>());
	if (value.is_number_float())
		return fmt::format("{:.3f}", value.get<double>());
	return value.dump();
}

} // namespace

nlohmann::json to_ecs(const Alert &a)
{
	const auto &pointers = field_pointers();
	nlohmann::json document;
	for (std::size_t i = 0; i < std::size(kEcsFields); i++)
		if (Value value = kEcsFields[i].value(a))
			document[pointers[i]] = std::move(*value);
	return document;
}

std::vector<std::pair<std::string, std::string>> ecs_key_fields(const Alert &a)
{
	std::vector<std::pair<std::string, std::string>> fields;
	for (const EcsField &field : kEcsFields)
		if (field.key)
			if (Value value = field.value(a))
				fields.emplace_back(field.name, field_text(*value));
	return fields;
}

} // namespace mxwatch
