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
