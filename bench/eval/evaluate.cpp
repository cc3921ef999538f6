// SPDX-License-Identifier: GPL-2.0-only
// mxw-evaluate: applies mxwatch's detector and the decision rules of the tools
// people use today to the same recordings, and prints one table.
//
//   mxw-evaluate MANIFEST.jsonl [--json OUT]
//
// Each manifest line describes one run: {"workload": "...", "class": "miner" |
// "benign", "run": N, "recording": "path", "cgroup": N};
// "cgroup" is the id of the cgroup v2 directory the workload and all its children
// ran in: the samples from that cgroup are the workload's. The reference rules, as
// their tools state them, applied to mxwatch's samples:
//   bpftrace   the original script: alert on any sample with a non-zero mode;
//   sniffer    randomx-sniffer: two or more distinct modes among 5 samples of a
//              thread taken at least 50 ms apart;
//   cryptnono  more than 64 non-zero samples per PID.
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/recording/sample_file.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace {

using mxwatch::RoundingMode;
using mxwatch::Sample;

struct Run {
	std::string workload, klass, recording;
	int run = 0;
	std::uint64_t cgroup = 0; // the workload ran alone in this cgroup (v2 id)
	bool is_target(const Sample &s) const { return s.cgroup_id == cgroup; }
};

// One rule's outcome on one run.
struct Outcome {
	bool detected = false;                // a workload process was alerted on
	double seconds_from_first_signal = 0; // alert time - the workload's first non-default sample
	double seconds_from_start = 0;        // alert time - the alerted process's start
	int false_alerts = 0;                 // alerts on processes outside the workload
	int false_medium = 0;                 // of those, lower-severity ones (sustained churn)
	std::string rule;                     // mxwatch: the rule of the first alert on the workload
	bool medium = false;                  // that alert was lower-severity
};

// A footprint line of the recording, after `before` samples: what the pipeline
// learnt then, for mxwatch's corroboration.
struct FootprintAt {
	std::size_t before = 0;
	std::uint32_t tgid = 0;
	std::uint64_t start_ns = 0, t_ns = 0;
	mxwatch::Footprint footprint;
};

struct Recording {
	std::vector<Sample> samples;
	std::vector<FootprintAt> footprints;
};

// A rule sees every sample and answers whether it alerts on the sample's process now.
class Rule {
public:
	virtual ~Rule() = default;
	virtual bool alerts(const Sample &sample) = 0;
	// A footprint: the process it alerts on now, if any (only mxwatch reads them).
	virtual std::optional<std::uint32_t> footprint(const FootprintAt &) { return std::nullopt; }
	// The severity and rule of the latest alert.
	virtual bool medium() const { return false; }
	virtual std::string rule() const { return {}; }
};

class MxwatchRule final : public Rule {
public:
	bool alerts(const Sample &s) override { return note(detector_.observe(s, s.comm)); }
	std::optional<std::uint32_t> footprint(const FootprintAt &f) override
	{
		if (note(detector_.corroborate({f.tgid, f.start_ns}, f.footprint, f.t_ns)))
			return f.tgid;
		return std::nullopt;
	}
	bool medium() const override { return severity_ == mxwatch::Severity::Medium; }
	std::string rule() const override { return rule_; }

private:
	bool note(const std::optional<mxwatch::Detection> &d)
	{
		if (!d || d->stage != mxwatch::AlertStage::First)
			return false;
		severity_ = d->verdict.severity();
		rule_ = std::string(to_string(d->verdict.rule));
		return true;
	}
	mxwatch::Detector detector_;
	mxwatch::Severity severity_ = mxwatch::Severity::None;
	std::string rule_;
};

class AnyNonZeroRule final : public Rule {
public:
	bool alerts(const Sample &s) override { return s.mode() != RoundingMode::Nearest; }
};

class SnifferRule final : public Rule {
public:
	bool alerts(const Sample &s) override
	{
		auto &t = threads_[s.tid];
		// Folded default samples: the thread was in the default mode just before.
		if (s.default_skipped)
			keep(t, s.timestamp_ns, RoundingMode::Nearest);
		keep(t, s.timestamp_ns, s.mode());
		if (t.modes.size() < 5)
			return false;
		std::set<RoundingMode> distinct(t.modes.begin(), t.modes.end());
		return distinct.size() >= 2;
	}

private:
	struct Thread {
		std::uint64_t last_ns = 0;
		std::deque<RoundingMode> modes;
	};
	static void keep(Thread &t, std::uint64_t ns, RoundingMode mode)
	{
		if (!t.modes.empty() && ns - t.last_ns < 50'000'000)
			return;
		t.last_ns = ns;
		t.modes.push_back(mode);
		if (t.modes.size() > 5)
			t.modes.pop_front();
	}
	std::unordered_map<std::uint32_t, Thread> threads_;
};

class CryptnonoRule final : public Rule {
public:
	bool alerts(const Sample &s) override
	{
		if (s.mode() != RoundingMode::Nearest)
			non_zero_[s.tgid]++;
		return non_zero_[s.tgid] > 64;
	}

private:
	std::unordered_map<std::uint32_t, std::uint64_t> non_zero_;
};

Recording load(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		throw std::runtime_error("cannot open " + path);
	mxwatch::SampleReader reader(in, path);
	Recording r;
	reader.on_footprint([&r](std::uint32_t pid, std::uint64_t start, std::uint64_t t, mxwatch::Footprint f) {
		r.footprints.push_back({r.samples.size(), pid, start, t, std::move(f)});
	});
	Sample s;
	while (reader.next(s))
		r.samples.push_back(s);
	if (reader.error())
		throw std::runtime_error(reader.error()->message());
	return r;
}

Outcome apply(Rule &rule, const Run &run, const Recording &recording)
{
	Outcome out;
	std::optional<std::uint64_t> first_signal;
	std::unordered_set<std::uint32_t> alerted;
	std::unordered_map<std::uint32_t, std::pair<bool, std::uint64_t>> seen; // tgid -> target, start
	auto alert = [&](std::uint32_t tgid, std::uint64_t t_ns) {
		alerted.insert(tgid);
		const auto [target, start_ns] = seen[tgid];
		if (!target) {
			out.false_alerts++;
			out.false_medium += rule.medium();
		} else if (!out.detected) {
			out.detected = true;
			out.rule = rule.rule();
			out.medium = rule.medium();
			out.seconds_from_first_signal = static_cast<double>(t_ns - first_signal.value_or(t_ns)) / 1e9;
			out.seconds_from_start = static_cast<double>(t_ns - start_ns) / 1e9;
		}
	};
	std::size_t next_footprint = 0;
	const auto &samples = recording.samples;
	for (std::size_t i = 0; i <= samples.size(); i++) {
		for (; next_footprint < recording.footprints.size() && recording.footprints[next_footprint].before <= i;
		     next_footprint++) {
			const FootprintAt &f = recording.footprints[next_footprint];
			if (!alerted.contains(f.tgid) && seen.contains(f.tgid))
				if (auto tgid = rule.footprint(f))
					alert(*tgid, f.t_ns);
		}
		if (i == samples.size())
			break;
		const Sample &s = samples[i];
		const bool target = run.is_target(s);
		seen.try_emplace(s.tgid, target, s.process_start_ns);
		if (target && !first_signal && s.mode() != RoundingMode::Nearest)
			first_signal = s.timestamp_ns;
		if (alerted.contains(s.tgid) || !rule.alerts(s))
			continue;
		alert(s.tgid, s.timestamp_ns);
	}
	if (run.klass == "benign" && out.detected) {
		out.false_alerts++;
		out.false_medium += out.medium;
		out.detected = false; // for benign runs "detected" is a false alert, counted above
	}
	return out;
}

double percentile(std::vector<double> v, double p)
{
	if (v.empty())
		return NAN;
	std::sort(v.begin(), v.end());
	const double rank = p * static_cast<double>(v.size() - 1);
	const auto lo = static_cast<std::size_t>(std::floor(rank));
	const auto hi = static_cast<std::size_t>(std::ceil(rank));
	return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "usage: mxw-evaluate MANIFEST.jsonl [--json OUT]\n");
		return 2;
	}
	std::vector<Run> runs;
	std::ifstream manifest(argv[1]);
	std::string line;
	while (std::getline(manifest, line)) {
		if (line.empty())
			continue;
		auto j = nlohmann::json::parse(line);
		runs.push_back({j.at("workload"), j.at("class"), j.at("recording"), j.at("run"), j.at("cgroup")});
	}

	static const std::vector<std::string> rules = {"mxwatch", "bpftrace", "sniffer", "cryptnono"};
	// workload -> rule -> outcomes
	std::map<std::string, std::map<std::string, std::vector<Outcome>>> results;
	std::map<std::string, std::string> klass;
	std::vector<std::string> order;
	for (const auto &run : runs) {
		const auto samples = load(run.recording);
		if (!klass.contains(run.workload))
			order.push_back(run.workload);
		klass[run.workload] = run.klass;
		for (const auto &name : rules) {
			std::unique_ptr<Rule> rule;
			if (name == "mxwatch")
				rule = std::make_unique<MxwatchRule>();
			else if (name == "bpftrace")
				rule = std::make_unique<AnyNonZeroRule>();
			else if (name == "sniffer")
				rule = std::make_unique<SnifferRule>();
			else
				rule = std::make_unique<CryptnonoRule>();
			results[run.workload][name].push_back(apply(*rule, run, samples));
		}
	}

	nlohmann::json doc = nlohmann::json::array();
	fmt::print("{:<28} {:<7} {:>4} | {:>9} {:>8} {:>8} {:>9} | {:>9} | {:>9} | {:>9} | {}\n", "workload", "class",
		   "runs", "mxwatch", "tta p50", "tta p95", "false", "bpftrace", "sniffer", "cryptnono", "mxwatch rule");
	fmt::print("{:<28} {:<7} {:>4} | {:>9} {:>8} {:>8} {:>9} | {:>9} | {:>9} | {:>9} |\n", "", "", "", "detected",
		   "(s)", "(s)", "high/med", "det/false", "det/false", "det/false");
	for (const auto &workload : order) {
		const auto &by_rule = results[workload];
		auto cell = [&](const std::string &rule) {
			const auto &outs = by_rule.at(rule);
			int detected = 0, false_alerts = 0;
			for (const auto &o : outs) {
				detected += o.detected;
				false_alerts += o.false_alerts;
			}
			return std::pair{detected, false_alerts};
		};
		const auto &mx = by_rule.at("mxwatch");
		std::vector<double> tta;
		for (const auto &o : mx)
			if (o.detected)
				tta.push_back(o.seconds_from_first_signal);
		const auto [mx_det, mx_false] = cell("mxwatch");
		auto ref = [&](const std::string &rule) {
			const auto [d, f] = cell(rule);
			return fmt::format("{}/{}", d, f);
		};
		int mx_medium = 0;
		std::set<std::string> mx_rules;
		for (const auto &o : mx) {
			mx_medium += o.false_medium;
			if (o.detected)
				mx_rules.insert(o.rule);
		}
		std::string rules_used;
		for (const auto &r : mx_rules)
			rules_used += (rules_used.empty() ? "" : ",") + r;
		fmt::print("{:<28} {:<7} {:>4} | {:>9} {:>8.2f} {:>8.2f} {:>9} | {:>9} | {:>9} | {:>9} | {}\n", workload,
			   klass[workload], mx.size(), fmt::format("{}/{}", mx_det, mx.size()), percentile(tta, 0.5),
			   percentile(tta, 0.95), fmt::format("{}/{}", mx_false - mx_medium, mx_medium), ref("bpftrace"),
			   ref("sniffer"), ref("cryptnono"), rules_used.empty() ? "-" : rules_used);
		nlohmann::json row = {{"workload", workload}, {"class", klass[workload]}, {"runs", mx.size()}};
		for (const auto &rule : rules) {
			const auto [d, f] = cell(rule);
			row[rule] = {{"detected", d}, {"false_alerts", f}};
		}
		row["mxwatch"]["false_alerts_medium"] = mx_medium;
		row["mxwatch"]["rules"] = mx_rules;
		row["mxwatch"]["tta_p50_s"] = percentile(tta, 0.5);
		row["mxwatch"]["tta_p95_s"] = percentile(tta, 0.95);
		std::vector<double> from_start;
		for (const auto &o : mx)
			if (o.detected)
				from_start.push_back(o.seconds_from_start);
		row["mxwatch"]["from_start_p95_s"] = percentile(from_start, 0.95);
		doc.push_back(row);
	}
	fmt::print("\nminer rows: detected/runs for mxwatch, detected/false for the reference rules;\n"
		   "benign rows: every alert is false. tta = time to first alert from the workload's first\n"
		   "non-default sample.\n");
	for (int i = 2; i + 1 < argc; i++)
		if (std::string(argv[i]) == "--json")
			std::ofstream(argv[i + 1]) << doc.dump(2) << "\n";
	return 0;
}
