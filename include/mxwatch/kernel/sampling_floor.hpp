// SPDX-License-Identifier: GPL-2.0-only
// The sampling floor. A thread is sampled only when the kernel switches it out;
// a miner alone on an idle CPU may run for seconds without a switch. One waker
// thread pinned to each CPU wakes at a low rate and, being real-time, preempts
// whatever runs there: every CPU-bound task is then switched out at least
// rate_hz times a second.
//
// The wake-ups cost CPU on every CPU, and they only matter while some thread
// leaves the default rounding mode. With idle_after set the wakers park (block,
// costing nothing) once no non-default sample came for that long, and resume
// on the next one (on_sample). They are created once, with their real-time
// policy, at start-up: parking never needs CAP_SYS_NICE again.
//
// Adaptive: while a thread is followed but has not yet given enough evidence
// to decide (a non-default sample seen, fewer than FloorBoost::samples since,
// a kernel summary counting as the non-default samples it stands for),
// the wakers wake `factor` times faster, for at most FloorBoost::duration per
// thread. A throttled miner is preempted mid-hash only by the floor: this is
// what gets it decided in seconds instead of tens of seconds. Samples carry no
// CPU number, so every CPU is woken faster.
#pragma once

#include "mxwatch/detect/sample.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mxwatch {

// Why SCHED_FIFO was refused with error `err` (from pthread_setschedparam), for
// the log. EPERM has two causes: no CAP_SYS_NICE (or RLIMIT_RTPRIO), or, with
// it, a cgroup without real-time budget (cpu.rt_runtime_us = 0, usual in
// containers).
std::string sched_fifo_refusal(int err, bool has_cap_sys_nice);

struct FloorBoost {
	unsigned factor = 10;                         // boosted rate = rate_hz * factor; 1: no boost
	std::uint32_t samples = 64;                   // non-default samples after which a thread is decided enough
	std::chrono::nanoseconds duration = std::chrono::seconds(30); // at most this long per thread
	std::size_t max_threads = 1024;               // threads boosted at once; more are sampled at the base rate
};

class SamplingFloor {
public:
	// Starts one waker per CPU this process may run on; rate_hz == 0 starts none.
	// idle_after == 0: always awake; otherwise parked until a non-default
	// sample arrives, and again after idle_after without one.
	explicit SamplingFloor(unsigned rate_hz, std::chrono::nanoseconds idle_after = {}, FloorBoost boost = {});
	~SamplingFloor();
	SamplingFloor(const SamplingFloor &) = delete;
	SamplingFloor &operator=(const SamplingFloor &) = delete;

	// Every sample the kernel sends; a non-default one wakes parked wakers and
	// boosts the rate while its thread is undecided. Called from one thread (the
	// poll loop). Cheap: a hash lookup and an atomic store, plus a notification
	// only when the wakers were parked.
	void on_sample(const Sample &sample);
	// Whether the wakers run at the boosted rate at `now_ns` (CLOCK_MONOTONIC).
	bool boosted(std::uint64_t now_ns) const { return static_cast<std::int64_t>(now_ns) < boost_until_ns_.load(); }
	// Threads currently boosted (followed, undecided), for tests and doctor.
	std::size_t boosted_threads() const { return following_.size(); }

	unsigned rate_hz() const { return rate_hz_; }
	std::size_t wakers() const { return wakers_.size(); }
	// True while the wakers are parked (adaptive mode, nothing to sample).
	bool parked() const { return parked_.load(); }
	// False when SCHED_FIFO was refused (realtime_refusal() says why): wakers then rely on
	// the fair scheduler's wakeup preemption, which usually but not always preempts.
	bool realtime() const { return realtime_refusal().empty(); }
	// Why the wakers are not real-time (sched_fifo_refusal()), or empty.
	std::string realtime_refusal() const;

private:
	void wake_periodically(int cpu, std::latch &ready, std::stop_token stop);
	bool idle() const;
	void follow(const Sample &sample, std::uint64_t non_default); // its non-default samples

	struct Followed {
		std::uint64_t until_ns = 0; // boosted at most until then
		std::uint64_t samples = 0;  // non-default samples seen while boosted (a summary adds its count)
	};

	unsigned rate_hz_;
	std::int64_t idle_after_ns_;
	std::atomic<std::int64_t> last_activity_ns_{0}; // CLOCK_MONOTONIC of the last non-default sample
	std::atomic<bool> parked_{false};
	FloorBoost boost_;
	std::unordered_map<std::uint32_t, Followed> following_;   // by tid: boosted, undecided
	std::unordered_map<std::uint32_t, std::uint64_t> decided_; // by tid: when its boost ended
	std::atomic<std::int64_t> boost_until_ns_{0};
	std::mutex park_mutex_;
	std::condition_variable_any unpark_;
	mutable std::mutex refusal_mutex_;
	std::string refusal_; // set by the first waker SCHED_FIFO was refused to
	std::vector<std::jthread> wakers_; // declared last: joined first
};

} // namespace mxwatch
