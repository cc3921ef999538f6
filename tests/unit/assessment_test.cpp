// SPDX-License-Identifier: GPL-2.0-only
// Severity and confidence from the rounding verdict and the corroborating
// evidence (docs/detection.md, "Severity and confidence"), and how every
// format carries them.
#include "alert_samples.hpp"

#include "mxwatch/alerts/alertmanager_message.hpp"
#include "mxwatch/alerts/journal_fields.hpp"
#include "mxwatch/alerts/syslog_message.hpp"

#include <gtest/gtest.h>

namespace mxwatch {
namespace {

using test::enriched_process;
using test::sample_alert;
using test::sample_detection;

constexpr std::uint64_t kMiB = 1u << 20;

// A light-mode RandomX miner: the 256 MiB cache, partly in huge pages, two hashing threads.
Footprint randomx_footprint()
{
	Footprint f;
	f.resident_bytes = 268 * kMiB;
	f.largest_mapping_bytes = 256 * kMiB;
	f.huge_page_bytes = 256 * kMiB;
	f.threads = {{4242, 30}, {4243, 998}, {4244, 991}};
	return f;
}

// Nothing a RandomX VM could run in: a few MiB, every thread idle.
Footprint tiny_idle_footprint()
{
	Footprint f;
	f.resident_bytes = 12 * kMiB;
	f.largest_mapping_bytes = 8 * kMiB;
	f.threads = {{4242, 3}, {4243, 12}};
	return f;
}

ProcessSockets pool_connection()
{
	ProcessSockets s;
	s.endpoints.push_back({"tcp", "10.0.0.5", 41234, "203.0.113.7", 3333, "established"});
	s.endpoints.push_back({"tcp", "0.0.0.0", 8080, "0.0.0.0", 0, "listen"});
	return s;
}

std::vector<MinerMatch> xmrig_match()
{
	return {{"mxwatch_xmrig", "XMRig"}};
}

Alert alert_with(const Detection &d, std::optional<Footprint> footprint, std::optional<ProcessSockets> sockets,
		 std::optional<std::vector<MinerMatch>> miner)
{
	Alert a = sample_alert(d, enriched_process());
	a.footprint = std::move(footprint);
	a.sockets = std::move(sockets);
	a.miner = std::move(miner);
	return a;
}

TEST(Assessment, TheRuleAloneKeepsItsSeverity)
{
	const Alert a = alert_with(sample_detection("xmrig"), std::nullopt, std::nullopt, std::nullopt);
	const Assessment s = a.assessment();
	EXPECT_EQ(s.base, AlertSeverity::High);
	EXPECT_EQ(s.severity, AlertSeverity::High);
	EXPECT_TRUE(s.corroborating.empty());
	EXPECT_FALSE(s.against);
	// score 0.87 x 60
	EXPECT_EQ(s.confidence_score, 52);
	EXPECT_EQ(s.confidence, Confidence::Medium);
}

TEST(Assessment, AnUnmodifiedMinerIsCriticalWithHighConfidence)
{
	Detection d = sample_detection("xmrig");
	d.verdict.score = 1.0;
	const Alert a = alert_with(d, randomx_footprint(), pool_connection(), xmrig_match());
	const Assessment s = a.assessment();
	EXPECT_EQ(s.severity, AlertSeverity::Critical);
	ASSERT_EQ(s.corroborating.size(), 4u);
	EXPECT_EQ(s.corroborating[0], Corroboration::Identity);
	EXPECT_EQ(s.corroborating[1], Corroboration::Cpu);
	EXPECT_EQ(s.corroborating[2], Corroboration::Memory);
	EXPECT_EQ(s.corroborating[3], Corroboration::Network);
	EXPECT_EQ(s.confidence_score, 100);
	EXPECT_EQ(s.confidence, Confidence::High);

	// The strongest evidence first, then the rounding verdict.
	EXPECT_EQ(a.message(), "RandomX miner detected: process 4242 (xmrig): XMRig (YARA), 2 threads at up to 100% CPU, "
			       "268 MiB resident, largest mapping 256 MiB, 256 MiB in huge pages, connected to tcp "
			       "203.0.113.7:3333; all 4 rounding modes");

	const auto ecs = to_ecs(a);
	EXPECT_EQ(ecs["event"]["severity"], 99);
	EXPECT_EQ(ecs["event"]["risk_score"], 99.0);
	EXPECT_EQ(ecs["mxwatch"]["severity"], "critical");
	EXPECT_EQ(ecs["mxwatch"]["assessment"]["base_severity"], "high");
	EXPECT_EQ(ecs["mxwatch"]["assessment"]["corroborated_by"],
		  nlohmann::json({"identity", "cpu", "memory", "network"}));
	EXPECT_EQ(ecs["mxwatch"]["footprint"]["resident_bytes"], 268 * kMiB);
	EXPECT_EQ(ecs["mxwatch"]["footprint"]["huge_page_bytes"], 256 * kMiB);
	EXPECT_EQ(ecs["mxwatch"]["footprint"]["busy_threads"], 2);
	EXPECT_EQ(ecs["mxwatch"]["footprint"]["threads"][0]["tid"], 4243); // busiest first
	const auto ocsf = to_ocsf(a);
	EXPECT_EQ(ocsf["severity_id"], 5);
	EXPECT_EQ(ocsf["severity"], "Critical");
	EXPECT_EQ(ocsf["confidence_id"], 3);
	EXPECT_EQ(ocsf["confidence"], "High");
	EXPECT_EQ(ocsf["confidence_score"], 100);
	EXPECT_EQ(ocsf["unmapped"]["mxwatch"]["assessment"]["severity"], "critical");
	EXPECT_EQ(ocsf["unmapped"]["mxwatch"]["footprint"]["largest_mapping_bytes"], 256 * kMiB);
}

TEST(Assessment, TwoCorroborationsRaiseConfidenceNotSeverity)
{
	Detection d = sample_detection("xmrig");
	d.verdict.score = 1.0;
	const Assessment s = alert_with(d, randomx_footprint(), std::nullopt, std::nullopt).assessment();
	EXPECT_EQ(s.severity, AlertSeverity::High);
	EXPECT_EQ(s.confidence_score, 80);
	EXPECT_EQ(s.confidence, Confidence::High);
}

TEST(Assessment, WhatTheAttackerCanRemoveNeverLowersTheRule)
{
	// No banner, no direct pool connection, throttled to a few percent: the
	// memory stays, so nothing speaks against it; the rule's severity stands.
	Detection d = sample_detection("kworker-u8");
	d.verdict.score = 1.0;
	Footprint throttled = randomx_footprint();
	for (auto &t : throttled.threads)
		t.busy_permille = 20;
	const Assessment s = alert_with(d, throttled, ProcessSockets{}, std::vector<MinerMatch>{}).assessment();
	EXPECT_EQ(s.severity, AlertSeverity::High);
	ASSERT_EQ(s.corroborating.size(), 1u);
	EXPECT_EQ(s.corroborating[0], Corroboration::Memory);
	EXPECT_FALSE(s.against);
}

TEST(Assessment, NoRandomXVmRunsInATinyIdleProcess)
{
	Detection d = sample_detection("fenv-tests");
	d.verdict.score = 1.0;
	const Alert a = alert_with(d, tiny_idle_footprint(), std::nullopt, std::nullopt);
	const Assessment s = a.assessment();
	EXPECT_EQ(s.severity, AlertSeverity::Medium);
	ASSERT_TRUE(s.against);
	EXPECT_EQ(*s.against, "only 12 MiB resident and no thread above 5% of a CPU");
	EXPECT_EQ(s.confidence_score, 30);
	EXPECT_EQ(s.confidence, Confidence::Low);
	EXPECT_NE(a.message().find("; but only 12 MiB resident"), std::string::npos) << a.message();
	// ... unless YARA names a miner: then the severity stays.
	EXPECT_EQ(alert_with(d, tiny_idle_footprint(), std::nullopt, xmrig_match()).assessment().severity,
		  AlertSeverity::High);
	// The lower-severity rule goes down to low, never further.
	d.verdict.rule = DecisionRule::SustainedChurn;
	EXPECT_EQ(alert_with(d, tiny_idle_footprint(), std::nullopt, std::nullopt).assessment().severity,
		  AlertSeverity::Low);
}

TEST(Assessment, SustainedChurnWithThreeCorroborationsIsHigh)
{
	Detection d = sample_detection("fenv-tests");
	d.verdict.rule = DecisionRule::SustainedChurn;
	Footprint small_busy = tiny_idle_footprint();
	small_busy.threads[1].busy_permille = 990;
	const Assessment s = alert_with(d, small_busy, pool_connection(), xmrig_match()).assessment();
	EXPECT_EQ(s.base, AlertSeverity::Medium);
	EXPECT_EQ(s.severity, AlertSeverity::High);
}

TEST(Assessment, ListeningAndUdpSocketsAreNotAPoolConnection)
{
	ProcessSockets s;
	s.endpoints.push_back({"tcp", "0.0.0.0", 8080, "0.0.0.0", 0, "listen"});
	s.endpoints.push_back({"udp", "10.0.0.5", 5353, "10.0.0.1", 53, "established"});
	s.endpoints.push_back({"tcp", "10.0.0.5", 5000, "10.0.0.9", 80, "time_wait"});
	const Assessment a = alert_with(sample_detection("x"), std::nullopt, s, std::nullopt).assessment();
	EXPECT_TRUE(a.corroborating.empty());
}

TEST(Assessment, ResolvedIsInformational)
{
	Detection d = sample_detection("xmrig");
	d.stage = AlertStage::Resolved;
	const Alert a = alert_with(d, randomx_footprint(), pool_connection(), xmrig_match());
	EXPECT_EQ(a.assessment().severity, AlertSeverity::Informational);
	EXPECT_EQ(to_ecs(a)["event"]["severity"], 21);
	EXPECT_FALSE(to_ecs(a)["mxwatch"].contains("assessment"));
	EXPECT_EQ(to_ocsf(a)["severity_id"], 1);
	EXPECT_FALSE(to_ocsf(a).contains("confidence_id"));
}

TEST(Assessment, TransportsCarryTheSeverity)
{
	Detection d = sample_detection("xmrig");
	const auto critical = render_alert(alert_with(d, randomx_footprint(), pool_connection(), xmrig_match()),
					   AlertFormat::Ecs);
	const auto high = render_alert(alert_with(d, std::nullopt, std::nullopt, std::nullopt), AlertFormat::Ecs);
	const auto medium = render_alert(alert_with(d, tiny_idle_footprint(), std::nullopt, std::nullopt),
					 AlertFormat::Ecs);
	d.stage = AlertStage::Resolved;
	const auto resolved = render_alert(alert_with(d, std::nullopt, std::nullopt, std::nullopt), AlertFormat::Ecs);

	// RFC 5424 PRI = facility 3 (daemon) * 8 + severity.
	EXPECT_EQ(rfc5424_message(critical, 3, 1, 8192).rfind("<25>1 ", 0), 0u);
	EXPECT_EQ(rfc5424_message(high, 3, 1, 8192).rfind("<26>1 ", 0), 0u);
	EXPECT_EQ(rfc5424_message(medium, 3, 1, 8192).rfind("<28>1 ", 0), 0u);
	EXPECT_EQ(rfc5424_message(resolved, 3, 1, 8192).rfind("<29>1 ", 0), 0u);

	auto priority = [](const RenderedAlert &r) {
		for (const auto &f : journal_fields(r))
			if (f.rfind("PRIORITY=", 0) == 0)
				return f;
		return std::string();
	};
	EXPECT_EQ(priority(critical), "PRIORITY=1");
	EXPECT_EQ(priority(medium), "PRIORITY=4");

	EXPECT_EQ(alertmanager_labels(critical)["severity"], "critical");
	EXPECT_EQ(alertmanager_labels(high)["severity"], "critical");
	EXPECT_EQ(alertmanager_labels(medium)["severity"], "warning");
}

} // namespace
} // namespace mxwatch
