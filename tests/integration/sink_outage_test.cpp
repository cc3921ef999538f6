// SPDX-License-Identifier: GPL-2.0-only
// Sinks that ride out outages, against real peers, through the real alert output
// of `mxwatch run` (QueuedOutput, the sinks' queues and their default backoff):
//
//  - a real rsyslogd on loopback TCP stopped for 10 s while alerts are published,
//    then started again on the same port: every alert arrives exactly once, in order;
//  - an rsyslogd that closed the connection cleanly (it was stopped): the next
//    alert is not written into the dead connection, it waits and arrives;
//  - the file sink on a tmpfs of 64 KiB filled up: counted, warned, nothing torn,
//    everything written once space is back;
//  - the relp sink (acknowledged delivery) against a real rsyslogd with imrelp,
//    stopped for 10 s while alerts are published: every alert arrives once, in
//    order; and end to end, `mxwatch run --sink relp:...` while real miners are
//    alerted during the outage, with a SIGHUP (reload) in the middle of it: every
//    alert the daemon wrote to its file sink reaches rsyslog exactly once.
//
// No BPF is loaded, but by the last test.
#include "../unit/alert_samples.hpp"
#include "peers.hpp"

#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/sinks/alert_output.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <set>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sstream>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>

namespace mxwatch::test
{
namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The daemon's log lines during one test.
class CapturedLog
{
public:
	CapturedLog()
	    : ring_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024)), saved_(spdlog::default_logger())
	{
		auto logger = std::make_shared<spdlog::logger>("test", ring_);
		logger->set_pattern("%l %v");
		spdlog::set_default_logger(logger);
	}
	~CapturedLog() { spdlog::set_default_logger(saved_); }
	std::vector<std::string> matching(const std::string &text) const
	{
		std::vector<std::string> out;
		for (const auto &line : ring_->last_formatted())
			if (line.find(text) != std::string::npos)
				out.push_back(line);
		return out;
	}
	std::string all() const
	{
		std::string out;
		for (const auto &line : ring_->last_formatted())
			out += line + "\n";
		return out;
	}

private:
	std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_;
	std::shared_ptr<spdlog::logger> saved_;
};

Alert event_for(std::uint32_t pid)
{
	Detection detection = sample_detection("xmrig");
	detection.key.tgid = pid;
	ProcessInfo process = enriched_process();
	process.pid = pid;
	return {detection, process, std::chrono::system_clock::now(), 60'000'000'000};
}

std::unique_ptr<AlertSink> sink_for(const std::string &spec)
{
	return make_sink(*parse_sink_spec(spec).spec, kSyslogFacilityDaemon);
}

// The documents rsyslog received, in the order it wrote them.
std::vector<nlohmann::json> documents(const std::vector<nlohmann::json> &messages)
{
	std::vector<nlohmann::json> out;
	for (const auto &m : messages)
		out.push_back(nlohmann::json::parse(m["msg"].get<std::string>()));
	return out;
}

// Each alert once (by its event id and its pid), and in the order published.
void expect_each_once_in_order(const std::vector<nlohmann::json> &docs, std::uint32_t count)
{
	std::set<std::string> event_ids;
	std::vector<std::uint32_t> pids;
	for (const auto &d : docs) {
		event_ids.insert(d["event"]["id"].get<std::string>());
		pids.push_back(d["process"]["pid"].get<std::uint32_t>());
	}
	EXPECT_EQ(event_ids.size(), docs.size()) << "an alert arrived twice";
	std::vector<std::uint32_t> expected(count);
	for (std::uint32_t i = 0; i < count; i++)
		expected[i] = i + 1;
	EXPECT_EQ(pids, expected);
}

TEST(SinkOutage, RsyslogDownForTenSecondsGetsEveryAlertOnceWhenItReturns)
{
	MXW_REQUIRE_PEER(RsyslogPeer::unavailable());
	CapturedLog log;
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"));
	auto output = std::make_unique<QueuedOutput>(sample_host()); // the defaults of `mxwatch run`
	output->add_sink(sink_for(rsyslog.tcp_sink()));
	std::uint32_t pid = 0;

	for (int i = 0; i < 5; i++)
		output->publish(event_for(++pid));
	ASSERT_TRUE(output->flush(20s)) << log.all();
	ASSERT_EQ(rsyslog.received(5, 20s).size(), 5u) << rsyslog.log();

	// rsyslogd goes away (it closes the connection cleanly) for 10 s while alerts go on.
	rsyslog.stop();
	const auto down_since = std::chrono::steady_clock::now();
	while (std::chrono::steady_clock::now() - down_since < 10s) {
		output->publish(event_for(++pid));
		std::this_thread::sleep_for(500ms);
	}
	const std::uint32_t during_outage = pid - 5;
	ASSERT_TRUE(wait_until([&] { return output->stats()[0].queued == during_outage; }, 10s));
	SinkStats s = output->stats()[0];
	EXPECT_TRUE(s.failing);
	EXPECT_EQ(s.delivered, 5u); // none of them went into the dead connection
	EXPECT_GE(s.retried, 3u);   // 0.5 s, 1 s, 2 s, 4 s...: a few retries in 10 s, not one per alert
	EXPECT_LE(s.retried, 8u);
	EXPECT_EQ(s.dropped, 0u);
	ASSERT_EQ(log.matching("is failing").size(), 1u) << log.all();
	EXPECT_NE(log.matching("is failing")[0].find("Connection refused"), std::string::npos) << log.all();

	rsyslog.start(); // the same port
	for (int i = 0; i < 5; i++)
		output->publish(event_for(++pid));
	// The next retry is at most 30 s away (the backoff's ceiling).
	ASSERT_TRUE(output->flush(60s)) << log.all();
	const auto docs = documents(rsyslog.received(pid, 30s));
	ASSERT_EQ(docs.size(), pid) << rsyslog.log();
	expect_each_once_in_order(docs, pid);

	s = output->stats()[0];
	EXPECT_FALSE(s.failing);
	EXPECT_EQ(s.delivered, pid);
	EXPECT_EQ(s.failed, 0u);
	EXPECT_EQ(s.queued, 0u);
	EXPECT_GE(s.late, during_outage);
	const auto recovered = log.matching("recovered after");
	ASSERT_EQ(recovered.size(), 1u) << log.all();
	EXPECT_NE(recovered[0].find(std::to_string(s.late) + " alerts delivered late"), std::string::npos)
	    << recovered[0];

	std::printf("rsyslogd down 10 s: %u alerts, %llu retries, %llu delivered late, all once\n", pid,
	            static_cast<unsigned long long>(s.retried), static_cast<unsigned long long>(s.late));
	output.reset();
	std::this_thread::sleep_for(500ms);
	EXPECT_EQ(rsyslog.received(pid + 1, 0ms).size(), pid) << "a duplicate arrived late";
}

TEST(SinkOutage, ARsyslogThatClosedCleanlyCostsNotTheNextAlert)
{
	MXW_REQUIRE_PEER(RsyslogPeer::unavailable());
	CapturedLog log;
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"));
	QueuedOutput output(sample_host());
	output.add_sink(sink_for(rsyslog.tcp_sink()));

	output.publish(event_for(1));
	ASSERT_TRUE(output.flush(20s));
	ASSERT_EQ(rsyslog.received(1, 20s).size(), 1u) << rsyslog.log();

	// Restarted between two alerts: the old connection is closed (FIN). The next
	// alert notices that before writing and goes out on a new connection at once.
	rsyslog.stop();
	rsyslog.start();
	output.publish(event_for(2));
	ASSERT_TRUE(output.flush(20s)) << log.all();
	EXPECT_EQ(output.stats()[0].retried, 0u) << log.all();
	ASSERT_EQ(rsyslog.received(2, 20s).size(), 2u) << rsyslog.log();

	// Stopped, and nobody listens: the alert waits in the queue instead of
	// "succeeding" into the closed connection.
	rsyslog.stop();
	output.publish(event_for(3));
	ASSERT_TRUE(wait_until([&] { return output.stats()[0].failing; }, 20s)) << log.all();
	EXPECT_EQ(output.stats()[0].delivered, 2u);
	EXPECT_EQ(output.stats()[0].queued, 1u);
	rsyslog.start();
	ASSERT_TRUE(output.flush(60s)) << log.all();
	const auto docs = documents(rsyslog.received(3, 20s));
	ASSERT_EQ(docs.size(), 3u) << rsyslog.log();
	expect_each_once_in_order(docs, 3);
}

TEST(SinkOutage, RelpPeerDownForTenSecondsGetsEveryAlertOnceWhenItReturns)
{
	MXW_REQUIRE_PEER(RsyslogPeer::relp_unavailable());
	CapturedLog log;
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"), true);
	auto output = std::make_unique<QueuedOutput>(sample_host()); // the defaults of `mxwatch run`
	output->add_sink(sink_for(rsyslog.relp_sink()));
	EXPECT_EQ(output->stats()[0].name, rsyslog.relp_sink());
	std::uint32_t pid = 0;

	for (int i = 0; i < 5; i++)
		output->publish(event_for(++pid));
	// Delivered means acknowledged: rsyslog has them when the queue is empty.
	ASSERT_TRUE(output->flush(20s)) << log.all();
	ASSERT_EQ(rsyslog.received(5, 20s).size(), 5u) << rsyslog.log();

	rsyslog.stop();
	const auto down_since = std::chrono::steady_clock::now();
	while (std::chrono::steady_clock::now() - down_since < 10s) {
		output->publish(event_for(++pid));
		std::this_thread::sleep_for(500ms);
	}
	const std::uint32_t during_outage = pid - 5;
	ASSERT_TRUE(wait_until([&] { return output->stats()[0].queued == during_outage; }, 10s)) << log.all();
	SinkStats s = output->stats()[0];
	EXPECT_TRUE(s.failing);
	EXPECT_EQ(s.delivered, 5u);
	EXPECT_GE(s.retried, 3u); // backing off, not one attempt per alert
	EXPECT_LE(s.retried, 8u);
	EXPECT_EQ(s.dropped, 0u);
	ASSERT_EQ(log.matching("is failing").size(), 1u) << log.all();
	EXPECT_NE(log.matching("is failing")[0].find("relp:127.0.0.1:"), std::string::npos) << log.all();
	EXPECT_NE(log.matching("is failing")[0].find("Connection refused"), std::string::npos) << log.all();

	rsyslog.start(); // the same port
	for (int i = 0; i < 5; i++)
		output->publish(event_for(++pid));
	ASSERT_TRUE(output->flush(60s)) << log.all();
	// Acknowledged: everything is at rsyslog already, no waiting.
	const auto docs = documents(rsyslog.received(pid, 5s));
	ASSERT_EQ(docs.size(), pid) << rsyslog.log();
	expect_each_once_in_order(docs, pid);
	for (const auto &m : rsyslog.received(pid, 0ms))
		EXPECT_EQ(m["input"], "imrelp");

	s = output->stats()[0];
	EXPECT_FALSE(s.failing);
	EXPECT_EQ(s.delivered, pid);
	EXPECT_EQ(s.failed, 0u);
	EXPECT_EQ(s.queued, 0u);
	EXPECT_GE(s.late, during_outage);
	const auto recovered = log.matching("recovered after");
	ASSERT_EQ(recovered.size(), 1u) << log.all();
	EXPECT_NE(recovered[0].find(std::to_string(s.late) + " alerts delivered late"), std::string::npos)
	    << recovered[0];
	std::printf("relp: rsyslogd down 10 s: %u alerts, %llu retries, %llu delivered late, all once\n", pid,
	            static_cast<unsigned long long>(s.retried), static_cast<unsigned long long>(s.late));
	output.reset();
	std::this_thread::sleep_for(500ms);
	EXPECT_EQ(rsyslog.received(pid + 1, 0ms).size(), pid) << "a duplicate arrived late";
}

// A peer that takes the connection but never answers (stopped with SIGSTOP):
// the alert is not acknowledged, so it is not delivered; it waits, then arrives once.
TEST(SinkOutage, RelpPeerThatNeverAnswersDoesNotCountAsDelivered)
{
	MXW_REQUIRE_PEER(RsyslogPeer::relp_unavailable());
	CapturedLog log;
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"), true);
	const int rsyslogd = std::stoi(read_text(tmp.path("rsyslog") / "rsyslogd.pid"));
	QueuedOutput output(sample_host());
	output.add_sink(sink_for(rsyslog.relp_sink()));
	output.publish(event_for(1));
	ASSERT_TRUE(output.flush(20s)) << log.all();

	ASSERT_EQ(kill(rsyslogd, SIGSTOP), 0);
	output.publish(event_for(2));
	const bool failing = wait_until([&] { return output.stats()[0].failing; }, 30s);
	const SinkStats during = output.stats()[0];
	kill(rsyslogd, SIGCONT);
	ASSERT_TRUE(failing) << log.all();
	EXPECT_EQ(during.delivered, 1u);
	EXPECT_EQ(during.queued, 1u);
	ASSERT_TRUE(output.flush(60s)) << log.all();
	const auto docs = documents(rsyslog.received(2, 20s));
	ASSERT_GE(docs.size(), 2u) << rsyslog.log();
	// The attempt that timed out had reached rsyslog's socket: RELP's at-least-once
	// may deliver it twice (the acknowledgement was lost), never zero times.
	std::set<std::uint32_t> pids;
	for (const auto &d : docs)
		pids.insert(d["process"]["pid"].get<std::uint32_t>());
	EXPECT_EQ(pids, (std::set<std::uint32_t>{1, 2}));
	std::printf("relp: a peer stopped with SIGSTOP: %zu messages at rsyslog for 2 alerts\n", docs.size());
}

// `mxwatch run` with the relp sink and a file sink (the reference): real miners
// start while rsyslogd is down for 10 s, and a SIGHUP reloads the configuration
// in the middle of it; every alert in the file reaches rsyslog once, when it is back.
TEST(SinkOutage, MxwatchRunOverRelpDeliversEveryMinerAlertOnceAcrossAnOutage)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(RsyslogPeer::relp_unavailable());
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"), true);
	const fs::path alerts = tmp.path("alerts.jsonl");
	Child daemon({mxwatch_binary(), "--sink", rsyslog.relp_sink(), "--sink", "file:" + alerts.string(), "run"},
	             {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));

	const std::string randomx = workload("mxw-randomx");
	std::vector<std::unique_ptr<Child>> miners;
	auto start_miner = [&] {
		miners.push_back(std::make_unique<Child>(std::vector<std::string>{randomx, "--seconds", "60"},
		                                         SpawnOptions{.stdout_path = "/dev/null"}));
		return miners.back()->pid();
	};
	const pid_t before = start_miner();
	ASSERT_TRUE(wait_for_alert(alerts, before, false, 60s)) << read_text(tmp.path("err.log"));

	rsyslog.stop();
	const auto down_since = std::chrono::steady_clock::now();
	std::vector<pid_t> during;
	for (int i = 0; i < 2; i++) {
		during.push_back(start_miner());
		ASSERT_TRUE(wait_for_alert(alerts, during.back(), false, 60s)) << read_text(tmp.path("err.log"));
	}
	// The first miner stops: its resolution goes into the queue too.
	miners.front()->signal(SIGKILL);
	miners.front()->wait(10s);
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "is failing", 20s)) << read_text(tmp.path("err.log"));
	// An operator's reload in the middle of the outage (logrotate sends one too):
	// the relp sink is configured again, so its queue is kept, not counted as failed.
	daemon.signal(SIGHUP);
	EXPECT_TRUE(wait_for_text(tmp.path("err.log"), "kept for delivery", 20s)) << read_text(tmp.path("err.log"));
	while (std::chrono::steady_clock::now() - down_since < 10s)
		std::this_thread::sleep_for(100ms);
	rsyslog.start();

	// Everything the file sink got, rsyslog gets, once: the miners' alerts from
	// before, during and after the outage.
	const pid_t after = start_miner();
	ASSERT_TRUE(wait_for_alert(alerts, after, false, 60s)) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "recovered after", 60s)) << read_text(tmp.path("err.log"));
	for (auto &miner : miners) {
		miner->signal(SIGKILL);
		miner->wait(10s);
	}
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));

	std::multiset<std::string> sent, received;
	std::set<std::uint32_t> alerted;
	for (const auto &a : json_lines(alerts)) {
		sent.insert(a["event"]["id"].get<std::string>());
		alerted.insert(a["process"]["pid"].get<std::uint32_t>());
	}
	for (const auto &d : documents(rsyslog.received(sent.size(), 20s)))
		received.insert(d["event"]["id"].get<std::string>());
	EXPECT_EQ(received, sent) << rsyslog.log() << read_text(tmp.path("err.log"));
	EXPECT_EQ(read_text(tmp.path("err.log")).find("not delivered"), std::string::npos) << read_text(tmp.path("err.log"));
	for (const pid_t pid : {before, during[0], during[1], after})
		EXPECT_TRUE(alerted.count(static_cast<std::uint32_t>(pid))) << pid;
	EXPECT_EQ(std::set<std::string>(sent.begin(), sent.end()).size(), sent.size());
	std::printf("mxwatch run over relp, rsyslogd down 10 s: %zu alerts about %zu miners, each received once\n",
	            sent.size(), alerted.size());
}

// A tmpfs of `size`, mounted by the test on a directory of its own, unmounted at the end.
class SmallTmpfs
{
public:
	static std::optional<std::string> unavailable()
	{
		if (geteuid() != 0)
			return "mounting a tmpfs needs root";
		return std::nullopt;
	}
	SmallTmpfs(const fs::path &dir, const std::string &size) : dir_(dir)
	{
		fs::create_directories(dir_);
		if (mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("size=" + size).c_str()) != 0)
			throw std::runtime_error("mount tmpfs on " + dir_.string() + ": " + std::strerror(errno));
	}
	~SmallTmpfs() { umount2(dir_.c_str(), MNT_DETACH); }
	SmallTmpfs(const SmallTmpfs &) = delete;
	SmallTmpfs &operator=(const SmallTmpfs &) = delete;

	// Writes `file` until the file system is full; how many bytes it took.
	std::size_t fill(const fs::path &file) const
	{
		const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			throw std::runtime_error("open " + file.string());
		const std::string chunk(512, 'x');
		std::size_t total = 0;
		for (;;) {
			const ssize_t n = write(fd, chunk.data(), chunk.size());
			if (n <= 0)
				break;
			total += static_cast<std::size_t>(n);
		}
		const int error = errno;
		close(fd);
		if (error != ENOSPC)
			throw std::runtime_error(std::string("filling the tmpfs: ") + std::strerror(error));
		return total;
	}

private:
	fs::path dir_;
};

std::vector<nlohmann::json> lines_of(const fs::path &file)
{
	std::vector<nlohmann::json> out;
	std::istringstream in(read_text(file));
	for (std::string line; std::getline(in, line);) {
		EXPECT_TRUE(nlohmann::json::accept(line)) << "torn line: " << line;
		if (nlohmann::json::accept(line))
			out.push_back(nlohmann::json::parse(line));
	}
	return out;
}

TEST(SinkOutage, FileSinkOnAFullFileSystemWaitsAndResumes)
{
	MXW_REQUIRE_PEER(SmallTmpfs::unavailable());
	CapturedLog log;
	TempDir tmp;
	SmallTmpfs small(tmp.path("small"), "64k");
	const fs::path alerts = tmp.path("small") / "alerts.jsonl";
	auto output = std::make_unique<QueuedOutput>(sample_host());
	output->add_sink(make_file_sink(alerts.string()));

	for (std::uint32_t pid = 1; pid <= 3; pid++)
		output->publish(event_for(pid));
	ASSERT_TRUE(output->flush(20s)) << log.all();
	ASSERT_EQ(lines_of(alerts).size(), 3u);

	const fs::path filler = tmp.path("small") / "filler";
	EXPECT_GT(small.fill(filler), 0u);
	constexpr std::uint32_t kWhileFull = 10;
	for (std::uint32_t pid = 4; pid < 4 + kWhileFull; pid++)
		output->publish(event_for(pid));
	// What still fitted in the last page of the alert file went in; the rest waits.
	ASSERT_TRUE(wait_until(
	    [&] {
		    const SinkStats now = output->stats()[0];
		    return now.failing && now.retried >= 2 && now.delivered + now.queued == 3 + kWhileFull;
	    },
	    20s))
	    << log.all();
	SinkStats s = output->stats()[0];
	const std::uint64_t waiting = s.queued;
	EXPECT_GE(waiting, 1u);
	EXPECT_EQ(s.dropped, 0u);
	ASSERT_EQ(log.matching("is failing").size(), 1u) << log.all();
	EXPECT_NE(log.matching("is failing")[0].find("No space left on device"), std::string::npos) << log.all();
	EXPECT_EQ(lines_of(alerts).size(), s.delivered); // whole lines only: a torn one was taken back

	fs::remove(filler); // space is back
	ASSERT_TRUE(output->flush(60s)) << log.all();
	const auto docs = lines_of(alerts);
	ASSERT_EQ(docs.size(), 3u + kWhileFull);
	for (std::uint32_t i = 0; i < docs.size(); i++)
		EXPECT_EQ(docs[i]["process"]["pid"], i + 1);
	s = output->stats()[0];
	EXPECT_FALSE(s.failing);
	EXPECT_EQ(s.delivered, 3u + kWhileFull);
	EXPECT_EQ(s.late, waiting);
	EXPECT_EQ(s.failed, 0u);
	ASSERT_EQ(log.matching("recovered after").size(), 1u) << log.all();
	EXPECT_NE(log.matching("recovered after")[0].find(
	              fmt::format("{} alert{} delivered late", waiting, waiting == 1 ? "" : "s")),
	          std::string::npos)
	    << log.all();
	std::printf("the full tmpfs took %zu alerts before it was full, kept %zu waiting, %zu retries\n",
	            static_cast<std::size_t>(3 + kWhileFull - waiting - 3), static_cast<std::size_t>(waiting),
	            static_cast<std::size_t>(s.retried));
	output.reset();
}

TEST(SinkOutage, ShutdownCountsAndLogsWhatCouldNotBeDelivered)
{
	CapturedLog log;
	TempDir tmp;
	OutputSettings settings;
	settings.drain_timeout = 1s;
	{
		QueuedOutput output(sample_host(), settings);
		output.add_sink(sink_for("syslog:unix:" + tmp.path("nobody.sock").string()));
		for (std::uint32_t pid = 1; pid <= 7; pid++)
			output.publish(event_for(pid));
		ASSERT_TRUE(wait_until([&] { return output.stats()[0].queued == 7; }, 20s)) << log.all();
	}
	EXPECT_EQ(log.matching("7 alerts not delivered when the drain timeout ended").size(), 1u) << log.all();
	EXPECT_EQ(log.matching("0 delivered (0 late), 7 failed, 0 dropped").size(), 1u) << log.all();
}

} // namespace
} // namespace mxwatch::test
