// SPDX-License-Identifier: GPL-2.0-only
// The clocks mxwatch reads, in one place. Sample timestamps are CLOCK_MONOTONIC
// (bpf_ktime_get_ns); /proc's process start times count CLOCK_BOOTTIME ticks;
// alerts and metrics speak wall-clock (unix) time.
#pragma once

#include <cstdint>
#include <ctime>

namespace mxwatch {

inline constexpr std::uint64_t kNanosPerSecond = 1'000'000'000ull;

constexpr std::uint64_t to_ns(const timespec &ts)
{
	return static_cast<std::uint64_t>(ts.tv_sec) * kNanosPerSecond + static_cast<std::uint64_t>(ts.tv_nsec);
}

constexpr timespec to_timespec(std::uint64_t ns)
{
	return {static_cast<time_t>(ns / kNanosPerSecond), static_cast<long>(ns % kNanosPerSecond)};
}

constexpr double ns_to_seconds(std::uint64_t ns)
{
	return static_cast<double>(ns) / 1e9;
}

// The clock's time in nanoseconds (0 if the clock does not exist).
std::uint64_t clock_ns(clockid_t clock);

// CLOCK_MONOTONIC, the clock of sample timestamps.
inline std::uint64_t monotonic_ns()
{
	return clock_ns(CLOCK_MONOTONIC);
}

// CLOCK_BOOTTIME: monotonic, but counting the time the host was suspended.
inline std::uint64_t boottime_ns()
{
	return clock_ns(CLOCK_BOOTTIME);
}

// CLOCK_MONOTONIC in seconds.
inline double monotonic_s()
{
	return ns_to_seconds(monotonic_ns());
}

// Wall-clock time: seconds since the unix epoch.
double unix_now();

} // namespace mxwatch
