// SPDX-License-Identifier: GPL-2.0-only
// What the sinks put on the wire, checked by parsing it back: RFC 5424 with a
// strict parser, journald's field rules, and the --sink grammar.
#include "alert_samples.hpp"
#include "rfc5424_parser.hpp"

#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/alerts/journal_fields.hpp"
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/util/utf8.hpp"

#include <gtest/gtest.h>
#include <map>

namespace mxwatch {
namespace {

RenderedAlert rendered(const Detection &detection, const ProcessInfo &process, AlertFormat format = AlertFormat::Ecs)
{
	return render_alert(test::sample_alert(detection, process), format);
}

TEST(SyslogMessage, IsStrictRfc5424WithTheDocumentAsMsg)
{
	const RenderedAlert alert = rendered(test::sample_detection("xmrig"), test::enriched_process());
	const std::string text = rfc5424_message(alert, kSyslogFacilityDaemon, 777);
	std::string why;
	const auto m = test::parse_rfc5424(text, &why);
	ASSERT_TRUE(m.has_value()) << why << "\n" << text;
	EXPECT_EQ(m->pri, 3 * 8 + 2); // daemon.crit
	EXPECT_EQ(m->timestamp, "2027-01-15T08:00:00.000Z");
	EXPECT_EQ(m->hostname, "node-1");
	EXPECT_EQ(m->app_name, "mxwatch");
	EXPECT_EQ(m->procid, "777");
	EXPECT_EQ(m->msgid, "miner-detected");
	ASSERT_EQ(m->sd.size(), 1u);
	EXPECT_EQ(m->sd[0].id, kSyslogSdId);
	ASSERT_NE(m->param("container.id"), nullptr);
	EXPECT_EQ(*m->param("container.id"), test::kContainerId);
	EXPECT_EQ(*m->param("process.pid"), "4242");
	EXPECT_EQ(m->msg, alert.document);
	EXPECT_EQ(nlohmann::json::parse(m->msg)["process"]["pid"], 4242);
}

TEST(SyslogMessage, HostileValuesAreEscapedAndParseBack)
{
	for (AlertFormat format : {AlertFormat::Ecs, AlertFormat::Ocsf}) {
		const RenderedAlert alert =
		    rendered(test::sample_detection(test::kHostile), test::hostile_process(), format);
		const std::string text = rfc5424_message(alert, 4, 1);
		EXPECT_EQ(text.find('\n'), std::string::npos);
		EXPECT_EQ(text.find('\0'), std::string::npos);
		std::string why;
		const auto m = test::parse_rfc5424(text, &why);
		ASSERT_TRUE(m.has_value()) << why << "\n" << text;
		// The value comes back as sent, but for control characters (U+FFFD).
		ASSERT_NE(m->param("process.name"), nullptr);
		EXPECT_EQ(*m->param("process.name"), printable_utf8(test::kHostile));
		EXPECT_NE(m->param("process.name")->find("m\"i]n\\e"), std::string::npos);
		EXPECT_EQ(*m->param("user.name"), printable_utf8(test::kHostile));
		EXPECT_TRUE(nlohmann::json::accept(m->msg)) << m->msg;
	}
}

TEST(SyslogMessage, EscapesPerRfc5424)
{
	EXPECT_EQ(escape_sd_value(R"(a"b\c]d)"), R"(a\"b\\c\]d)");
	EXPECT_EQ(escape_sd_value("tab\there"), "tab\xEF\xBF\xBDhere");
	EXPECT_EQ(escape_sd_value("bad\xFF"), "bad\xEF\xBF\xBD");
	// Cut at a character boundary, never inside one, and before escaping.
	EXPECT_EQ(escape_sd_value("\xC3\xA9\xC3\xA9", 3), "\xC3\xA9");
	EXPECT_EQ(escape_sd_value("]]]]", 2), "\\]\\]");
}

TEST(SyslogMessage, LongAlertsCarryTheirSentenceNotABrokenDocument)
{
	ProcessInfo huge = test::enriched_process();
	huge.args = {std::string(3000, 'a'), std::string(3000, 'b'), std::string(3000, 'c')};
	const RenderedAlert alert = rendered(test::sample_detection("xmrig"), huge);
	ASSERT_GT(alert.document.size(), kSyslogMaxMessageBytes);
	const std::string text = rfc5424_message(alert, kSyslogFacilityDaemon, 1);
	EXPECT_LE(text.size(), kSyslogMaxMessageBytes);
	const auto m = test::parse_rfc5424(text);
	ASSERT_TRUE(m.has_value()) << text;
	EXPECT_EQ(m->msg, alert.message);
	EXPECT_LE(m->param("process.command_line")->size(), kSyslogMaxParamBytes);
}

TEST(SyslogMessage, ResolvedIsANotice)
{
	Detection resolved = test::sample_detection("xmrig");
	resolved.stage = AlertStage::Resolved;
	const auto m = test::parse_rfc5424(rfc5424_message(rendered(resolved, test::enriched_process()), 16, 1));
	ASSERT_TRUE(m.has_value());
	EXPECT_EQ(m->pri, 16 * 8 + 5);
	EXPECT_EQ(m->msgid, "miner-resolved");
}

TEST(SyslogMessage, FacilityNames)
{
	EXPECT_EQ(syslog_facility_from_string("daemon"), 3);
	EXPECT_EQ(syslog_facility_from_string("authpriv"), 10);
	EXPECT_EQ(syslog_facility_from_string("local7"), 23);
	EXPECT_FALSE(syslog_facility_from_string("local8").has_value());
}

TEST(JournalFields, NativeFieldsWithFixedMessageIdAndPriority)
{
	const RenderedAlert alert = rendered(test::sample_detection(test::kHostile), test::hostile_process());
	const auto fields = journal_fields(alert);
	std::map<std::string, std::string> by_name;
	for (const auto &field : fields) {
		const auto eq = field.find('=');
		ASSERT_NE(eq, std::string::npos) << field;
		const std::string name = field.substr(0, eq);
		// journald accepts names of [A-Z0-9_], not starting with '_', at most 64 long.
		ASSERT_FALSE(name.empty());
		EXPECT_NE(name[0], '_') << name;
		EXPECT_LE(name.size(), 64u);
		for (char c : name)
			EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') << name;
		EXPECT_TRUE(by_name.emplace(name, field.substr(eq + 1)).second) << "duplicate " << name;
	}
	EXPECT_EQ(by_name["MESSAGE_ID"], kJournalMessageId);
	EXPECT_EQ(by_name["PRIORITY"], "2");
	EXPECT_EQ(by_name["SYSLOG_IDENTIFIER"], "mxwatch");
	EXPECT_EQ(by_name["MESSAGE"], alert.message);
	EXPECT_EQ(by_name["MXWATCH_DOCUMENT"], alert.document);
	// Newlines and other bytes stay: the native protocol is binary-safe.
	EXPECT_EQ(by_name["MXWATCH_PROCESS_NAME"], valid_utf8(test::kHostile));
	EXPECT_EQ(by_name["MXWATCH_CONTAINER_ID"], test::kContainerId);
	EXPECT_EQ(by_name["MXWATCH_ORCHESTRATOR_RESOURCE_ID"], test::kPodUid);
	EXPECT_EQ(journal_field_name("process.hash.sha256"), "MXWATCH_PROCESS_HASH_SHA256");
	EXPECT_EQ(journal_field_name("a-b c"), "MXWATCH_A_B_C");
	EXPECT_EQ(journal_field_name("mxwatch.score"), "MXWATCH_SCORE");
}

TEST(SinkSpec, Grammar)
{
	struct Case {
		std::string text;
		bool ok;
		SinkSpec::Kind kind = SinkSpec::Kind::Stdout;
		SyslogTransport transport = SyslogTransport::Unix;
		std::string path, host, port;
	};
	using K = SinkSpec::Kind;
	using T = SyslogTransport;
	const std::vector<Case> cases = {
	    {"stdout", true, K::Stdout},
	    {"journald", true, K::Journald},
	    {"file:/var/log/mxwatch/alerts.jsonl", true, K::File, T::Unix, "/var/log/mxwatch/alerts.jsonl"},
	    {"file:", false},
	    {"syslog", true, K::Syslog, T::Unix, "/dev/log"},
	    {"syslog:unix:/run/rsyslog.sock", true, K::Syslog, T::Unix, "/run/rsyslog.sock"},
	    {"syslog:udp:127.0.0.1:5514", true, K::Syslog, T::Udp, "", "127.0.0.1", "5514"},
	    {"syslog:tcp:siem.example:6514", true, K::Syslog, T::Tcp, "", "siem.example", "6514"},
	    {"syslog:udp:loghost", true, K::Syslog, T::Udp, "", "loghost", "514"},
	    {"syslog:tcp:[::1]:514", true, K::Syslog, T::Tcp, "", "::1", "514"},
	    {"syslog:tcp:[::1]", true, K::Syslog, T::Tcp, "", "::1", "514"},
	    {"syslog:tcp:::1:514", false},
	    {"syslog:udp:host:0", false},
	    {"syslog:udp:host:65536", false},
	    {"syslog:udp:host:51x", false},
	    {"syslog:udp::514", false},
	    {"syslog:tcp:[::1", false},
	    {"syslog:sctp:host:1", false},
	    {"relp:127.0.0.1:2514", true, K::Relp, T::Unix, "", "127.0.0.1", "2514"},
	    {"relp:loghost.example:20514", true, K::Relp, T::Unix, "", "loghost.example", "20514"},
	    {"relp:[::1]:2514", true, K::Relp, T::Unix, "", "::1", "2514"},
	    {"relp:loghost", false}, // RELP has no well-known port
	    {"relp:[::1]", false},
	    {"relp:", false},
	    {"relp::2514", false},
	    {"relp:host:0", false},
	    {"relp:::1:2514", false},
	    {"elasticsearch", false},
	    {"", false},
	};
	for (const auto &c : cases) {
		const auto result = parse_sink_spec(c.text);
		EXPECT_EQ(result.spec.has_value(), c.ok) << c.text << ": " << result.error;
		if (!c.ok) {
			EXPECT_NE(result.error.find("--sink"), std::string::npos) << result.error;
			continue;
		}
		if (!result.spec)
			continue;
		EXPECT_EQ(result.spec->kind, c.kind) << c.text;
		EXPECT_EQ(result.spec->path, c.path) << c.text;
		if (c.kind == K::Syslog || c.kind == K::Relp) {
			EXPECT_EQ(result.spec->transport, c.transport) << c.text;
			EXPECT_EQ(result.spec->host, c.host) << c.text;
			EXPECT_EQ(result.spec->port, c.port) << c.text;
		}
	}
}

} // namespace
} // namespace mxwatch
