// SPDX-License-Identifier: GPL-2.0-only
// The sampling floor. A thread is sampled only when the kernel switches it out;
// a miner alone on an idle CPU may run for seconds without a switch. One waker
// thread pinned to each CPU wakes at a low rate and, being real-time, preempts
// whatever runs there: every CPU-bound task is then switched out at least
// rate_hz times a second.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

namespace mxwatch {

class SamplingFloor {
public:
	// Starts one waker per CPU this process may run on; rate_hz == 0 starts none.
	explicit SamplingFloor(unsigned rate_hz);
	~SamplingFloor();
	SamplingFloor(const SamplingFloor &) = delete;
	SamplingFloor &operator=(const SamplingFloor &) = delete;

	unsigned rate_hz() const { return rate_hz_; }
	std::size_t wakers() const { return wakers_.size(); }
	// False when SCHED_FIFO was refused (no CAP_SYS_NICE): wakers then rely on
	// the fair scheduler's wakeup preemption, which usually but not always preempts.
	bool realtime() const { return realtime_.load(); }

private:
	void wake_periodically(int cpu, std::stop_token stop);

	unsigned rate_hz_;
	std::atomic<bool> realtime_{true};
	std::vector<std::jthread> wakers_;
};

} // namespace mxwatch
