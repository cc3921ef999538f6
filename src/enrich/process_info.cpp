// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/process_info.hpp"

#include "mxwatch/util/fd.hpp"
#include "mxwatch/util/proc_stat.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <pwd.h>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <unordered_map>

namespace mxwatch {
namespace {

std::optional<std::string> read_link(const std::string &path)
{
	std::error_code ec;
	auto target = std::filesystem::read_symlink(path, ec);
	if (ec)
		return std::nullopt;
	return target.string();
}

template <typename T> std::optional<T> to_number(std::string_view text)
{
	T value{};
	const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (ec != std::errc{} || end == text.data())
		return std::nullopt;
	return value;
}

// Bounded cache: user names rarely change and getpwuid_r may ask NSS (files, LDAP).
std::optional<std::string> user_name_of(std::uint32_t uid)
{
	static std::mutex mutex;
	static std::unordered_map<std::uint32_t, std::optional<std::string>> cache;
	std::lock_guard lock(mutex);
	if (auto it = cache.find(uid); it != cache.end())
		return it->second;
	passwd entry{};
	passwd *result = nullptr;
	std::array<char, 4096> buffer{};
	std::optional<std::string> name;
	if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &result) == 0 && result != nullptr)
		name = std::string(result->pw_name);
	if (cache.size() >= 1024)
		cache.clear();
	cache.emplace(uid, name);
	return name;
}

std::optional<std::uint64_t> read_boot_time_s(const std::string &proc_root)
{
	const auto stat = read_bounded(proc_root + "/stat", 1 << 20);
	if (!stat)
		return std::nullopt;
	const auto pos = stat->find("\nbtime ");
	if (pos == std::string::npos)
		return std::nullopt;
	const std::string_view rest = std::string_view(*stat).substr(pos + 7);
	return to_number<std::uint64_t>(rest.substr(0, rest.find('\n')));
}

// btime does not change while the system runs; /proc/stat grows with the CPU count.
std::optional<std::uint64_t> boot_time_s(const std::string &proc_root)
{
	if (proc_root != "/proc")
		return read_boot_time_s(proc_root);
	static const std::optional<std::uint64_t> cached = read_boot_time_s("/proc");
	return cached;
}

void parse_status(const std::string &status, ProcessInfo &info)
{
	std::string_view rest = status;
	while (!rest.empty()) {
		const auto newline = rest.find('\n');
		std::string_view line = rest.substr(0, newline);
		rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
		auto field = [&](std::string_view key) -> std::optional<std::uint32_t> {
			if (!line.starts_with(key))
				return std::nullopt;
			std::string_view value = line.substr(key.size());
			value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
			return to_number<std::uint32_t>(value.substr(0, value.find_first_of(" \t")));
		};
		if (auto uid = field("Uid:")) {
			info.uid = *uid;
			info.user_name = user_name_of(*uid);
		} else if (auto ppid = field("PPid:")) {
			info.parent_pid = *ppid;
		}
	}
}

} // namespace

std::optional<std::chrono::system_clock::time_point> process_start_time(std::string_view stat_line,
                                                                        std::uint64_t boot_time_s, long ticks_per_s)
{
	const auto stat = parse_proc_stat(stat_line);
	if (!stat || ticks_per_s <= 0)
		return std::nullopt;
	const std::uint64_t ticks = stat->starttime;
	const auto tps = static_cast<std::uint64_t>(ticks_per_s);
	const auto since_boot =
	    std::chrono::seconds(ticks / tps) + std::chrono::milliseconds((ticks % tps) * 1000 / tps);
	return std::chrono::system_clock::time_point(std::chrono::seconds(boot_time_s) + since_boot);
}

ProcessInfo read_process_info(std::uint32_t pid, const std::string &proc_root)
{
	ProcessInfo info;
	info.pid = pid;
	const std::string dir = proc_root + "/" + std::to_string(pid);

	info.executable = read_link(dir + "/exe");
	// Opened now: the process may be gone, or its file replaced, by the time of the alert.
	if (info.executable)
		info.executable_file = ExecutableFile::open_path(dir + "/exe");

	if (auto cmdline = read_bounded(dir + "/cmdline", kMaxCmdlineBytes + 1)) {
		if (cmdline->size() > kMaxCmdlineBytes) {
			cmdline->resize(kMaxCmdlineBytes);
			info.args_truncated = true;
		}
		std::string_view rest = *cmdline;
		while (!rest.empty()) {
			const auto nul = rest.find('\0');
			info.args.emplace_back(rest.substr(0, nul));
			rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
		}
	}

	if (auto status = read_bounded(dir + "/status", 16384))
		parse_status(*status, info);
	if (info.parent_pid && *info.parent_pid != 0)
		info.parent_executable = read_link(proc_root + "/" + std::to_string(*info.parent_pid) + "/exe");

	if (auto stat = read_bounded(dir + "/stat", kMaxProcStatBytes + 1)) {
		if (auto btime = boot_time_s(proc_root))
			info.start_time = process_start_time(*stat, *btime, sysconf(_SC_CLK_TCK));
	}

	if (auto cgroup = read_bounded(dir + "/cgroup", kMaxCgroupFileBytes))
		info.container = parse_proc_cgroup(*cgroup);
	return info;
}

void complete_process_info(ProcessInfo &info, ExecutableHasher &hasher, const std::string &proc_root)
{
	if (info.sha256)
		return;
	auto file = info.executable_file;
	if (!file && info.executable && info.start_time) {
		// Not opened at first sight (the bound on open files was reached). The pid
		// may have been reused since: the file counts only if, after opening it,
		// the pid still has the start time we saw.
		file = ExecutableFile::open(info.pid, proc_root);
		const std::string dir = proc_root + "/" + std::to_string(info.pid);
		const auto stat = read_bounded(dir + "/stat", kMaxProcStatBytes + 1);
		const auto btime = boot_time_s(proc_root);
		if (!stat || !btime || process_start_time(*stat, *btime, sysconf(_SC_CLK_TCK)) != info.start_time)
			file.reset();
	}
	if (file)
		info.sha256 = hasher.sha256(*file);
}

} // namespace mxwatch
