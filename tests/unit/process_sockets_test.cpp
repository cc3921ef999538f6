// SPDX-License-Identifier: GPL-2.0-only
// The /proc/net tables a process's sockets are read from, and the sockets of
// this very process.
#include "mxwatch/enrich/process_sockets.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mxwatch {
namespace {

// Rows as Linux 6.x prints them.
constexpr std::string_view kTcp =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 "
	"0000000000000000 100 0 0 10 0\n"
	"   1: 0F02000A:D3B0 07710BCB:0D05 01 00000000:00000000 02:000A7D3C 00000000  1000        0 9001 2 "
	"0000000000000000 20 4 30 10 -1\n";
constexpr std::string_view kTcp6 =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
	"tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
	"00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n"
	"   1: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000100007F:0D05 01 00000000:00000000 "
	"00:00000000 00000000     0        0 778 1 0000000000000000 20 4 30 10 -1\n";

TEST(ProcNet, Ipv4RowsGiveEndpointsAndStates)
{
	std::size_t malformed = 0;
	const auto rows = parse_proc_net(kTcp, "tcp", false, &malformed);
	ASSERT_EQ(rows.size(), 2u);
	EXPECT_EQ(malformed, 0u);
	EXPECT_EQ(rows[0], (SocketEndpoint{"tcp", "127.0.0.1", 3306, "0.0.0.0", 0, "listen", 4242}));
	EXPECT_EQ(rows[1], (SocketEndpoint{"tcp", "10.0.2.15", 54192, "203.11.113.7", 3333, "established", 9001}));
	EXPECT_TRUE(rows[1].connected());
	EXPECT_FALSE(rows[0].connected());
}

TEST(ProcNet, Ipv6RowsAndMappedIpv4)
{
	const auto rows = parse_proc_net(kTcp6, "tcp", true);
	ASSERT_EQ(rows.size(), 2u);
	EXPECT_EQ(rows[0].local_ip, "::1");
	EXPECT_EQ(rows[0].local_port, 8080);
	EXPECT_EQ(rows[0].remote_ip, "::");
	EXPECT_EQ(rows[1].local_ip, "127.0.0.1"); // ::ffff:127.0.0.1 shown as IPv4
	EXPECT_EQ(rows[1].remote_port, 3333);
}

TEST(ProcNet, UdpStatesAndMalformedRowsAreCounted)
{
	const std::string udp =
		"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref "
		"pointer drops\n"
		"  1: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 55 2 0 0\n"
		"  2: 0100007F:C000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 56 2 0 0\n"
		"  3: ZZZ:0044 00000000:0000 07\n"
		"  4: 0100007F:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0\n"
		"  5: 0100007F:10000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 57\n"
		"\n";
	std::size_t malformed = 0;
	const auto rows = parse_proc_net(udp, "udp", false, &malformed);
	ASSERT_EQ(rows.size(), 2u);
	EXPECT_EQ(rows[0].state, "unconnected");
	EXPECT_EQ(rows[1].state, "established");
	EXPECT_EQ(rows[1].remote_port, 53);
	EXPECT_EQ(malformed, 3u); // bad address, no inode, port past 16 bits
}

TEST(ProcNet, ArbitraryBytesNeverThrow)
{
	std::string junk = "header\n";
	for (int i = 0; i < 4096; i++)
		junk += static_cast<char>((i * 7919) % 256);
	EXPECT_NO_THROW(parse_proc_net(junk, "tcp", true));
	EXPECT_NO_THROW(parse_proc_net("", "udp", false));
}

TEST(ProcessSockets, ThisProcessesConnectedSocketComesFirst)
{
	const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(listener, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
	ASSERT_EQ(listen(listener, 1), 0);
	socklen_t len = sizeof(addr);
	ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len), 0);
	const std::uint16_t port = ntohs(addr.sin_port);
	const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(connect(client, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
	const int accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
	ASSERT_GE(accepted, 0);

	const ProcessSockets mine = process_sockets(static_cast<std::uint32_t>(getpid()), 2);
	close(accepted);
	close(client);
	close(listener);
	// Three sockets: the client's and the accepted end are connected, the listener is not.
	ASSERT_EQ(mine.endpoints.size(), 2u);
	EXPECT_EQ(mine.omitted, 1u);
	bool to_listener = false;
	for (const auto &e : mine.endpoints) {
		EXPECT_TRUE(e.connected());
		EXPECT_EQ(e.state, "established");
		EXPECT_EQ(e.remote_ip, "127.0.0.1");
		to_listener |= e.remote_port == port;
	}
	EXPECT_TRUE(to_listener);
}

TEST(ProcessSockets, GoneProcessHasNone)
{
	const ProcessSockets none = process_sockets(0x7ffffff0u);
	EXPECT_TRUE(none.endpoints.empty());
}

} // namespace
} // namespace mxwatch
