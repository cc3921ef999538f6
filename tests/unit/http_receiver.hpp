// SPDX-License-Identifier: GPL-2.0-only
// Real HTTP peers for the http and alertmanager sink tests, in the test's own
// process and on loopback: a cpp-httplib server (plain, or HTTPS with a test
// CA the test generates with the openssl command) that records every request
// and answers from a script, and a listener that accepts connections and never
// answers.
#pragma once

#include <chrono>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace mxwatch::test
{

struct ReceivedRequest {
	std::string method;
	std::string path;
	std::string content_type;
	std::string authorization;
	std::string body;
	int status = 0; // what the receiver answered
};

class HttpReceiver
{
public:
	struct Tls {
		std::string cert_file;
		std::string key_file;
	};

	explicit HttpReceiver(std::optional<Tls> tls = std::nullopt)
	{
		if (tls)
			server_ = std::make_unique<httplib::SSLServer>(tls->cert_file.c_str(), tls->key_file.c_str());
		else
			server_ = std::make_unique<httplib::Server>();
		if (!server_->is_valid())
			throw std::runtime_error("the test's HTTP server could not be set up (certificate or key?)");
		https_ = tls.has_value();
		auto handler = [this](const httplib::Request &request, httplib::Response &response) {
			ReceivedRequest received{request.method, request.path, request.get_header_value("Content-Type"),
			                         request.get_header_value("Authorization"), request.body};
			std::lock_guard lock(mutex_);
			received.status = 200;
			if (!statuses_.empty()) {
				received.status = statuses_.front();
				statuses_.pop_front();
			}
			response.status = received.status;
			if (received.status == 400)
				response.set_content("bad alert\nsecond line", "text/plain");
			else if (received.status >= 500)
				response.set_content("try later", "text/plain");
			requests_.push_back(std::move(received));
		};
		server_->Post(".*", handler);
		port_ = server_->bind_to_any_port("127.0.0.1");
		// Bound and listening already: connections wait in the backlog until it accepts.
		thread_ = std::thread([this] { server_->listen_after_bind(); });
	}
	~HttpReceiver()
	{
		server_->stop();
		thread_.join();
	}
	HttpReceiver(const HttpReceiver &) = delete;
	HttpReceiver &operator=(const HttpReceiver &) = delete;

	int port() const { return port_; }
	std::string url(const std::string &path = "/ingest") const
	{
		return (https_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) + path;
	}
	// The next requests' statuses, in order; 200 once they are used up.
	void answer(std::vector<int> statuses)
	{
		std::lock_guard lock(mutex_);
		statuses_.assign(statuses.begin(), statuses.end());
	}
	std::vector<ReceivedRequest> requests() const
	{
		std::lock_guard lock(mutex_);
		return requests_;
	}
	std::size_t count() const
	{
		std::lock_guard lock(mutex_);
		return requests_.size();
	}

private:
	std::unique_ptr<httplib::Server> server_;
	bool https_ = false;
	int port_ = 0;
	std::thread thread_;
	mutable std::mutex mutex_;
	std::deque<int> statuses_;
	std::vector<ReceivedRequest> requests_;
};

// Accepts TCP connections (the kernel does, from the backlog) and never reads or
// answers: a receiver that hangs.
class SilentListener
{
public:
	SilentListener()
	{
		fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t len = sizeof(addr);
		if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&addr), len) != 0 || listen(fd_, 64) != 0 ||
		    getsockname(fd_, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
			throw std::runtime_error("cannot listen on loopback");
		port_ = ntohs(addr.sin_port);
	}
	~SilentListener() { close(fd_); }
	SilentListener(const SilentListener &) = delete;
	SilentListener &operator=(const SilentListener &) = delete;
	std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/ingest"; }

private:
	int fd_ = -1;
	int port_ = 0;
};

// A CA, a server certificate it signed for 127.0.0.1 and localhost, and a second,
// unrelated CA: made with the openssl command in `dir`.
struct TestPki {
	std::filesystem::path ca, other_ca, server_cert, server_key;

	explicit TestPki(const std::filesystem::path &dir)
	    : ca(dir / "ca.pem"), other_ca(dir / "other-ca.pem"), server_cert(dir / "server.pem"),
	      server_key(dir / "server.key")
	{
		const std::string script = "set -e; cd '" + dir.string() + "'\n" + R"(
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
  -days 2 -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"; }
ca ca "mxwatch test CA"
ca other-ca "another test CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj /CN=localhost
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
)";
		const auto script_file = dir / "make-pki.sh";
		std::ofstream(script_file) << script;
		const std::string run =
		    "/bin/sh '" + script_file.string() + "' >'" + (dir / "openssl.log").string() + "' 2>&1";
		if (std::system(run.c_str()) != 0)
			throw std::runtime_error(
			    "openssl could not make the test certificates (is the openssl package installed?)");
	}
};

} // namespace mxwatch::test

namespace mxwatch::test
{

// A temporary directory for one test, removed at its end.
class ScratchDir
{
public:
	ScratchDir()
	{
		std::string pattern = (std::filesystem::temp_directory_path() / "mxwatch-http-XXXXXX").string();
		if (!mkdtemp(pattern.data()))
			throw std::runtime_error("mkdtemp failed");
		dir_ = pattern;
	}
	~ScratchDir() { std::filesystem::remove_all(dir_); }
	std::filesystem::path path(const std::string &name) const { return dir_ / name; }
	std::string write(const std::string &name, const std::string &content) const
	{
		std::ofstream(path(name), std::ios::binary) << content;
		return path(name).string();
	}

private:
	std::filesystem::path dir_;
};

} // namespace mxwatch::test
