// SPDX-License-Identifier: GPL-2.0-only
// The default alert document, shaped after the Elastic Common Schema so that
// Elastic, OpenSearch, Splunk and Vector ingest it without a mapping (DESIGN.md §3).
// A field that could not be resolved is left out, never filled with a placeholder.
#include "mxwatch/alerts/alert.hpp"

namespace mxwatch {
namespace {

// ECS numeric severity (Elastic's scale: 47-73 high, 74-100 critical).
int ecs_severity(const AlertEvidence &e)
{
	if (e.stage == AlertStage::Resolved)
		return 21;
	return e.severity == Severity::Medium ? 47 : 73;
}

void add_process(nlohmann::json &alert, const Alert &a)
{
	const ProcessInfo &p = a.process;
	nlohmann::json &proc = alert["process"];
	proc["pid"] = a.evidence.pid;
	proc["name"] = a.evidence.comm;
	if (auto entity = a.entity_id())
		proc["entity_id"] = *entity;
	if (p.executable)
		proc["executable"] = *p.executable;
	if (!p.args.empty()) {
		proc["args"] = p.args;
		proc["command_line"] = join_args(p.args);
		if (!p.args_truncated)
			proc["args_count"] = p.args.size();
	}
	if (p.start_time)
		proc["start"] = rfc3339(*p.start_time);
	if (p.sha256)
		proc["hash"]["sha256"] = *p.sha256;
	if (p.parent_pid)
		proc["parent"]["pid"] = *p.parent_pid;
	if (p.parent_executable)
		proc["parent"]["executable"] = *p.parent_executable;
	if (!a.evidence.threads.empty())
		proc["thread"]["id"] = a.evidence.threads;
	if (p.uid) {
		alert["user"]["id"] = std::to_string(*p.uid);
		if (p.user_name)
			alert["user"]["name"] = *p.user_name;
	}
}

void add_container(nlohmann::json &alert, const ContainerInfo &c)
{
	if (c.id) {
		alert["container"]["id"] = *c.id;
		if (c.runtime)
			alert["container"]["runtime"] = *c.runtime;
	}
	if (c.pod_uid)
		alert["orchestrator"] = {{"type", "kubernetes"}, {"resource", {{"type", "pod"}, {"id", *c.pod_uid}}}};
}

nlohmann::json evidence_document(const AlertEvidence &e, const ProcessInfo &p)
{
	const ModeCounts &counts = e.counts;
	const auto total = counts.total();
	nlohmann::json evidence;
	evidence["alert"] = to_string(e.stage);
	evidence["samples_by_mode"] = {
	    {"nearest", counts.by_mode[0]},
	    {"down", counts.by_mode[1]},
	    {"up", counts.by_mode[2]},
	    {"toward_zero", counts.by_mode[3]},
	};
	evidence["samples"] = total;
	evidence["transitions"] = counts.transitions;
	evidence["ftz_daz_share"] = counts.ftz_daz_share();
	evidence["verdict"] = to_string(e.verdict);
	evidence["score"] = e.score;
	evidence["reason"] = e.reason;
	if (!e.scope.empty())
		evidence["scope"] = e.scope;
	if (e.rule != DecisionRule::None) {
		evidence["rule"] = to_string(e.rule);
		evidence["rule_description"] = describe(e.rule);
		evidence["severity"] = to_string(e.severity);
	}
	evidence["window_s"] = e.window_s;
	evidence["seconds_to_detect"] = e.seconds_to_detect;
	evidence["cgroup_id"] = e.cgroup_id;
	evidence["detector_version"] = kDetectorVersion;
	if (p.args_truncated)
		evidence["args_truncated"] = true;
	return evidence;
}

} // namespace

nlohmann::json to_ecs(const Alert &a)
{
	using nlohmann::json;
	json alert;
	alert["@timestamp"] = rfc3339(a.time);
	alert["message"] = a.message();
	alert["ecs"]["version"] = "8.11.0";
	alert["event"] = {
	    {"kind", "alert"},
	    {"category", {"malware", "process"}},
	    {"type", {a.evidence.stage == AlertStage::Resolved ? "end" : "info"}},
	    {"action", alert_action(a.evidence.stage)},
	    {"id", a.id},
	    {"severity", ecs_severity(a.evidence)},
	    {"module", "mxwatch"},
	    {"dataset", "mxwatch.alert"},
	};
	alert["rule"] = {{"id", kRuleId}, {"name", kRuleName}};
	alert["threat"] = {{"framework", "MITRE ATT&CK"},
	                   {"tactic", {{"id", {"TA0040"}}, {"name", {"Impact"}}}},
	                   {"technique", {{"id", {"T1496"}}, {"name", {"Resource Hijacking"}}}}};

	if (!a.host.name.empty())
		alert["host"]["name"] = a.host.name;
	if (a.host.id)
		alert["host"]["id"] = *a.host.id;
	add_process(alert, a);
	if (a.process.container)
		add_container(alert, *a.process.container);
	alert["mxwatch"] = evidence_document(a.evidence, a.process);
	// The --action taken: details under mxwatch.response, and event.type gains
	// "denied" (ECS: the activity was blocked) when the process was stopped or killed.
	if (a.response) {
		alert["mxwatch"]["response"] = response_document(*a.response);
		if (a.response->result == ResponseResult::Applied)
			alert["event"]["type"].push_back("denied");
	}
	return alert;
}

} // namespace mxwatch
