// SPDX-License-Identifier: GPL-2.0-only
// Alerts as RFC 5424 messages over RELP (the Reliable Event Logging Protocol
// rsyslog speaks, imrelp), through Debian's librelp: acknowledged delivery. An
// alert counts as delivered only once the peer has answered for it, so that it
// leaves the sink's queue (sink_queue.hpp) only then.
//
// librelp's client counts a message as sent once it is written and keeps it in
// an unacknowledged list of its own, resent on reconnect; it never says when
// one message was acknowledged. So each write is one RELP session: open (the
// offers exchange), the syslog frame, close. The peer answers in order, so its
// answer to close comes after its answer to the alert; librelp reports every
// failure on the way (no answer within the timeout, the connection closed or
// reset, an answer other than 200) through the engine's error callback, and
// only a session that ends without one delivered the alert. Anything else is a
// Retry: the alert stays at the head of the queue and is sent again in a new
// session after the queue's backoff. An acknowledgement lost after the peer
// took the alert makes it arrive twice (at least once, as with every RELP
// sender); a peer that stays up receives each alert once.
//
// Sessions are short (a few round trips on loopback or a LAN), so a stopped or
// restarted peer never leaves a dead connection behind to write into.
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/util/sigpipe.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
extern "C" {
#include <librelp.h> // a C header without extern "C" of its own
}
#include <sys/socket.h>
#include <unistd.h>

namespace mxwatch
{
namespace
{

// Seconds (librelp's unit): to connect, and to wait for each answer. They bound
// how long one write holds the sink's thread: about connect + 3 answers.
constexpr int kConnectTimeoutS = 2;
constexpr unsigned kAnswerTimeoutS = 5;

const char *relp_error_name(relpRetVal code)
{
	switch (code) {
	case RELP_RET_OUT_OF_MEMORY:
		return "out of memory";
	case RELP_RET_SESSION_BROKEN:
		return "the session broke";
	case RELP_RET_SESSION_CLOSED:
		return "the peer closed the session";
	case RELP_RET_IO_ERR:
		return "I/O error";
	case RELP_RET_TIMED_OUT:
		return "no answer in time";
	case RELP_RET_RSP_STATE_ERR:
		return "the peer answered with an error";
	case RELP_RET_INCOMPAT_OFFERS:
		return "the peer's offers are incompatible";
	case RELP_RET_RQD_FEAT_MISSING:
		return "the peer does not take syslog messages";
	case RELP_RET_CMD_DISABLED:
		return "the peer disabled the syslog command";
	case RELP_RET_DATA_TOO_LONG:
		return "the alert is longer than the peer takes";
	default:
		return nullptr;
	}
}

class RelpSink;
// The sink whose write() runs in this thread, for librelp's debug function
// (which has no user pointer).
thread_local RelpSink *t_writing = nullptr;
void note_socket_error(RelpSink *sink, int error);

// librelp reports why a connection failed (the socket's error, after a
// non-blocking connect) only to its debug function: that, and nothing else, is
// taken from it.
void relp_debug(char *format, ...)
{
	if (!t_writing || std::strncmp(format, "socket has an error", 19) != 0)
		return;
	va_list args;
	va_start(args, format);
	const int error = va_arg(args, int);
	va_end(args);
	note_socket_error(t_writing, error);
}

std::string describe(relpRetVal code)
{
	if (const char *name = relp_error_name(code))
		return name;
	return fmt::format("librelp error {}", code);
}

class RelpSink final : public AlertSink
{
public:
	RelpSink(SinkSpec spec, int facility) : spec_(std::move(spec)), facility_(facility)
	{
		if (relpEngineConstruct(&engine_) != RELP_RET_OK)
			throw SetupError("relp sink: librelp could not set up its engine (out of memory)");
		// Without a debug function librelp calls a null pointer.
		relpEngineSetDbgprint(engine_, relp_debug);
		relpEngineSetEnableCmd(engine_, reinterpret_cast<unsigned char *>(const_cast<char *>("syslog")),
		                       eRelpCmdState_Required);
		relpEngineSetOnErr(engine_, &RelpSink::on_error);
	}

	~RelpSink() override { relpEngineDestruct(&engine_); }

	RelpSink(const RelpSink &) = delete;
	RelpSink &operator=(const RelpSink &) = delete;

	Delivery write(const RenderedAlert &alert) override
	{
		std::string message = rfc5424_message(alert, facility_, static_cast<std::uint32_t>(getpid()));
		session_error_.clear();
		socket_error_ = 0;
		t_writing = this;
		const Delivery result = attempt(message);
		t_writing = nullptr;
		return result;
	}

	std::string last_error() const override { return error_; }

	std::string name() const override
	{
		const bool v6 = spec_.host.find(':') != std::string::npos;
		return fmt::format("relp:{}{}{}:{}", v6 ? "[" : "", spec_.host, v6 ? "]" : "", spec_.port);
	}

	void on_socket_error(int error) { socket_error_ = error; }

private:
	// One session: open, the alert, close.
	Delivery attempt(std::string &message)
	{
		relpClt_t *client = nullptr;
		relpRetVal rc = relpEngineCltConstruct(engine_, &client);
		if (rc != RELP_RET_OK)
			return fail("open", rc);
		relpCltSetUsrPtr(client, this);
		relpCltSetConnTimeout(client, kConnectTimeoutS);
		relpCltSetTimeout(client, kAnswerTimeoutS);
		auto *host = reinterpret_cast<unsigned char *>(spec_.host.data());
		auto *port = reinterpret_cast<unsigned char *>(spec_.port.data());
		const char *step = "connect";
		rc = relpCltConnect(client, AF_UNSPEC, port, host);
		if (rc == RELP_RET_OK) {
			step = "send";
			rc = relpCltSendSyslog(client, reinterpret_cast<unsigned char *>(message.data()),
			                       message.size());
		}
		// Sends close and waits for its answer (and, before it, the alert's).
		relpEngineCltDestruct(engine_, &client);
		if (rc != RELP_RET_OK)
			return fail(step, rc);
		if (!session_error_.empty()) {
			error_ = fmt::format("{}:{}: {} (the alert was not acknowledged)", spec_.host, spec_.port,
			                     session_error_);
			return Delivery::Retry;
		}
		return Delivery::Delivered;
	}

	// librelp's report of a failure in the session of the current write.
	static void on_error(void *user, char *, char *message, relpRetVal code)
	{
		auto *self = static_cast<RelpSink *>(user);
		if (!self)
			return;
		const std::string why = message && *message ? message : describe(code);
		if (self->session_error_.find(why) != std::string::npos)
			return;
		self->session_error_ += (self->session_error_.empty() ? "" : "; ") + why;
	}

	Delivery fail(const char *what, relpRetVal code)
	{
		std::string why = session_error_.empty() ? describe(code) : session_error_;
		if (socket_error_ != 0)
			why = std::strerror(socket_error_);
		error_ = fmt::format("{} {}:{}: {}", what, spec_.host, spec_.port, why);
		return Delivery::Retry;
	}

	SinkSpec spec_;
	int facility_;
	relpEngine_t *engine_ = nullptr;
	std::string session_error_;
	int socket_error_ = 0;
	std::string error_;
};

void note_socket_error(RelpSink *sink, int error)
{
	sink->on_socket_error(error);
}

} // namespace

std::unique_ptr<AlertSink> make_relp_sink(const SinkSpec &spec, int facility)
{
	// librelp writes with plain send().
	ignore_sigpipe();
	return std::make_unique<RelpSink>(spec, facility);
}

} // namespace mxwatch
