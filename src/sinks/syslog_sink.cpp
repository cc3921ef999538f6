// SPDX-License-Identifier: GPL-2.0-only
// Alerts as RFC 5424 messages to a syslog daemon: the local socket (datagram, as
// rsyslog, syslog-ng and journald offer it at /dev/log), UDP (RFC 5426) or TCP
// with octet-counting framing (RFC 6587 §3.4.1), which survives any byte in MSG.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/util/fd.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace mxwatch {
namespace {

// Bounds how long one alert can hold the sink's thread: connect and send each.
constexpr int kIoTimeoutMs = 2000;
// A peer that refused us is not asked again for this long: each alert would
// otherwise pay a connect timeout while it is down.
constexpr auto kReconnectBackoff = std::chrono::seconds(1);

void set_send_timeout(int fd)
{
	timeval tv{kIoTimeoutMs / 1000, (kIoTimeoutMs % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// connect() with a timeout: non-blocking, then poll for writability.
bool connect_with_timeout(int fd, const sockaddr *addr, socklen_t len)
{
	const int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int rc = ::connect(fd, addr, len);
	if (rc != 0 && errno == EINPROGRESS) {
		pollfd pfd{fd, POLLOUT, 0};
		if (poll(&pfd, 1, kIoTimeoutMs) == 1) {
			int error = 0;
			socklen_t error_len = sizeof(error);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len);
			rc = error == 0 ? 0 : -1;
		}
	}
	fcntl(fd, F_SETFL, flags);
	return rc == 0;
}

class SyslogSink final : public AlertSink {
public:
	SyslogSink(SinkSpec spec, int facility) : spec_(std::move(spec)), facility_(facility) {}

	bool write(const RenderedAlert &alert) override
	{
		const std::string message = rfc5424_message(alert, facility_, static_cast<std::uint32_t>(getpid()));
		// Twice at most: a daemon that restarted leaves us a dead socket the first time.
		for (int attempt = 0; attempt < 2; attempt++) {
			if (!fd_ && !connect_socket())
				return false;
			if (send_message(message))
				return true;
			close_socket();
		}
		return false;
	}

	void reopen() override { close_socket(); }

	std::string name() const override
	{
		switch (spec_.transport) {
		case SyslogTransport::Unix:
			return "syslog:unix:" + spec_.path;
		case SyslogTransport::Udp:
			return fmt::format("syslog:udp:{}:{}", spec_.host, spec_.port);
		case SyslogTransport::Tcp:
			return fmt::format("syslog:tcp:{}:{}", spec_.host, spec_.port);
		}
		return "syslog";
	}

private:
	bool connect_socket()
	{
		const auto now = std::chrono::steady_clock::now();
		if (now < next_connect_)
			return false;
		const bool ok = spec_.transport == SyslogTransport::Unix ? connect_unix() : connect_inet();
		if (!ok)
			next_connect_ = now + kReconnectBackoff;
		return ok;
	}

	bool connect_unix()
	{
		sockaddr_un addr{};
		addr.sun_family = AF_UNIX;
		if (spec_.path.size() >= sizeof(addr.sun_path))
			return false;
		spec_.path.copy(addr.sun_path, spec_.path.size());
		// Datagram first, as every syslog daemon offers it; a stream socket (some
		// syslog-ng setups) takes newline-terminated messages.
		for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
			fd_.reset(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
			if (!fd_)
				return false;
			set_send_timeout(fd_.get());
			if (connect_with_timeout(fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr))) {
				stream_ = type == SOCK_STREAM;
				return true;
			}
			const bool wrong_type = errno == EPROTOTYPE;
			close_socket();
			if (!wrong_type)
				return false;
		}
		return false;
	}

	bool connect_inet()
	{
		const bool tcp = spec_.transport == SyslogTransport::Tcp;
		addrinfo hints{};
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
		addrinfo *found = nullptr;
		if (getaddrinfo(spec_.host.c_str(), spec_.port.c_str(), &hints, &found) != 0)
			return false;
		for (addrinfo *ai = found; ai; ai = ai->ai_next) {
			fd_.reset(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
			if (!fd_)
				continue;
			set_send_timeout(fd_.get());
			if (connect_with_timeout(fd_.get(), ai->ai_addr, ai->ai_addrlen))
				break;
			close_socket();
		}
		freeaddrinfo(found);
		stream_ = tcp;
		return fd_.valid();
	}

	// A TCP write to a peer that has closed still succeeds once (the data is lost
	// to a reset), so check for the close before writing, not after.
	bool peer_closed() const
	{
		pollfd pfd{fd_.get(), POLLIN, 0};
		if (poll(&pfd, 1, 0) != 1)
			return false;
		char byte;
		return (pfd.revents & (POLLHUP | POLLERR)) || recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
	}

	bool send_message(const std::string &message)
	{
		if (stream_ && peer_closed())
			return false;
		std::string_view out = message;
		std::string framed;
		if (stream_) {
			framed = spec_.transport == SyslogTransport::Tcp ? fmt::format("{} {}", message.size(), message)
			                                                 : message + "\n";
			out = framed;
		}
		while (!out.empty()) {
			const ssize_t n = ::send(fd_.get(), out.data(), out.size(), MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || (!stream_ && static_cast<std::size_t>(n) != out.size()))
				return false;
			out.remove_prefix(static_cast<std::size_t>(n));
		}
		return true;
	}

	void close_socket() { fd_.reset(); }

	SinkSpec spec_;
	int facility_;
	UniqueFd fd_;
	bool stream_ = false;
	std::chrono::steady_clock::time_point next_connect_{};
};

} // namespace

std::unique_ptr<AlertSink> make_syslog_sink(const SinkSpec &spec, int facility)
{
	return std::make_unique<SyslogSink>(spec, facility);
}

} // namespace mxwatch
