// SPDX-License-Identifier: GPL-2.0-only
// The enrich stage's footprint: /proc text as the kernel writes it, hostile
// variants, and this very process read through the real /proc.
#include "mxwatch/enrich/footprint.hpp"

#include <cstring>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

namespace mxwatch {
namespace {

TEST(Footprint, SmapsRollupResidentCountsHugetlbPages)
{
	const char *rollup = "55d0c0a00000-7ffd5a1f6000 ---p 00000000 00:00 0                          [rollup]\n"
			     "Rss:              268700 kB\n"
			     "Pss:              267000 kB\n"
			     "Shared_Hugetlb:        0 kB\n"
			     "Private_Hugetlb:   2048 kB\n"
			     "Swap:                 0 kB\n";
	EXPECT_EQ(parse_smaps_rollup_resident(rollup), (268700ull + 2048) << 10);
	EXPECT_FALSE(parse_smaps_rollup_resident("Pss: 12 kB\n")) << "no Rss: nothing, not 0";
	EXPECT_FALSE(parse_smaps_rollup_resident("Rss: 12 MB\n"));
	EXPECT_FALSE(parse_smaps_rollup_resident("Rss: 99999999999999999999999 kB\n"));
	EXPECT_FALSE(parse_smaps_rollup_resident(""));
}

TEST(Footprint, MapsLargestMappingIgnoresWhatTheProcessNamed)
{
	const char *maps = "7f0000000000-7f0010000000 rw-p 00000000 00:00 0 \n"
			   "7f1000000000-7f1000200000 rw-s 00000000 00:01 5  /memfd:7f0000000000-7fffffffffff (deleted)\n"
			   "garbage line without a range\n"
			   "ffff-0000 r--p 0 0 0\n"
			   "7f2000000000-7f2000001000 r-xp 00000000 08:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6";
	EXPECT_EQ(parse_maps_largest(maps), 0x10000000u); // 256 MiB; the name's range is not a mapping
	EXPECT_EQ(parse_maps_largest(""), 0u);
}

TEST(Footprint, BusyIsCpuTimeOverLifetime)
{
	EXPECT_EQ(busy_permille(50, 100, 200), 500u);
	EXPECT_EQ(busy_permille(300, 100, 200), 1000u) << "clamped";
	EXPECT_EQ(busy_permille(0, 100, 100), 0u);
	EXPECT_EQ(busy_permille(1, 100, 100), 1000u) << "started this tick and already ran";
}

TEST(Footprint, ReadsThisProcessThroughProc)
{
	constexpr std::size_t kBytes = 48u << 20;
	void *p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(p, MAP_FAILED);
	std::memset(p, 1, kBytes); // resident
	const auto footprint = read_footprint(static_cast<std::uint32_t>(getpid()), std::nullopt);
	munmap(p, kBytes);
	ASSERT_TRUE(footprint);
	EXPECT_GE(footprint->resident_bytes, kBytes);
	EXPECT_GE(footprint->largest_mapping_bytes, kBytes);
	bool self = false;
	for (const auto &t : footprint->threads)
		self |= t.tid == static_cast<std::uint32_t>(gettid());
	EXPECT_TRUE(self);
	// Another start time: a reused PID, not this process.
	EXPECT_FALSE(read_footprint(static_cast<std::uint32_t>(getpid()), 1));
	EXPECT_FALSE(read_footprint(0x7ffffff0u, std::nullopt)) << "no such process";
}

} // namespace
} // namespace mxwatch
