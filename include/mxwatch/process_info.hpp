// SPDX-License-Identifier: GPL-2.0-only
// What /proc tells about a process at the moment it is reported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mxwatch {

struct ProcessInfo {
	std::uint32_t pid = 0;
	std::optional<std::string> executable; // readlink /proc/PID/exe, " (deleted)" kept
	std::vector<std::string> args;         // /proc/PID/cmdline, raw bytes
	std::optional<std::uint32_t> uid;      // real uid
	std::optional<std::string> user_name;
	std::optional<std::uint32_t> parent_pid;
};

// Reads what is still readable; a process that has exited yields only its pid.
ProcessInfo read_process_info(std::uint32_t pid, const std::string &proc_root = "/proc");

} // namespace mxwatch
