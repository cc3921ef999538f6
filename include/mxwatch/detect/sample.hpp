// SPDX-License-Identifier: GPL-2.0-only
// A sample of one thread's MXCSR, as the detector sees it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

// MXCSR rounding control, bits 13-14.
enum class RoundingMode : std::uint8_t {
	Nearest = 0, // the default
	Down = 1,
	Up = 2,
	TowardZero = 3,
};
inline constexpr int kRoundingModes = 4;

inline constexpr std::uint32_t kMxcsrDefault = 0x1F80;
inline constexpr std::uint16_t kX87CwDefault = 0x037F;
inline constexpr std::uint32_t kMxcsrFtz = 1u << 15;
inline constexpr std::uint32_t kMxcsrDaz = 1u << 6;

constexpr RoundingMode rounding_mode(std::uint32_t mxcsr)
{
	return static_cast<RoundingMode>((mxcsr >> 13) & 3);
}

// FTZ and DAZ both set, as inside the RandomX VM (MXCSR 0x9FC0 | rc << 13).
constexpr bool has_ftz_daz(std::uint32_t mxcsr)
{
	return (mxcsr & (kMxcsrFtz | kMxcsrDaz)) == (kMxcsrFtz | kMxcsrDaz);
}

// The x87 control word's rounding control, bits 10-11, in MXCSR's encoding
// (both units number the modes the same way: nearest, down, up, toward zero).
constexpr RoundingMode x87_rounding_mode(std::uint16_t cw)
{
	return static_cast<RoundingMode>((cw >> 10) & 3);
}

std::string_view to_string(RoundingMode mode);

// Sample counts over some span of time. Additive: threads pool into processes,
// processes into groups.
struct ModeCounts {
	std::array<std::uint64_t, kRoundingModes> by_mode{};
	std::uint64_t transitions = 0;    // mode changes between consecutive samples of a thread
	std::uint64_t after_non_default = 0; // samples that followed a non-default sample
	std::uint64_t changed_after_non_default = 0;
	std::uint64_t records = 0;        // samples the kernel sent one by one (not folded)
	std::uint64_t ftz_daz = 0;        // of those, with FTZ and DAZ both set
	std::uint64_t x87_agrees = 0;     // non-default samples whose x87 rounding mode matches

	std::uint64_t total() const { return by_mode[0] + by_mode[1] + by_mode[2] + by_mode[3]; }
	std::uint64_t non_default() const { return total() - by_mode[0]; }
	double share(RoundingMode mode) const;
	// Folded default samples carry no MXCSR: the share is over records.
	double ftz_daz_share() const;
	ModeCounts &operator+=(const ModeCounts &other);
	bool operator==(const ModeCounts &) const = default;
};

// What a kernel summary record says: the samples of one thread since its
// previous record, counted as the detector counts consecutive samples.
struct SampleSummary {
	ModeCounts counts;
	std::uint64_t first_ns = 0;  // time of the first sample counted (CLOCK_MONOTONIC)
	std::uint32_t deferrals = 0; // times the kernel held this summary back (budget spent, ring full)
	bool operator==(const SampleSummary &) const = default;
};

struct Sample {
	std::uint64_t timestamp_ns = 0; // CLOCK_MONOTONIC
	std::uint32_t tgid = 0;
	std::uint32_t tid = 0;
	std::uint64_t process_start_ns = 0; // with tgid, identifies the process across PID reuse
	std::uint64_t cgroup_id = 0;
	std::uint32_t mxcsr = kMxcsrDefault;
	std::uint16_t x87_cw = kX87CwDefault;
	std::uint32_t flags = 0;           // mxw_sample_flags
	std::uint32_t default_skipped = 0; // default-mode samples folded into this one
	std::string comm;                  // raw bytes from the kernel, not necessarily UTF-8
	// Set: this record stands for summary->counts.total() samples of the thread,
	// already counted against each other and against the thread's previous
	// record; mxcsr, x87_cw and flags are the last one's. Unset: one raw sample.
	std::optional<SampleSummary> summary;

	RoundingMode mode() const { return rounding_mode(mxcsr); }
	// How many samples of the thread this record stands for: a summary's counted
	// samples, or this one and the default-mode samples folded into it.
	std::uint64_t samples() const { return summary ? summary->counts.total() : 1 + std::uint64_t{default_skipped}; }
	// fesetround() sets both units alike; CFROUND (LDMXCSR) leaves the x87 unit alone.
	bool x87_agrees() const { return x87_rounding_mode(x87_cw) == mode(); }
};

} // namespace mxwatch
