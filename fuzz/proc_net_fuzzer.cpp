// SPDX-License-Identifier: GPL-2.0-only
// The /proc/PID/net/{tcp,tcp6,udp,udp6} parser on arbitrary tables. The kernel
// writes them, but a process in a user namespace can fill its own network
// namespace with sockets, and a parser bug must never read past its input.
#include "mxwatch/enrich/process_sockets.hpp"

#include <cstdlib>
#include <string_view>

namespace {

// What every row must look like, whatever the input.
void check(const std::vector<mxwatch::SocketEndpoint> &rows, std::string_view transport)
{
	for (const auto &e : rows) {
		if (e.transport != transport || e.local_ip.empty() || e.remote_ip.empty() || e.state.empty())
			std::abort();
		if (e.local_ip.size() > 45 || e.remote_ip.size() > 45)
			std::abort();
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string text(reinterpret_cast<const char *>(data), size); // exact size: ASan sees overreads
	std::size_t malformed = 0;
	check(mxwatch::parse_proc_net(text, "tcp", false, &malformed), "tcp");
	check(mxwatch::parse_proc_net(text, "tcp", true, &malformed), "tcp");
	check(mxwatch::parse_proc_net(text, "udp", false, &malformed), "udp");
	check(mxwatch::parse_proc_net(text, "udp", true, &malformed), "udp");
	return 0;
}
