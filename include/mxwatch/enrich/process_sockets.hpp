// SPDX-License-Identifier: GPL-2.0-only
// Where a process's hash power goes: its TCP and UDP sockets with their local
// and remote endpoints, read in the process's own network namespace
// (/proc/PID/net/* is that namespace's table; a container's sockets are not the
// host's) and matched against the socket inodes of /proc/PID/fd. Every read is
// bounded; nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mxwatch {

struct SocketEndpoint {
	std::string transport; // "tcp" or "udp"
	std::string local_ip;  // textual (inet_ntop), IPv4-mapped IPv6 shown as IPv4
	std::uint16_t local_port = 0;
	std::string remote_ip; // "0.0.0.0" / "::" when not connected
	std::uint16_t remote_port = 0;
	std::string state; // "established", "listen", "syn-sent", ... ("unconnected" for UDP)
	std::uint64_t inode = 0;

	bool connected() const { return remote_port != 0; }
	bool operator==(const SocketEndpoint &) const = default;
};

// The rows of one /proc/net/{tcp,tcp6,udp,udp6} table (`transport` "tcp" or
// "udp", `ipv6` for the *6 tables). The header and rows that do not parse are
// skipped; `malformed` (if given) counts the latter.
std::vector<SocketEndpoint> parse_proc_net(std::string_view table, std::string_view transport, bool ipv6,
					   std::size_t *malformed = nullptr);

struct ProcessSockets {
	std::vector<SocketEndpoint> endpoints; // connected ones first, at most the limit asked for
	std::size_t omitted = 0;               // matching sockets past that limit
	bool complete = true;                  // false when a bound was hit or a table was unreadable
};

// Bounds on what is read per process.
inline constexpr std::size_t kMaxFdsScanned = 65536;
inline constexpr std::size_t kMaxNetTableBytes = 16u << 20;
inline constexpr std::size_t kMaxSocketsPerAlert = 16;

// The sockets of process `pid`, at most `limit` of them; empty when it has none
// or is gone (or /proc/PID/fd is not readable: CAP_SYS_PTRACE/DAC_READ_SEARCH).
ProcessSockets process_sockets(std::uint32_t pid, std::size_t limit = 16, const std::string &proc_root = "/proc");

} // namespace mxwatch
