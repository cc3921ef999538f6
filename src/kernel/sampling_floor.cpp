// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/sampling_floor.hpp"

#include "mxwatch/kernel/privileges.hpp"
#include "mxwatch/util/capabilities.hpp"
#include "mxwatch/util/clock.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>

namespace mxwatch {

SamplingFloor::SamplingFloor(unsigned rate_hz, std::chrono::nanoseconds idle_after, FloorBoost boost)
    : rate_hz_(rate_hz), idle_after_ns_(idle_after.count()), boost_(boost)
{
	boost_.factor = std::clamp(boost_.factor, 1u, 100u);
	if (rate_hz == 0)
		return;
	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		spdlog::warn("sampling floor off: cannot read the CPU affinity");
		return;
	}
	// Each waker has its real-time policy and has dropped its capabilities before
	// this returns: no thread of the daemon holds more than it needs once it watches.
	std::ptrdiff_t not_started = CPU_COUNT(&allowed);
	std::latch ready(not_started);
	try {
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &allowed)) {
				wakers_.emplace_back([this, cpu, &ready](std::stop_token stop) {
					wake_periodically(cpu, ready, stop);
				});
				not_started--;
			}
	} catch (...) { // a thread that could not be created: those that were must be done with `ready`
		ready.count_down(not_started);
		ready.wait();
		throw;
	}
	ready.wait();
	spdlog::debug("sampling floor: {} wakers at {} Hz{}", wakers_.size(), rate_hz,
		      idle_after_ns_ > 0 ? ", parked while no thread leaves the default rounding mode" : "");
}

SamplingFloor::~SamplingFloor() = default; // jthreads request stop (which wakes parked ones) and join

void SamplingFloor::follow(const Sample &sample, std::uint64_t non_default)
{
	const std::uint64_t now = sample.timestamp_ns;
	const auto duration = static_cast<std::uint64_t>(boost_.duration.count());
	auto it = following_.find(sample.tid);
	if (it == following_.end()) {
		// A thread boosted recently is not boosted again before another duration passes.
		if (const auto done = decided_.find(sample.tid); done != decided_.end()) {
			if (now - done->second < duration)
				return;
			decided_.erase(done);
		}
		if (following_.size() >= boost_.max_threads)
			return;
		it = following_.emplace(sample.tid, Followed{now + duration, 0}).first;
	}
	it->second.samples += non_default;
	bool changed = false;
	if (it->second.samples >= boost_.samples || now >= it->second.until_ns) {
		if (decided_.size() >= 65536)
			decided_.clear(); // a bound: at worst some threads are boosted once more
		decided_[sample.tid] = now;
		following_.erase(it);
		changed = true;
	}
	// Threads whose time ran out without samples (exited, or asleep) stop boosting too.
	std::int64_t until = 0;
	if (changed || static_cast<std::int64_t>(now) >= boost_until_ns_.load()) {
		for (auto f = following_.begin(); f != following_.end();) {
			if (f->second.until_ns <= now) {
				decided_[f->first] = now;
				f = following_.erase(f);
				continue;
			}
			until = std::max(until, static_cast<std::int64_t>(f->second.until_ns));
			++f;
		}
		boost_until_ns_.store(until);
	} else {
		boost_until_ns_.store(std::max(boost_until_ns_.load(), static_cast<std::int64_t>(it->second.until_ns)));
	}
}

void SamplingFloor::on_sample(const Sample &sample)
{
	// A summary stands for many samples: those outside the default mode count.
	const std::uint64_t non_default = sample.summary ? sample.summary->counts.non_default()
							 : sample.mode() != RoundingMode::Nearest;
	if (non_default == 0)
		return;
	if (rate_hz_ > 0 && boost_.factor > 1)
		follow(sample, non_default);
	if (idle_after_ns_ <= 0)
		return;
	// Sample timestamps are CLOCK_MONOTONIC (bpf_ktime_get_ns), like monotonic_ns().
	last_activity_ns_.store(static_cast<std::int64_t>(sample.timestamp_ns));
	if (parked_.load()) {
		std::lock_guard lock(park_mutex_);
		parked_.store(false);
		unpark_.notify_all();
	}
}

bool SamplingFloor::idle() const
{
	return idle_after_ns_ > 0 && static_cast<std::int64_t>(monotonic_ns()) - last_activity_ns_.load() > idle_after_ns_;
}

std::string sched_fifo_refusal(int err, bool has_cap_sys_nice)
{
	if (err != EPERM)
		return std::strerror(err);
	if (!has_cap_sys_nice)
		return "no CAP_SYS_NICE";
	return "CAP_SYS_NICE is held, so the cgroup has no real-time budget: cpu.rt_runtime_us is 0 (usual in "
	       "containers; give the container's cgroup a budget, or run it in the host's)";
}

std::string SamplingFloor::realtime_refusal() const
{
	std::lock_guard lock(refusal_mutex_);
	return refusal_;
}

void SamplingFloor::wake_periodically(int cpu, std::latch &ready, std::stop_token stop)
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
	if (const int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param); err != 0) {
		std::lock_guard lock(refusal_mutex_);
		if (refusal_.empty()) { // logged once, not per CPU
			refusal_ = sched_fifo_refusal(err, has_effective_capability(CAP_SYS_NICE));
			spdlog::info("sampling floor: SCHED_FIFO refused ({}); wakers run as normal threads", refusal_);
		}
	}
	pthread_setname_np(pthread_self(), "mxwatch-waker");
	drop_thread_capabilities(); // its one privileged step (SCHED_FIFO) is done
	ready.count_down();         // `ready` is gone after this

	const std::uint64_t period_ns = kNanosPerSecond / rate_hz_;
	const std::uint64_t boosted_period_ns = period_ns / boost_.factor;
	std::uint64_t next_ns = monotonic_ns();
	while (!stop.stop_requested()) {
		if (idle()) {
			// Blocks without a timer: no wake-ups at all until on_sample() or stop.
			std::unique_lock lock(park_mutex_);
			parked_.store(true);
			unpark_.wait(lock, stop, [this] { return !idle(); });
			lock.unlock();
			next_ns = monotonic_ns();
			continue;
		}
		const std::uint64_t now = monotonic_ns();
		next_ns += boosted(now) ? boosted_period_ns : period_ns;
		if (next_ns + period_ns < now)
			next_ns = now; // far behind (a boost just ended, or the host was busy): no burst to catch up
		// Absolute deadlines: the rate does not drift with the time spent awake.
		const timespec next = to_timespec(next_ns);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
	}
}

} // namespace mxwatch
