// SPDX-License-Identifier: GPL-2.0-only
// What the enrich stage (enrich/footprint.hpp) learns about a process's memory
// and CPU use, for the detector (Detector::corroborate) and the recording.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mxwatch {

// A thread's CPU use as the enrich stage saw it.
struct ThreadCpu {
	std::uint32_t tid = 0;
	std::uint32_t busy_permille = 0; // share of one CPU since the thread started, 0..1000
	bool operator==(const ThreadCpu &) const = default;
};

// What the enrich stage (enrich/footprint.hpp) learnt about a process's memory
// and CPU use, handed to Detector::corroborate(). Pure data: recorded and replayed.
struct Footprint {
	std::uint64_t resident_bytes = 0;        // resident memory, huge pages included, any mapping kind
	std::uint64_t largest_mapping_bytes = 0; // size of its largest single mapping
	std::uint64_t huge_page_bytes = 0;       // of the resident: transparent huge pages and hugetlbfs
	std::vector<ThreadCpu> threads;          // at most kMaxFootprintThreads
	bool operator==(const Footprint &) const = default;
};
inline constexpr std::size_t kMaxFootprintThreads = 1024;

} // namespace mxwatch
