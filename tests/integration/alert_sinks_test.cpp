// SPDX-License-Identifier: GPL-2.0-only
// The alert sinks against real peers, driven by mxw-alert-emitter (the output
// of `mxwatch run` without the BPF side): rsyslog over its unix socket, UDP and
// TCP; a private systemd-journald; a file renamed under the writer, then SIGHUP.
#include "../unit/alert_samples.hpp"
#include "../unit/rfc5424_parser.hpp"
#include "peers.hpp"

#include "mxwatch/alerts/journal_fields.hpp"
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/util/utf8.hpp"

#include <csignal>
#include <set>
#include <sstream>
#include <thread>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string emitter()
{
	return MXW_ALERT_EMITTER;
}

// "stats [...]" from the emitter's stderr.
nlohmann::json emitter_stats(const fs::path &stderr_path)
{
	const std::string text = read_text(stderr_path);
	const auto pos = text.rfind("stats ");
	if (pos == std::string::npos)
		return nullptr;
	return nlohmann::json::parse(text.substr(pos + 6, text.find('\n', pos) - pos - 6), nullptr, false);
}

TEST(SyslogPeer, RsyslogParsesEveryTransportAsRfc5424)
{
	MXW_REQUIRE_PEER(RsyslogPeer::unavailable());
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"));
	constexpr int kAlerts = 5;
	Child run({emitter(), "--sink", rsyslog.unix_sink(), "--sink", rsyslog.udp_sink(), "--sink", rsyslog.tcp_sink(),
	           "--count", std::to_string(kAlerts), "--hostile", "--pid-base", "7000"},
	          {.stderr_path = tmp.path("emitter.err")});
	ASSERT_EQ(run.wait(60s), 0) << read_text(tmp.path("emitter.err"));
	for (const auto &sink : emitter_stats(tmp.path("emitter.err")))
		EXPECT_EQ(sink["delivered"], kAlerts) << sink.dump();

	const auto messages = rsyslog.received(3 * kAlerts, 20s);
	ASSERT_EQ(messages.size(), 3u * kAlerts) << rsyslog.log();
	std::map<std::string, std::set<int>> pids_by_input;
	for (const auto &m : messages) {
		SCOPED_TRACE(m.dump());
		// rsyslog's RFC 5424 parser took it (else it falls back to RFC 3164, version 0).
		EXPECT_EQ(m["protocol_version"], "1");
		EXPECT_EQ(m["pri"], std::to_string(3 * 8 + 2));
		EXPECT_EQ(m["app_name"], "mxwatch");
		EXPECT_EQ(m["procid"], std::to_string(run.pid()));
		EXPECT_EQ(m["msgid"], "miner-detected");
		EXPECT_EQ(m["hostname"], "node-1");
		EXPECT_FALSE(m["timestamp"].get<std::string>().empty());

		// The structured data as mmpstrucdata unescaped it, and as our strict parser does.
		const auto sd = nlohmann::json::parse(m["sd"].get<std::string>());
		const auto &params = sd[std::string(kSyslogSdId)];
		EXPECT_EQ(params["process.name"], printable_utf8(kHostile));
		EXPECT_EQ(params["container.id"], kContainerId);
		EXPECT_EQ(params["orchestrator.resource.id"], kPodUid);
		const std::string header = "<26>1 - h a p m " + m["structured_data"].get<std::string>();
		const auto strict = parse_rfc5424(header);
		ASSERT_TRUE(strict.has_value()) << header;
		EXPECT_EQ(*strict->param("process.name"), printable_utf8(kHostile));
		EXPECT_EQ(*strict->param("process.executable"), params["process.executable"]);

		// MSG is the ECS document, whole.
		const auto document = nlohmann::json::parse(m["msg"].get<std::string>());
		EXPECT_EQ(document["process"]["name"], valid_utf8(kHostile));
		EXPECT_EQ(document["process"]["args"][0], valid_utf8(kHostile));
		pids_by_input[m["input"]].insert(document["process"]["pid"].get<int>());
	}
	const std::set<int> all = {7000, 7001, 7002, 7003, 7004};
	EXPECT_EQ(pids_by_input["imuxsock"], all);
	EXPECT_EQ(pids_by_input["imudp"], all);
	EXPECT_EQ(pids_by_input["imtcp"], all);
}

TEST(SyslogPeer, AnAbsentPeerCostsAlertsNotTheOtherSinks)
{
	TempDir tmp;
	Child run({emitter(), "--sink", "syslog:unix:" + tmp.path("nobody.sock").string(), "--sink",
	           "file:" + tmp.path("alerts.jsonl").string(), "--count", "20"},
	          {.stderr_path = tmp.path("emitter.err")});
	ASSERT_EQ(run.wait(60s), 0) << read_text(tmp.path("emitter.err"));
	const auto stats = emitter_stats(tmp.path("emitter.err"));
	ASSERT_EQ(stats.size(), 2u) << read_text(tmp.path("emitter.err"));
	EXPECT_EQ(stats[0]["failed"].get<int>() + stats[0]["dropped"].get<int>(), 20);
	EXPECT_EQ(stats[1]["delivered"], 20);
	std::istringstream lines(read_text(tmp.path("alerts.jsonl")));
	int count = 0;
	for (std::string line; std::getline(lines, line); count++)
		EXPECT_TRUE(nlohmann::json::accept(line)) << line;
	EXPECT_EQ(count, 20);
}

TEST(FileSink, RenameAndSighupLoseNothing)
{
	TempDir tmp;
	const fs::path path = tmp.path("alerts.jsonl");
	constexpr int kAlerts = 3000;
	Child run({emitter(), "--sink", "file:" + path.string(), "--count", std::to_string(kAlerts), "--interval-us",
	           "500", "--pid-base", "0"},
	          {.stderr_path = tmp.path("emitter.err")});
	ASSERT_TRUE(wait_for_text(path, "\"alert\"", 10s));
	// What logrotate does (without copytruncate): rename, then tell the writer.
	constexpr int kRotations = 5;
	for (int i = 1; i <= kRotations; i++) {
		std::this_thread::sleep_for(150ms);
		fs::rename(path, tmp.path("alerts.jsonl." + std::to_string(i)));
		run.signal(SIGHUP);
	}
	ASSERT_EQ(run.wait(60s), 0) << read_text(tmp.path("emitter.err"));
	const auto stats = emitter_stats(tmp.path("emitter.err"));
	ASSERT_EQ(stats.size(), 1u) << read_text(tmp.path("emitter.err"));
	EXPECT_EQ(stats[0]["delivered"], kAlerts);
	EXPECT_EQ(stats[0]["dropped"], 0);

	std::multiset<int> pids;
	for (int i = 0; i <= kRotations; i++) {
		const fs::path file = i == 0 ? path : tmp.path("alerts.jsonl." + std::to_string(i));
		std::istringstream lines(read_text(file));
		int in_file = 0;
		for (std::string line; std::getline(lines, line); in_file++)
			pids.insert(nlohmann::json::parse(line)["process"]["pid"].get<int>());
		// Every file got alerts: each SIGHUP really moved the writer to a new file.
		EXPECT_GT(in_file, 0) << file;
	}
	ASSERT_EQ(pids.size(), static_cast<std::size_t>(kAlerts));
	for (int pid = 0; pid < kAlerts; pid++)
		ASSERT_EQ(pids.count(pid), 1u) << "alert " << pid;
}

TEST(JournaldPeer, NativeFieldsReadBackThroughSdJournal)
{
	MXW_REQUIRE_PEER(PrivateJournal::unavailable());
	TempDir tmp;
	PrivateJournal journal(tmp.path("journal"));
	Child run(journal.inside({emitter(), "--sink", "journald", "--count", "3", "--hostile", "--pid-base", "8000"}),
	          {.stderr_path = tmp.path("emitter.err")});
	ASSERT_EQ(run.wait(60s), 0) << read_text(tmp.path("emitter.err"));
	ASSERT_EQ(emitter_stats(tmp.path("emitter.err"))[0]["delivered"], 3) << read_text(tmp.path("emitter.err"));

	const auto entries = journal.stop_and_read("MESSAGE_ID=" + std::string(kJournalMessageId));
	ASSERT_EQ(entries.size(), 3u) << journal.log();
	std::set<std::string> pids;
	for (const auto &e : entries) {
		auto field = [&](const std::string &name) {
			auto it = e.find(name);
			return it == e.end() ? std::string("<missing>") : it->second;
		};
		EXPECT_EQ(field("_TRANSPORT"), "journal"); // the native protocol, not stdout or syslog
		EXPECT_EQ(field("PRIORITY"), "2");
		EXPECT_EQ(field("SYSLOG_IDENTIFIER"), "mxwatch");
		// Byte for byte, newlines and NUL included: nothing escaped, nothing lost.
		EXPECT_EQ(field("MXWATCH_PROCESS_NAME"), valid_utf8(kHostile));
		EXPECT_EQ(field("MXWATCH_USER_NAME"), valid_utf8(kHostile));
		EXPECT_EQ(field("MXWATCH_CONTAINER_ID"), kContainerId);
		EXPECT_EQ(field("MXWATCH_ORCHESTRATOR_RESOURCE_ID"), kPodUid);
		const std::string message = field("MESSAGE");
		EXPECT_NE(message.find("RandomX miner detected"), std::string::npos) << message;
		for (unsigned char c : message)
			EXPECT_TRUE(c >= 0x20 && c != 0x7F) << "control character in MESSAGE";
		const auto document = nlohmann::json::parse(field("MXWATCH_DOCUMENT"));
		EXPECT_EQ(document["process"]["name"], valid_utf8(kHostile));
		EXPECT_EQ(std::to_string(document["process"]["pid"].get<int>()), field("MXWATCH_PROCESS_PID"));
		EXPECT_EQ(document["event"]["id"], field("MXWATCH_EVENT_ID"));
		pids.insert(field("MXWATCH_PROCESS_PID"));
	}
	EXPECT_EQ(pids, (std::set<std::string>{"8000", "8001", "8002"}));
}

} // namespace
} // namespace mxwatch::test
