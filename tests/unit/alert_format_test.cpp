// SPDX-License-Identifier: GPL-2.0-only
// OCSF Detection Finding documents, and the rendered alert every sink receives.
#include "alert_samples.hpp"
#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <gtest/gtest.h>

namespace mxwatch {
namespace {

using test::enriched_process;
using test::sample_alert;
using test::sample_detection;

TEST(OcsfAlert, IsADetectionFindingWithItsRequiredFields)
{
	const auto f = to_ocsf(sample_alert(sample_detection("xmrig"), enriched_process()));
	// Required by the base event, the Finding category and class 2004.
	EXPECT_EQ(f["class_uid"], 2004);
	EXPECT_EQ(f["category_uid"], 2);
	EXPECT_EQ(f["activity_id"], 1);
	EXPECT_EQ(f["activity_name"], "Create");
	EXPECT_EQ(f["type_uid"], 200401);
	EXPECT_EQ(f["severity_id"], 4);
	EXPECT_EQ(f["time"], 1'800'000'000'000ll); // milliseconds since the epoch
	EXPECT_EQ(f["metadata"]["version"], kOcsfVersion);
	EXPECT_EQ(f["metadata"]["product"]["name"], "mxwatch");
	EXPECT_FALSE(f["metadata"]["product"]["version"].get<std::string>().empty());
	EXPECT_EQ(f["metadata"]["profiles"], nlohmann::json({"container"}));
	EXPECT_EQ(f["finding_info"]["uid"], "85d222adf0b34e83bb3b0e81535295b3-4242-99");
	EXPECT_EQ(f["finding_info"]["title"], kRuleName);
	EXPECT_EQ(f["finding_info"]["analytic"]["uid"], kRuleId);
	EXPECT_EQ(f["finding_info"]["attacks"][0]["technique"]["uid"], "T1496");
	EXPECT_EQ(f["finding_info"]["first_seen_time"], 1'800'000'000'000ll - 2000);
	EXPECT_EQ(f["is_alert"], true);
	EXPECT_EQ(f["status_id"], 1);
	// The rounding test's score 0.87 and nothing corroborating: medium (docs/detection.md).
	EXPECT_EQ(f["confidence_id"], 2);
	EXPECT_EQ(f["confidence"], "Medium");
	EXPECT_EQ(f["confidence_score"], 52);
	EXPECT_EQ(f["device"]["hostname"], "node-1");
	EXPECT_EQ(f["device"]["uid"], "abc");
	EXPECT_EQ(f["device"]["type_id"], 0);

	const auto &p = f["evidences"][0]["process"];
	EXPECT_EQ(p["pid"], 4242);
	EXPECT_EQ(p["uid"], "85d222adf0b34e83bb3b0e81535295b3-4242-99");
	EXPECT_EQ(p["name"], "xmrig");
	EXPECT_EQ(p["cmd_line"], "xmrig --threads 2");
	EXPECT_EQ(p["created_time"], (1'800'000'000ll - 60) * 1000);
	EXPECT_EQ(p["file"]["path"], "/usr/bin/xmrig");
	EXPECT_EQ(p["file"]["name"], "xmrig");
	EXPECT_EQ(p["file"]["type_id"], 1);
	EXPECT_EQ(p["file"]["hashes"][0]["algorithm_id"], 3);
	EXPECT_EQ(p["file"]["hashes"][0]["value"], test::kSha256);
	EXPECT_EQ(p["parent_process"]["pid"], 1);
	EXPECT_EQ(p["parent_process"]["file"]["path"], "/usr/bin/containerd-shim-runc-v2");
	EXPECT_EQ(p["user"]["uid"], "1000");
	EXPECT_EQ(p["user"]["name"], "alice");
	EXPECT_EQ(p["container"]["uid"], test::kContainerId);
	EXPECT_EQ(p["container"]["runtime"], "containerd");
	EXPECT_EQ(p["container"]["pod_uuid"], test::kPodUid);
	EXPECT_EQ(p["container"]["orchestrator"], "Kubernetes");

	EXPECT_EQ(f["unmapped"]["mxwatch"]["samples_by_mode"]["up"], 12);
	EXPECT_EQ(f["unmapped"]["mxwatch"]["thread_ids"], nlohmann::json({4242, 4243}));
}

TEST(OcsfAlert, LifecycleIsCreateUpdateCloseOfOneFinding)
{
	Detection update = sample_detection("xmrig");
	update.stage = AlertStage::Ongoing;
	Detection close = sample_detection("xmrig");
	close.stage = AlertStage::Resolved;
	const auto created = to_ocsf(sample_alert(sample_detection("xmrig"), enriched_process()));
	const auto updated = to_ocsf(sample_alert(update, enriched_process()));
	const auto closed = to_ocsf(sample_alert(close, enriched_process()));
	EXPECT_EQ(updated["activity_id"], 2);
	EXPECT_EQ(updated["type_uid"], 200402);
	EXPECT_EQ(closed["activity_id"], 3);
	EXPECT_EQ(closed["type_uid"], 200403);
	EXPECT_EQ(closed["is_alert"], false);
	EXPECT_EQ(closed["status_id"], 4);
	EXPECT_EQ(created["finding_info"]["uid"], closed["finding_info"]["uid"]);
	EXPECT_NE(created["metadata"]["uid"], closed["metadata"]["uid"]); // one event id per event
}

TEST(OcsfAlert, UnresolvedFieldsAreLeftOut)
{
	ProcessInfo gone;
	gone.pid = 4242;
	Alert alert = sample_alert(sample_detection("xmrig"), gone);
	alert.host = {"", std::nullopt, std::nullopt};
	const auto f = to_ocsf(alert);
	const auto &p = f["evidences"][0]["process"];
	for (const char *field : {"uid", "cmd_line", "created_time", "file", "parent_process", "user", "container"})
		EXPECT_FALSE(p.contains(field)) << field;
	EXPECT_FALSE(f.contains("device"));
	EXPECT_FALSE(f["metadata"].contains("profiles"));
	// Without a boot id there is no process identity: the finding is this event.
	EXPECT_EQ(f["finding_info"]["uid"], f["metadata"]["uid"]);
}

TEST(AlertSeverity, TheDecidingRuleAndItsSeverityAreInBothFormats)
{
	const Alert high = sample_alert(sample_detection("xmrig"), enriched_process());
	EXPECT_EQ(to_ecs(high)["event"]["severity"], 73);
	EXPECT_EQ(to_ecs(high)["mxwatch"]["rule"], "churn-mxcsr-only");
	EXPECT_EQ(to_ecs(high)["mxwatch"]["severity"], "high");
	EXPECT_EQ(to_ocsf(high)["severity"], "High");
	EXPECT_EQ(to_ocsf(high)["unmapped"]["mxwatch"]["rule"], "churn-mxcsr-only");

	// Churn set like fesetround(), sustained without a footprint: the lower-severity rule.
	Detection sustained = sample_detection("fenv-tests");
	sustained.verdict.rule = DecisionRule::SustainedChurn;
	const Alert medium = sample_alert(sustained, enriched_process());
	const auto ecs = to_ecs(medium);
	EXPECT_EQ(ecs["event"]["severity"], 47);
	EXPECT_EQ(ecs["mxwatch"]["rule"], "sustained-churn");
	EXPECT_EQ(ecs["mxwatch"]["rule_description"], "sustained churn, no footprint");
	EXPECT_EQ(ecs["mxwatch"]["severity"], "medium");
	const auto ocsf = to_ocsf(medium);
	EXPECT_EQ(ocsf["severity_id"], 3);
	EXPECT_EQ(ocsf["severity"], "Medium");
	EXPECT_EQ(ocsf["unmapped"]["mxwatch"]["severity"], "medium");
	EXPECT_EQ(ocsf["unmapped"]["mxwatch"]["rule_description"], "sustained churn, no footprint");

	// Resolved stays informational whatever the rule.
	sustained.stage = AlertStage::Resolved;
	EXPECT_EQ(to_ecs(sample_alert(sustained, enriched_process()))["event"]["severity"], 21);
	EXPECT_EQ(to_ocsf(sample_alert(sustained, enriched_process()))["severity_id"], 1);
	// No rule (a detection built by hand): no rule fields.
	Detection bare = sample_detection("xmrig");
	bare.verdict.rule = DecisionRule::None;
	EXPECT_FALSE(to_ecs(sample_alert(bare, enriched_process()))["mxwatch"].contains("rule"));
}

class RenderedAlertTest : public ::testing::TestWithParam<AlertFormat> {
};

TEST_P(RenderedAlertTest, HostileNamesGiveOneAsciiJsonLine)
{
	const Alert alert = sample_alert(sample_detection(test::kHostile), test::hostile_process());
	RenderedAlert rendered;
	ASSERT_NO_THROW(rendered = render_alert(alert, GetParam()));
	for (unsigned char c : rendered.document)
		ASSERT_TRUE(c >= 0x20 && c < 0x7F) << "byte " << int(c) << " in the document";
	const auto parsed = nlohmann::json::parse(rendered.document);
	const std::string name =
	    GetParam() == AlertFormat::Ecs ? parsed["process"]["name"] : parsed["evidences"][0]["process"]["name"];
	// What was valid UTF-8 comes back byte for byte, the rest as U+FFFD.
	EXPECT_EQ(name, valid_utf8(test::kHostile));
	EXPECT_NE(name.find("m\"i]n\\e\nr\r\t\x01\x1b[2J\x7f\xc2\x85"), std::string::npos);
	EXPECT_NE(name.find(" \xc3\xa9"), std::string::npos);
	EXPECT_NE(name.find(std::string(1, '\0') + "end"), std::string::npos);
	for (unsigned char c : rendered.message)
		EXPECT_TRUE(c >= 0x20 && c != 0x7F) << "control character " << int(c) << " in the message";
	for (const auto &[field, value] : rendered.fields)
		EXPECT_EQ(valid_utf8(value), value) << field;
}

TEST_P(RenderedAlertTest, KeyFieldsAreTheSameWhateverTheFormat)
{
	const RenderedAlert rendered =
	    render_alert(sample_alert(sample_detection("xmrig"), enriched_process()), GetParam());
	auto field = [&](const std::string &name) -> std::string {
		for (const auto &[key, value] : rendered.fields)
			if (key == name)
				return value;
		return "<missing>";
	};
	EXPECT_EQ(field("process.pid"), "4242");
	EXPECT_EQ(field("process.executable"), "/usr/bin/xmrig");
	EXPECT_EQ(field("process.hash.sha256"), test::kSha256);
	EXPECT_EQ(field("container.id"), test::kContainerId);
	EXPECT_EQ(field("orchestrator.resource.id"), test::kPodUid);
	EXPECT_EQ(field("event.action"), "miner-detected");
	EXPECT_EQ(field("event.id"), rendered.event_id);
	EXPECT_EQ(rendered.document.find(rendered.event_id) != std::string::npos, true);
}

// The key fields and the ECS document come from one table: every key field is
// the document's field of that name, with the same value.
TEST(EcsKeyFields, EachIsTheEcsDocumentsFieldOfThatName)
{
	Alert alert = sample_alert(sample_detection("xmrig"), enriched_process());
	alert.response = ResponseOutcome{ResponseAction::Kill, ResponseResult::Failed, "no such process"};
	const nlohmann::json document = to_ecs(alert);
	const auto fields = ecs_key_fields(alert);
	EXPECT_EQ(fields.size(), 20u) << "every key field is resolved for this alert";
	for (const auto &[name, text] : fields) {
		std::string path = "/" + name;
		std::replace(path.begin(), path.end(), '.', '/');
		const nlohmann::json::json_pointer pointer(path);
		ASSERT_TRUE(document.contains(pointer)) << name;
		const nlohmann::json &value = document.at(pointer);
		if (value.is_string())
			EXPECT_EQ(value.get<std::string>(), text) << name;
		else if (value.is_number_float())
			EXPECT_NEAR(value.get<double>(), std::stod(text), 5e-4) << name;
		else
			EXPECT_EQ(value.dump(), text) << name;
	}
}

INSTANTIATE_TEST_SUITE_P(Formats, RenderedAlertTest, ::testing::Values(AlertFormat::Ecs, AlertFormat::Ocsf),
                         [](const auto &info) { return std::string(to_string(info.param)); });

TEST(AlertSockets, EcsRelatedIpAndOcsfEndpoints)
{
	Alert alert = sample_alert(sample_detection("xmrig"), enriched_process());
	alert.sockets = ProcessSockets{{{"tcp", "10.0.2.15", 54192, "203.0.113.7", 3333, "established", 9},
					{"tcp", "10.0.2.15", 54200, "203.0.113.7", 443, "established", 8},
					{"udp", "0.0.0.0", 68, "0.0.0.0", 0, "unconnected", 7}},
				       2,
				       true};
	const auto ecs = to_ecs(alert);
	EXPECT_EQ(ecs["related"]["ip"], nlohmann::json({"203.0.113.7"}));
	ASSERT_EQ(ecs["mxwatch"]["sockets"].size(), 3u);
	EXPECT_EQ(ecs["mxwatch"]["sockets"][0]["remote_port"], 3333);
	EXPECT_EQ(ecs["mxwatch"]["sockets_omitted"], 2);
	EXPECT_NE(alert.message().find("connected to tcp 203.0.113.7:3333, tcp 203.0.113.7:443"), std::string::npos)
		<< alert.message();
	const auto ocsf = to_ocsf(alert);
	ASSERT_EQ(ocsf["evidences"].size(), 3u); // the process, then each connected socket
	EXPECT_EQ(ocsf["evidences"][1]["dst_endpoint"]["ip"], "203.0.113.7");
	EXPECT_EQ(ocsf["evidences"][1]["dst_endpoint"]["port"], 3333);
	EXPECT_EQ(ocsf["evidences"][1]["connection_info"]["protocol_name"], "tcp");
	EXPECT_EQ(ocsf["unmapped"]["mxwatch"]["sockets"].size(), 3u);

	alert.sockets.reset(); // none read: nothing said
	EXPECT_FALSE(to_ecs(alert).contains("related"));
	EXPECT_EQ(to_ocsf(alert)["evidences"].size(), 1u);
}

TEST(AlertFormatNames, RoundTrip)
{
	EXPECT_EQ(alert_format_from_string("ecs"), AlertFormat::Ecs);
	EXPECT_EQ(alert_format_from_string("ocsf"), AlertFormat::Ocsf);
	EXPECT_FALSE(alert_format_from_string("OCSF").has_value());
}

} // namespace
} // namespace mxwatch
