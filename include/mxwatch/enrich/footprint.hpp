// SPDX-License-Identifier: GPL-2.0-only
// A process's memory-hard footprint and CPU use, from /proc: what corroborates
// rounding churn set like fesetround() (docs/detection.md). Only processes whose
// verdict awaits corroboration are looked at, at most once a second each.
//
// Every read is bounded and nothing in /proc is trusted beyond its syntax: a
// process names its own mappings (memfd names, file paths) and threads.
#pragma once

#include "mxwatch/detect/footprint.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

// Bounds: /proc/PID/maps is read up to this many bytes (about 60 000 mappings);
// smaps_rollup is a few hundred bytes.
inline constexpr std::size_t kMaxMapsBytes = 4u << 20;
inline constexpr std::size_t kMaxSmapsRollupBytes = 16u << 10;

// Resident bytes from smaps_rollup: Rss plus Shared_Hugetlb and Private_Hugetlb
// (hugetlbfs pages are not in Rss). Nothing when no Rss line is there.
std::optional<std::uint64_t> parse_smaps_rollup_resident(std::string_view text);
// Of that, the bytes in huge pages: AnonHugePages, Shared_Hugetlb and Private_Hugetlb
// (RandomX asks for huge pages for its cache, dataset and scratchpads).
std::uint64_t parse_smaps_rollup_huge(std::string_view text);
// The largest mapping's size in /proc/PID/maps text (lines "start-end perms ...").
std::uint64_t parse_maps_largest(std::string_view text);
// A thread's CPU share since it started, in permille, from its stat times (clock
// ticks) and the boot-time clock now (ticks).
std::uint32_t busy_permille(std::uint64_t cpu_ticks, std::uint64_t start_ticks, std::uint64_t now_ticks);

// The footprint of process `pid`, if it still runs with start time `start_ticks`
// (/proc/PID/stat field 22; nothing to compare when absent). Nothing when it is gone.
std::optional<Footprint> read_footprint(std::uint32_t pid, std::optional<std::uint64_t> start_ticks,
					const std::string &proc_root = "/proc");

} // namespace mxwatch
