// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/sampling_floor.hpp"

#include "mxwatch/privileges.hpp"

#include <csignal>
#include <ctime>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>

namespace mxwatch {

SamplingFloor::SamplingFloor(unsigned rate_hz) : rate_hz_(rate_hz)
{
	if (rate_hz == 0)
		return;
	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		spdlog::warn("sampling floor off: cannot read the CPU affinity");
		return;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed))
			wakers_.emplace_back([this, cpu](std::stop_token stop) { wake_periodically(cpu, stop); });
	spdlog::debug("sampling floor: {} wakers at {} Hz", wakers_.size(), rate_hz);
}

SamplingFloor::~SamplingFloor() = default; // jthreads request stop and join

void SamplingFloor::wake_periodically(int cpu, std::stop_token stop)
{
	// Signals belong to the main thread's poll loop.
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, nullptr);

	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0)
		spdlog::debug("sampling floor: cannot pin a waker to CPU {}", cpu);
	sched_param param{};
	param.sched_priority = 1; // the lowest real-time priority: above every normal task, below all else
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) != 0 && realtime_.exchange(false))
		spdlog::info("sampling floor: SCHED_FIFO refused (no CAP_SYS_NICE); wakers run as normal threads");
	pthread_setname_np(pthread_self(), "mxwatch-waker");
	drop_thread_capabilities(); // its one privileged step (SCHED_FIFO) is done

	const long period_ns = 1'000'000'000L / static_cast<long>(rate_hz_);
	timespec next{};
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop.stop_requested()) {
		next.tv_nsec += period_ns;
		while (next.tv_nsec >= 1'000'000'000L) {
			next.tv_nsec -= 1'000'000'000L;
			next.tv_sec++;
		}
		// Absolute deadlines: the rate does not drift with the time spent awake.
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
	}
}

} // namespace mxwatch
