// SPDX-License-Identifier: GPL-2.0-only
// /proc/PID/stat (proc(5)), parsed once for everyone. The second field is the
// process's own name in parentheses, and the process chooses it: it may hold
// spaces, parentheses, newlines and bytes that are not UTF-8. The kernel writes
// every other field, so fields are counted from the last ')'.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

// The fields mxwatch uses; times in clock ticks (sysconf(_SC_CLK_TCK)).
struct ProcStat {
	std::uint32_t pid = 0;        // field 1
	std::string comm;             // field 2, without the parentheses, raw bytes
	char state = '?';             // field 3: R, S, D, Z, T, ...
	std::uint32_t ppid = 0;       // field 4
	std::uint64_t utime = 0;      // field 14
	std::uint64_t stime = 0;      // field 15
	std::int64_t num_threads = 0; // field 20
	std::uint64_t starttime = 0;  // field 22: ticks of CLOCK_BOOTTIME at the process's start
	// Fields 23 and 24: every kernel writes them, but a line cut short after
	// starttime still tells the start time.
	std::optional<std::uint64_t> vsize; // bytes
	std::optional<std::int64_t> rss;    // pages
};

// The kernel's line is a few hundred bytes (52 numbers and a name of at most 64
// bytes); more than this is not a stat line.
inline constexpr std::size_t kMaxProcStatBytes = 4096;

// Nothing unless every field up to starttime is there and every field above
// that is used is a number in range. Never throws.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// Reads and parses PROC_ROOT/PID/stat; nothing when the process is gone.
std::optional<ProcStat> read_proc_stat(std::uint32_t pid, const std::string &proc_root = "/proc");
// The same for a stat file by path ("/proc/self/stat", "/proc/PID/task/TID/stat").
std::optional<ProcStat> read_proc_stat_file(const std::string &path);

} // namespace mxwatch
