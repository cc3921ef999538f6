// SPDX-License-Identifier: GPL-2.0-only
// Issue #13: an alert names where the miner's hash power goes. A real RandomX
// hasher logs in to a stratum-like pool the test runs on loopback; the alert
// lists that connection, read in the miner's own network namespace.
#include "harness.hpp"

#include "mxwatch/enrich/miner_identity.hpp"

#include <algorithm>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mxwatch::test {
namespace {

using namespace std::chrono_literals;

// The established connection to the pool among the alert's sockets, if listed.
std::optional<nlohmann::json> pool_connection(const nlohmann::json &sockets, int port)
{
	for (const auto &s : sockets)
		if (s.value("remote_port", 0) == port && s.value("state", "") == "established" &&
		    s.value("remote_ip", "") == "127.0.0.1" && s.value("transport", "") == "tcp")
			return s;
	return std::nullopt;
}

// A real RandomX hasher (`hasher`, a workload) logged in to mxw-stratum on
// loopback while `mxwatch run` watches: its first ECS alert, printed for the
// record, with the pool's port. Everything started is stopped before it returns.
struct PooledMinerAlert {
	std::optional<nlohmann::json> alert;
	int port = 0;
};

PooledMinerAlert alert_of_pooled_miner(const std::string &hasher)
{
	TempDir tmp;
	PooledMinerAlert result;
	result.port = free_port();
	Child pool({workload("mxw-stratum"), "--port", std::to_string(result.port), "--seconds", "120"},
		   {.stdout_path = tmp.path("pool.out").string()});
	EXPECT_TRUE(wait_for_text(tmp.path("pool.out"), "listening", 10s));
	Child daemon({mxwatch_binary(), "--sink", "file:" + tmp.path("alerts.jsonl").string(), "run"},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log").string()});
	if (!wait_for_text(tmp.path("err.log"), "watching", 30s)) {
		ADD_FAILURE() << read_text(tmp.path("err.log"));
		return result;
	}
	Child miner({workload(hasher), "--pool-port", std::to_string(result.port), "--seconds", "60"},
		    {.stdout_path = "/dev/null"});
	result.alert = wait_for_alert(tmp.path("alerts.jsonl"), miner.pid(), false, 60s);
	if (result.alert)
		std::cout << "[ evidence ] " << result.alert->dump() << "\n";
	else
		ADD_FAILURE() << "no alert: " << read_text(tmp.path("err.log"));
	miner.signal(SIGTERM);
	pool.signal(SIGTERM);
	daemon.signal(SIGTERM);
	EXPECT_EQ(daemon.wait(30s), std::optional<int>(0));
	return result;
}

TEST(Evidence, EcsAlertNamesThePoolTheMinerConnectedTo)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto [alert, port] = alert_of_pooled_miner("mxw-randomx");
	ASSERT_TRUE(alert);
	ASSERT_TRUE(alert->contains("mxwatch") && (*alert)["mxwatch"].contains("sockets")) << alert->dump(2);
	EXPECT_TRUE(pool_connection((*alert)["mxwatch"]["sockets"], port)) << alert->dump(2);
	EXPECT_EQ((*alert)["related"]["ip"], nlohmann::json({"127.0.0.1"}));
	EXPECT_NE((*alert)["message"].get<std::string>().find("connected to tcp 127.0.0.1:" + std::to_string(port)),
		  std::string::npos)
		<< (*alert)["message"];
	// Light-mode RandomX: its 256 MiB cache, the pool, and the stratum login
	// strings the generic YARA rule knows (its thread's CPU share since it
	// started may still be under half a CPU): at least three kinds of
	// corroboration raise the rule's high to critical.
	const auto &footprint = (*alert)["mxwatch"]["footprint"];
	EXPECT_GE(footprint.value("resident_bytes", 0ull), 256ull << 20) << alert->dump(2);
	EXPECT_GE(footprint.value("largest_mapping_bytes", 0ull), 256ull << 20) << alert->dump(2);
	EXPECT_EQ(footprint["threads"].size(), 1u) << alert->dump(2);
	const auto &assessment = (*alert)["mxwatch"]["assessment"];
	for (const char *kind : {"identity", "memory", "network"})
		EXPECT_NE(std::find(assessment["corroborated_by"].begin(), assessment["corroborated_by"].end(), kind),
			  assessment["corroborated_by"].end())
			<< kind << " " << alert->dump(2);
	EXPECT_EQ(assessment["severity"], "critical");
	EXPECT_EQ((*alert)["event"]["severity"], 99);
}

TEST(Evidence, OcsfFindingNamesThePoolInTheMinersOwnNetworkNamespace)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	const int port = free_port();
	Child daemon({mxwatch_binary(), "--format", "ocsf", "--sink", "file:" + tmp.path("alerts.jsonl").string(), "run"},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log").string()});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "watching", 30s)) << read_text(tmp.path("err.log"));
	// A network namespace of its own with only loopback: pool and miner inside,
	// the miner exec'd last so that it keeps this child's pid (the pool ends with
	// it: --exit-with-parent). The host's
	// /proc/net/tcp has no such connection; only the miner's namespace does.
	const std::string script = "ip link set lo up && { " + workload("mxw-stratum") + " --port " +
				   std::to_string(port) + " --seconds 60 --exit-with-parent > " + tmp.path("pool.out").string() +
				   " & } && sleep 1 && exec " + workload("mxw-randomx") + " --pool-port " +
				   std::to_string(port) + " --seconds 60";
	Child miner({"/usr/bin/unshare", "--net", "--", "/bin/sh", "-c", script},
		    {.stdout_path = "/dev/null", .stderr_path = tmp.path("miner.err").string()});
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner.pid(), true, 60s);
	ASSERT_TRUE(alert) << read_text(tmp.path("err.log")) << read_text(tmp.path("miner.err"));
	std::cout << "[ evidence ] " << alert->dump() << "\n";
	const auto &unmapped = (*alert)["unmapped"]["mxwatch"];
	ASSERT_TRUE(unmapped.contains("sockets")) << alert->dump(2);
	EXPECT_TRUE(pool_connection(unmapped["sockets"], port)) << alert->dump(2);
	bool endpoint = false;
	for (const auto &e : (*alert)["evidences"])
		endpoint |= e.contains("dst_endpoint") && e["dst_endpoint"].value("port", 0) == port &&
			    e["dst_endpoint"].value("ip", "") == "127.0.0.1";
	EXPECT_TRUE(endpoint) << alert->dump(2);
	EXPECT_EQ((*alert)["severity_id"], 5) << alert->dump(2); // identity, memory, network: critical
	EXPECT_EQ((*alert)["confidence"], "High");
	EXPECT_GE(unmapped["footprint"].value("resident_bytes", 0ull), 256ull << 20) << alert->dump(2);
	miner.signal(SIGTERM);
	daemon.signal(SIGTERM);
	EXPECT_EQ(daemon.wait(30s), std::optional<int>(0));
}

TEST(Evidence, AlertNamesTheMinerSoftwareFromYara)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto alert = alert_of_pooled_miner("mxw-randomx-xmrig-banner").alert;
	ASSERT_TRUE(alert);
	EXPECT_EQ((*alert)["threat"]["software"]["name"], "XMRig") << alert->dump(2);
	EXPECT_EQ((*alert)["mxwatch"]["yara"], nlohmann::json::parse(R"([{"rule":"mxwatch_xmrig","software":"XMRig"}])"));
	// The strongest evidence first in the message.
	EXPECT_EQ((*alert)["mxwatch"]["assessment"]["corroborated_by"][0], "identity") << alert->dump(2);
	EXPECT_NE((*alert)["message"].get<std::string>().find("(mxw-randomx-xmr): XMRig (YARA), "), std::string::npos)
		<< (*alert)["message"];
	EXPECT_EQ((*alert)["mxwatch"]["assessment"]["confidence"], "high");
}

TEST(Evidence, CheckShowsTheCorroborationOfEachMiner)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	const int port = free_port();
	Child pool({workload("mxw-stratum"), "--port", std::to_string(port), "--seconds", "60"},
		   {.stdout_path = tmp.path("pool.out").string()});
	ASSERT_TRUE(wait_for_text(tmp.path("pool.out"), "listening", 10s));
	// The miner outlives the check: its evidence is read at the end.
	const CheckRun run =
		run_check_with({{workload("mxw-randomx"), "--pool-port", std::to_string(port), "--seconds", "14"}}, 6);
	ASSERT_EQ(run.workload_pids.size(), 1u) << run.stderr_text;
	const nlohmann::json *p = run.process(run.workload_pids[0]);
	ASSERT_NE(p, nullptr) << run.document.dump(2) << run.stderr_text;
	EXPECT_EQ((*p)["verdict"], "miner") << p->dump(2);
	ASSERT_TRUE(p->contains("assessment")) << p->dump(2);
	const auto &kinds = (*p)["assessment"]["corroborated_by"];
	for (const char *kind : {"identity", "memory", "network"})
		EXPECT_NE(std::find(kinds.begin(), kinds.end(), kind), kinds.end()) << kind << " " << p->dump(2);
	EXPECT_EQ((*p)["assessment"]["severity"], "critical") << p->dump(2);
	EXPECT_GE((*p)["footprint"].value("resident_bytes", 0ull), 256ull << 20) << p->dump(2);
	EXPECT_TRUE(pool_connection((*p)["sockets"], port)) << p->dump(2);
	pool.signal(SIGTERM);
}

TEST(Evidence, BenignWorkloadsMatchNoShippedRule)
{
	auto identifier = MinerIdentifier::load({});
	for (const std::string name : {"mxw-fp-work", "mxw-fp-work-ofast", "mxw-interval", "mxw-fenv-cycle", "mxw-noise",
				       "mxw-fixed-mode", "mxw-stratum"}) {
		const int fd = open(workload(name).c_str(), O_RDONLY | O_CLOEXEC);
		ASSERT_GE(fd, 0) << name;
		const auto matches = identifier->scan_fd(fd);
		close(fd);
		ASSERT_TRUE(matches) << name;
		EXPECT_TRUE(matches->empty()) << name << " matches " << matches->front().rule;
	}
	for (const char *system : {"/bin/true", "/usr/bin/python3", "/usr/sbin/rsyslogd"}) {
		const int fd = open(system, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		const auto matches = identifier->scan_fd(fd);
		close(fd);
		EXPECT_TRUE(matches && matches->empty()) << system;
	}
}

TEST(Evidence, MalformedYaraRulesAreAOneLineSetupError)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	{
		std::ofstream rules(tmp.path("bad.yar"));
		rules << "rule broken {\n  condition: and\n}\n";
	}
	Child daemon({mxwatch_binary(), "--yara-rules", tmp.path("bad.yar").string(), "run"},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log").string()});
	EXPECT_EQ(daemon.wait(30s), std::optional<int>(2));
	const std::string log = read_text(tmp.path("err.log"));
	EXPECT_NE(log.find("mxwatch: --yara-rules: " + tmp.path("bad.yar").string() + ":2: "), std::string::npos) << log;
}

} // namespace
} // namespace mxwatch::test
