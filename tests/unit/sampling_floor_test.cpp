// SPDX-License-Identifier: GPL-2.0-only
// The adaptive sampling floor: wakers park while no thread leaves the default
// rounding mode and resume on the first sample that does.
#include "mxwatch/kernel/sampling_floor.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <gtest/gtest.h>
#include <thread>

using namespace std::chrono_literals;

namespace {

std::uint64_t now_ns()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

mxwatch::Sample sample_in_mode(unsigned rc)
{
	mxwatch::Sample s;
	s.timestamp_ns = now_ns();
	s.mxcsr = 0x1F80u | (rc << 13);
	return s;
}

bool eventually(const std::function<bool()> &condition)
{
	for (int i = 0; i < 200; i++) {
		if (condition())
			return true;
		std::this_thread::sleep_for(10ms);
	}
	return false;
}

} // namespace

TEST(SamplingFloor, ParksUntilANonDefaultSampleAndAgainWhenIdle)
{
	mxwatch::SamplingFloor floor(50, 300ms);
	ASSERT_GT(floor.wakers(), 0u);
	EXPECT_TRUE(eventually([&] { return floor.parked(); })) << "nothing seen yet: parked";

	floor.on_sample(sample_in_mode(0));
	std::this_thread::sleep_for(50ms);
	EXPECT_TRUE(floor.parked()) << "a default-mode sample does not wake the floor";

	floor.on_sample(sample_in_mode(2));
	EXPECT_FALSE(floor.parked()) << "a non-default sample wakes it at once";
	EXPECT_TRUE(eventually([&] { return floor.parked(); })) << "idle again after idle_after";
}

TEST(SamplingFloor, WithoutIdleAfterNeverParks)
{
	mxwatch::SamplingFloor floor(50);
	std::this_thread::sleep_for(100ms);
	EXPECT_FALSE(floor.parked());
}

TEST(SamplingFloor, OffStartsNoWakers)
{
	mxwatch::SamplingFloor floor(0, 1s);
	EXPECT_EQ(floor.wakers(), 0u);
	floor.on_sample(sample_in_mode(1)); // harmless
}

TEST(SamplingFloor, RefusalOfSchedFifoNamesTheLikelyCause)
{
	// EPERM without CAP_SYS_NICE: the capability; with it: the cgroup's real-time budget.
	EXPECT_EQ(mxwatch::sched_fifo_refusal(EPERM, false), "no CAP_SYS_NICE");
	const std::string budget = mxwatch::sched_fifo_refusal(EPERM, true);
	EXPECT_NE(budget.find("cpu.rt_runtime_us"), std::string::npos) << budget;
	EXPECT_EQ(budget.find("no CAP_SYS_NICE"), std::string::npos) << budget;
	EXPECT_EQ(mxwatch::sched_fifo_refusal(EINVAL, true), std::strerror(EINVAL));
}

namespace {

mxwatch::Sample followed(std::uint32_t tid, std::uint64_t t_ns, unsigned rc = 1)
{
	mxwatch::Sample s = sample_in_mode(rc);
	s.tid = s.tgid = tid;
	s.timestamp_ns = t_ns;
	return s;
}

} // namespace

TEST(SamplingFloor, BoostsWhileAFollowedThreadIsUndecidedAndForABoundedTime)
{
	mxwatch::FloorBoost boost;
	boost.samples = 4;
	boost.duration = 10s;
	mxwatch::SamplingFloor floor(50, 300ms, boost);
	const std::uint64_t t0 = now_ns();
	EXPECT_FALSE(floor.boosted(t0)) << "nothing followed: base rate";
	floor.on_sample(followed(7, t0));
	EXPECT_TRUE(floor.boosted(t0 + 1'000'000));
	EXPECT_EQ(floor.boosted_threads(), 1u);
	// Default-mode samples neither boost nor count.
	mxwatch::Sample plain = followed(8, t0, 0);
	floor.on_sample(plain);
	EXPECT_EQ(floor.boosted_threads(), 1u);
	// Enough evidence to decide: back to the base rate.
	for (int i = 1; i < 4; i++)
		floor.on_sample(followed(7, t0 + static_cast<std::uint64_t>(i) * 1'000'000));
	EXPECT_EQ(floor.boosted_threads(), 0u);
	EXPECT_FALSE(floor.boosted(t0 + 5'000'000));
	// Not boosted again right away...
	floor.on_sample(followed(7, t0 + 6'000'000));
	EXPECT_FALSE(floor.boosted(t0 + 7'000'000));
	// ...and a thread that gives too little evidence is boosted for `duration` at most.
	floor.on_sample(followed(9, t0 + 8'000'000));
	EXPECT_TRUE(floor.boosted(t0 + 9'000'000));
	EXPECT_FALSE(floor.boosted(t0 + 8'000'000 + 10'000'000'000ull));
	floor.on_sample(followed(9, t0 + 8'000'000 + 10'000'000'000ull));
	EXPECT_EQ(floor.boosted_threads(), 0u);
}

TEST(SamplingFloor, FactorOneNeverBoosts)
{
	mxwatch::FloorBoost boost;
	boost.factor = 1;
	mxwatch::SamplingFloor floor(50, 300ms, boost);
	const std::uint64_t t0 = now_ns();
	floor.on_sample(followed(7, t0));
	EXPECT_FALSE(floor.boosted(t0 + 1'000'000));
}

TEST(SamplingFloor, ASummaryCountsTheNonDefaultSamplesItStandsFor)
{
	mxwatch::FloorBoost boost;
	boost.samples = 64;
	mxwatch::SamplingFloor floor(50, 300ms, boost);
	const std::uint64_t t0 = now_ns();
	floor.on_sample(followed(7, t0)); // the thread's first record: raw
	EXPECT_EQ(floor.boosted_threads(), 1u);
	mxwatch::Sample summary = followed(7, t0 + 50'000'000);
	summary.summary = mxwatch::SampleSummary{};
	summary.summary->counts.by_mode = {40, 11, 11, 11}; // 33 outside the default mode
	floor.on_sample(summary);
	EXPECT_EQ(floor.boosted_threads(), 1u) << "34 of 64";
	// A summary of default samples only: no evidence, no boost, even if its last sample is not nearest.
	mxwatch::Sample nearest_only = followed(8, t0 + 60'000'000, 2);
	nearest_only.summary = mxwatch::SampleSummary{};
	nearest_only.summary->counts.by_mode = {25, 0, 0, 0};
	floor.on_sample(nearest_only);
	EXPECT_EQ(floor.boosted_threads(), 1u);
	summary.timestamp_ns = t0 + 100'000'000;
	floor.on_sample(summary);
	EXPECT_EQ(floor.boosted_threads(), 0u) << "67 of 64: decided";
	EXPECT_FALSE(floor.boosted(t0 + 101'000'000));
}
