// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/check_report.hpp"

#include "mxwatch/alerts/alert.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace mxwatch {
namespace {

std::string bar(double share, int width, bool unicode)
{
	const double cells = share * width;
	int full = static_cast<int>(cells);
	std::string out;
	for (int i = 0; i < full; i++)
		out += unicode ? "\u2588" : "#";
	const double rest = cells - full;
	if (unicode && rest >= 0.5 && full < width) {
		out += "\u258C";
		full++;
	}
	out.append(static_cast<std::size_t>(width - full), ' ');
	return out;
}

std::string percent(double share)
{
	return fmt::format("{:.0f}%", 100 * share);
}

} // namespace

Assessment CheckRow::assessment() const
{
	EvidenceView view;
	view.footprint = footprint ? &*footprint : nullptr;
	view.sockets = sockets ? &*sockets : nullptr;
	view.miner = miner ? &*miner : nullptr;
	return assess(verdict, AlertStage::First, view);
}

int CheckResult::miners() const
{
	return static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const CheckRow &row) {
		return row.verdict.kind == VerdictKind::Miner && !row.allowed;
	}));
}

CheckResult collect_check_result(const Detector &detector, const KernelSampler &sampler, double duration_s,
				 const std::function<ProcessInfo(const ProcessKey &)> &process_info,
				 const std::function<std::optional<std::string>(const ProcessKey &)> &allowed)
{
	CheckResult result;
	result.duration_s = duration_s;
	result.attach = std::string(to_string(sampler.attach_type()));
	result.fpu_layout = std::string(sampler.fpu_layout());
	result.counters = sampler.counters();
	for (const auto &[key, process] : detector.processes()) {
		if (process.total.non_default() == 0)
			continue;
		CheckRow row{key, process.comm, process_info(key), process.total,
			     judge(process.total, detector.config())};
		// A process judged a miner at any moment stays one in the report, with
		// the rule and the reason that decided (footprints are not in the counts).
		if (process.alerted)
			row.verdict = process.verdict;
		if (allowed)
			row.allowed = allowed(key);
		result.rows.push_back(std::move(row));
	}
	std::sort(result.rows.begin(), result.rows.end(), [](const CheckRow &a, const CheckRow &b) {
		if (a.verdict.kind != b.verdict.kind)
			return a.verdict.kind > b.verdict.kind;
		return a.counts.total() > b.counts.total();
	});
	return result;
}

namespace {

// "container web-1 (0123456789ab) image docker.io/library/nginx:1.25 pod default/web-5d9"
std::optional<std::string> describe_container(const ProcessInfo &info)
{
	if (!info.container || (!info.container->id && !info.container->pod_uid))
		return std::nullopt;
	const ContainerInfo &c = *info.container;
	std::string text = "container";
	if (c.metadata && c.metadata->name)
		text += " " + *c.metadata->name;
	if (c.id)
		text += fmt::format(" ({}{})", c.id->substr(0, 12), c.runtime ? ", " + *c.runtime : std::string());
	if (c.metadata) {
		const ContainerMetadata &m = *c.metadata;
		if (m.image_name)
			text += " image " + *m.image_name + (m.image_tag ? ":" + *m.image_tag : std::string());
		if (m.pod_name)
			text += " pod " + (m.pod_namespace ? *m.pod_namespace + "/" : std::string()) + *m.pod_name;
	}
	if ((!c.metadata || !c.metadata->pod_name) && c.pod_uid)
		text += " pod uid " + *c.pod_uid;
	return text;
}

nlohmann::json container_document(const ContainerInfo &c)
{
	nlohmann::json doc = nlohmann::json::object();
	if (c.id)
		doc["id"] = *c.id;
	if (c.runtime)
		doc["runtime"] = *c.runtime;
	if (c.pod_uid)
		doc["pod_uid"] = *c.pod_uid;
	if (c.metadata) {
		const ContainerMetadata &m = *c.metadata;
		auto put = [&doc](const char *key, const std::optional<std::string> &value) {
			if (value)
				doc[key] = *value;
		};
		put("name", m.name);
		put("image", m.image_name);
		put("image_tag", m.image_tag);
		if (!m.image_digests.empty())
			doc["image_digests"] = m.image_digests;
		put("pod", m.pod_name);
		put("namespace", m.pod_namespace);
		if (!c.pod_uid)
			put("pod_uid", m.pod_uid);
	}
	return doc;
}

} // namespace

std::string render_table(const CheckResult &result, bool unicode)
{
	std::string out;
	out += fmt::format("Observed {:.0f} s: {} FPU context switches, {} sampled in detail, {} lost.\n",
			   result.duration_s, result.counters.hits, result.counters.sent, result.counters.lost);
	if (result.rows.empty()) {
		out += "No process left the default rounding mode. No miner found.\n";
		return out;
	}
	out += fmt::format("\n{:>7}  {:<10} {:<16} {:<10} {:>8} {:>8}  {}\n", "PID", "USER", "NAME", "VERDICT",
			   "SAMPLES", "FTZ/DAZ", "EXECUTABLE");
	for (const auto &row : result.rows) {
		const auto total = row.counts.total();
		const double ftz = row.counts.ftz_daz_share();
		out += fmt::format("{:>7}  {:<10} {:<16} {:<10} {:>8} {:>8}  {}\n", row.key.tgid,
				   terminal_safe(row.info.user_name.value_or(
					   row.info.uid ? std::to_string(*row.info.uid) : "-")),
				   terminal_safe(row.name), to_string(row.verdict.kind), total, percent(ftz),
				   terminal_safe(row.info.executable.value_or("-")));
		for (int m = 0; m < kRoundingModes; m++) {
			const auto mode = static_cast<RoundingMode>(m);
			out += fmt::format("{:>9}{:<12} {} {:>4} {:>8}\n", "", to_string(mode),
					   bar(row.counts.share(mode), 30, unicode), percent(row.counts.share(mode)),
					   row.counts.by_mode[m]);
		}
		out += fmt::format("{:>9}{}\n", "", terminal_safe(row.verdict.reason));
		if (row.corroboration_read) {
			const Assessment a = row.assessment();
			std::string line = a.phrases.empty() ? std::string("no corroborating evidence") : fmt::format("{}", fmt::join(a.phrases, ", "));
			if (a.against)
				line += "; against: " + *a.against;
			if (row.verdict.kind == VerdictKind::Miner)
				line += fmt::format(" (severity {}, confidence {})", to_string(a.severity), to_string(a.confidence));
			out += fmt::format("{:>9}evidence: {}\n", "", terminal_safe(line));
		}
		if (auto container = describe_container(row.info))
			out += fmt::format("{:>9}{}\n", "", terminal_safe(*container));
		if (row.allowed)
			out += fmt::format("{:>9}allowlisted: {}\n", "", terminal_safe(*row.allowed));
	}
	const int miners = result.miners();
	out += miners ? fmt::format("\n{} miner{} found.\n", miners, miners == 1 ? "" : "s")
		      : "\nNo miner found.\n";
	return out;
}

nlohmann::json to_json(const CheckResult &result)
{
	nlohmann::json doc;
	doc["duration_s"] = result.duration_s;
	doc["sampler"] = {
		{"attach", result.attach},
		{"fpu_layout", result.fpu_layout},
		{"hits", result.counters.hits},
		{"sent", result.counters.sent},
		{"lost", result.counters.lost},
		{"lost_samples", result.counters.lost_samples},
		{"deferred_budget", result.counters.deferred_budget},
		{"deferred_full", result.counters.deferred_full},
		{"followed_threads", result.counters.followed_threads},
		{"suppressed", result.counters.suppressed},
		{"track_failed", result.counters.track_failed},
		{"read_failed", result.counters.read_failed},
	};
	doc["processes"] = nlohmann::json::array();
	for (const auto &row : result.rows) {
		const auto total = row.counts.total();
		nlohmann::json p = {
			{"pid", row.key.tgid},
			{"name", row.name},
			{"verdict", to_string(row.verdict.kind)},
			{"reason", row.verdict.reason},
			{"score", row.verdict.score},
			{"rule", to_string(row.verdict.rule)},
			{"severity", to_string(row.verdict.severity())},
			{"samples", total},
			{"samples_by_mode", row.counts.by_mode},
			{"transitions", row.counts.transitions},
			{"ftz_daz_share", row.counts.ftz_daz_share()},
		};
		if (row.info.executable)
			p["executable"] = *row.info.executable;
		if (row.allowed)
			p["allowlisted"] = *row.allowed;
		if (row.info.uid)
			p["user_id"] = *row.info.uid;
		if (row.info.user_name)
			p["user_name"] = *row.info.user_name;
		if (row.info.container)
			p["container"] = container_document(*row.info.container);
		if (row.corroboration_read) {
			const Assessment a = row.assessment();
			p["assessment"] = assessment_document(a);
			if (row.footprint)
				p["footprint"] = footprint_document(*row.footprint);
			if (row.sockets) {
				p["sockets"] = sockets_document(*row.sockets);
				if (row.sockets->omitted)
					p["sockets_omitted"] = row.sockets->omitted;
			}
			if (row.miner)
				p["yara"] = miner_document(*row.miner);
		}
		doc["processes"].push_back(std::move(p));
	}
	doc["miners"] = result.miners();
	return doc;
}

} // namespace mxwatch
