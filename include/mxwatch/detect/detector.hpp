// SPDX-License-Identifier: GPL-2.0-only
// The detector: pure, deterministic C++ over timestamped samples. No I/O.
//
// The model (docs/detection.md has the derivation and the measured table):
// RandomX's CFROUND sets MXCSR's rounding mode to a random value thousands of
// times per hash, so the non-default samples of a mining thread are spread
// evenly over down, up and toward-zero, and consecutive samples rarely repeat a
// non-default mode. Benign programs that leave the default mode use one mode,
// or two of the three (interval arithmetic: down and up), or dwell in each
// mode for long stretches (test programs), and they set the mode with
// fesetround(), which changes the x87 control word too; CFROUND does not.
//
// Two sequential probability ratio tests run over the evidence of each thread,
// each process (all its threads pooled) and each group (processes of one
// executable in one cgroup, pooled), within a sliding window:
//   spread: the rarest of the three non-default modes, among non-default
//           samples, has share rare_share_miner (H1) vs rare_share_benign (H0);
//   churn:  after a non-default sample the next sample differs with
//           probability change_rate_miner (H1) vs change_rate_benign (H0).
// Both must cross log((1 - miss) / false_alarm). Then (DecisionRule):
//   MXCSR-only writes (the x87 control word mostly at nearest): a miner;
//   written like fesetround() (x87 agrees): a miner once the enrich stage's
//           Footprint shows RandomX-sized resident memory and busy churning
//           threads (corroborate()), or, at lower severity, once the churn has
//           lasted sustained_churn_ns without that.
// Nothing the process writes into the x87 word, FTZ/DAZ or the sticky flags
// can make a churning process look benign: at most it waits for corroboration.
#pragma once

#include "mxwatch/detect/footprint.hpp"
#include "mxwatch/detect/sample.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mxwatch {

struct DetectorConfig {
	// The sensitivity knob: the probability that a benign thread's evidence
	// crosses a test's threshold (Wald's bound, per test and per evidence scope).
	double false_alarm = 1e-6;
	double miss = 1e-3;
	double rare_share_benign = 0.02;
	double rare_share_miner = 0.20;  // RandomX: about 1/3
	double change_rate_benign = 0.15;
	double change_rate_miner = 0.50; // RandomX: about 0.75
	double max_x87_agreement = 0.5;  // above: modes set like fesetround(), corroboration needed
	// Corroboration of churn set like fesetround(): RandomX light mode holds a
	// 256 MiB cache, fast mode a 2080 MiB dataset.
	std::uint64_t min_resident_bytes = 200ull << 20;
	double min_busy_share = 0.05; // the busiest churning thread's CPU share since it started
	// Churn set like fesetround() that lasts this long without a footprint: a lower-severity alert.
	std::uint64_t sustained_churn_ns = 300'000'000'000;
	std::uint64_t window_ns = 60'000'000'000;
	std::uint64_t ongoing_interval_ns = 300'000'000'000; // at most one `ongoing` per process per interval
	std::uint64_t idle_expiry_ns = 120'000'000'000;      // forget a process without samples this long
	std::size_t max_processes = 16384;                   // state cap; least recently seen go first
	// Groups whose processes are all gone keep their evidence for window_ns
	// (a respawning miner's next worker pools with it); at most this many, the
	// longest idle go first.
	std::size_t max_idle_groups = 4096;
};

// ModeCounts over a sliding window, kept as a ring of equal time buckets.
class WindowedCounts {
public:
	static constexpr int kBuckets = 6;
	// Each bucket keeps ModeCounts' fields in ModeCounts' order, 32 bits each
	// (saturating): a bucket's share of the window never comes near 2^32
	// samples, and kept per thread, per process and per group, the half size is
	// what bounds memory under process churn.
	static constexpr std::size_t kFields = kRoundingModes + 6;

	void add(std::uint64_t timestamp_ns, std::uint64_t window_ns, const ModeCounts &delta)
	{
		add(epoch(timestamp_ns, window_ns), delta);
	}
	ModeCounts sum(std::uint64_t now_ns, std::uint64_t window_ns) const { return sum(epoch(now_ns, window_ns)); }

	// The bucket a time falls in: computed once per sample (a 64-bit division)
	// for the thread's, the process's and the group's windows alike.
	static std::uint64_t epoch(std::uint64_t timestamp_ns, std::uint64_t window_ns)
	{
		return timestamp_ns / std::max<std::uint64_t>(window_ns / kBuckets, 1) + 1; // 0: unused
	}
	void add(std::uint64_t epoch, const ModeCounts &delta);
	ModeCounts sum(std::uint64_t now_epoch) const;

private:
	struct Bucket {
		std::uint64_t epoch = 0; // timestamp / bucket length, +1 so that 0 means unused
		std::array<std::uint32_t, kFields> counts{};
	};
	std::array<Bucket, kBuckets> buckets_{};
};

enum class VerdictKind { Benign, Suspicious, Miner };
std::string_view to_string(VerdictKind kind);

// Which rule made a miner of a process (docs/detection.md).
enum class DecisionRule {
	None,
	ChurnMxcsrOnly,  // random rounding churn over all four modes, written to MXCSR only
	ChurnFootprint,  // the same churn set like fesetround(), with RandomX-sized memory and busy threads
	SustainedChurn,  // the same churn set like fesetround() for sustained_churn_ns, no footprint
};
// "churn-mxcsr-only", "churn-footprint", "sustained-churn" (or "none"): for machines.
std::string_view to_string(DecisionRule rule);
// One phrase for people: "rounding churn, MXCSR-only", ...
std::string_view describe(DecisionRule rule);

enum class Severity { None, Medium, High };
std::string_view to_string(Severity severity); // "none", "medium", "high"
Severity severity_of(DecisionRule rule);

struct Verdict {
	VerdictKind kind = VerdictKind::Benign;
	double score = 0;         // 0..1: progress of the weaker test towards its threshold
	double spread_llr = 0;    // log-likelihood ratios of the two tests
	double churn_llr = 0;
	// Both tests crossed but the modes were set like fesetround(): a miner only
	// with corroboration (Detector::corroborate) or once sustained.
	bool awaits_corroboration = false;
	DecisionRule rule = DecisionRule::None; // set when kind is Miner
	std::string reason;

	Severity severity() const { return kind == VerdictKind::Miner ? severity_of(rule) : Severity::None; }
};


// Pure decision over the counts of one thread, process or group.
Verdict judge(const ModeCounts &counts, const DetectorConfig &config);

struct ProcessKey {
	std::uint32_t tgid = 0;
	std::uint64_t start_ns = 0;
	bool operator==(const ProcessKey &) const = default;
};

struct ProcessKeyHash {
	std::size_t operator()(const ProcessKey &key) const noexcept
	{
		return std::hash<std::uint64_t>{}(key.start_ns * 0x9E3779B97F4A7C15ull ^ key.tgid);
	}
};

// Which evidence decided a verdict: one thread's, its process's (all threads
// pooled) or its group's (processes of one executable in one cgroup, pooled).
enum class Scope { Thread, Process, Group };
std::string_view to_string(Scope scope); // "thread", "process", "group"

struct ThreadEvidence {
	RoundingMode last_mode = RoundingMode::Nearest;
	bool seen = false;
	WindowedCounts window;
	Verdict verdict;
};

struct GroupEvidence {
	std::string label; // executable (or comm) and cgroup, for people
	WindowedCounts window;
	std::uint32_t processes = 0; // held now by this many processes
	std::uint32_t members = 0;   // processes that joined it since it was created
	std::uint64_t last_ns = 0;   // its latest sample
	std::list<std::string>::iterator idle; // its place among idle groups, while processes == 0
};

struct ProcessEvidence {
	ProcessKey key;
	std::string comm;
	std::uint64_t cgroup_id = 0;
	std::uint64_t first_ns = 0;
	std::uint64_t last_ns = 0;
	std::unordered_map<std::uint32_t, ThreadEvidence> threads;
	WindowedCounts window;
	ModeCounts total; // since first seen, for reports
	Verdict verdict;
	Scope scope = Scope::Thread; // which evidence decided the verdict
	GroupEvidence *group = nullptr;
	bool alerted = false;
	bool exited = false; // kept for reports until it expires
	// Corroboration of churn set like fesetround(): the latest footprint and
	// whether it showed RandomX-sized memory and a busy churning thread.
	std::optional<Footprint> footprint;
	bool footprint_corroborates = false;
	std::uint64_t churn_since_ns = 0; // since when it awaits corroboration without pause (0: not)
	std::uint64_t last_alert_ns = 0;
	std::uint64_t first_alert_ns = 0;
	std::list<ProcessKey>::iterator recency; // its place in the detector's eviction order
};

// Where an alert is in its lifecycle (DESIGN.md §3): a process judged a miner
// (First), still one (Ongoing), or gone (Resolved).
enum class AlertStage { First, Ongoing, Resolved };
std::string_view to_string(AlertStage stage); // "first", "ongoing", "resolved"

struct Detection {
	AlertStage stage = AlertStage::First;
	ProcessKey key;
	std::string comm;
	std::uint64_t cgroup_id = 0;
	std::uint64_t timestamp_ns = 0;
	std::uint64_t first_seen_ns = 0;
	std::uint64_t first_alert_ns = 0;
	ModeCounts window_counts;
	std::vector<std::uint32_t> threads; // threads whose own evidence is not benign
	Verdict verdict;
	Scope scope = Scope::Thread;
	std::string group; // label of the executable/cgroup group
};

class Detector {
public:
	explicit Detector(DetectorConfig config = {});
	~Detector();
	Detector(Detector &&) noexcept;

	// Feeds one sample. `group` names the process's executable (or anything that
	// ties processes together, like its comm); with the sample's cgroup it keys
	// the group evidence. Returns a First or Ongoing detection when one is due.
	std::optional<Detection> observe(const Sample &sample, const std::string &group = {});

	// The enrich stage's footprint of a process whose verdict awaits
	// corroboration, taken at `now_ns`: a First detection when it corroborates.
	std::optional<Detection> corroborate(const ProcessKey &key, const Footprint &footprint, std::uint64_t now_ns);
	// The processes whose churn awaits corroboration (not yet alerted on): the
	// pipeline gathers their footprints.
	const std::unordered_set<ProcessKey, ProcessKeyHash> &awaiting_corroboration() const { return awaiting_; }

	// The process is gone: Resolved if it had been alerted on (once). Its evidence
	// stays for reports until it expires.
	std::optional<Detection> process_exited(const ProcessKey &key, std::uint64_t now_ns);

	// Forgets processes idle for idle_expiry_ns; Resolved for alerted ones.
	std::vector<Detection> expire(std::uint64_t now_ns);
	// Forgets one process now (its group's evidence stays for window_ns, see
	// max_idle_groups). No Resolved: for processes that were not alerted on.
	void forget_process(const ProcessKey &key);

	const std::unordered_map<ProcessKey, ProcessEvidence, ProcessKeyHash> &processes() const
	{
		return processes_;
	}
	std::size_t groups() const { return groups_.size(); }
	const DetectorConfig &config() const { return config_; }
	// Called with every process the detector forgets (idle expiry, eviction at
	// max_processes, forget_process), before it goes: whoever keeps state beside
	// the detector's drops it then, and never has to reconcile.
	void on_forget(std::function<void(const ProcessKey &)> listener) { on_forget_ = std::move(listener); }
	// New thresholds and limits for what comes next; the evidence is kept.
	void reconfigure(const DetectorConfig &config);

private:
	ProcessEvidence &process_for(const Sample &sample, const std::string &group);
	void forget(std::unordered_map<ProcessKey, ProcessEvidence, ProcessKeyHash>::iterator it);
	void evict_one();
	void touch(ProcessEvidence &process);
	Detection detection_for(const ProcessEvidence &process, AlertStage stage, std::uint64_t now_ns) const;
	// Judges the process on its threads, itself and its group at `now`; the event due, if any.
	std::optional<Detection> decide(ProcessEvidence &process, const Verdict &thread_verdict, std::uint64_t now_ns);
	bool corroborates(const ProcessEvidence &process, const Footprint &footprint, std::uint64_t now_ns) const;
	std::string reason_for(const ProcessEvidence &process, const ModeCounts &counts, const Verdict &verdict,
			       std::uint64_t now_ns) const;

	struct Tests; // the SPRTs' constants, derived from config_ once
	friend Verdict judge(const ModeCounts &counts, const DetectorConfig &config);
	DetectorConfig config_;
	std::unique_ptr<const Tests> tests_;
	std::unordered_map<ProcessKey, ProcessEvidence, ProcessKeyHash> processes_;
	std::unordered_map<std::string, GroupEvidence> groups_;
	std::unordered_set<ProcessKey, ProcessKeyHash> awaiting_;
	std::list<std::string> idle_groups_; // groups no process holds, longest idle first
	// Eviction order at the cap, least recently seen first: [0] processes not
	// alerted on, [1] under an alert (evicted only when [0] is empty). A list,
	// not a scan: a flood of short-lived processes must cost O(1) each.
	std::array<std::list<ProcessKey>, 2> recency_;
	std::function<void(const ProcessKey &)> on_forget_;
	// The process and thread of the latest sample (map nodes do not move; threads
	// are erased only with their process): a thread's samples come in runs.
	ProcessEvidence *last_process_ = nullptr;
	ThreadEvidence *last_thread_ = nullptr; // of last_process_
	std::uint32_t last_tid_ = 0;
};

} // namespace mxwatch
