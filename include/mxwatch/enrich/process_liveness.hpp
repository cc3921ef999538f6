// SPDX-License-Identifier: GPL-2.0-only
// Whether a process seen earlier still runs. A PID alone cannot say: it may
// have been reused. The start time in /proc/PID/stat (field 22, clock ticks
// since boot) read at first sight and again later tells the two apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mxwatch {

std::optional<std::uint64_t> read_start_ticks(std::uint32_t pid, const std::string &proc_root = "/proc");

// True while /proc/PID exists with the same start time.
bool same_process_alive(std::uint32_t pid, std::uint64_t start_ticks, const std::string &proc_root = "/proc");

} // namespace mxwatch
