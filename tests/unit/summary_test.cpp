// SPDX-License-Identifier: GPL-2.0-only
// A thread's samples sent one by one (raw mode) and the same samples sent as
// kernel summaries must leave the detector with identical counts. The summary
// side counts with mxw_counts__add() from bpf/mxwatch_counts.h, the very code
// the BPF program runs; both sides follow the program's rules for when a thread
// is followed, folded and forgotten (bpf/mxwatch.bpf.c).
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/kernel/record.hpp"

#include "mxwatch_counts.h"

#include <gtest/gtest.h>
#include <map>
#include <random>
#include <vector>

namespace mxwatch {
namespace {

constexpr std::uint64_t kForgetAfter = 400; // in samples of the thread (its clock here)

struct KernelThread {
	bool followed = false;
	std::uint32_t last_rc = 0;
	std::uint64_t last_nondefault = 0;
	std::uint32_t skipped = 0; // raw mode
	mxw_counts pending{};      // summary mode
	bool pending_any = false;
	std::uint32_t last_mxcsr = kMxcsrDefault;
	std::uint16_t last_x87 = kX87CwDefault;
};

Sample base(std::uint32_t tid, std::uint64_t t, std::uint32_t mxcsr, std::uint16_t x87)
{
	Sample s;
	s.timestamp_ns = t;
	s.tgid = 100;
	s.tid = tid;
	s.process_start_ns = 7;
	s.mxcsr = mxcsr;
	s.x87_cw = x87;
	s.comm = "worker";
	return s;
}

// The BPF program in raw mode (flush interval longer than the run).
void raw_mode(KernelThread &k, std::uint32_t tid, std::uint64_t tick, std::uint64_t t, std::uint32_t mxcsr,
	      std::uint16_t x87, std::vector<Sample> &out)
{
	const std::uint32_t rc = mxw_rounding(mxcsr);
	if (!k.followed) {
		if (rc == 0)
			return;
		k = {.followed = true, .last_rc = rc, .last_nondefault = tick};
		out.push_back(base(tid, t, mxcsr, x87));
		return;
	}
	if (rc == 0 && k.last_rc == 0) {
		if (tick - k.last_nondefault >= kForgetAfter) {
			Sample s = base(tid, t, mxcsr, x87);
			s.default_skipped = k.skipped;
			out.push_back(s);
			k = {};
			return;
		}
		k.skipped++;
		return;
	}
	Sample s = base(tid, t, mxcsr, x87);
	s.default_skipped = k.skipped;
	out.push_back(s);
	k.skipped = 0;
	k.last_rc = rc;
	if (rc)
		k.last_nondefault = tick;
}

Sample summary_record(const KernelThread &k, std::uint32_t tid, std::uint64_t t)
{
	Sample s = base(tid, t, k.last_mxcsr, k.last_x87);
	SampleSummary summary;
	summary.counts = mode_counts_of(k.pending); // as kernel/record.cpp decodes a summary
	s.summary = summary;
	return s;
}

// The BPF program in summary mode; `due`: the thread's summary may go out now
// (its interval passed and its process had budget: any pattern is legal).
void summary_mode(KernelThread &k, std::uint32_t tid, std::uint64_t tick, std::uint64_t t, std::uint32_t mxcsr,
		  std::uint16_t x87, bool due, std::vector<Sample> &out)
{
	const std::uint32_t rc = mxw_rounding(mxcsr);
	if (!k.followed) {
		if (rc == 0)
			return;
		k = {.followed = true, .last_rc = rc, .last_nondefault = tick, .last_mxcsr = mxcsr, .last_x87 = x87};
		out.push_back(base(tid, t, mxcsr, x87)); // the first sample, at once
		return;
	}
	const bool ends = rc == 0 && k.last_rc == 0 && tick - k.last_nondefault >= kForgetAfter;
	mxw_counts__add(&k.pending, k.last_rc, mxcsr, x87, ends);
	k.pending_any = true;
	k.last_rc = rc;
	k.last_mxcsr = mxcsr;
	k.last_x87 = x87;
	if (rc)
		k.last_nondefault = tick;
	if (ends) {
		out.push_back(summary_record(k, tid, t));
		k = {};
		return;
	}
	if (due) {
		out.push_back(summary_record(k, tid, t));
		k.pending = {};
		k.pending_any = false;
	}
}

// Thread behaviours: RandomX-like random modes with FTZ/DAZ, one fixed mode set
// through fesetround(), interval arithmetic toggling down/up with returns to
// nearest, and long default stretches that make the kernel forget the thread.
std::uint32_t next_mxcsr(int kind, std::mt19937_64 &rng, std::uint64_t tick, std::uint16_t &x87)
{
	std::uniform_int_distribution<int> mode(0, 3), coin(0, 9);
	x87 = kX87CwDefault;
	switch (kind) {
	case 0: { // CFROUND
		const int m = mode(rng);
		return 0x9FC0u | static_cast<std::uint32_t>(m) << 13;
	}
	case 1: // fixed up, fesetround()
		x87 = kX87CwDefault | 2u << 10;
		return kMxcsrDefault | 2u << 13;
	case 2: { // interval arithmetic: nearest, down, up
		const int m = coin(rng) < 4 ? 0 : 1 + coin(rng) % 2;
		x87 = static_cast<std::uint16_t>(kX87CwDefault | static_cast<unsigned>(m) << 10);
		return kMxcsrDefault | static_cast<std::uint32_t>(m) << 13;
	}
	default: // bursts of non-default modes between long default stretches
		if (tick % 1500 < 60)
			return kMxcsrDefault | static_cast<std::uint32_t>(1 + mode(rng) % 3) << 13;
		return coin(rng) == 0 ? 0x9FC0u : kMxcsrDefault;
	}
}

TEST(Summary, RawSamplesAndSummariesOfTheSameSamplesGiveIdenticalCounts)
{
	for (std::uint64_t seed = 1; seed <= 20; seed++) {
		std::mt19937_64 rng(seed);
		std::bernoulli_distribution due(seed % 2 ? 0.02 : 0.5);
		std::vector<Sample> raw, summaries;
		std::map<std::uint32_t, KernelThread> raw_kernel, summary_kernel;
		constexpr int kThreads = 8;
		std::uint64_t t = 1'000'000'000;
		for (std::uint64_t tick = 0; tick < 6000; tick++) {
			const auto tid = static_cast<std::uint32_t>(100 + tick % kThreads);
			const int kind = static_cast<int>(tid % 4);
			std::uint16_t x87 = 0;
			std::uint32_t mxcsr = next_mxcsr(kind, rng, tick / kThreads, x87);
			if (tick + kThreads >= 6000)
				mxcsr = kMxcsrDefault | 3u << 13; // each thread's last sample non-default: raw mode sends it
			t += 1'000'000;
			raw_mode(raw_kernel[tid], tid, tick / kThreads, t, mxcsr, x87, raw);
			summary_mode(summary_kernel[tid], tid, tick / kThreads, t, mxcsr, x87, due(rng), summaries);
		}
		for (auto &[tid, k] : summary_kernel) // the threads exit: their last summaries
			if (k.followed && k.pending_any)
				summaries.push_back(summary_record(k, tid, t));
		ASSERT_LT(summaries.size(), raw.size()) << "seed " << seed;

		Detector from_raw, from_summaries;
		for (const auto &s : raw)
			from_raw.observe(s);
		for (const auto &s : summaries)
			from_summaries.observe(s);
		const ProcessKey key{100, 7};
		const ProcessEvidence &a = from_raw.processes().at(key);
		const ProcessEvidence &b = from_summaries.processes().at(key);
		EXPECT_EQ(a.total, b.total) << "seed " << seed;
		EXPECT_GT(a.total.non_default(), 0u);
		EXPECT_GT(a.total.transitions, 0u);
		EXPECT_GT(a.total.x87_agrees, 0u);
		EXPECT_GT(a.total.ftz_daz, 0u);
		ASSERT_EQ(a.threads.size(), b.threads.size());
		const auto window = from_raw.config().window_ns;
		for (const auto &[tid, thread] : a.threads) {
			EXPECT_EQ(thread.window.sum(t, window), b.threads.at(tid).window.sum(t, window))
				<< "seed " << seed << " thread " << tid;
			EXPECT_EQ(thread.last_mode, b.threads.at(tid).last_mode);
		}
		EXPECT_EQ(judge(a.total, from_raw.config()).kind, judge(b.total, from_summaries.config()).kind);
	}
}

} // namespace
} // namespace mxwatch
