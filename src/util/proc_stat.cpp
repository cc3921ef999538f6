// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/proc_stat.hpp"

#include "mxwatch/util/fd.hpp"

#include <charconv>

namespace mxwatch {
namespace {

template <typename T> std::optional<T> to_number(std::string_view text)
{
	T value{};
	const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
		return std::nullopt;
	return value;
}

bool is_separator(char c)
{
	return c == ' ' || c == '\n';
}

// The next field of `rest` (separated by spaces; the line ends in a newline).
std::string_view next_field(std::string_view &rest)
{
	std::size_t start = 0;
	while (start < rest.size() && is_separator(rest[start]))
		start++;
	std::size_t end = start;
	while (end < rest.size() && !is_separator(rest[end]))
		end++;
	const std::string_view field = rest.substr(start, end - start);
	rest.remove_prefix(end);
	return field;
}

} // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text)
{
	if (text.size() > kMaxProcStatBytes)
		return std::nullopt;
	// "PID (COMM) S PPID ...": the first '(' follows the pid, the last ')' ends
	// the name, whatever the name holds.
	const auto open = text.find('(');
	const auto close = text.rfind(')');
	if (open == std::string_view::npos || close == std::string_view::npos || close < open || open == 0 ||
	    text[open - 1] != ' ')
		return std::nullopt;
	ProcStat stat;
	const auto pid = to_number<std::uint32_t>(text.substr(0, open - 1));
	if (!pid)
		return std::nullopt;
	stat.pid = *pid;
	stat.comm = std::string(text.substr(open + 1, close - open - 1));

	std::string_view rest = text.substr(close + 1);
	bool ok = true;
	auto take = [&ok](auto &out, std::string_view field) {
		using T = std::remove_cvref_t<decltype(out)>;
		if (const auto value = to_number<T>(field))
			out = *value;
		else
			ok = false;
	};
	for (int index = 3; index <= 24; index++) {
		const std::string_view field = next_field(rest);
		if (field.empty()) {
			if (index <= 22)
				return std::nullopt; // cut short before starttime
			break;
		}
		switch (index) {
		case 3:
			if (field.size() != 1)
				return std::nullopt;
			stat.state = field[0];
			break;
		case 4:
			take(stat.ppid, field);
			break;
		case 14:
			take(stat.utime, field);
			break;
		case 15:
			take(stat.stime, field);
			break;
		case 20:
			take(stat.num_threads, field);
			break;
		case 22:
			take(stat.starttime, field);
			break;
		case 23:
			if (const auto value = to_number<std::uint64_t>(field))
				stat.vsize = *value;
			break;
		case 24:
			if (const auto value = to_number<std::int64_t>(field))
				stat.rss = *value;
			break;
		default:
			break;
		}
		if (!ok)
			return std::nullopt;
	}
	return stat;
}

std::optional<ProcStat> read_proc_stat_file(const std::string &path)
{
	// One byte more than a stat line may have, so that a longer file is refused, not cut.
	const auto text = read_bounded(path, kMaxProcStatBytes + 1);
	if (!text)
		return std::nullopt;
	return parse_proc_stat(*text);
}

std::optional<ProcStat> read_proc_stat(std::uint32_t pid, const std::string &proc_root)
{
	return read_proc_stat_file(proc_root + "/" + std::to_string(pid) + "/stat");
}

} // namespace mxwatch
