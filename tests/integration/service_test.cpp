// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch run` as a service: the systemd notification protocol (READY after
// attach, RELOADING/READY around a reload, STOPPING), SIGHUP reloads of the
// config file, and the Prometheus endpoint scraped live and checked by
// Prometheus's own `promtool check metrics`.
#include "harness.hpp"

#include <csignal>
#include <fstream>
#include <httplib.h>
#include <regex>
#include <sstream>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
public:
	explicit NotifySocket(const fs::path &path) : path_(path)
	{
		fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		sockaddr_un addr{};
		addr.sun_family = AF_UNIX;
		std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
		if (bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0)
			throw std::runtime_error("cannot bind the notify socket");
		timeval tv{0, 200000};
		setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	~NotifySocket() { close(fd_); }

	// Waits for a message containing `text`; every message seen is kept.
	bool wait_for(const std::string &text, std::chrono::seconds timeout)
	{
		const auto until = std::chrono::steady_clock::now() + timeout;
		while (std::chrono::steady_clock::now() < until) {
			for (const auto &m : messages_)
				if (m.find(text) != std::string::npos)
					return true;
			char buffer[4096];
			const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
			if (n > 0)
				messages_.emplace_back(buffer, static_cast<std::size_t>(n));
		}
		return false;
	}
	const std::vector<std::string> &messages() const { return messages_; }

private:
	fs::path path_;
	int fd_ = -1;
	std::vector<std::string> messages_;
};

std::string all(const std::vector<std::string> &messages)
{
	std::string out;
	for (const auto &m : messages)
		out += "[" + m + "] ";
	return out;
}

struct Scrape {
	int status = 0;
	std::string body;
	std::string content_type;
};

Scrape get(const std::string &host, int port, const std::string &path)
{
	httplib::Client client(host, port);
	client.set_connection_timeout(10);
	client.set_read_timeout(10);
	auto response = client.Get(path);
	if (!response)
		return {};
	return {response->status, response->body, response->get_header_value("Content-Type")};
}

TEST(Service, NotifiesReloadsAndServesMetricsThatPromtoolAccepts)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	const auto config = tmp.path("mxwatch.toml");
	const auto first_alerts = tmp.path("first.json");
	const auto second_alerts = tmp.path("second.json");
	std::ofstream(config) << "sink = [\"file:" << first_alerts.string() << "\"]\n"
			      << "metrics-address = \"127.0.0.1:0\"\n";
	NotifySocket notify(tmp.path("notify.sock"));
	setenv("NOTIFY_SOCKET", tmp.path("notify.sock").c_str(), 1);
	Child daemon({mxwatch_binary(), "--config", config.string(), "run"},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log")});
	unsetenv("NOTIFY_SOCKET");
	ASSERT_TRUE(notify.wait_for("READY=1", 60s)) << read_text(tmp.path("err.log")) << all(notify.messages());
	const std::string log = read_text(tmp.path("err.log"));
	// READY only once attached.
	EXPECT_NE(log.find("attached"), std::string::npos) << log;

	std::smatch url;
	ASSERT_TRUE(std::regex_search(log, url, std::regex(R"(metrics on http://127\.0\.0\.1:([0-9]+)/metrics)"))) << log;
	const int port = std::stoi(url[1]);

	// A real miner, so that detections, tracked processes and a sink count show.
	Child miner({workload("mxw-randomx"), "--seconds", "40"}, {.stdout_path = "/dev/null"});
	ASSERT_TRUE(wait_for_text(first_alerts, "miner-detected", 90s)) << read_text(tmp.path("err.log"));

	Scrape scrape;
	for (int i = 0; i < 20; i++) { // the snapshot is published every second
		scrape = get("127.0.0.1", port, "/metrics");
		const std::string delivered =
			R"(mxwatch_sink_alerts_delivered_total{sink="file:)" + first_alerts.string() + "\"}";
		if (metric_value(scrape.body, delivered).value_or(0) >= 1)
			break;
		std::this_thread::sleep_for(500ms);
	}
	ASSERT_EQ(scrape.status, 200);
	EXPECT_EQ(scrape.content_type, "text/plain; version=0.0.4; charset=utf-8");
	EXPECT_GT(metric_value(scrape.body, "mxwatch_tracepoint_hits_total").value_or(0), 0) << scrape.body;
	EXPECT_GE(metric_value(scrape.body, R"(mxwatch_detections_total{kind="alert"})").value_or(0), 1) << scrape.body;
	EXPECT_GE(metric_value(scrape.body, "mxwatch_tracked_processes").value_or(0), 1) << scrape.body;
	EXPECT_GE(metric_value(scrape.body, "mxwatch_tracked_threads").value_or(0), 1) << scrape.body;
	EXPECT_GT(metric_value(scrape.body, "process_resident_memory_bytes").value_or(0), 0) << scrape.body;
	EXPECT_GT(metric_value(scrape.body, "process_cpu_seconds_total").value_or(-1), 0) << scrape.body;

	// Prometheus's own linter on the live scrape.
	std::ofstream(tmp.path("scrape.txt")) << scrape.body;
	Child promtool({"/bin/sh", "-c", "exec \"$1\" check metrics < \"$0\"", tmp.path("scrape.txt").string(),
			MXW_PROMTOOL},
		       {.stdout_path = tmp.path("promtool.out"), .stderr_path = tmp.path("promtool.err")});
	EXPECT_EQ(promtool.wait(60s), 0) << read_text(tmp.path("promtool.out")) << read_text(tmp.path("promtool.err"));

	EXPECT_EQ(get("127.0.0.1", port, "/healthz").status, 200);
	EXPECT_EQ(get("127.0.0.1", port, "/nothing").status, 404);

	// Reload: alerts go to a second file from now on; a restart-only key is named.
	std::ofstream(config) << "sink = [\"file:" << second_alerts.string() << "\"]\n"
			      << "metrics-address = \"127.0.0.1:0\"\nsampling-floor-hz = 20\n";
	daemon.signal(SIGHUP);
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "reload: configuration from", 30s)) << read_text(tmp.path("err.log"));
	EXPECT_NE(read_text(tmp.path("err.log")).find("sampling-floor-hz changed; it takes effect after a restart"),
		  std::string::npos);
	EXPECT_TRUE(notify.wait_for("RELOADING=1", 10s)) << all(notify.messages());
	Child second_miner({workload("mxw-randomx"), "--seconds", "30"}, {.stdout_path = "/dev/null"});
	EXPECT_TRUE(wait_for_text(second_alerts, "miner-detected", 90s)) << read_text(tmp.path("err.log"));

	// A broken config is refused as a whole; the daemon goes on.
	std::ofstream(config) << "sink = [\"file:" << first_alerts.string() << "\"]\nsampling-flor-hz = 20\n";
	daemon.signal(SIGHUP);
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "reload failed", 30s)) << read_text(tmp.path("err.log"));
	EXPECT_NE(read_text(tmp.path("err.log")).find("unknown key 'sampling-flor-hz'"), std::string::npos);
	std::optional<double> failures;
	for (int i = 0; i < 20 && failures.value_or(0) < 1; i++) {
		std::this_thread::sleep_for(500ms);
		failures = metric_value(get("127.0.0.1", port, "/metrics").body,
					R"(mxwatch_config_reloads_total{result="failure"})");
	}
	EXPECT_EQ(failures, 1.0);
	const auto after = get("127.0.0.1", port, "/metrics").body;
	EXPECT_EQ(metric_value(after, R"(mxwatch_config_reloads_total{result="success"})"), 1.0) << after;
	EXPECT_EQ(metric_value(after, "mxwatch_config_last_reload_successful"), 0.0) << after;

	miner.signal(SIGKILL);
	second_miner.signal(SIGKILL);
	daemon.signal(SIGTERM);
	EXPECT_EQ(daemon.wait(60s), 0);
	EXPECT_TRUE(notify.wait_for("STOPPING=1", 5s)) << all(notify.messages());
}

// Resident memory of a process in KiB (VmRSS), or -1.
long resident_kib(pid_t pid)
{
	std::ifstream status("/proc/" + std::to_string(pid) + "/status");
	for (std::string line; std::getline(status, line);)
		if (line.rfind("VmRSS:", 0) == 0)
			return std::stol(line.substr(6));
	return -1;
}

TEST(Service, ReloadsGiveBackWhatCompilingTheRulesAgainTook)
{
	// Each SIGHUP compiles the YARA rules again (~11 MiB of short-lived
	// allocations): the daemon's memory must not keep them (it kept +8 MiB).
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	Child daemon({mxwatch_binary(), "--sink", "file:" + tmp.path("alerts.jsonl").string(), "run"},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "watching", 60s)) << read_text(tmp.path("err.log"));
	std::this_thread::sleep_for(1s);
	const long before = resident_kib(daemon.pid());
	long highest = before;
	for (int i = 1; i <= 4; i++) {
		daemon.signal(SIGHUP);
		ASSERT_TRUE(wait_until([&] {
			const std::string log = read_text(tmp.path("err.log"));
			std::size_t n = 0;
			for (auto at = log.find("reload: configuration"); at != std::string::npos;
			     at = log.find("reload: configuration", at + 1))
				n++;
			return n >= static_cast<std::size_t>(i);
		}, 30s)) << read_text(tmp.path("err.log"));
		std::this_thread::sleep_for(500ms);
		highest = std::max(highest, resident_kib(daemon.pid()));
	}
	EXPECT_GT(before, 0);
	EXPECT_LE(highest, before + 4 * 1024) << "KiB before " << before << ", highest after a reload " << highest;
	daemon.signal(SIGTERM);
	EXPECT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
}

TEST(Service, MetricsAddressInUseIsAOneLineSetupError)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	const int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
	ASSERT_EQ(listen(holder, 1), 0);
	socklen_t len = sizeof(addr);
	getsockname(holder, reinterpret_cast<sockaddr *>(&addr), &len);
	const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
	Child daemon({mxwatch_binary(), "run", "--metrics-address", taken},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log")});
	EXPECT_EQ(daemon.wait(60s), 2);
	EXPECT_NE(read_text(tmp.path("err.log")).find("mxwatch: --metrics-address " + taken + ": cannot listen there"),
		  std::string::npos)
		<< read_text(tmp.path("err.log"));
	close(holder);
}

} // namespace
} // namespace mxwatch::test
