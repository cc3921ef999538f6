// SPDX-License-Identifier: GPL-2.0-only
// The http and alertmanager sinks against real HTTP(S) servers on loopback, in
// the test's process (http_receiver.hpp): what they send (bodies, content types,
// credentials, Alertmanager's labels and times), TLS verified against a test CA
// and refused with another, and how each answer is treated behind the sink
// queue: 5xx retried until every alert is delivered once, 4xx dropped and
// logged, a receiver that never answers costs bounded attempts and never the
// caller. (Real Alertmanager and Prometheus: tests/integration/fleet_test.cpp.)
#include "alert_samples.hpp"
#include "captured_log.hpp"
#include "http_receiver.hpp"

#include "mxwatch/alerts/alertmanager_message.hpp"
#include "mxwatch/sinks/alert_output.hpp"
#include "mxwatch/sinks/http_post.hpp"
#include "mxwatch/sinks/sink_queue.hpp"
#include "mxwatch/util/errors.hpp"

#include <gtest/gtest.h>
#include <sstream>

namespace mxwatch
{
namespace
{

using namespace std::chrono_literals;
using namespace test;

const auto kT0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

// Alert n (pid 5000 + n) at its stage; ongoing and resolved come 300 s after the first.
RenderedAlert rendered(int n, AlertStage stage = AlertStage::First)
{
	Detection d = sample_detection("xmrig");
	d.key.tgid = 5000 + n;
	d.stage = stage;
	d.first_alert_ns = d.timestamp_ns;
	auto when = kT0;
	if (stage != AlertStage::First) {
		d.timestamp_ns += 300'000'000'000;
		when += 300s;
	}
	ProcessInfo p = enriched_process();
	p.pid = d.key.tgid;
	return render_alert(make_alert(d, p, sample_host(), 60'000'000'000, when), AlertFormat::Ecs);
}

SinkQueue::Item item(int n)
{
	return std::make_shared<const RenderedAlert>(rendered(n));
}

constexpr BackoffPolicy kFast{.initial = 20ms, .max = 100ms};

HttpSinkOptions options()
{
	HttpSinkOptions o;
	o.timeout = 5s;
	return o;
}

std::vector<std::string> lines_of(const std::string &body)
{
	std::vector<std::string> out;
	std::istringstream in(body);
	for (std::string line; std::getline(in, line);)
		out.push_back(line);
	return out;
}

std::string setup_error(const std::function<void()> &make)
{
	try {
		make();
	} catch (const SetupError &e) {
		return e.what();
	}
	return "(no error)";
}

TEST(HttpUrl, ParsesSchemeHostPortAndPath)
{
	std::string error;
	auto url = parse_http_url("https://siem.example:8443/ingest?index=mxwatch", error);
	ASSERT_TRUE(url) << error;
	EXPECT_TRUE(url->https());
	EXPECT_EQ(url->host, "siem.example");
	EXPECT_EQ(url->port, 8443);
	EXPECT_EQ(url->path, "/ingest?index=mxwatch");
	EXPECT_EQ(url->origin(), "https://siem.example:8443");

	url = parse_http_url("http://[::1]:9093", error);
	ASSERT_TRUE(url) << error;
	EXPECT_EQ(url->host, "::1");
	EXPECT_EQ(url->path, "/");
	EXPECT_EQ(url->origin(), "http://[::1]:9093");

	url = parse_http_url("HTTP://alertmanager", error);
	ASSERT_TRUE(url) << error;
	EXPECT_EQ(url->port, 80);
	EXPECT_EQ(parse_http_url("https://siem", error)->port, 443);
}

TEST(HttpUrl, RefusesMalformedUrlsSayingWhy)
{
	const std::pair<const char *, const char *> cases[] = {
	    {"siem.example/ingest", "expected a URL such as https://HOST[:PORT][/PATH]"},
	    {"ftp://siem.example/", "unknown scheme 'ftp' (expected http or https)"},
	    {"https://user:secret@siem/", "credentials do not belong in the URL"},
	    {"http://siem:0/", "the port must be a number from 1 to 65535"},
	    {"http://siem:99999/", "the port must be a number from 1 to 65535"},
	    {"http://siem:/", "the port must be a number from 1 to 65535"},
	    {"http://:9093/", "no host"},
	    {"http://si em/", "invalid character in the host name"},
	    {"http://[::1/", "missing ']'"},
	    {"http://siem/a b", "must not contain spaces or control characters"},
	    {"http://siem/#top", "fragment"},
	};
	for (const auto &[text, why] : cases) {
		std::string error;
		EXPECT_FALSE(parse_http_url(text, error)) << text;
		EXPECT_NE(error.find(why), std::string::npos) << text << ": " << error;
		EXPECT_EQ(error.find('\n'), std::string::npos) << error;
	}
}

TEST(SinkSpec, HttpAndAlertmanagerTakeAUrl)
{
	auto parsed = parse_sink_spec("http:https://siem.example/ingest");
	ASSERT_TRUE(parsed.spec) << parsed.error;
	EXPECT_EQ(parsed.spec->kind, SinkSpec::Kind::Http);
	EXPECT_EQ(parsed.spec->url, "https://siem.example/ingest");
	parsed = parse_sink_spec("alertmanager:http://alertmanager:9093");
	ASSERT_TRUE(parsed.spec) << parsed.error;
	EXPECT_EQ(parsed.spec->kind, SinkSpec::Kind::Alertmanager);

	EXPECT_EQ(parse_sink_spec("http:").error, "--sink http:: no URL after 'http:'");
	EXPECT_EQ(parse_sink_spec("alertmanager:gopher://am").error,
	          "--sink alertmanager:gopher://am: unknown scheme 'gopher' (expected http or https)");
	EXPECT_NE(parse_sink_spec("webhook:http://x").error.find("http:URL or alertmanager:URL"), std::string::npos);
}

TEST(HttpSink, PostsEachAlertDocumentAsJsonWithTheBearerTokenFromAFile)
{
	ScratchDir dir;
	HttpReceiver receiver;
	HttpSinkOptions o = options();
	o.token_file = dir.write("token", "s3cret-token\n");
	SinkQueue queue(make_http_sink(receiver.url(), o), 64, kFast);
	std::vector<std::string> documents;
	for (int i = 0; i < 5; i++) {
		auto alert = item(i);
		documents.push_back(alert->document);
		ASSERT_TRUE(queue.offer(alert));
	}
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 30s));
	const auto requests = receiver.requests();
	ASSERT_EQ(requests.size(), 5u);
	for (std::size_t i = 0; i < requests.size(); i++) {
		EXPECT_EQ(requests[i].method, "POST");
		EXPECT_EQ(requests[i].path, "/ingest");
		EXPECT_EQ(requests[i].content_type, "application/json");
		EXPECT_EQ(requests[i].authorization, "Bearer s3cret-token");
		EXPECT_EQ(requests[i].body, documents[i]);
		EXPECT_EQ(nlohmann::json::parse(requests[i].body)["process"]["pid"], 5000 + static_cast<int>(i));
	}
	const SinkStats s = queue.stats();
	EXPECT_EQ(s.delivered, 5u);
	EXPECT_EQ(s.retried, 0u);
	EXPECT_EQ(s.name, "http:" + receiver.url());
}

TEST(HttpSink, BasicAuthFromAFile)
{
	ScratchDir dir;
	HttpReceiver receiver;
	HttpSinkOptions o = options();
	o.basic_auth_file = dir.write("basic", "alice:pa:ss\n");
	auto sink = make_http_sink(receiver.url(), o);
	ASSERT_EQ(sink->write(rendered(1)), Delivery::Delivered) << sink->last_error();
	ASSERT_EQ(receiver.count(), 1u);
	EXPECT_EQ(receiver.requests()[0].authorization, "Basic YWxpY2U6cGE6c3M="); // alice:pa:ss
}

TEST(HttpSink, NdjsonBatchesCarryEveryAlertOnceInOrder)
{
	CapturedLog log;
	HttpReceiver receiver;
	receiver.answer({503}); // the first attempt fails: the rest pile up behind it and go as a batch
	HttpSinkOptions o = options();
	o.body = HttpSinkOptions::Body::Ndjson;
	SinkQueue queue(make_http_sink(receiver.url(), o), 64, {.initial = 200ms, .max = 200ms});
	std::vector<std::string> documents;
	for (int i = 0; i < 30; i++) {
		auto alert = item(i);
		documents.push_back(alert->document);
		ASSERT_TRUE(queue.offer(alert));
	}
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 30s));
	std::vector<std::string> delivered;
	std::size_t refused_lines = 0, largest = 0;
	for (const auto &request : receiver.requests()) {
		EXPECT_EQ(request.content_type, "application/x-ndjson");
		ASSERT_TRUE(request.body.ends_with('\n'));
		const auto lines = lines_of(request.body);
		largest = std::max(largest, lines.size());
		if (request.status == 200)
			delivered.insert(delivered.end(), lines.begin(), lines.end());
		else
			refused_lines += lines.size();
	}
	EXPECT_EQ(delivered, documents); // each once, in order
	EXPECT_GT(largest, 1u);
	const SinkStats s = queue.stats();
	EXPECT_EQ(s.delivered, 30u);
	EXPECT_EQ(s.retried, refused_lines); // every alert of the refused batch counts
	EXPECT_EQ(s.failed, 0u);
	EXPECT_EQ(s.late, 30u);
	const auto recovered = log.matching("recovered after");
	ASSERT_EQ(recovered.size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_NE(recovered[0].find("30 alerts delivered late"), std::string::npos) << recovered[0];
}

TEST(HttpSink, FiveHundredsAreRetriedUntilEveryAlertIsDeliveredOnce)
{
	CapturedLog log;
	HttpReceiver receiver;
	receiver.answer({500, 500, 502, 503});
	SinkQueue queue(make_http_sink(receiver.url(), options()), 64, kFast);
	std::vector<std::string> documents;
	for (int i = 0; i < 10; i++) {
		auto alert = item(i);
		documents.push_back(alert->document);
		ASSERT_TRUE(queue.offer(alert));
	}
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 30s));
	std::vector<std::string> delivered;
	for (const auto &request : receiver.requests())
		if (request.status == 200)
			delivered.push_back(request.body);
	EXPECT_EQ(delivered, documents);
	EXPECT_EQ(receiver.count(), 14u);
	const SinkStats s = queue.stats();
	EXPECT_EQ(s.delivered, 10u);
	EXPECT_EQ(s.retried, 4u);
	EXPECT_EQ(s.failed, 0u);
	EXPECT_EQ(s.late, 10u);
	EXPECT_FALSE(s.failing);
	const auto failing = log.matching("is failing (HTTP/1.1 500 Internal Server Error: try later)");
	EXPECT_EQ(failing.size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_EQ(log.matching("recovered after").size(), 1u) << testing::PrintToString(log.lines());
}

TEST(HttpSink, FourHundredsAreDroppedAndLoggedWithTheStatusLineNotRetried)
{
	CapturedLog log;
	HttpReceiver receiver;
	receiver.answer({400, 400, 400});
	SinkQueue queue(make_http_sink(receiver.url(), options()), 64, kFast);
	for (int i = 0; i < 3; i++)
		ASSERT_TRUE(queue.offer(item(i)));
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 30s));
	EXPECT_EQ(receiver.count(), 3u); // each sent once
	const SinkStats s = queue.stats();
	EXPECT_EQ(s.delivered, 0u);
	EXPECT_EQ(s.failed, 3u);
	EXPECT_EQ(s.retried, 0u);
	EXPECT_FALSE(s.failing);
	const auto rejected = log.matching("rejected an alert (HTTP/1.1 400 Bad Request: bad alert)");
	ASSERT_FALSE(rejected.empty()) << testing::PrintToString(log.lines());
	EXPECT_EQ(rejected[0].find("second line"), std::string::npos);
	EXPECT_TRUE(log.matching("is failing").empty());
}

TEST(HttpSink, AReceiverThatNeverAnswersCostsBoundedAttemptsAndNeverStallsThePublisher)
{
	CapturedLog log;
	SilentListener silent;
	HttpSinkOptions o = options();
	o.timeout = 200ms;
	auto output = std::make_unique<QueuedOutput>(
	    sample_host(), OutputSettings{.queue_capacity = 8, .drain_timeout = 200ms, .retry = kFast});
	output->add_sink(make_http_sink(silent.url(), o));
	// Detection publishes as fast as it likes: nothing waits for the receiver.
	for (int i = 0; i < 2000; i++) {
		Detection d = sample_detection("xmrig");
		d.key.tgid = 6000 + i;
		output->publish({d, enriched_process(), kT0, 60'000'000'000});
	}
	// Every attempt ends at the timeout, so attempts follow one another.
	ASSERT_TRUE(eventually([&] { return output->stats()[0].retried >= 3; }, 30s));
	const SinkStats s = output->stats()[0];
	EXPECT_TRUE(s.failing);
	EXPECT_EQ(s.delivered, 0u);
	EXPECT_GT(s.dropped, 0u);
	EXPECT_LE(s.queued, 8u);
	const auto failing = log.matching("is failing (no answer from http://127.0.0.1:");
	ASSERT_EQ(failing.size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_NE(failing[0].find("within 0.2 s"), std::string::npos) << failing[0];
	output->shutdown(); // gives up on what is left after the drain timeout
	EXPECT_GE(output->stats()[0].failed, 1u);
}

TEST(HttpSink, HttpsIsVerifiedAgainstTheCaFile)
{
	ScratchDir dir;
	TestPki pki(dir.path(""));
	HttpReceiver receiver(HttpReceiver::Tls{pki.server_cert.string(), pki.server_key.string()});
	HttpSinkOptions o = options();
	o.ca_file = pki.ca.string();
	auto sink = make_http_sink(receiver.url(), o);
	ASSERT_EQ(sink->write(rendered(1)), Delivery::Delivered) << sink->last_error();
	ASSERT_EQ(receiver.count(), 1u);
	EXPECT_EQ(nlohmann::json::parse(receiver.requests()[0].body)["process"]["pid"], 5001);
}

TEST(HttpSink, HttpsWithAnotherCaOrTheSystemStoreIsRefusedWithAClearError)
{
	ScratchDir dir;
	TestPki pki(dir.path(""));
	HttpReceiver receiver(HttpReceiver::Tls{pki.server_cert.string(), pki.server_key.string()});
	HttpSinkOptions o = options();
	o.ca_file = pki.other_ca.string();
	auto sink = make_http_sink(receiver.url(), o);
	EXPECT_EQ(sink->write(rendered(1)), Delivery::Retry);
	const std::string expected =
	    "TLS: the certificate of https://127.0.0.1:" + std::to_string(receiver.port()) +
	    " was not verified: unable to get local issuer certificate (trusted: " + pki.other_ca.string() + ")";
	EXPECT_EQ(sink->last_error(), expected);

	auto system_store = make_http_sink(receiver.url(), options());
	EXPECT_EQ(system_store->write(rendered(1)), Delivery::Retry);
	EXPECT_NE(system_store->last_error().find("was not verified"), std::string::npos) << system_store->last_error();
	EXPECT_NE(system_store->last_error().find("the system trust store"), std::string::npos);
	EXPECT_EQ(receiver.count(), 0u); // nothing got through
}

TEST(HttpSink, UnusableSecretsAndCaFilesAreOneLineSetupErrors)
{
	ScratchDir dir;
	const std::string url = "https://siem.example/ingest";
	auto with = [&](auto change) {
		HttpSinkOptions o = options();
		change(o);
		return setup_error([&] { make_http_sink(url, o); });
	};
	const std::string missing = dir.path("missing").string();
	EXPECT_EQ(with([&](HttpSinkOptions &o) { o.token_file = missing; }),
	          "--http-token-file " + missing + ": cannot read it: No such file or directory");
	const std::string empty = dir.write("empty", "\n");
	EXPECT_EQ(with([&](HttpSinkOptions &o) { o.token_file = empty; }),
	          "--http-token-file " + empty + ": the file is empty");
	const std::string two_lines = dir.write("two", "a\nb\n");
	EXPECT_EQ(with([&](HttpSinkOptions &o) { o.token_file = two_lines; }),
	          "--http-token-file " + two_lines + ": expected one line without control characters");
	const std::string no_colon = dir.write("basic", "alice\n");
	EXPECT_EQ(with([&](HttpSinkOptions &o) { o.basic_auth_file = no_colon; }),
	          "--http-basic-auth-file " + no_colon + ": expected one line USER:PASSWORD");
	EXPECT_EQ(with([&](HttpSinkOptions &o) {
		          o.token_file = empty;
		          o.basic_auth_file = no_colon;
	          }),
	          "--http-token-file and --http-basic-auth-file: choose one");
	const std::string not_pem = dir.write("ca.pem", "not a certificate\n");
	EXPECT_EQ(with([&](HttpSinkOptions &o) { o.ca_file = not_pem; }),
	          "--http-ca-file " + not_pem + ": no PEM certificate in it");
	EXPECT_EQ(setup_error([&] { make_alertmanager_sink("am:9093", options()); }),
	          "--sink alertmanager:am:9093: expected a URL such as https://HOST[:PORT][/PATH]");
}

TEST(AlertmanagerMessage, LabelsIdentifyTheProcessAcrossStagesAnnotationsExplain)
{
	const RenderedAlert first = rendered(1);
	const RenderedAlert ongoing = rendered(1, AlertStage::Ongoing);
	const RenderedAlert resolved = rendered(1, AlertStage::Resolved);
	const nlohmann::json labels = alertmanager_labels(first);
	EXPECT_EQ(labels, (nlohmann::json{{"alertname", "RandomXMiner"},
	                                  {"severity", "critical"},
	                                  {"host", "node-1"},
	                                  {"pid", "5001"},
	                                  {"process", "xmrig"},
	                                  {"container", kContainerId},
	                                  {"pod", kPodUid}}));
	EXPECT_EQ(alertmanager_labels(ongoing), labels);
	// A Close has no severity of its own: the sink resolves the alert under the labels it fired with.
	nlohmann::json identity = labels;
	identity.erase("severity");
	EXPECT_EQ(alertmanager_labels(resolved), identity);
	const nlohmann::json annotations = alertmanager_annotations(first);
	EXPECT_EQ(annotations["summary"], first.message);
	EXPECT_EQ(annotations["reason"], "all 4 rounding modes");
	EXPECT_EQ(annotations["evidence"],
	          "samples per mode: nearest 10, down 11, up 12, toward zero 13; 30 transitions; "
	          "FTZ/DAZ 100%; score 0.87 (thread evidence, 60 s window)");
	EXPECT_EQ(annotations["executable"], "/usr/bin/xmrig");
	EXPECT_EQ(annotations["event_id"], first.event_id);
	// The first alert's time, whatever the stage.
	EXPECT_EQ(first.started, kT0);
	EXPECT_EQ(ongoing.started, kT0);
	EXPECT_EQ(resolved.started, kT0);
}

TEST(AlertmanagerSink, PostsFiringAlertsReSendsThemAndResolvesThem)
{
	HttpReceiver receiver;
	HttpSinkOptions o = options();
	o.resend = 60s;
	auto sink = make_alertmanager_sink("http://127.0.0.1:" + std::to_string(receiver.port()), o);
	EXPECT_EQ(sink->name(), "alertmanager:http://127.0.0.1:" + std::to_string(receiver.port()) + "/api/v2/alerts");
	EXPECT_FALSE(sink->refresh_due());

	const auto before = std::chrono::system_clock::now();
	ASSERT_EQ(sink->write(rendered(1)), Delivery::Delivered) << sink->last_error();
	ASSERT_EQ(sink->write(rendered(2)), Delivery::Delivered) << sink->last_error();
	ASSERT_TRUE(sink->refresh_due());
	EXPECT_GT(*sink->refresh_due(), std::chrono::steady_clock::now() + 50s);
	ASSERT_EQ(sink->write(rendered(1, AlertStage::Ongoing)), Delivery::Delivered);
	sink->refresh(); // both still firing: one POST with both
	ASSERT_EQ(sink->write(rendered(1, AlertStage::Resolved)), Delivery::Delivered);
	sink->refresh(); // only the second
	ASSERT_EQ(sink->write(rendered(2, AlertStage::Resolved)), Delivery::Delivered);
	EXPECT_FALSE(sink->refresh_due()); // nothing left to keep firing

	const auto requests = receiver.requests();
	ASSERT_EQ(requests.size(), 7u);
	std::vector<nlohmann::json> bodies;
	for (const auto &request : requests) {
		EXPECT_EQ(request.path, "/api/v2/alerts");
		EXPECT_EQ(request.content_type, "application/json");
		bodies.push_back(nlohmann::json::parse(request.body));
		ASSERT_TRUE(bodies.back().is_array());
	}
	const std::vector<std::size_t> sizes = {1, 1, 1, 2, 1, 1, 1};
	for (std::size_t i = 0; i < sizes.size(); i++)
		EXPECT_EQ(bodies[i].size(), sizes[i]) << bodies[i];
	const std::string starts = rfc3339(kT0);
	const std::string not_before = rfc3339(before + 4 * 60s); // firing for 4 resend intervals
	auto firing = [&](const nlohmann::json &alert, int n) {
		EXPECT_EQ(alert["labels"]["pid"], std::to_string(5000 + n));
		EXPECT_EQ(alert["startsAt"], starts);
		EXPECT_GE(alert["endsAt"].get<std::string>(), not_before) << alert;
		EXPECT_TRUE(alert["annotations"].contains("summary"));
	};
	firing(bodies[0][0], 1);
	firing(bodies[1][0], 2);
	firing(bodies[2][0], 1);
	firing(bodies[3][0], 1);
	firing(bodies[3][1], 2);
	// Resolved: endsAt is the resolution's time, the labels those it fired with.
	EXPECT_EQ(bodies[4][0]["labels"], bodies[0][0]["labels"]);
	EXPECT_EQ(bodies[4][0]["startsAt"], starts);
	EXPECT_EQ(bodies[4][0]["endsAt"], rfc3339(kT0 + 300s));
	firing(bodies[5][0], 2);
	EXPECT_EQ(bodies[6][0]["endsAt"], rfc3339(kT0 + 300s));
}

TEST(AlertmanagerSink, ANewSeverityReplacesTheAlertAndTheCloseResolvesTheLastOne)
{
	HttpReceiver receiver;
	auto sink = make_alertmanager_sink("http://127.0.0.1:" + std::to_string(receiver.port()), options());
	RenderedAlert first = rendered(1);
	first.severity = AlertSeverity::Medium;
	ASSERT_EQ(sink->write(first), Delivery::Delivered) << sink->last_error();
	// Corroboration came in: the ongoing alert is critical.
	RenderedAlert ongoing = rendered(1, AlertStage::Ongoing);
	ongoing.severity = AlertSeverity::Critical;
	ASSERT_EQ(sink->write(ongoing), Delivery::Delivered);
	ASSERT_EQ(sink->write(rendered(1, AlertStage::Resolved)), Delivery::Delivered);

	const auto requests = receiver.requests();
	ASSERT_EQ(requests.size(), 3u);
	const auto a = nlohmann::json::parse(requests[0].body);
	const auto b = nlohmann::json::parse(requests[1].body);
	const auto c = nlohmann::json::parse(requests[2].body);
	EXPECT_EQ(a[0]["labels"]["severity"], "warning");
	// The critical one fires; the warning one ends now, not when its endsAt runs out.
	ASSERT_EQ(b.size(), 2u) << b;
	EXPECT_EQ(b[0]["labels"]["severity"], "critical");
	EXPECT_EQ(b[1]["labels"], a[0]["labels"]);
	EXPECT_LE(b[1]["endsAt"].get<std::string>(),
		  std::max(rfc3339(std::chrono::system_clock::now()), b[1]["startsAt"].get<std::string>()));
	// The Close resolves the critical one, under its labels.
	ASSERT_EQ(c.size(), 1u);
	EXPECT_EQ(c[0]["labels"], b[0]["labels"]);
	EXPECT_EQ(c[0]["endsAt"], rfc3339(kT0 + 300s));
}

TEST(AlertmanagerSink, TheQueueReSendsActiveAlertsUntilResolved)
{
	HttpReceiver receiver;
	HttpSinkOptions o = options();
	o.resend = 20ms;
	SinkQueue queue(make_alertmanager_sink(receiver.url("/"), o), 64, kFast);
	ASSERT_TRUE(queue.offer(item(1)));
	ASSERT_TRUE(eventually([&] { return receiver.count() >= 4; }, 30s)); // the alert and re-sends
	ASSERT_TRUE(queue.offer(std::make_shared<const RenderedAlert>(rendered(1, AlertStage::Resolved))));
	ASSERT_TRUE(eventually(
	    [&] {
		    const auto requests = receiver.requests();
		    return nlohmann::json::parse(requests.back().body)[0]["endsAt"] == rfc3339(kT0 + 300s);
	    },
	    30s));
	// The receiver has the close before the queue's thread counts it delivered.
	EXPECT_TRUE(eventually([&] { return queue.stats().delivered >= 2u; }, 30s));
	EXPECT_EQ(queue.stats().delivered, 2u); // re-sends are not alerts
}

TEST(AlertmanagerSink, AnAlertNoOngoingAlertConfirmsStopsBeingReSent)
{
	CapturedLog log;
	HttpReceiver receiver;
	HttpSinkOptions o = options();
	o.stale_after = 0ms;
	auto sink = make_alertmanager_sink(receiver.url("/"), o);
	ASSERT_EQ(sink->write(rendered(1)), Delivery::Delivered);
	std::this_thread::sleep_for(2ms);
	sink->refresh();
	EXPECT_FALSE(sink->refresh_due());
	EXPECT_EQ(receiver.count(), 1u);
	EXPECT_EQ(log.matching("no longer re-sent").size(), 1u) << testing::PrintToString(log.lines());
}

TEST(AlertmanagerSink, ARefusedAlertIsNotReSent)
{
	HttpReceiver receiver;
	receiver.answer({400});
	auto sink = make_alertmanager_sink(receiver.url("/"), options());
	EXPECT_EQ(sink->write(rendered(1)), Delivery::Rejected);
	EXPECT_EQ(sink->last_error(), "HTTP/1.1 400 Bad Request: bad alert");
	EXPECT_FALSE(sink->refresh_due());
}

} // namespace
} // namespace mxwatch
