// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/detect/detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <fmt/format.h>

namespace mxwatch {

namespace {

// ModeCounts as an array of its fields, in declaration order, and back. A
// field added to ModeCounts must be added here.
static_assert(sizeof(ModeCounts) == WindowedCounts::kFields * sizeof(std::uint64_t));
std::array<std::uint64_t, WindowedCounts::kFields> fields_of(const ModeCounts &c)
{
	return {c.by_mode[0], c.by_mode[1],	   c.by_mode[2],	     c.by_mode[3], c.transitions,
		c.after_non_default, c.changed_after_non_default, c.records, c.ftz_daz, c.x87_agrees};
}

} // namespace

void WindowedCounts::add(std::uint64_t epoch, const ModeCounts &delta)
{
	Bucket &bucket = buckets_[epoch % kBuckets];
	if (bucket.epoch != epoch) {
		if (bucket.epoch > epoch)
			return; // older than the window: nothing to add it to
		bucket = Bucket{epoch, {}};
	}
	const auto d = fields_of(delta);
	for (std::size_t i = 0; i < kFields; i++)
		bucket.counts[i] = static_cast<std::uint32_t>(
			std::min<std::uint64_t>(bucket.counts[i] + d[i], std::numeric_limits<std::uint32_t>::max()));
}

ModeCounts WindowedCounts::sum(std::uint64_t now_epoch) const
{
	// Field by field over the live buckets, then into ModeCounts once: a loop the
	// compiler keeps in registers (this runs up to three times per sample).
	std::array<std::uint64_t, kFields> f{};
	for (const auto &bucket : buckets_)
		if (bucket.epoch != 0 && bucket.epoch + kBuckets > now_epoch)
			for (std::size_t i = 0; i < kFields; i++)
				f[i] += bucket.counts[i];
	ModeCounts sum;
	for (int m = 0; m < kRoundingModes; m++)
		sum.by_mode[m] = f[m];
	sum.transitions = f[4];
	sum.after_non_default = f[5];
	sum.changed_after_non_default = f[6];
	sum.records = f[7];
	sum.ftz_daz = f[8];
	sum.x87_agrees = f[9];
	return sum;
}

std::string_view to_string(VerdictKind kind)
{
	switch (kind) {
	case VerdictKind::Benign:
		return "benign";
	case VerdictKind::Suspicious:
		return "suspicious";
	case VerdictKind::Miner:
		return "miner";
	}
	return "invalid";
}

std::string_view to_string(AlertStage stage)
{
	switch (stage) {
	case AlertStage::First:
		return "first";
	case AlertStage::Ongoing:
		return "ongoing";
	case AlertStage::Resolved:
		return "resolved";
	}
	return "invalid";
}

std::string_view to_string(Scope scope)
{
	switch (scope) {
	case Scope::Thread:
		return "thread";
	case Scope::Process:
		return "process";
	case Scope::Group:
		return "group";
	}
	return "invalid";
}

std::string_view to_string(DecisionRule rule)
{
	switch (rule) {
	case DecisionRule::None:
		return "none";
	case DecisionRule::ChurnMxcsrOnly:
		return "churn-mxcsr-only";
	case DecisionRule::ChurnFootprint:
		return "churn-footprint";
	case DecisionRule::SustainedChurn:
		return "sustained-churn";
	}
	return "invalid";
}

std::string_view describe(DecisionRule rule)
{
	switch (rule) {
	case DecisionRule::None:
		return "no rule";
	case DecisionRule::ChurnMxcsrOnly:
		return "rounding churn, MXCSR-only";
	case DecisionRule::ChurnFootprint:
		return "rounding churn set like fesetround(), RandomX-sized memory";
	case DecisionRule::SustainedChurn:
		return "sustained churn, no footprint";
	}
	return "invalid";
}

std::string_view to_string(Severity severity)
{
	switch (severity) {
	case Severity::None:
		return "none";
	case Severity::Medium:
		return "medium";
	case Severity::High:
		return "high";
	}
	return "invalid";
}

Severity severity_of(DecisionRule rule)
{
	switch (rule) {
	case DecisionRule::None:
		return Severity::None;
	case DecisionRule::ChurnMxcsrOnly:
	case DecisionRule::ChurnFootprint:
		return Severity::High;
	case DecisionRule::SustainedChurn:
		return Severity::Medium;
	}
	return Severity::None;
}

// The two tests' per-observation log-likelihood ratios, computed once per config.
struct Detector::Tests {
	explicit Tests(const DetectorConfig &c)
	    : threshold(std::log((1 - c.miss) / c.false_alarm)),
	      rare_hit(std::log(c.rare_share_miner / c.rare_share_benign)),
	      rare_miss(std::log((1 - c.rare_share_miner) / (1 - c.rare_share_benign))),
	      changed(std::log(c.change_rate_miner / c.change_rate_benign)),
	      repeated(std::log((1 - c.change_rate_miner) / (1 - c.change_rate_benign))),
	      max_x87_agreement(c.max_x87_agreement)
	{
	}

	double threshold, rare_hit, rare_miss, changed, repeated, max_x87_agreement;

	static std::uint64_t rarest_non_default(const ModeCounts &c)
	{
		return std::min({c.by_mode[1], c.by_mode[2], c.by_mode[3]});
	}

	Verdict operator()(const ModeCounts &c) const
	{
		Verdict v;
		const auto non_default = c.non_default();
		const auto rare = rarest_non_default(c);
		v.spread_llr = static_cast<double>(rare) * rare_hit + static_cast<double>(non_default - rare) * rare_miss;
		v.churn_llr = static_cast<double>(c.changed_after_non_default) * changed +
			      static_cast<double>(c.after_non_default - c.changed_after_non_default) * repeated;
		v.score = std::clamp(std::min(v.spread_llr, v.churn_llr) / threshold, 0.0, 1.0);
		const double x87 = non_default ? static_cast<double>(c.x87_agrees) / static_cast<double>(non_default) : 0;
		if (v.spread_llr >= threshold && v.churn_llr >= threshold) {
			// Churn set like fesetround() is not benign either: it waits for corroboration.
			if (x87 <= max_x87_agreement) {
				v.kind = VerdictKind::Miner;
				v.rule = DecisionRule::ChurnMxcsrOnly;
			} else {
				v.kind = VerdictKind::Suspicious;
				v.awaits_corroboration = true;
			}
		} else if (rare > 0) {
			v.kind = VerdictKind::Suspicious;
		}
		return v;
	}

	std::string explain(const ModeCounts &c, const Verdict &v) const
	{
		const auto non_default = c.non_default();
		const auto nd = static_cast<double>(std::max<std::uint64_t>(non_default, 1));
		const double x87 = static_cast<double>(c.x87_agrees) / nd;
		const double churn = c.after_non_default ? static_cast<double>(c.changed_after_non_default) /
								   static_cast<double>(c.after_non_default)
							 : 0.0;
		const std::string shares =
			fmt::format("down/up/toward-zero {:.0f}/{:.0f}/{:.0f}% of {} non-default samples",
				    100 * static_cast<double>(c.by_mode[1]) / nd, 100 * static_cast<double>(c.by_mode[2]) / nd,
				    100 * static_cast<double>(c.by_mode[3]) / nd, non_default);
		if (v.kind == VerdictKind::Miner || v.awaits_corroboration) {
			const std::string evidence =
				fmt::format("{}, {:.0f}% followed by a different mode (spread {:.1f}, churn {:.1f} >= {:.1f})",
					    shares, 100 * churn, v.spread_llr, v.churn_llr, threshold);
			if (v.kind == VerdictKind::Miner && v.rule == DecisionRule::ChurnMxcsrOnly)
				return fmt::format("{}: {}", describe(v.rule), evidence);
			if (v.kind == VerdictKind::Miner)
				return fmt::format("{}: {}, {:.0f}% set like fesetround() (x87 agrees)", describe(v.rule),
						   evidence, 100 * x87);
			return fmt::format("{}, {:.0f}% set like fesetround() (x87 agrees): a miner once RandomX-sized "
					   "memory and busy threads corroborate it, or once sustained",
					   evidence, 100 * x87);
		}
		if (rarest_non_default(c) == 0) {
			const int used = (c.by_mode[1] > 0) + (c.by_mode[2] > 0) + (c.by_mode[3] > 0);
			return fmt::format("{} of 3 non-default modes used ({})", used, shares);
		}
		if (v.spread_llr >= threshold)
			return fmt::format("{}, but modes dwell: only {:.0f}% followed by a different mode", shares,
					   100 * churn);
		return fmt::format("{}: not enough evidence yet (spread {:.1f}, churn {:.1f} of {:.1f})", shares,
				   v.spread_llr, v.churn_llr, threshold);
	}
};

namespace {

bool outranks(const Verdict &a, const Verdict &b)
{
	return a.kind != b.kind ? a.kind > b.kind : a.score > b.score;
}

} // namespace

Verdict judge(const ModeCounts &counts, const DetectorConfig &config)
{
	const Detector::Tests tests(config);
	Verdict verdict = tests(counts);
	verdict.reason = tests.explain(counts, verdict);
	return verdict;
}

Detector::Detector(DetectorConfig config) : config_(config), tests_(std::make_unique<const Tests>(config_)) {}
Detector::~Detector() = default;
Detector::Detector(Detector &&) noexcept = default;

void Detector::reconfigure(const DetectorConfig &config)
{
	config_ = config;
	tests_ = std::make_unique<const Tests>(config_);
}

ProcessEvidence &Detector::process_for(const Sample &sample, const std::string &group)
{
	const ProcessKey key{sample.tgid, sample.process_start_ns};
	if (last_process_ && last_process_->key == key)
		return *last_process_;
	last_thread_ = nullptr;
	if (auto it = processes_.find(key); it != processes_.end())
		return *(last_process_ = &it->second);
	if (processes_.size() >= config_.max_processes)
		evict_one();
	ProcessEvidence &process = processes_[key];
	process.key = key;
	process.recency = recency_[0].insert(recency_[0].end(), key);
	process.first_ns = sample.timestamp_ns;
	process.cgroup_id = sample.cgroup_id;
	const std::string label =
		fmt::format("{} in cgroup {}", group.empty() ? sample.comm : group, sample.cgroup_id);
	auto g = groups_.find(label);
	if (g == groups_.end()) {
		if (idle_groups_.size() >= config_.max_idle_groups) { // the longest idle makes room
			groups_.erase(idle_groups_.front());
			idle_groups_.pop_front();
		}
		g = groups_.try_emplace(label).first;
		g->second.label = label;
		g->second.idle = idle_groups_.end();
	} else if (g->second.processes == 0) {
		idle_groups_.erase(g->second.idle);
		g->second.idle = idle_groups_.end();
	}
	g->second.processes++;
	g->second.members++;
	process.group = &g->second;
	last_process_ = &process;
	return process;
}

namespace {

// One raw sample (with the default samples folded into it) against the
// thread's previous one. bpf/mxwatch_counts.h counts the same way in the kernel.
void count_raw_sample(const Sample &sample, const ThreadEvidence &thread, ModeCounts &delta)
{
	const RoundingMode mode = sample.mode();
	delta.by_mode[static_cast<int>(mode)] = 1;
	delta.by_mode[0] += sample.default_skipped;
	delta.records = 1;
	delta.ftz_daz = has_ftz_daz(sample.mxcsr) ? 1 : 0;
	delta.x87_agrees = mode != RoundingMode::Nearest && sample.x87_agrees() ? 1 : 0;
	if (thread.seen) {
		RoundingMode before = thread.last_mode;
		if (sample.default_skipped && before != RoundingMode::Nearest) {
			// Folded default samples came between: the thread went back to nearest first.
			delta.transitions++;
			delta.after_non_default++;
			delta.changed_after_non_default++;
			before = RoundingMode::Nearest;
		}
		if (before != RoundingMode::Nearest) {
			delta.after_non_default++;
			delta.changed_after_non_default += mode != before;
		}
		delta.transitions += mode != before;
	}
}

} // namespace

std::optional<Detection> Detector::observe(const Sample &sample, const std::string &group)
{
	ProcessEvidence &process = process_for(sample, group);
	if (sample.tid == sample.tgid || process.comm.empty())
		process.comm = sample.comm; // the main thread's name names the process
	process.last_ns = std::max(process.last_ns, sample.timestamp_ns);
	touch(process);
	if (!last_thread_ || last_tid_ != sample.tid) {
		last_thread_ = &process.threads[sample.tid];
		last_tid_ = sample.tid;
	}
	ThreadEvidence &thread = *last_thread_;

	const RoundingMode mode = sample.mode();
	ModeCounts delta;
	if (sample.summary) {
		// The kernel counted these samples against each other and against this
		// thread's previous record, as count_raw_sample() does: nothing to infer.
		delta = sample.summary->counts;
	} else {
		count_raw_sample(sample, thread, delta);
	}
	thread.seen = true;
	thread.last_mode = mode;

	const std::uint64_t now = sample.timestamp_ns;
	const std::uint64_t epoch = WindowedCounts::epoch(now, config_.window_ns);
	thread.window.add(epoch, delta);
	process.window.add(epoch, delta);
	process.group->window.add(epoch, delta);
	process.group->last_ns = std::max(process.group->last_ns, now);
	process.total += delta;

	const bool ongoing_due = process.alerted && now - process.last_alert_ns >= config_.ongoing_interval_ns;
	if (process.alerted && !ongoing_due)
		return std::nullopt; // decided; nothing to report until the next update is due
	thread.verdict = (*tests_)(thread.window.sum(epoch));
	return decide(process, thread.verdict, now);
}

std::optional<Detection> Detector::decide(ProcessEvidence &process, const Verdict &thread_verdict, std::uint64_t now)
{
	const Tests &tests = *tests_;
	const std::uint64_t epoch = WindowedCounts::epoch(now, config_.window_ns);
	Verdict best = thread_verdict;
	Scope scope = Scope::Thread;
	if (Verdict v = tests(process.window.sum(epoch)); outranks(v, best)) {
		best = v;
		scope = Scope::Process;
	}
	// The group pools processes of one executable in one cgroup: workers that
	// respawn every second are each sampled only briefly. It outlives them by
	// window_ns, so a gap between workers does not reset it.
	if (process.group->members > 1)
		if (Verdict v = tests(process.group->window.sum(epoch)); outranks(v, best)) {
			best = v;
			scope = Scope::Group;
		}
	// Churn set like fesetround(): a miner with corroboration, or once it has lasted.
	if (best.awaits_corroboration) {
		if (process.churn_since_ns == 0)
			process.churn_since_ns = std::max<std::uint64_t>(now, 1);
		if (process.footprint_corroborates) {
			best.kind = VerdictKind::Miner;
			best.rule = DecisionRule::ChurnFootprint;
		} else if (now - process.churn_since_ns >= config_.sustained_churn_ns) {
			best.kind = VerdictKind::Miner;
			best.rule = DecisionRule::SustainedChurn;
		}
	} else if (best.kind != VerdictKind::Miner) {
		process.churn_since_ns = 0; // the churn paused: sustained starts again
	}
	process.verdict = best;
	process.scope = scope;
	if (best.awaits_corroboration && best.kind != VerdictKind::Miner && !process.alerted)
		awaiting_.insert(process.key);
	else
		awaiting_.erase(process.key);
	if (best.kind != VerdictKind::Miner)
		return std::nullopt;
	process.last_alert_ns = now;
	const bool first = !process.alerted;
	if (first) {
		recency_[1].splice(recency_[1].end(), recency_[0], process.recency);
		process.alerted = true;
		process.first_alert_ns = now;
	}
	Detection d = detection_for(process, first ? AlertStage::First : AlertStage::Ongoing, now);
	process.verdict.reason = d.verdict.reason; // for reports: why it was judged a miner
	return d;
}

bool Detector::corroborates(const ProcessEvidence &process, const Footprint &footprint, std::uint64_t now_ns) const
{
	if (footprint.resident_bytes < config_.min_resident_bytes)
		return false;
	// The threads that churn (non-default samples in the window) must run, not sleep.
	for (const auto &cpu : footprint.threads) {
		const auto it = process.threads.find(cpu.tid);
		if (it != process.threads.end() && it->second.window.sum(now_ns, config_.window_ns).non_default() > 0 &&
		    static_cast<double>(cpu.busy_permille) / 1000.0 >= config_.min_busy_share)
			return true;
	}
	return false;
}

std::optional<Detection> Detector::corroborate(const ProcessKey &key, const Footprint &footprint, std::uint64_t now_ns)
{
	const auto it = processes_.find(key);
	if (it == processes_.end())
		return std::nullopt;
	ProcessEvidence &process = it->second;
	process.footprint = footprint;
	process.footprint_corroborates = corroborates(process, footprint, now_ns);
	if (process.alerted || !process.footprint_corroborates)
		return std::nullopt;
	// Every thread's latest verdict: the one that churns need not be the one sampled last.
	Verdict best;
	for (const auto &[tid, thread] : process.threads)
		if (outranks(thread.verdict, best))
			best = thread.verdict;
	return decide(process, best, std::max(now_ns, process.last_ns));
}

std::string Detector::reason_for(const ProcessEvidence &process, const ModeCounts &counts, const Verdict &verdict,
				 std::uint64_t now_ns) const
{
	std::string reason = tests_->explain(counts, verdict);
	constexpr double kMiB = 1024.0 * 1024.0;
	if (verdict.rule == DecisionRule::ChurnFootprint && process.footprint) {
		double busiest = 0;
		for (const auto &cpu : process.footprint->threads)
			if (process.threads.contains(cpu.tid))
				busiest = std::max(busiest, static_cast<double>(cpu.busy_permille) / 1000.0);
		reason += fmt::format("; {:.0f} MiB resident (largest mapping {:.0f} MiB), busiest churning thread at "
				      "{:.0f}% of a CPU",
				      static_cast<double>(process.footprint->resident_bytes) / kMiB,
				      static_cast<double>(process.footprint->largest_mapping_bytes) / kMiB, 100 * busiest);
	} else if (verdict.rule == DecisionRule::SustainedChurn && process.churn_since_ns) {
		reason += fmt::format("; sustained for {:.0f} s", static_cast<double>(now_ns - process.churn_since_ns) / 1e9);
		if (process.footprint)
			reason += fmt::format(" without RandomX-sized memory ({:.0f} MiB resident)",
					      static_cast<double>(process.footprint->resident_bytes) / kMiB);
		else
			reason += " with no footprint corroborating it";
	}
	return reason;
}

Detection Detector::detection_for(const ProcessEvidence &process, AlertStage stage, std::uint64_t now_ns) const
{
	const Tests &tests = *tests_;
	Detection d;
	d.stage = stage;
	d.key = process.key;
	d.comm = process.comm;
	d.cgroup_id = process.cgroup_id;
	d.timestamp_ns = now_ns;
	d.first_seen_ns = process.first_ns;
	d.first_alert_ns = process.first_alert_ns;
	d.scope = process.scope;
	d.group = process.group ? process.group->label : std::string();
	d.window_counts = process.scope == Scope::Group && process.group
				  ? process.group->window.sum(now_ns, config_.window_ns)
				  : process.window.sum(now_ns, config_.window_ns);
	if (stage == AlertStage::Resolved)
		d.window_counts = process.total;
	d.verdict = process.verdict;
	d.verdict.reason = reason_for(process, d.window_counts, d.verdict, now_ns);
	for (const auto &[tid, thread] : process.threads)
		if (tests(thread.window.sum(now_ns, config_.window_ns)).kind != VerdictKind::Benign)
			d.threads.push_back(tid);
	std::sort(d.threads.begin(), d.threads.end());
	return d;
}

void Detector::forget(std::unordered_map<ProcessKey, ProcessEvidence, ProcessKeyHash>::iterator it)
{
	if (on_forget_)
		on_forget_(it->first);
	awaiting_.erase(it->first);
	GroupEvidence *group = it->second.group;
	recency_[it->second.alerted].erase(it->second.recency);
	if (last_process_ == &it->second) {
		last_process_ = nullptr;
		last_thread_ = nullptr;
	}
	processes_.erase(it);
	if (group && --group->processes == 0) // its evidence stays until its window has passed
		group->idle = idle_groups_.insert(idle_groups_.end(), group->label);
}

void Detector::forget_process(const ProcessKey &key)
{
	if (auto it = processes_.find(key); it != processes_.end())
		forget(it);
}

void Detector::touch(ProcessEvidence &process)
{
	auto &order = recency_[process.alerted];
	if (std::next(process.recency) != order.end())
		order.splice(order.end(), order, process.recency);
}

void Detector::evict_one()
{
	// Least recently seen first, sparing processes under an open alert while others remain.
	const auto &order = recency_[0].empty() ? recency_[1] : recency_[0];
	if (order.empty())
		return;
	if (auto victim = processes_.find(order.front()); victim != processes_.end())
		forget(victim);
}

std::optional<Detection> Detector::process_exited(const ProcessKey &key, std::uint64_t now_ns)
{
	auto it = processes_.find(key);
	if (it == processes_.end() || it->second.exited)
		return std::nullopt;
	it->second.exited = true;
	if (!it->second.alerted)
		return std::nullopt;
	return detection_for(it->second, AlertStage::Resolved, now_ns);
}

std::vector<Detection> Detector::expire(std::uint64_t now_ns)
{
	std::vector<Detection> resolved;
	for (auto it = processes_.begin(); it != processes_.end();) {
		auto next = std::next(it);
		if (it->second.last_ns + config_.idle_expiry_ns < now_ns) {
			if (it->second.alerted && !it->second.exited)
				resolved.push_back(detection_for(it->second, AlertStage::Resolved, now_ns));
			forget(it);
		}
		it = next;
	}
	// Idle groups in the order they became idle; one with nothing in its window is done.
	for (auto it = idle_groups_.begin(); it != idle_groups_.end();) {
		const auto group = groups_.find(*it);
		if (group->second.last_ns + config_.window_ns >= now_ns) {
			++it;
			continue;
		}
		groups_.erase(group);
		it = idle_groups_.erase(it);
	}
	return resolved;
}

} // namespace mxwatch
