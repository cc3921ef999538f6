// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/process_sockets.hpp"

#include "mxwatch/util/fd.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <charconv>
#include <dirent.h>
#include <fcntl.h>
#include <unordered_set>
#include <unistd.h>

namespace mxwatch {
namespace {

std::string_view next_field(std::string_view &line)
{
	const auto start = line.find_first_not_of(' ');
	if (start == std::string_view::npos) {
		line = {};
		return {};
	}
	line.remove_prefix(start);
	const auto end = line.find(' ');
	const std::string_view field = line.substr(0, end);
	line.remove_prefix(end == std::string_view::npos ? line.size() : end);
	return field;
}

template <typename T> bool parse_hex(std::string_view text, T &out)
{
	if (text.empty())
		return false;
	const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
	return ec == std::errc() && ptr == text.data() + text.size();
}

// "0100007F:0CEA" (IPv4) or 32 hex digits ":" port (IPv6). The kernel prints
// each 32-bit word of the address as a native integer: on x86 the bytes of the
// word come out reversed.
bool parse_address(std::string_view text, bool ipv6, std::string &ip, std::uint16_t &port)
{
	const auto colon = text.find(':');
	if (colon == std::string_view::npos || !parse_hex(text.substr(colon + 1), port))
		return false;
	const std::string_view hex = text.substr(0, colon);
	const std::size_t words = ipv6 ? 4 : 1;
	if (hex.size() != words * 8)
		return false;
	std::array<unsigned char, 16> bytes{};
	for (std::size_t w = 0; w < words; w++) {
		std::uint32_t word = 0;
		if (!parse_hex(hex.substr(w * 8, 8), word))
			return false;
		for (int b = 0; b < 4; b++)
			bytes[w * 4 + b] = static_cast<unsigned char>(word >> (8 * b)); // little-endian host
	}
	char text_ip[INET6_ADDRSTRLEN] = {};
	const bool mapped = ipv6 && std::all_of(bytes.begin(), bytes.begin() + 10, [](unsigned char c) { return c == 0; }) &&
			    bytes[10] == 0xff && bytes[11] == 0xff;
	if (!ipv6 || mapped)
		inet_ntop(AF_INET, bytes.data() + (mapped ? 12 : 0), text_ip, sizeof(text_ip));
	else
		inet_ntop(AF_INET6, bytes.data(), text_ip, sizeof(text_ip));
	ip = text_ip;
	return true;
}

std::string_view state_name(std::string_view transport, unsigned state)
{
	static constexpr std::array<std::string_view, 12> tcp = {
		"unknown",    "established", "syn-sent", "syn-recv", "fin-wait1", "fin-wait2",
		"time-wait",  "close",	     "close-wait", "last-ack", "listen",    "closing"};
	if (transport == "udp")
		return state == 1 ? "established" : state == 7 ? "unconnected" : "unknown";
	return state < tcp.size() ? tcp[state] : "unknown";
}

} // namespace

std::vector<SocketEndpoint> parse_proc_net(std::string_view table, std::string_view transport, bool ipv6,
					   std::size_t *malformed)
{
	std::vector<SocketEndpoint> out;
	bool header = true;
	while (!table.empty()) {
		const auto eol = table.find('\n');
		std::string_view line = table.substr(0, eol);
		table.remove_prefix(eol == std::string_view::npos ? table.size() : eol + 1);
		if (header) { // "  sl  local_address rem_address   st ..."
			header = false;
			continue;
		}
		if (line.find_first_not_of(' ') == std::string_view::npos)
			continue;
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		std::array<std::string_view, 10> f;
		for (auto &field : f)
			field = next_field(line);
		SocketEndpoint e;
		e.transport = transport;
		unsigned state = 0;
		if (f[9].empty() || !parse_address(f[1], ipv6, e.local_ip, e.local_port) ||
		    !parse_address(f[2], ipv6, e.remote_ip, e.remote_port) || !parse_hex(f[3], state) ||
		    std::from_chars(f[9].data(), f[9].data() + f[9].size(), e.inode).ec != std::errc()) {
			if (malformed)
				++*malformed;
			continue;
		}
		e.state = state_name(transport, state);
		out.push_back(std::move(e));
	}
	return out;
}

ProcessSockets process_sockets(std::uint32_t pid, std::size_t limit, const std::string &proc_root)
{
	ProcessSockets result;
	const std::string base = proc_root + "/" + std::to_string(pid);
	std::unordered_set<std::uint64_t> inodes;
	UniqueFd fd_dir(open((base + "/fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!fd_dir)
		return result;
	DIR *dir = fdopendir(fd_dir.get());
	if (!dir)
		return result;
	fd_dir.release(); // closedir closes it
	std::size_t scanned = 0;
	while (const dirent *entry = readdir(dir)) {
		if (entry->d_name[0] == '.')
			continue;
		if (++scanned > kMaxFdsScanned) {
			result.complete = false;
			break;
		}
		char link[64];
		const ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		const std::string_view target(link, static_cast<std::size_t>(n));
		constexpr std::string_view prefix = "socket:[";
		if (!target.starts_with(prefix) || !target.ends_with(']'))
			continue;
		std::uint64_t inode = 0;
		const auto digits = target.substr(prefix.size(), target.size() - prefix.size() - 1);
		if (std::from_chars(digits.data(), digits.data() + digits.size(), inode).ec == std::errc())
			inodes.insert(inode);
	}
	closedir(dir);
	if (inodes.empty())
		return result;

	std::vector<SocketEndpoint> found;
	for (const auto &[name, transport, ipv6] :
	     {std::tuple{"tcp", "tcp", false}, {"tcp6", "tcp", true}, {"udp", "udp", false}, {"udp6", "udp", true}}) {
		const auto table = read_bounded(base + "/net/" + name, kMaxNetTableBytes);
		if (!table) {
			result.complete = false;
			continue;
		}
		if (table->size() >= kMaxNetTableBytes)
			result.complete = false;
		for (auto &e : parse_proc_net(*table, transport, ipv6))
			if (inodes.contains(e.inode))
				found.push_back(std::move(e));
	}
	// Connected sockets first (where the hash power goes), then by inode: newer
	// sockets have larger inode numbers, so the most recent come first.
	std::sort(found.begin(), found.end(), [](const SocketEndpoint &a, const SocketEndpoint &b) {
		if (a.connected() != b.connected())
			return a.connected();
		return a.inode > b.inode;
	});
	if (found.size() > limit) {
		result.omitted = found.size() - limit;
		found.resize(limit);
	}
	result.endpoints = std::move(found);
	return result;
}

} // namespace mxwatch
