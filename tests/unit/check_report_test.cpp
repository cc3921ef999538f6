// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/check_report.hpp"

#include <gtest/gtest.h>

namespace mxwatch {
namespace {

CheckResult result_with(VerdictKind kind)
{
	CheckResult result;
	result.duration_s = 10;
	result.attach = "tp_btf";
	result.fpu_layout = "fpstate";
	result.counters.hits = 1000;
	result.counters.sent = 100;
	CheckRow row;
	row.key = {4242, 1};
	row.name = "evil\x1bname";
	row.info.executable = "/tmp/x";
	row.counts.by_mode = {40, 20, 20, 20};
	row.verdict = {.kind = kind, .score = 0.8, .reason = "why"};
	result.rows.push_back(row);
	return result;
}

TEST(CheckReport, TableDrawsOneBarPerModeAndEscapesNames)
{
	const std::string table = render_table(result_with(VerdictKind::Miner), false);
	EXPECT_NE(table.find("4242"), std::string::npos);
	EXPECT_NE(table.find("evil\\x1bname"), std::string::npos);
	EXPECT_EQ(table.find('\x1b'), std::string::npos);
	EXPECT_NE(table.find("############  "), std::string::npos); // 40% of 30 cells
	EXPECT_NE(table.find("toward-zero"), std::string::npos);
	EXPECT_NE(table.find("1 miner found."), std::string::npos);
}

TEST(CheckReport, JsonDocumentCountsMiners)
{
	auto doc = to_json(result_with(VerdictKind::Miner));
	EXPECT_EQ(doc["miners"], 1);
	EXPECT_EQ(doc["processes"][0]["samples_by_mode"], nlohmann::json({40, 20, 20, 20}));
	EXPECT_EQ(doc["sampler"]["fpu_layout"], "fpstate");
	doc = to_json(result_with(VerdictKind::Benign));
	EXPECT_EQ(doc["miners"], 0);
}

TEST(CheckReport, ShowsTheCorroborationStrongestFirstAndAllOfItInJson)
{
	CheckResult result = result_with(VerdictKind::Miner);
	CheckRow &row = result.rows[0];
	row.verdict.rule = DecisionRule::ChurnMxcsrOnly;
	row.verdict.score = 1.0;
	row.corroboration_read = true;
	row.footprint = Footprint{270u << 20, 256u << 20, 0, {{4242, 999}, {4243, 5}}};
	ProcessSockets sockets;
	sockets.endpoints.push_back({"tcp", "10.0.0.5", 40000, "198.51.100.9", 443, "established"});
	row.sockets = sockets;
	row.miner = std::vector<MinerMatch>{{"mxwatch_xmrig", "XMRig\x1b"}};
	const std::string table = render_table(result, false);
	EXPECT_NE(table.find("evidence: XMRig\\x1b (YARA), 1 thread at 100% CPU, 270 MiB resident, largest mapping "
			     "256 MiB, connected to tcp 198.51.100.9:443 (severity critical, confidence high)"),
		  std::string::npos)
		<< table;
	const auto doc = to_json(result);
	const auto &p = doc["processes"][0];
	EXPECT_EQ(p["assessment"]["severity"], "critical");
	EXPECT_EQ(p["assessment"]["corroborated_by"].size(), 4u);
	EXPECT_EQ(p["footprint"]["busy_threads"], 1);
	EXPECT_EQ(p["sockets"][0]["remote_port"], 443);
	EXPECT_EQ(p["yara"][0]["software"], "XMRig\x1b");

	// Not read (a benign row, or the process was gone): no line, no keys.
	result.rows[0].corroboration_read = false;
	EXPECT_EQ(render_table(result, false).find("evidence:"), std::string::npos);
	EXPECT_FALSE(to_json(result)["processes"][0].contains("assessment"));
}

TEST(CheckReport, ShowsTheContainersImageAndPod)
{
	CheckResult result = result_with(VerdictKind::Miner);
	ContainerInfo container{std::string(64, 'c'), "docker", std::nullopt};
	ContainerMetadata m;
	m.name = "web-1";
	m.image_name = "registry.example/team/web";
	m.image_tag = "1.25";
	m.pod_name = "web-5d9";
	m.pod_namespace = "shop\x1b";
	m.orchestrator = "kubernetes";
	container.metadata = m;
	result.rows[0].info.container = container;
	const std::string table = render_table(result, false);
	EXPECT_NE(table.find("container web-1 (cccccccccccc, docker) image registry.example/team/web:1.25 pod shop\\x1b/web-5d9"),
		  std::string::npos)
	    << table;
	const auto doc = to_json(result);
	const auto &c = doc["processes"][0]["container"];
	EXPECT_EQ(c["name"], "web-1");
	EXPECT_EQ(c["image"], "registry.example/team/web");
	EXPECT_EQ(c["image_tag"], "1.25");
	EXPECT_EQ(c["pod"], "web-5d9");
	EXPECT_EQ(c["namespace"], "shop\x1b");
}

} // namespace
} // namespace mxwatch
