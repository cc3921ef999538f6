// SPDX-License-Identifier: GPL-2.0-only
// The syslog sink's transports against plain sockets of this test: what arrives
// is exactly one RFC 5424 message per alert, framed as each transport needs,
// and a peer that went away is reconnected to. (The real rsyslog peer is in
// tests/integration/alert_sinks_test.cpp.)
#include "alert_samples.hpp"
#include "rfc5424_parser.hpp"

#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/util/utf8.hpp"

#include <arpa/inet.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace mxwatch {
namespace {

struct Fd {
	int fd = -1;
	explicit Fd(int f) : fd(f) {}
	~Fd()
	{
		if (fd >= 0)
			close(fd);
	}
};

RenderedAlert hostile_alert()
{
	return render_alert(test::sample_alert(test::sample_detection(test::kHostile), test::hostile_process()),
	                    AlertFormat::Ecs);
}

std::string port_of(int fd)
{
	sockaddr_in addr{};
	socklen_t len = sizeof(addr);
	getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
	return std::to_string(ntohs(addr.sin_port));
}

int bound_inet(int type)
{
	const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0)
		throw std::runtime_error("bind");
	return fd;
}

std::string receive_datagram(int fd)
{
	pollfd pfd{fd, POLLIN, 0};
	if (poll(&pfd, 1, 5000) != 1)
		return {};
	std::string buffer(65536, '\0');
	const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
	buffer.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
	return buffer;
}

int accept_within(int server, int timeout_ms = 5000)
{
	pollfd pfd{server, POLLIN, 0};
	return poll(&pfd, 1, timeout_ms) == 1 ? accept(server, nullptr, nullptr) : -1;
}

// Reads one octet-counted frame ("LEN SP MSG", RFC 6587 §3.4.1).
std::optional<std::string> read_frame(int fd)
{
	if (fd < 0)
		return std::nullopt;
	timeval tv{5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	std::string length;
	char c;
	while (recv(fd, &c, 1, MSG_WAITALL) == 1 && c != ' ')
		length += c;
	if (length.empty())
		return std::nullopt;
	std::string message(std::stoul(length), '\0');
	if (recv(fd, message.data(), message.size(), MSG_WAITALL) != static_cast<ssize_t>(message.size()))
		return std::nullopt;
	return message;
}

void expect_hostile_message(const std::string &text, const RenderedAlert &alert)
{
	std::string why;
	const auto m = test::parse_rfc5424(text, &why);
	ASSERT_TRUE(m.has_value()) << why << "\n" << text;
	EXPECT_EQ(m->msg, alert.document);
	ASSERT_NE(m->param("process.name"), nullptr);
	EXPECT_EQ(*m->param("process.name"), printable_utf8(test::kHostile));
}

TEST(SyslogSink, Udp)
{
	Fd server(bound_inet(SOCK_DGRAM));
	SinkSpec spec{SinkSpec::Kind::Syslog, "", SyslogTransport::Udp, "127.0.0.1", port_of(server.fd)};
	auto sink = make_syslog_sink(spec, kSyslogFacilityDaemon);
	EXPECT_EQ(sink->name(), "syslog:udp:127.0.0.1:" + spec.port);
	const RenderedAlert alert = hostile_alert();
	ASSERT_EQ(sink->write(alert), Delivery::Delivered);
	expect_hostile_message(receive_datagram(server.fd), alert);
}

TEST(SyslogSink, UnixDatagram)
{
	const auto path = std::filesystem::temp_directory_path() / ("mxwatch-log-" + std::to_string(getpid()));
	std::filesystem::remove(path);
	Fd server(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	path.string().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
	ASSERT_EQ(bind(server.fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
	auto sink = make_syslog_sink({SinkSpec::Kind::Syslog, path.string()}, kSyslogFacilityDaemon);
	const RenderedAlert alert = hostile_alert();
	ASSERT_EQ(sink->write(alert), Delivery::Delivered);
	expect_hostile_message(receive_datagram(server.fd), alert);
	std::filesystem::remove(path);
}

TEST(SyslogSink, TcpOctetCountingAndReconnect)
{
	Fd server(bound_inet(SOCK_STREAM));
	ASSERT_EQ(listen(server.fd, 4), 0);
	SinkSpec spec{SinkSpec::Kind::Syslog, "", SyslogTransport::Tcp, "127.0.0.1", port_of(server.fd)};
	auto sink = make_syslog_sink(spec, kSyslogFacilityDaemon);
	const RenderedAlert alert = hostile_alert();

	ASSERT_EQ(sink->write(alert), Delivery::Delivered);
	ASSERT_EQ(sink->write(alert), Delivery::Delivered);
	{
		Fd conn(accept_within(server.fd));
		for (int i = 0; i < 2; i++) {
			const auto frame = read_frame(conn.fd);
			ASSERT_TRUE(frame.has_value());
			expect_hostile_message(*frame, alert);
		}
	} // the receiver restarts: this connection is closed

	ASSERT_EQ(sink->write(alert), Delivery::Delivered); // noticed before writing, sent on a new connection
	Fd again(accept_within(server.fd));
	const auto frame = read_frame(again.fd);
	ASSERT_TRUE(frame.has_value());
	expect_hostile_message(*frame, alert);
}

TEST(SyslogSink, ADeadPeerAsksForARetryAndSaysWhy)
{
	auto sink = make_syslog_sink({SinkSpec::Kind::Syslog, "/nonexistent/log.sock"}, kSyslogFacilityDaemon);
	EXPECT_EQ(sink->write(hostile_alert()), Delivery::Retry);
	EXPECT_NE(sink->last_error().find("/nonexistent/log.sock: No such file or directory"), std::string::npos)
	    << sink->last_error();
}

// The bug this guards against: a TCP write into a connection the receiver has
// closed "succeeds" (the kernel takes it, the peer answers with a reset) and the
// alert is gone. The close must be noticed before the write, and the alert asked
// to be retried when nobody listens any more.
TEST(SyslogSink, TcpPeerThatClosedAndIsGoneMeansRetryNotLoss)
{
	auto server = std::make_unique<Fd>(bound_inet(SOCK_STREAM));
	ASSERT_EQ(listen(server->fd, 4), 0);
	const std::string port = port_of(server->fd);
	auto sink = make_syslog_sink({SinkSpec::Kind::Syslog, "", SyslogTransport::Tcp, "127.0.0.1", port},
	                             kSyslogFacilityDaemon);
	const RenderedAlert alert = hostile_alert();
	ASSERT_EQ(sink->write(alert), Delivery::Delivered);
	{
		Fd conn(accept_within(server->fd));
		ASSERT_TRUE(read_frame(conn.fd).has_value());
	} // a clean close (FIN), everything read
	server.reset(); // and nobody listens on the port any more

	EXPECT_EQ(sink->write(alert), Delivery::Retry);
	EXPECT_NE(sink->last_error().find("Connection refused"), std::string::npos) << sink->last_error();
}

// RELP: delivered means acknowledged. Against a real rsyslogd with imrelp in
// tests/integration/sink_outage_test.cpp; here only what needs no peer.
TEST(RelpSink, NamesItsPeerAndAsksForARetryWhenNobodyListens)
{
	std::string port;
	{
		Fd probe(bound_inet(SOCK_STREAM)); // a port nobody listens on, once it is closed
		port = port_of(probe.fd);
	}
	auto sink = make_sink(*parse_sink_spec("relp:127.0.0.1:" + port).spec, kSyslogFacilityDaemon);
	EXPECT_EQ(sink->name(), "relp:127.0.0.1:" + port);
	EXPECT_EQ(sink->write(hostile_alert()), Delivery::Retry);
	EXPECT_NE(sink->last_error().find("127.0.0.1:" + port), std::string::npos) << sink->last_error();
	EXPECT_EQ(make_sink(*parse_sink_spec("relp:[::1]:2514").spec, kSyslogFacilityDaemon)->name(),
	          "relp:[::1]:2514");
}

// A peer that takes the connection and reads, but never answers (not RELP): no
// acknowledgement, so not delivered.
TEST(RelpSink, APeerThatNeverAcknowledgesIsNotADelivery)
{
	Fd server(bound_inet(SOCK_STREAM));
	ASSERT_EQ(listen(server.fd, 4), 0);
	auto sink = make_sink(*parse_sink_spec("relp:127.0.0.1:" + port_of(server.fd)).spec, kSyslogFacilityDaemon);
	EXPECT_EQ(sink->write(hostile_alert()), Delivery::Retry); // after the answer timeout
	EXPECT_FALSE(sink->last_error().empty());
}

} // namespace
} // namespace mxwatch
