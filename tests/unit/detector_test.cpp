// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/detect/detector.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <random>

namespace mxwatch {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

// Feeds samples for one thread; returns the first detection, if any.
class Feed {
public:
	explicit Feed(Detector &detector, std::uint32_t tgid = 100, std::uint64_t start = 5)
	    : detector_(detector), tgid_(tgid), start_(start)
	{
	}

	std::optional<Detection> sample(std::uint32_t mxcsr, std::uint32_t tid = 0, std::uint32_t skipped = 0,
					std::uint16_t x87_cw = kX87CwDefault)
	{
		now_ += 20 * kMs;
		Sample s;
		s.timestamp_ns = now_;
		s.tgid = tgid_;
		s.tid = tid ? tid : tgid_;
		s.process_start_ns = start_;
		s.mxcsr = mxcsr;
		s.default_skipped = skipped;
		s.x87_cw = x87_cw;
		s.comm = comm;
		auto d = detector_.observe(s);
		if (d && !first_)
			first_ = d;
		return d;
	}
	const std::optional<Detection> &first() const { return first_; }
	std::uint64_t now() const { return now_; }
	void advance(std::uint64_t ns) { now_ += ns; }
	std::string comm = "worker"; // with the cgroup, names the group evidence

private:
	Detector &detector_;
	std::uint32_t tgid_;
	std::uint64_t start_;
	std::uint64_t now_ = 1'000'000'000;
	std::optional<Detection> first_;
};

std::uint32_t csr(int mode, bool ftz_daz = false)
{
	return (ftz_daz ? 0x9FC0u : 0x1F80u) | static_cast<std::uint32_t>(mode) << 13;
}

TEST(Detector, RandomModesLikeCfroundAreAMiner)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(1);
	for (int i = 0; i < 200; i++)
		feed.sample(csr(static_cast<int>(rng() % 4), true));
	ASSERT_TRUE(feed.first());
	EXPECT_EQ(feed.first()->verdict.kind, VerdictKind::Miner);
	EXPECT_EQ(feed.first()->key.tgid, 100u);
	EXPECT_EQ(feed.first()->threads, std::vector<std::uint32_t>{100});
	EXPECT_GT(feed.first()->window_counts.ftz_daz, 0u);
	// A detection is reported once per process.
	int later = 0;
	for (int i = 0; i < 200; i++)
		later += feed.sample(csr(static_cast<int>(rng() % 4), true)).has_value();
	EXPECT_EQ(later, 0);
}

TEST(Detector, IntervalArithmeticTogglingNearestDownUpIsBenign)
{
	Detector detector;
	Feed feed(detector);
	for (int i = 0; i < 3000; i++)
		feed.sample(csr(i % 3));
	EXPECT_FALSE(feed.first());
	EXPECT_EQ(detector.processes().begin()->second.verdict.kind, VerdictKind::Benign);
}

TEST(Detector, OneFixedNonDefaultModeIsBenign)
{
	for (int mode = 1; mode < 4; mode++) {
		Detector detector;
		Feed feed(detector);
		for (int i = 0; i < 3000; i++)
			feed.sample(csr(mode));
		EXPECT_FALSE(feed.first()) << mode;
	}
}

TEST(Detector, TooFewSamplesGiveNoVerdict)
{
	Detector detector;
	Feed feed(detector);
	for (int i = 0; i < 12; i++)
		feed.sample(csr(i % 4));
	EXPECT_FALSE(feed.first());
	EXPECT_EQ(detector.processes().begin()->second.verdict.kind, VerdictKind::Suspicious);
}

TEST(Detector, AThrottledMinerDilutedByDefaultSamplesIsStillAMiner)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(11);
	// Each burst of hashing is followed by a long sleep in the default mode (folded by the kernel).
	for (int i = 0; i < 100; i++)
		feed.sample(csr(1 + static_cast<int>(rng() % 3)), 0, /*skipped=*/100);
	ASSERT_TRUE(feed.first());
	EXPECT_LT(feed.first()->window_counts.share(RoundingMode::Down), 0.02);
}

TEST(Detector, ATestProgramDwellingInEachModeIsNotAMiner)
{
	Detector detector;
	Feed feed(detector);
	// fesetround() test style: long blocks in each mode, all four covered, set with x87 too.
	for (int block = 0; block < 40; block++)
		for (int i = 0; i < 30; i++)
			feed.sample(csr(block % 4));
	EXPECT_FALSE(feed.first());
	EXPECT_NE(detector.processes().begin()->second.verdict.kind, VerdictKind::Miner);
}

TEST(Detector, RandomModesSetThroughFesetroundAreNotAMiner)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(13);
	for (int i = 0; i < 3000; i++) {
		const int mode = static_cast<int>(rng() % 4);
		// fesetround() writes the same mode into the x87 control word (bits 10-11).
		feed.sample(csr(mode), 0, 0, static_cast<std::uint16_t>(kX87CwDefault | mode << 10));
	}
	EXPECT_FALSE(feed.first());
	const Verdict verdict = judge(detector.processes().begin()->second.total, DetectorConfig{});
	EXPECT_EQ(verdict.kind, VerdictKind::Suspicious);
	EXPECT_NE(verdict.reason.find("fesetround"), std::string::npos) << verdict.reason;
}

std::uint16_t x87(int mode)
{
	return static_cast<std::uint16_t>(kX87CwDefault | mode << 10);
}

// Random modes set like fesetround() (x87 agrees) for `seconds` of 20 ms samples.
void feed_fesetround_churn(Feed &feed, std::mt19937 &rng, double seconds, std::uint32_t tid = 0)
{
	for (int i = 0; i < static_cast<int>(seconds * 50); i++) {
		const int mode = static_cast<int>(rng() % 4);
		feed.sample(csr(mode, true), tid, 0, x87(mode));
	}
}

Footprint randomx_light_footprint(std::uint32_t tid = 100, std::uint32_t busy_permille = 990)
{
	Footprint f;
	f.resident_bytes = 262ull << 20; // the 256 MiB cache, a 2 MiB scratchpad, code
	f.largest_mapping_bytes = 256ull << 20;
	f.threads = {{tid, busy_permille}};
	return f;
}

TEST(Detector, MxcsrOnlyChurnNamesItsRuleAndHighSeverity)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(1);
	for (int i = 0; i < 200 && !feed.first(); i++)
		feed.sample(csr(static_cast<int>(rng() % 4), true));
	ASSERT_TRUE(feed.first());
	EXPECT_EQ(feed.first()->verdict.rule, DecisionRule::ChurnMxcsrOnly);
	EXPECT_EQ(feed.first()->verdict.severity(), Severity::High);
	EXPECT_TRUE(feed.first()->verdict.reason.starts_with("rounding churn, MXCSR-only")) << feed.first()->verdict.reason;
	EXPECT_TRUE(detector.awaiting_corroboration().empty());
}

TEST(Detector, ChurnSetLikeFesetroundAwaitsCorroborationAndRandomxMemoryMakesItAMiner)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(13);
	feed_fesetround_churn(feed, rng, 5);
	EXPECT_FALSE(feed.first()); // the x87 word alone is no proof either way...
	const ProcessKey key{100, 5};
	ASSERT_TRUE(detector.awaiting_corroboration().contains(key)); // ...so it waits for the footprint
	EXPECT_TRUE(detector.processes().at(key).verdict.awaits_corroboration);

	const auto d = detector.corroborate(key, randomx_light_footprint(), feed.now());
	ASSERT_TRUE(d);
	EXPECT_EQ(d->stage, AlertStage::First);
	EXPECT_EQ(d->verdict.kind, VerdictKind::Miner);
	EXPECT_EQ(d->verdict.rule, DecisionRule::ChurnFootprint);
	EXPECT_EQ(d->verdict.severity(), Severity::High);
	EXPECT_NE(d->verdict.reason.find("RandomX-sized memory"), std::string::npos) << d->verdict.reason;
	EXPECT_NE(d->verdict.reason.find("262 MiB resident"), std::string::npos) << d->verdict.reason;
	EXPECT_FALSE(detector.awaiting_corroboration().contains(key));
	// Once decided, later footprints and samples add no second alert.
	EXPECT_FALSE(detector.corroborate(key, randomx_light_footprint(), feed.now()));
}

TEST(Detector, AlmostAlwaysAgreeingX87WordStillAwaitsCorroboration)
{
	// A patched RandomX loads the x87 word right after MXCSR: 99.9% of preemptions agree.
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(5);
	for (int i = 0; i < 2000; i++) {
		const int mode = static_cast<int>(rng() % 4);
		feed.sample(csr(mode, true), 0, 0, x87(i % 1000 == 0 ? 0 : mode));
	}
	EXPECT_FALSE(feed.first());
	EXPECT_TRUE(detector.awaiting_corroboration().contains(ProcessKey{100, 5}));
}

TEST(Detector, FootprintWithoutRandomxMemoryOrWithIdleThreadsDoesNotCorroborate)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(13);
	feed_fesetround_churn(feed, rng, 5);
	const ProcessKey key{100, 5};
	Footprint small = randomx_light_footprint();
	small.resident_bytes = 64ull << 20; // a test program's heap
	EXPECT_FALSE(detector.corroborate(key, small, feed.now()));
	EXPECT_FALSE(detector.corroborate(key, randomx_light_footprint(100, 10), feed.now())); // 1% of a CPU
	EXPECT_FALSE(detector.corroborate(key, randomx_light_footprint(4242), feed.now())); // a thread that never churned
	EXPECT_FALSE(detector.corroborate(ProcessKey{999, 1}, randomx_light_footprint(), feed.now())); // unknown
	EXPECT_TRUE(detector.awaiting_corroboration().contains(key));
	EXPECT_NE(detector.processes().at(key).verdict.kind, VerdictKind::Miner);
}

TEST(Detector, SustainedChurnWithoutFootprintIsALowerSeverityMinerWithItsReason)
{
	DetectorConfig config;
	config.sustained_churn_ns = 30'000'000'000;
	Detector detector(config);
	Feed feed(detector);
	std::mt19937 rng(3);
	feed_fesetround_churn(feed, rng, 25);
	EXPECT_FALSE(feed.first());
	feed_fesetround_churn(feed, rng, 15);
	ASSERT_TRUE(feed.first());
	EXPECT_EQ(feed.first()->verdict.rule, DecisionRule::SustainedChurn);
	EXPECT_EQ(feed.first()->verdict.severity(), Severity::Medium);
	EXPECT_NE(feed.first()->verdict.reason.find("sustained for 3"), std::string::npos) << feed.first()->verdict.reason;
	EXPECT_NE(feed.first()->verdict.reason.find("fesetround"), std::string::npos) << feed.first()->verdict.reason;
	// It was sustained for about 30 s when alerted, not for 40.
	EXPECT_LT(feed.first()->timestamp_ns - 1'000'000'000, 40'000'000'000u);
}

TEST(Detector, SustainedChurnStartsAgainAfterAPause)
{
	DetectorConfig config;
	config.sustained_churn_ns = 30'000'000'000;
	Detector detector(config);
	Feed feed(detector);
	std::mt19937 rng(3);
	feed_fesetround_churn(feed, rng, 20);
	feed.advance(2 * config.window_ns); // the evidence leaves the window
	feed.sample(csr(0));
	feed_fesetround_churn(feed, rng, 20);
	EXPECT_FALSE(feed.first());
}

// The kernel's summaries (one record per 50 ms for a followed thread) of random
// modes set like fesetround(): counted as the kernel counts them (bpf/mxwatch_counts.h).
Sample fesetround_summary(std::mt19937 &rng, int &last_mode, std::uint64_t t_ns, int samples)
{
	Sample s;
	s.timestamp_ns = t_ns;
	s.tgid = s.tid = 100;
	s.process_start_ns = 5;
	s.comm = "worker";
	SampleSummary summary;
	summary.first_ns = t_ns - 40 * kMs;
	for (int i = 0; i < samples; i++) {
		const int mode = static_cast<int>(rng() % 4);
		ModeCounts &c = summary.counts;
		c.by_mode[static_cast<std::size_t>(mode)]++;
		c.records++;
		c.x87_agrees += mode != 0;
		if (last_mode != 0) {
			c.after_non_default++;
			c.changed_after_non_default += mode != last_mode;
		}
		c.transitions += mode != last_mode;
		last_mode = mode;
	}
	s.mxcsr = csr(last_mode);
	s.x87_cw = x87(last_mode);
	s.summary = summary;
	return s;
}

TEST(Detector, SummariesOfChurnSetLikeFesetroundAwaitCorroborationAndTheFootprintDecides)
{
	Detector detector;
	std::mt19937 rng(21);
	int last_mode = 0;
	std::uint64_t t = 1'000'000'000;
	for (int i = 0; i < 60; i++, t += 50 * kMs) // 3 s of summaries, 5 samples each
		EXPECT_FALSE(detector.observe(fesetround_summary(rng, last_mode, t, 5)));
	const ProcessKey key{100, 5};
	ASSERT_TRUE(detector.awaiting_corroboration().contains(key));
	EXPECT_FALSE(detector.corroborate(key, randomx_light_footprint(100, 30), t)); // 3% of a CPU: too idle
	const auto d = detector.corroborate(key, randomx_light_footprint(100, 400), t);
	ASSERT_TRUE(d);
	EXPECT_EQ(d->verdict.rule, DecisionRule::ChurnFootprint);
	EXPECT_EQ(d->verdict.severity(), Severity::High);
	EXPECT_EQ(d->threads, std::vector<std::uint32_t>{100});
}

TEST(Detector, OngoingUpdatesAreRateLimitedAndExitResolves)
{
	DetectorConfig config;
	config.ongoing_interval_ns = 2'000 * kMs;
	Detector detector(config);
	Feed feed(detector);
	std::mt19937 rng(17);
	std::vector<AlertStage> kinds;
	for (int i = 0; i < 500; i++) // 10 s of samples, 20 ms apart
		if (auto d = feed.sample(csr(static_cast<int>(rng() % 4))))
			kinds.push_back(d->stage);
	ASSERT_FALSE(kinds.empty());
	EXPECT_EQ(kinds.front(), AlertStage::First);
	EXPECT_EQ(std::count(kinds.begin(), kinds.end(), AlertStage::First), 1);
	const auto ongoing = std::count(kinds.begin(), kinds.end(), AlertStage::Ongoing);
	EXPECT_GE(ongoing, 3);
	EXPECT_LE(ongoing, 5);
	const auto resolved = detector.process_exited({100, 5}, feed.now() + 1);
	ASSERT_TRUE(resolved);
	EXPECT_EQ(resolved->stage, AlertStage::Resolved);
	EXPECT_FALSE(detector.process_exited({100, 5}, feed.now() + 2)) << "resolved once";
	// Its evidence stays for reports, and expiring it later resolves nothing again.
	ASSERT_EQ(detector.processes().size(), 1u);
	EXPECT_TRUE(detector.processes().begin()->second.alerted);
	EXPECT_TRUE(detector.expire(feed.now() + detector.config().idle_expiry_ns + 1).empty());
	EXPECT_TRUE(detector.processes().empty());
}

TEST(Detector, ShortLivedWorkersOfOneExecutableArePooledAsAGroup)
{
	Detector detector;
	std::mt19937 rng(19);
	std::optional<Detection> first;
	// Workers respawned every few samples: no single one carries enough evidence.
	for (std::uint32_t worker = 0; worker < 30 && !first; worker++) {
		Feed feed(detector, 1000 + worker, worker + 1);
		for (int i = 0; i < 4; i++)
			feed.sample(csr(static_cast<int>(rng() % 4)));
		first = feed.first();
	}
	ASSERT_TRUE(first);
	EXPECT_EQ(first->scope, Scope::Group);
}

TEST(Detector, StateIsCappedAtMaxProcesses)
{
	DetectorConfig config;
	config.max_processes = 50;
	Detector detector(config);
	for (std::uint32_t pid = 1; pid <= 500; pid++) {
		Feed feed(detector, pid, pid);
		feed.sample(csr(1));
	}
	EXPECT_LE(detector.processes().size(), 50u);
}

TEST(Detector, AtTheCapTheLeastRecentlySeenGoesFirstAndAMinerLast)
{
	DetectorConfig config;
	config.max_processes = 4;
	Detector detector(config);
	// pid 1 mines; pids 2-4 are benign, pid 2 seen again after the others.
	Feed miner(detector, 1, 1);
	miner.comm = "miner"; // its own group: the others' evidence must not pool with it
	std::mt19937 rng(3);
	for (int i = 0; i < 200 && !miner.first(); i++)
		miner.sample(csr(static_cast<int>(rng() % 4), true));
	ASSERT_TRUE(miner.first());
	Feed two(detector, 2, 2), three(detector, 3, 3), four(detector, 4, 4);
	two.sample(csr(1));
	three.sample(csr(1));
	four.sample(csr(1));
	two.sample(csr(1));
	auto present = [&](std::uint32_t pid) { return detector.processes().contains({pid, pid}); };
	Feed five(detector, 5, 5);
	five.sample(csr(1)); // evicts 3: the least recently seen that is not alerted on
	EXPECT_FALSE(present(3));
	EXPECT_TRUE(present(1) && present(2) && present(4) && present(5));
	for (std::uint32_t pid = 6; pid <= 9; pid++) {
		Feed next(detector, pid, pid);
		next.sample(csr(1));
	}
	// Only processes not alerted on were evicted, while there were any.
	EXPECT_TRUE(present(1));
	EXPECT_EQ(detector.processes().size(), 4u);
	// With nothing else left, the alerted one goes too.
	config.max_processes = 1;
	Detector small(config);
	Feed alone(small, 1, 1);
	for (int i = 0; i < 200 && !alone.first(); i++)
		alone.sample(csr(static_cast<int>(rng() % 4), true));
	ASSERT_TRUE(alone.first());
	Feed newcomer(small, 2, 2);
	newcomer.sample(csr(1));
	EXPECT_EQ(small.processes().size(), 1u);
	EXPECT_TRUE(small.processes().contains({2, 2}));
}

TEST(Detector, FoldedDefaultSamplesCountAsNearest)
{
	Detector detector;
	Feed feed(detector);
	feed.sample(csr(2));
	feed.sample(csr(0), 0, 9);
	const auto &process = detector.processes().begin()->second;
	EXPECT_EQ(process.total.by_mode[0], 10u);
	EXPECT_EQ(process.total.by_mode[2], 1u);
	EXPECT_EQ(process.total.transitions, 1u);
}

TEST(Detector, ManyThreadsWithFewSamplesEachArePooledPerProcess)
{
	Detector detector;
	Feed feed(detector);
	std::mt19937 rng(7);
	for (std::uint32_t tid = 101; tid < 141; tid++)
		for (int i = 0; i < 3; i++)
			feed.sample(csr(static_cast<int>(rng() % 4)), tid);
	ASSERT_TRUE(feed.first());
	EXPECT_EQ(feed.first()->verdict.kind, VerdictKind::Miner);
}

TEST(Detector, PidReuseDoesNotMixTwoProcesses)
{
	Detector detector;
	Feed before(detector, 100, /*start=*/5);
	Feed after(detector, 100, /*start=*/6);
	std::mt19937 rng(3);
	// Half the evidence each: neither process alone reaches the sample floor.
	for (int i = 0; i < 12; i++) {
		before.sample(csr(static_cast<int>(rng() % 4)));
		after.sample(csr(static_cast<int>(rng() % 4)));
	}
	EXPECT_EQ(detector.processes().size(), 2u);
	EXPECT_FALSE(before.first());
	EXPECT_FALSE(after.first());
}

TEST(Detector, EvidenceOutsideTheWindowIsForgotten)
{
	DetectorConfig config;
	config.window_ns = 6'000 * kMs;
	Detector detector(config);
	Feed feed(detector);
	std::mt19937 rng(5);
	for (int i = 0; i < 15; i++)
		feed.sample(csr(static_cast<int>(rng() % 4)));
	feed.advance(60'000 * kMs);
	for (int i = 0; i < 15; i++)
		feed.sample(csr(static_cast<int>(rng() % 4)));
	EXPECT_FALSE(feed.first()) << "old samples must not add up with new ones";
}

TEST(Detector, IdleProcessesExpire)
{
	Detector detector;
	Feed feed(detector);
	feed.sample(csr(1));
	detector.expire(feed.now() + 1);
	EXPECT_EQ(detector.processes().size(), 1u);
	detector.expire(feed.now() + detector.config().idle_expiry_ns + 1);
	EXPECT_TRUE(detector.processes().empty());
}

TEST(Judge, ScoreIsOneForAUniformSpread)
{
	ModeCounts counts;
	counts.by_mode = {25, 25, 25, 25};
	counts.after_non_default = 75;
	counts.changed_after_non_default = 56;
	const auto verdict = judge(counts, DetectorConfig{});
	EXPECT_EQ(verdict.kind, VerdictKind::Miner) << verdict.reason;
	EXPECT_DOUBLE_EQ(verdict.score, 1.0);
	EXPECT_GT(verdict.spread_llr, std::log(0.999 / 1e-6));
}

} // namespace
} // namespace mxwatch
