// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/process_info.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <pwd.h>
#include <sstream>
#include <system_error>

namespace mxwatch {
namespace {

std::optional<std::string> user_name_of(std::uint32_t uid)
{
	passwd entry{};
	passwd *result = nullptr;
	std::array<char, 4096> buffer{};
	if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &result) != 0 || result == nullptr)
		return std::nullopt;
	return std::string(result->pw_name);
}

} // namespace

ProcessInfo read_process_info(std::uint32_t pid, const std::string &proc_root)
{
	ProcessInfo info;
	info.pid = pid;
	const std::filesystem::path dir = std::filesystem::path(proc_root) / std::to_string(pid);

	std::error_code ec;
	auto exe = std::filesystem::read_symlink(dir / "exe", ec);
	if (!ec)
		info.executable = exe.string();

	std::ifstream cmdline(dir / "cmdline", std::ios::binary);
	std::string raw((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
	std::string arg;
	for (char c : raw) {
		if (c == '\0') {
			info.args.push_back(std::move(arg));
			arg.clear();
		} else {
			arg.push_back(c);
		}
	}
	if (!arg.empty())
		info.args.push_back(std::move(arg));

	std::ifstream status(dir / "status");
	std::string line;
	while (std::getline(status, line)) {
		std::istringstream fields(line);
		std::string key;
		fields >> key;
		if (key == "Uid:") {
			std::uint32_t uid = 0;
			if (fields >> uid) {
				info.uid = uid;
				info.user_name = user_name_of(uid);
			}
		} else if (key == "PPid:") {
			std::uint32_t ppid = 0;
			if (fields >> ppid)
				info.parent_pid = ppid;
		}
	}
	return info;
}

} // namespace mxwatch
