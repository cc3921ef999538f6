// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/footprint.hpp"

#include "mxwatch/util/clock.hpp"
#include "mxwatch/util/fd.hpp"
#include "mxwatch/util/proc_stat.hpp"

#include <algorithm>
#include <charconv>
#include <dirent.h>
#include <memory>
#include <unistd.h>

namespace mxwatch {
namespace {

std::optional<std::uint64_t> number(std::string_view text, int base = 10)
{
	std::uint64_t value = 0;
	const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
	if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
		return std::nullopt;
	return value;
}

// "Key:   123 kB" -> 123 * 1024, for the keys asked for.
std::optional<std::uint64_t> kib_field(std::string_view line, std::string_view key)
{
	if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ':')
		return std::nullopt;
	std::string_view rest = line.substr(key.size() + 1);
	rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
	const auto space = rest.find(' ');
	if (space == std::string_view::npos || rest.substr(space) != " kB")
		return std::nullopt;
	const auto kib = number(rest.substr(0, space));
	if (!kib || *kib > (UINT64_MAX >> 10))
		return std::nullopt;
	return *kib << 10;
}

template <typename F> void for_each_line(std::string_view text, F &&f)
{
	while (!text.empty()) {
		const auto nl = text.find('\n');
		f(text.substr(0, nl));
		if (nl == std::string_view::npos)
			break;
		text.remove_prefix(nl + 1);
	}
}

} // namespace

std::optional<std::uint64_t> parse_smaps_rollup_resident(std::string_view text)
{
	std::optional<std::uint64_t> rss;
	std::uint64_t huge = 0;
	for_each_line(text, [&](std::string_view line) {
		if (auto v = kib_field(line, "Rss"))
			rss = *v;
		else if (auto h = kib_field(line, "Shared_Hugetlb"))
			huge += *h;
		else if (auto p = kib_field(line, "Private_Hugetlb"))
			huge += *p;
	});
	if (!rss)
		return std::nullopt;
	return *rss + std::min(huge, UINT64_MAX - *rss);
}

std::uint64_t parse_smaps_rollup_huge(std::string_view text)
{
	std::uint64_t huge = 0;
	for_each_line(text, [&](std::string_view line) {
		for (const std::string_view key : {"AnonHugePages", "Shared_Hugetlb", "Private_Hugetlb"})
			if (auto v = kib_field(line, key))
				huge += std::min(*v, UINT64_MAX - huge);
	});
	return huge;
}

std::uint64_t parse_maps_largest(std::string_view text)
{
	std::uint64_t largest = 0;
	for_each_line(text, [&](std::string_view line) {
		const auto dash = line.find('-');
		const auto space = line.find(' ');
		if (dash == std::string_view::npos || space == std::string_view::npos || dash > space)
			return;
		const auto start = number(line.substr(0, dash), 16);
		const auto end = number(line.substr(dash + 1, space - dash - 1), 16);
		if (start && end && *end > *start)
			largest = std::max(largest, *end - *start);
	});
	return largest;
}

std::uint32_t busy_permille(std::uint64_t cpu_ticks, std::uint64_t start_ticks, std::uint64_t now_ticks)
{
	if (now_ticks <= start_ticks)
		return cpu_ticks ? 1000 : 0;
	const std::uint64_t lifetime = now_ticks - start_ticks;
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(cpu_ticks, lifetime) * 1000 / lifetime);
}

std::optional<Footprint> read_footprint(std::uint32_t pid, std::optional<std::uint64_t> start_ticks,
					const std::string &proc_root)
{
	const std::string dir = proc_root + "/" + std::to_string(pid);
	const auto stat = read_proc_stat_file(dir + "/stat");
	if (!stat || (start_ticks && stat->starttime != *start_ticks))
		return std::nullopt; // gone, or its PID reused
	Footprint footprint;
	if (const auto rollup = read_bounded(dir + "/smaps_rollup", kMaxSmapsRollupBytes)) {
		footprint.resident_bytes = parse_smaps_rollup_resident(*rollup).value_or(0);
		footprint.huge_page_bytes = std::min(parse_smaps_rollup_huge(*rollup), footprint.resident_bytes);
	}
	if (const auto maps = read_bounded(dir + "/maps", kMaxMapsBytes))
		footprint.largest_mapping_bytes = parse_maps_largest(*maps);

	const long hz = sysconf(_SC_CLK_TCK);
	const std::uint64_t now_ticks = boottime_ns() / (kNanosPerSecond / static_cast<std::uint64_t>(hz > 0 ? hz : 100));
	const std::unique_ptr<DIR, int (*)(DIR *)> tasks(opendir((dir + "/task").c_str()), closedir);
	if (!tasks)
		return footprint;
	while (const dirent *entry = readdir(tasks.get())) {
		if (footprint.threads.size() >= kMaxFootprintThreads)
			break;
		const auto tid = number(entry->d_name);
		if (!tid || *tid > UINT32_MAX)
			continue;
		const auto task = read_proc_stat_file(dir + "/task/" + entry->d_name + "/stat");
		if (!task)
			continue; // the thread ended meanwhile
		footprint.threads.push_back(
			{static_cast<std::uint32_t>(*tid), busy_permille(task->utime + task->stime, task->starttime, now_ticks)});
	}
	std::sort(footprint.threads.begin(), footprint.threads.end(),
		  [](const ThreadCpu &a, const ThreadCpu &b) { return a.tid < b.tid; });
	return footprint;
}

} // namespace mxwatch
