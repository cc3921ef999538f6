// SPDX-License-Identifier: GPL-2.0-only
// OCSF 1.5.0 Detection Finding (category Findings 2, class 2004). Required by
// the schema: activity_id, category_uid, class_uid, type_uid, severity_id, time,
// metadata (product, version) and finding_info (uid); the rest is recommended or
// optional and, like in ECS, left out when it could not be resolved. mxwatch's
// own evidence goes under `unmapped`, where OCSF puts what it has no attribute for.
#include "mxwatch/alerts/alert_format.hpp"
#include "mxwatch/version.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace mxwatch {
namespace {

constexpr int kCategoryFindings = 2;
constexpr int kClassDetectionFinding = 2004;

struct Activity {
	int id;
	const char *name;
	int status_id;
	const char *status;
};

Activity activity_of(AlertStage stage)
{
	switch (stage) {
	case AlertStage::First:
		return {1, "Create", 1, "New"};
	case AlertStage::Ongoing:
		return {2, "Update", 1, "New"};
	case AlertStage::Resolved:
		return {3, "Close", 4, "Resolved"};
	}
	return {1, "Create", 1, "New"};
}

// "low" -> "Low": OCSF's captions.
std::string titled(std::string_view word)
{
	std::string out(word);
	if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
		out[0] = static_cast<char>(out[0] - 'a' + 'A');
	return out;
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point when)
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

// A double from the detector as a bounded integer: NaN and infinities (which a
// cast would turn into undefined behaviour) become `low`.
std::int64_t bounded(double value, double low, double high)
{
	if (!std::isfinite(value))
		return static_cast<std::int64_t>(low);
	return static_cast<std::int64_t>(std::clamp(value, low, high));
}

// OCSF file object: name and type_id are required.
nlohmann::json file_object(const std::string &path, const std::optional<std::string> &sha256)
{
	nlohmann::json file = {{"path", path},
	                       {"name", std::filesystem::path(path).filename().string()},
	                       {"type_id", 1},
	                       {"type", "Regular File"}};
	if (sha256)
		file["hashes"] = {{{"algorithm_id", 3}, {"algorithm", "SHA-256"}, {"value", *sha256}}};
	return file;
}

nlohmann::json process_object(const Alert &a)
{
	const ProcessInfo &p = a.process;
	nlohmann::json proc = {{"pid", a.detection.key.tgid}, {"name", a.detection.comm}};
	if (auto entity = a.entity_id())
		proc["uid"] = *entity;
	if (!p.args.empty())
		proc["cmd_line"] = join_args(p.args);
	if (p.start_time)
		proc["created_time"] = epoch_ms(*p.start_time);
	if (p.executable)
		proc["file"] = file_object(*p.executable, p.sha256);
	if (p.parent_pid) {
		proc["parent_process"]["pid"] = *p.parent_pid;
		if (p.parent_executable)
			proc["parent_process"]["file"] = file_object(*p.parent_executable, std::nullopt);
	}
	if (p.uid) {
		proc["user"]["uid"] = std::to_string(*p.uid);
		if (p.user_name)
			proc["user"]["name"] = *p.user_name;
	}
	if (p.container) { // the Container profile
		const ContainerInfo &c = *p.container;
		nlohmann::json container;
		if (c.id)
			container["uid"] = *c.id;
		if (c.runtime)
			container["runtime"] = *c.runtime;
		if (c.pod_uid) {
			container["pod_uuid"] = *c.pod_uid;
			container["orchestrator"] = "Kubernetes";
		}
		if (c.metadata) { // what the runtime said
			const ContainerMetadata &m = *c.metadata;
			if (m.name)
				container["name"] = *m.name;
			nlohmann::json image;
			if (m.image_name)
				image["name"] = *m.image_name;
			if (m.image_tag)
				image["tag"] = *m.image_tag;
			// uid: the digest an analyst can pull by, else the runtime's image id.
			if (!m.image_digests.empty())
				image["uid"] = m.image_digests.front();
			else if (m.image_id)
				image["uid"] = *m.image_id;
			if (!m.labels.empty()) {
				container["labels"] = nlohmann::json::array();
				for (const auto &[key, value] : m.labels)
					container["labels"].push_back(key + "=" + value);
			}
			if (!image.empty())
				container["image"] = image;
			if (!c.pod_uid && m.pod_uid) {
				container["pod_uuid"] = *m.pod_uid;
				if (m.orchestrator)
					container["orchestrator"] = *m.orchestrator == "kubernetes" ? "Kubernetes" : "Podman";
			}
		}
		proc["container"] = container;
	}
	return proc;
}

nlohmann::json unmapped_evidence(const Alert &a)
{
	const Detection &d = a.detection;
	const ModeCounts &counts = d.window_counts;
	nlohmann::json evidence = {
	    {"alert", to_string(d.stage)},
	    {"samples_by_mode",
	     {{"nearest", counts.by_mode[0]},
	      {"down", counts.by_mode[1]},
	      {"up", counts.by_mode[2]},
	      {"toward_zero", counts.by_mode[3]}}},
	    {"samples", counts.total()},
	    {"transitions", counts.transitions},
	    {"ftz_daz_share", counts.ftz_daz_share()},
	    {"verdict", to_string(d.verdict.kind)},
	    {"score", d.verdict.score},
	    {"window_s", a.window_s()},
	    {"seconds_to_detect", a.seconds_to_detect()},
	    {"cgroup_id", d.cgroup_id},
	    {"detector_version", kDetectorVersion},
	    {"scope", to_string(d.scope)},
	};
	if (d.verdict.rule != DecisionRule::None) {
		evidence["rule"] = to_string(d.verdict.rule);
		evidence["rule_description"] = describe(d.verdict.rule);
		evidence["severity"] = to_string(a.assessment().severity);
	}
	if (!d.threads.empty())
		evidence["thread_ids"] = d.threads;
	if (a.process.args_truncated)
		evidence["args_truncated"] = true;
	if (a.miner)
		evidence["yara"] = miner_document(*a.miner);
	if (a.footprint)
		evidence["footprint"] = footprint_document(*a.footprint);
	if (a.stage() != AlertStage::Resolved)
		evidence["assessment"] = assessment_document(a.assessment());
	if (a.sockets && !a.sockets->endpoints.empty()) {
		evidence["sockets"] = sockets_document(*a.sockets);
		if (a.sockets->omitted)
			evidence["sockets_omitted"] = a.sockets->omitted;
	}
	// The pod by name, which OCSF's container object has no attribute for.
	if (a.process.container && a.process.container->metadata) {
		const ContainerMetadata &m = *a.process.container->metadata;
		if (m.pod_namespace)
			evidence["orchestrator"]["namespace"] = *m.pod_namespace;
		if (m.pod_name)
			evidence["orchestrator"]["pod_name"] = *m.pod_name;
		if (m.pod_uid && a.host.cluster)
			evidence["orchestrator"]["cluster"] = *a.host.cluster;
		if (m.image_digests.size() > 1)
			evidence["container_image_digests"] = m.image_digests;
	}
	return evidence;
}

// The --action taken, in the Security Control profile's terms: a stopped or
// killed miner was Denied (disposition Quarantined: suspended, kept for
// inspection; Blocked: gone); a failed attempt left it running, Observed and
// Uncorrected. The exact outcome is also in unmapped.mxwatch.response.
struct Disposition {
	int action_id;
	const char *action;
	int disposition_id;
	const char *disposition;
};

Disposition disposition_of(const ResponseOutcome &r)
{
	if (r.result != ResponseResult::Applied)
		return {3, "Observed", 13, "Uncorrected"};
	if (r.action == ResponseAction::Stop)
		return {2, "Denied", 3, "Quarantined"};
	return {2, "Denied", 2, "Blocked"};
}

} // namespace

nlohmann::json to_ocsf(const Alert &a)
{
	const Activity activity = activity_of(a.stage());
	const std::int64_t time_ms = epoch_ms(a.time);
	const std::int64_t first_seen_ms = time_ms - bounded(a.seconds_to_detect() * 1000, 0, 1e12);
	nlohmann::json f;
	f["class_uid"] = kClassDetectionFinding;
	f["class_name"] = "Detection Finding";
	f["category_uid"] = kCategoryFindings;
	f["category_name"] = "Findings";
	f["activity_id"] = activity.id;
	f["activity_name"] = activity.name;
	f["type_uid"] = kClassDetectionFinding * 100 + activity.id;
	f["type_name"] = std::string("Detection Finding: ") + activity.name;
	f["time"] = time_ms;
	// The decision rule's severity, raised or lowered by the corroborating
	// evidence (assessment.hpp); a Close is Informational.
	const Assessment assessment = a.assessment();
	f["severity_id"] = ocsf_severity_id(assessment.severity);
	f["severity"] = ocsf_severity(assessment.severity);
	f["status_id"] = activity.status_id;
	f["status"] = activity.status;
	f["is_alert"] = a.stage() != AlertStage::Resolved;
	if (a.stage() != AlertStage::Resolved) {
		f["confidence_id"] = ocsf_confidence_id(assessment.confidence);
		f["confidence"] = titled(to_string(assessment.confidence));
		f["confidence_score"] = assessment.confidence_score;
	}
	f["message"] = a.message();

	f["metadata"] = {{"version", kOcsfVersion},
	                 {"uid", a.id},
	                 {"product", {{"name", "mxwatch"}, {"vendor_name", "mxwatch"}, {"version", kVersion}}}};
	if (a.process.container)
		f["metadata"]["profiles"].push_back("container");
	if (a.response) {
		f["metadata"]["profiles"].push_back("security_control");
		const Disposition d = disposition_of(*a.response);
		f["action_id"] = d.action_id;
		f["action"] = d.action;
		f["disposition_id"] = d.disposition_id;
		f["disposition"] = d.disposition;
	}

	// The finding is the miner process: its uid stays the same from Create to Close.
	nlohmann::json &info = f["finding_info"];
	info["uid"] = a.entity_id().value_or(a.id);
	info["title"] = kRuleName;
	if (!a.detection.verdict.reason.empty())
		info["desc"] = a.detection.verdict.reason;
	info["analytic"] = {{"uid", kRuleId}, {"name", kRuleName}, {"type_id", 3}, {"type", "Statistical"}};
	info["attacks"] = {{{"technique", {{"uid", "T1496"}, {"name", "Resource Hijacking"}}},
	                    {"tactic", {{"uid", "TA0040"}, {"name", "Impact"}}}}};
	info["first_seen_time"] = first_seen_ms;
	info["last_seen_time"] = time_ms;
	info["types"] = {"Cryptomining"};

	if (!a.host.name.empty() || a.host.id) {
		nlohmann::json device = {{"type_id", 0}, {"type", "Unknown"}};
		if (!a.host.name.empty())
			device["hostname"] = a.host.name;
		if (a.host.id)
			device["uid"] = *a.host.id;
		f["device"] = device;
	}
	f["evidences"] = {{{"process", process_object(a)}}};
	// One evidence artifact per connected socket: the process and where it talks to.
	if (a.sockets)
		for (const auto &e : a.sockets->endpoints)
			if (e.connected())
				f["evidences"].push_back(
					{{"connection_info", {{"protocol_name", e.transport}}},
					 {"src_endpoint", {{"ip", e.local_ip}, {"port", e.local_port}}},
					 {"dst_endpoint", {{"ip", e.remote_ip}, {"port", e.remote_port}}}});
	f["unmapped"]["mxwatch"] = unmapped_evidence(a);
	if (a.response)
		f["unmapped"]["mxwatch"]["response"] = response_document(*a.response);
	return f;
}

} // namespace mxwatch
