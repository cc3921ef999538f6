// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/process_liveness.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

namespace mxwatch {

std::optional<std::uint64_t> read_start_ticks(std::uint32_t pid, const std::string &proc_root)
{
	std::ifstream stat(proc_root + "/" + std::to_string(pid) + "/stat");
	std::string line;
	if (!std::getline(stat, line))
		return std::nullopt;
	// comm (field 2) is in parentheses and may itself contain spaces and ')'.
	const auto close = line.rfind(')');
	if (close == std::string::npos)
		return std::nullopt;
	std::istringstream fields(line.substr(close + 1));
	std::string field;
	for (int index = 3; fields >> field; index++)
		if (index == 22) {
			try {
				return std::stoull(field);
			} catch (const std::exception &) {
				return std::nullopt;
			}
		}
	return std::nullopt;
}

bool same_process_alive(std::uint32_t pid, std::uint64_t start_ticks, const std::string &proc_root)
{
	const auto now = read_start_ticks(pid, proc_root);
	return now && *now == start_ticks;
}

} // namespace mxwatch
