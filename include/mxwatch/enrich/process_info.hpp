// SPDX-License-Identifier: GPL-2.0-only
// Enrichment: what /proc tells about a process when it is first seen, so that an
// alert can name it even after it exited. Every read is bounded (no file is read
// whole when a hostile process could make it large) and nothing here throws.
//
// The pipeline keeps one ProcessInfo per process it tracks (that is the per-process
// cache, bounded by the detector's own bound); user names and executable hashes are
// cached across processes.
#pragma once

#include "mxwatch/enrich/cgroup_path.hpp"
#include "mxwatch/enrich/executable_hash.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mxwatch {

class ContainerLookup; // container_resolver.hpp

// Bounds on what is read from /proc per process.
inline constexpr std::size_t kMaxCmdlineBytes = 4096; // alerts stay well under a syslog line
inline constexpr std::size_t kMaxCgroupFileBytes = 16384;

struct ProcessInfo {
	std::uint32_t pid = 0;
	std::optional<std::string> executable; // readlink /proc/PID/exe, " (deleted)" kept
	std::vector<std::string> args;         // /proc/PID/cmdline, raw bytes, at most kMaxCmdlineBytes
	bool args_truncated = false;
	std::optional<std::uint32_t> uid; // real uid
	std::optional<std::string> user_name;
	std::optional<std::uint32_t> parent_pid;
	std::optional<std::string> parent_executable;
	std::optional<std::chrono::system_clock::time_point> start_time;
	std::optional<ContainerInfo> container;
	// The executable, held open to be hashed later (see executable_hash.hpp), and
	// its hash once computed.
	std::shared_ptr<const ExecutableFile> executable_file;
	std::optional<std::string> sha256;
	// The runtime's answer about the container, in progress or done
	// (container_resolver.hpp); copied into container->metadata when known.
	std::shared_ptr<const ContainerLookup> container_lookup;
};

// Reads what is still readable; a process that has exited yields only its pid.
ProcessInfo read_process_info(std::uint32_t pid, const std::string &proc_root = "/proc");

// Fills in the hash from the executable opened at first sight (or, if it could
// not be kept open, from /proc/PID/exe when the pid still has the same start
// time). Slow the first time for each binary: call it off the detection path.
void complete_process_info(ProcessInfo &info, ExecutableHasher &hasher, const std::string &proc_root = "/proc");

// Process start in wall-clock time from /proc/PID/stat's starttime (clock ticks
// since boot) and /proc/stat's btime. Exposed for tests.
std::optional<std::chrono::system_clock::time_point> process_start_time(std::string_view stat_line,
                                                                        std::uint64_t boot_time_s, long ticks_per_s);

} // namespace mxwatch
