// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/process_liveness.hpp"

#include "mxwatch/util/proc_stat.hpp"

namespace mxwatch {

std::optional<std::uint64_t> read_start_ticks(std::uint32_t pid, const std::string &proc_root)
{
	const auto stat = read_proc_stat(pid, proc_root);
	if (!stat)
		return std::nullopt;
	return stat->starttime;
}

bool same_process_alive(std::uint32_t pid, std::uint64_t start_ticks, const std::string &proc_root)
{
	const auto now = read_start_ticks(pid, proc_root);
	return now && *now == start_ticks;
}

} // namespace mxwatch
