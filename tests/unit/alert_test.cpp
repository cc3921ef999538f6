// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alert.hpp"

#include <gtest/gtest.h>

namespace mxwatch {
namespace {

Detection sample_detection(std::string comm)
{
	Detection d;
	d.key = {4242, 99};
	d.comm = std::move(comm);
	d.timestamp_ns = 12'000'000'000;
	d.first_seen_ns = 10'000'000'000;
	d.window_counts.by_mode = {10, 11, 12, 13};
	d.window_counts.transitions = 30;
	d.window_counts.ftz_daz = 46;
	d.threads = {4242, 4243};
	d.verdict = {.kind = VerdictKind::Miner, .score = 0.87, .reason = "all 4 rounding modes"};
	return d;
}

TEST(EcsAlert, CarriesTheRequiredFields)
{
	ProcessInfo info;
	info.pid = 4242;
	info.executable = "/usr/bin/xmrig";
	info.args = {"xmrig", "--threads", "2"};
	info.uid = 1000;
	info.user_name = "alice";
	info.parent_pid = 1;
	const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
	const auto alert = make_ecs_alert(sample_detection("xmrig"), info, {"node-1", "abc"}, 60'000'000'000, when);

	EXPECT_EQ(alert["@timestamp"], "2027-01-15T08:00:00.000Z");
	EXPECT_EQ(alert["event"]["kind"], "alert");
	EXPECT_EQ(alert["event"]["category"], nlohmann::json({"malware", "process"}));
	EXPECT_EQ(alert["process"]["pid"], 4242);
	EXPECT_EQ(alert["process"]["name"], "xmrig");
	EXPECT_EQ(alert["process"]["executable"], "/usr/bin/xmrig");
	EXPECT_EQ(alert["process"]["command_line"], "xmrig --threads 2");
	EXPECT_EQ(alert["process"]["thread"]["id"], nlohmann::json({4242, 4243}));
	EXPECT_EQ(alert["user"]["name"], "alice");
	EXPECT_EQ(alert["host"]["id"], "abc");
	EXPECT_EQ(alert["mxwatch"]["samples_by_mode"]["toward_zero"], 13);
	EXPECT_EQ(alert["mxwatch"]["samples"], 46);
	EXPECT_DOUBLE_EQ(alert["mxwatch"]["ftz_daz_share"].get<double>(), 1.0);
	EXPECT_DOUBLE_EQ(alert["mxwatch"]["seconds_to_detect"].get<double>(), 2.0);
}

TEST(EcsAlert, UnresolvedFieldsAreLeftOut)
{
	ProcessInfo gone; // the process exited before it could be read
	gone.pid = 4242;
	const auto alert = make_ecs_alert(sample_detection("xmrig"), gone, {"node-1", std::nullopt}, 1, {});
	EXPECT_FALSE(alert["process"].contains("executable"));
	EXPECT_FALSE(alert["process"].contains("command_line"));
	EXPECT_FALSE(alert.contains("user"));
	EXPECT_FALSE(alert["host"].contains("id"));
}

TEST(EcsAlert, HostileNamesStillGiveOneValidJsonLine)
{
	const std::string hostile = std::string("x\"m\nr\x01ig\xff\xfe\x80", 11);
	ProcessInfo info;
	info.pid = 4242;
	info.executable = "/tmp/" + hostile;
	info.args = {hostile, "--pool\r\n{\"evil\":1}"};
	const auto alert = make_ecs_alert(sample_detection(hostile), info, {"node-1", "abc"}, 1, {});
	std::string line;
	ASSERT_NO_THROW(line = to_json_line(alert));
	EXPECT_EQ(line.find('\n'), std::string::npos);
	const auto parsed = nlohmann::json::parse(line);
	EXPECT_EQ(parsed["process"]["pid"], 4242);
	// Invalid bytes become U+FFFD; the valid ones survive.
	EXPECT_NE(parsed["process"]["name"].get<std::string>().find("x\"m\nr\x01ig"), std::string::npos);
	EXPECT_NE(parsed["process"]["name"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
}

} // namespace
} // namespace mxwatch
