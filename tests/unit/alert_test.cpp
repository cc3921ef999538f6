// SPDX-License-Identifier: GPL-2.0-only
// The ECS document of DESIGN.md §3.
#include "alert_samples.hpp"

#include <gtest/gtest.h>

namespace mxwatch {
namespace {

using test::enriched_process;
using test::sample_detection;

TEST(EcsAlert, CarriesTheRequiredFields)
{
	const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
	const auto alert = to_ecs(
	    make_alert(sample_detection("xmrig"), enriched_process(), test::sample_host(), 60'000'000'000, when));

	EXPECT_EQ(alert["@timestamp"], "2027-01-15T08:00:00.000Z");
	EXPECT_EQ(alert["event"]["kind"], "alert");
	EXPECT_EQ(alert["event"]["category"], nlohmann::json({"malware", "process"}));
	EXPECT_EQ(alert["event"]["type"], nlohmann::json({"info"}));
	EXPECT_EQ(alert["event"]["action"], "miner-detected");
	EXPECT_EQ(alert["event"]["id"].get<std::string>().size(), 32u);
	EXPECT_EQ(alert["event"]["severity"], 73);
	EXPECT_EQ(alert["rule"]["id"], kRuleId);
	EXPECT_EQ(alert["rule"]["name"], kRuleName);
	EXPECT_EQ(alert["threat"]["technique"]["id"], nlohmann::json({"T1496"}));
	EXPECT_EQ(alert["host"]["name"], "node-1");
	EXPECT_EQ(alert["host"]["id"], "abc");

	const auto &p = alert["process"];
	EXPECT_EQ(p["pid"], 4242);
	EXPECT_EQ(p["entity_id"], "85d222adf0b34e83bb3b0e81535295b3-4242-99");
	EXPECT_EQ(p["name"], "xmrig");
	EXPECT_EQ(p["executable"], "/usr/bin/xmrig");
	EXPECT_EQ(p["command_line"], "xmrig --threads 2");
	EXPECT_EQ(p["args"], nlohmann::json({"xmrig", "--threads", "2"}));
	EXPECT_EQ(p["args_count"], 3);
	EXPECT_EQ(p["start"], "2027-01-15T07:59:00.000Z");
	EXPECT_EQ(p["hash"]["sha256"], test::kSha256);
	EXPECT_EQ(p["parent"]["pid"], 1);
	EXPECT_EQ(p["parent"]["executable"], "/usr/bin/containerd-shim-runc-v2");
	EXPECT_EQ(p["thread"]["id"], nlohmann::json({4242, 4243}));
	EXPECT_EQ(alert["user"]["id"], "1000");
	EXPECT_EQ(alert["user"]["name"], "alice");

	EXPECT_EQ(alert["container"]["id"], test::kContainerId);
	EXPECT_EQ(alert["container"]["runtime"], "containerd");
	EXPECT_EQ(alert["orchestrator"]["type"], "kubernetes");
	EXPECT_EQ(alert["orchestrator"]["resource"]["type"], "pod");
	EXPECT_EQ(alert["orchestrator"]["resource"]["id"], test::kPodUid);

	EXPECT_EQ(alert["mxwatch"]["alert"], "first");
	EXPECT_EQ(alert["mxwatch"]["samples_by_mode"]["toward_zero"], 13);
	EXPECT_EQ(alert["mxwatch"]["samples"], 46);
	EXPECT_DOUBLE_EQ(alert["mxwatch"]["ftz_daz_share"].get<double>(), 1.0);
	EXPECT_DOUBLE_EQ(alert["mxwatch"]["seconds_to_detect"].get<double>(), 2.0);
	EXPECT_DOUBLE_EQ(alert["mxwatch"]["window_s"].get<double>(), 60.0);
	EXPECT_EQ(alert["mxwatch"]["detector_version"], kDetectorVersion);
}

TEST(EcsAlert, UnresolvedFieldsAreLeftOut)
{
	ProcessInfo gone; // the process exited before it could be read
	gone.pid = 4242;
	const auto alert = to_ecs(make_alert(sample_detection("xmrig"), gone, {"node-1", std::nullopt}, 1, {}));
	for (const char *field :
	     {"executable", "command_line", "args", "args_count", "start", "hash", "parent", "entity_id"})
		EXPECT_FALSE(alert["process"].contains(field)) << field;
	EXPECT_FALSE(alert.contains("user"));
	EXPECT_FALSE(alert.contains("container"));
	EXPECT_FALSE(alert.contains("orchestrator"));
	EXPECT_FALSE(alert["host"].contains("id"));

	// A process in a pod but not (yet) in a container: the pod, no container.
	ProcessInfo pod_only = gone;
	pod_only.container = ContainerInfo{std::nullopt, std::nullopt, test::kPodUid};
	const auto in_pod = to_ecs(make_alert(sample_detection("xmrig"), pod_only, {"node-1", std::nullopt}, 1, {}));
	EXPECT_FALSE(in_pod.contains("container"));
	EXPECT_EQ(in_pod["orchestrator"]["resource"]["id"], test::kPodUid);

	// A truncated command line has no trustworthy argument count.
	ProcessInfo truncated = test::enriched_process();
	truncated.args_truncated = true;
	const auto cut = to_ecs(make_alert(sample_detection("xmrig"), truncated, test::sample_host(), 1, {}));
	EXPECT_FALSE(cut["process"].contains("args_count"));
	EXPECT_EQ(cut["mxwatch"]["args_truncated"], true);
}

TEST(EcsAlert, LifecycleStagesAreNamed)
{
	Detection ongoing = sample_detection("xmrig");
	ongoing.stage = AlertStage::Ongoing;
	const auto update = to_ecs(make_alert(ongoing, test::enriched_process(), test::sample_host(), 1, {}));
	EXPECT_EQ(update["event"]["action"], "miner-ongoing");
	EXPECT_EQ(update["mxwatch"]["alert"], "ongoing");

	Detection resolved = sample_detection("xmrig");
	resolved.stage = AlertStage::Resolved;
	const auto end = to_ecs(make_alert(resolved, test::enriched_process(), test::sample_host(), 1, {}));
	EXPECT_EQ(end["event"]["action"], "miner-resolved");
	EXPECT_EQ(end["event"]["type"], nlohmann::json({"end"}));
	EXPECT_LT(end["event"]["severity"].get<int>(), 73);
	// The same process keeps the same entity id through its lifecycle.
	EXPECT_EQ(end["process"]["entity_id"], update["process"]["entity_id"]);
}

TEST(EcsAlert, HostileNamesStillGiveOneValidJsonLine)
{
	const std::string hostile = std::string("x\"m\nr\x01ig\xff\xfe\x80", 11);
	ProcessInfo info;
	info.pid = 4242;
	info.executable = "/tmp/" + hostile;
	info.args = {hostile, "--pool\r\n{\"evil\":1}"};
	Alert hostile_alert = make_alert(sample_detection(hostile), info, {"node-1", "abc"}, 1, {});
	// Evidence whose names whoever wrote the rules or opened the sockets chose.
	hostile_alert.miner = std::vector<MinerMatch>{{hostile, hostile}};
	hostile_alert.footprint = Footprint{300u << 20, 256u << 20, 0, {{4242, 1000}}};
	ProcessSockets sockets;
	sockets.endpoints.push_back({"tcp", "10.0.0.1", 1, "203.0.113.7", 3333, "established"});
	hostile_alert.sockets = sockets;
	const auto alert = to_ecs(hostile_alert);
	EXPECT_EQ(alert["mxwatch"]["severity"], "critical");
	EXPECT_NO_THROW(to_json_line(to_ocsf(hostile_alert)));
	std::string line;
	ASSERT_NO_THROW(line = to_json_line(alert));
	EXPECT_EQ(line.find('\n'), std::string::npos);
	const auto parsed = nlohmann::json::parse(line);
	EXPECT_EQ(parsed["process"]["pid"], 4242);
	// Invalid bytes become U+FFFD; the valid ones survive.
	EXPECT_NE(parsed["process"]["name"].get<std::string>().find("x\"m\nr\x01ig"), std::string::npos);
	EXPECT_NE(parsed["process"]["name"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
	// The sentence for people has no control characters at all.
	const std::string message = parsed["message"];
	for (unsigned char c : message)
		EXPECT_TRUE(c >= 0x20 && c != 0x7F) << "control character " << int(c) << " in " << message;
}

} // namespace
} // namespace mxwatch
