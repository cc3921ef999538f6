// SPDX-License-Identifier: GPL-2.0-only
// A fleet's monitoring end to end, on loopback, with Debian's own Prometheus and
// Alertmanager (run by the test from /opt/mxwatch-test-tools with private
// configuration and data directories; scripts/install-deps.sh extracts them
// without installing their services):
//
//   mxw-randomx --> mxwatch run --metrics-address ... --sink alertmanager:...
//                      |  /metrics                        |  POST /api/v2/alerts (RandomXMiner)
//                      v                                  v
//                   Prometheus (packaging/prometheus/mxwatch-rules.yml) --> Alertmanager
//                                                                             |  webhook
//                                                                             v
//                                                                  the test's receiver
//
// Both alerts reach the receiver while the miner runs, mxwatch's own is kept
// firing by its re-sends (Alertmanager's endsAt for it moves forward), and both
// resolve after the miner exits. The payloads received are printed.
// Also: bad sink settings are one line and exit status 2, before anything is attached.
#include "../unit/http_receiver.hpp"
#include "harness.hpp"

#include <csignal>
#include <fstream>
#include <iostream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mxwatch::test
{
namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kTools = "/opt/mxwatch-test-tools/bin/";

std::optional<std::string> monitoring_unavailable()
{
	for (const char *tool : {"prometheus", "prometheus-alertmanager"})
		if (access((kTools + tool).c_str(), X_OK) != 0)
			return kTools + tool +
			       " is missing (scripts/install-deps.sh extracts it from Debian's package)";
	if (access("/usr/share/prometheus/alertmanager/default.tmpl", R_OK) != 0)
		return "Alertmanager's templates are missing in /usr/share/prometheus/alertmanager "
		       "(scripts/install-deps.sh)";
	return std::nullopt;
}

bool ready(int port)
{
	httplib::Client client("127.0.0.1", port);
	client.set_connection_timeout(1s);
	client.set_read_timeout(2s);
	const auto result = client.Get("/-/ready");
	return result && result->status == 200;
}

// Every alert in the webhook payloads received so far, with its payload's status.
struct Notified {
	std::string alertname;
	std::string status; // "firing", "resolved"
	nlohmann::json alert;
};
std::vector<Notified> notified(const HttpReceiver &webhook)
{
	std::vector<Notified> out;
	for (const auto &request : webhook.requests()) {
		const auto payload = nlohmann::json::parse(request.body, nullptr, false);
		if (payload.is_discarded() || !payload.contains("alerts"))
			continue;
		for (const auto &alert : payload["alerts"])
			out.push_back({alert["labels"].value("alertname", ""), alert.value("status", ""), alert});
	}
	return out;
}

bool has(const HttpReceiver &webhook, const std::string &alertname, const std::string &status)
{
	for (const auto &n : notified(webhook))
		if (n.alertname == alertname && n.status == status)
			return true;
	return false;
}

std::string payloads(const HttpReceiver &webhook)
{
	std::string text;
	for (const auto &request : webhook.requests()) {
		const auto payload = nlohmann::json::parse(request.body, nullptr, false);
		text += (payload.is_discarded() ? request.body : payload.dump(2)) + "\n";
	}
	return text;
}

TEST(Fleet, MinerAlertsReachAlertmanagerThroughPrometheusRulesAndTheSinkThenResolve)
{
	MXW_REQUIRE_PRIVILEGED();
	if (auto why = monitoring_unavailable()) {
		if (running_in_ci())
			FAIL() << *why;
		GTEST_SKIP() << "skipped: " << *why;
	}
	TempDir tmp;
	HttpReceiver webhook;
	const int am_port = free_port(), prom_port = free_port(), metrics_port = free_port();

	std::ofstream(tmp.path("alertmanager.yml")) << "global:\n"
	                                               "  resolve_timeout: 10s\n"
	                                               "route:\n"
	                                               "  receiver: test\n"
	                                               "  group_by: [alertname, pid, instance]\n"
	                                               "  group_wait: 1s\n"
	                                               "  group_interval: 1s\n"
	                                               "  repeat_interval: 1h\n"
	                                               "receivers:\n"
	                                               "  - name: test\n"
	                                               "    webhook_configs:\n"
	                                               "      - url: http://127.0.0.1:"
	                                            << webhook.port() << "/webhook\n        send_resolved: true\n";
	std::ofstream(tmp.path("prometheus.yml"))
	    << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
	    << "rule_files:\n  - " << MXWATCH_SOURCE_DIR << "/packaging/prometheus/mxwatch-rules.yml\n"
	    << "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:" << am_port
	    << "']\n"
	    << "scrape_configs:\n  - job_name: mxwatch\n    static_configs:\n      - targets: ['127.0.0.1:"
	    << metrics_port << "']\n";
	fs::create_directories(tmp.path("alertmanager-data"));
	fs::create_directories(tmp.path("prometheus-data"));
	Child alertmanager({kTools + "prometheus-alertmanager",
	                    "--config.file=" + tmp.path("alertmanager.yml").string(),
	                    "--storage.path=" + tmp.path("alertmanager-data").string(),
	                    "--web.listen-address=127.0.0.1:" + std::to_string(am_port), "--cluster.listen-address="},
	                   {.stdout_path = tmp.path("alertmanager.out"), .stderr_path = tmp.path("alertmanager.log")});
	Child prometheus({kTools + "prometheus", "--config.file=" + tmp.path("prometheus.yml").string(),
	                  "--storage.tsdb.path=" + tmp.path("prometheus-data").string(),
	                  "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
	                 {.stdout_path = tmp.path("prometheus.out"), .stderr_path = tmp.path("prometheus.log")});
	ASSERT_TRUE(wait_until([&] { return ready(am_port); }, 60s)) << read_text(tmp.path("alertmanager.log"));
	ASSERT_TRUE(wait_until([&] { return ready(prom_port); }, 60s)) << read_text(tmp.path("prometheus.log"));

	// Active alerts re-sent every 2 s.
	Child daemon({mxwatch_binary(), "--sink", "alertmanager:http://127.0.0.1:" + std::to_string(am_port), "--sink",
	              "file:" + tmp.path("alerts.jsonl").string(), "--alertmanager-resend", "2", "--metrics-address",
	              "127.0.0.1:" + std::to_string(metrics_port), "run"},
	             {.stdout_path = tmp.path("mxwatch.out"), .stderr_path = tmp.path("mxwatch.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("mxwatch.log"), "attached", 60s)) << read_text(tmp.path("mxwatch.log"));
	auto logs = [&] {
		return "--- mxwatch\n" + read_text(tmp.path("mxwatch.log")) + "--- prometheus\n" +
		       read_text(tmp.path("prometheus.log")) + "--- alertmanager\n" +
		       read_text(tmp.path("alertmanager.log")) + "--- webhook\n" + payloads(webhook);
	};

	const auto started = std::chrono::steady_clock::now();
	Child miner({workload("mxw-randomx"), "--seconds", "300"}, {.stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner.pid(), false, 90s);
	ASSERT_TRUE(alert) << logs();
	const auto detected = std::chrono::steady_clock::now();

	// Both reach the receiver: mxwatch's own alert and the rule's.
	ASSERT_TRUE(wait_until(
	    [&] { return has(webhook, "RandomXMiner", "firing") && has(webhook, "MxwatchMinerDetected", "firing"); },
	    60s))
	    << logs();
	const auto notified_firing = std::chrono::steady_clock::now();
	for (const auto &n : notified(webhook)) {
		if (n.alertname == "RandomXMiner") {
			EXPECT_EQ(n.alert["labels"]["pid"], std::to_string(miner.pid()));
			EXPECT_EQ(n.alert["labels"]["process"], "mxw-randomx");
			EXPECT_EQ(n.alert["labels"]["severity"], "critical");
			EXPECT_EQ(n.alert["annotations"]["summary"], (*alert)["message"]);
			EXPECT_EQ(n.alert["startsAt"].get<std::string>().substr(0, 19),
			          (*alert)["@timestamp"].get<std::string>().substr(0, 19));
		} else if (n.alertname == "MxwatchMinerDetected") {
			EXPECT_EQ(n.alert["labels"]["instance"], "127.0.0.1:" + std::to_string(metrics_port));
			EXPECT_EQ(n.alert["labels"]["severity"], "critical");
		}
	}

	// mxwatch keeps its alert firing by re-sending it (every 2 s here; the next
	// ongoing alert is 300 s away): Alertmanager's endsAt for it moves forward.
	httplib::Client am("127.0.0.1", am_port);
	auto ends_at = [&]() -> std::string {
		const auto listed = am.Get("/api/v2/alerts?filter=alertname%3D%22RandomXMiner%22&active=true");
		if (!listed || listed->status != 200)
			return {};
		const auto alerts = nlohmann::json::parse(listed->body, nullptr, false);
		if (alerts.is_discarded() || alerts.size() != 1 || alerts[0]["status"]["state"] != "active")
			return {};
		return alerts[0].value("endsAt", "");
	};
	const std::string first_ends = ends_at();
	ASSERT_FALSE(first_ends.empty()) << logs();
	ASSERT_TRUE(wait_until([&] { return ends_at() > first_ends; }, 30s)) << first_ends << "\n" << logs();
	EXPECT_FALSE(has(webhook, "RandomXMiner", "resolved")) << logs();

	// The miner exits: both resolve.
	miner.signal(SIGKILL);
	miner.wait(10s);
	const auto exited = std::chrono::steady_clock::now();
	ASSERT_TRUE(wait_until(
	    [&] {
		    return has(webhook, "RandomXMiner", "resolved") && has(webhook, "MxwatchMinerDetected", "resolved");
	    },
	    60s))
	    << logs();
	const auto resolved = std::chrono::steady_clock::now();

	daemon.signal(SIGTERM);
	EXPECT_EQ(daemon.wait(30s), 0) << logs();
	prometheus.signal(SIGTERM);
	alertmanager.signal(SIGTERM);
	EXPECT_TRUE(prometheus.wait(30s));
	EXPECT_TRUE(alertmanager.wait(30s));

	auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
	std::cout << "fleet: detected " << seconds(detected - started)
	          << " s after the miner started; both alerts at the "
	          << "webhook " << seconds(notified_firing - detected) << " s later; both resolved "
	          << seconds(resolved - exited) << " s after the miner exited\n"
	          << "Alertmanager webhook payloads received:\n"
	          << payloads(webhook);
	if (const char *out = std::getenv("MXW_FLEET_PAYLOADS"))
		std::ofstream(out) << payloads(webhook);
}

std::pair<int, std::string> run_mxwatch(const std::vector<std::string> &args, const TempDir &tmp,
                                        std::optional<uid_t> as = std::nullopt)
{
	std::vector<std::string> argv = {mxwatch_binary()};
	argv.insert(argv.end(), args.begin(), args.end());
	Child child(
	    argv, {.run_as_uid = as, .stdout_path = tmp.path("out").string(), .stderr_path = tmp.path("err").string()});
	const auto status = child.wait(30s);
	return {status.value_or(-1), read_text(tmp.path("err"))};
}

TEST(Fleet, BadSinkSettingsAreOneLineErrorsAndExitStatus2BeforeAttaching)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	const std::string token = tmp.path("token").string();
	std::ofstream(token) << "s3cret\n";
	fs::permissions(token, fs::perms::owner_read | fs::perms::owner_write);
	const struct {
		std::vector<std::string> args;
		std::string error;
		std::optional<uid_t> as;
	} cases[] = {
	    {{"--sink", "http:siem.example/ingest", "run"},
	     "--sink: http:siem.example/ingest: expected a URL such as https://HOST[:PORT][/PATH]"},
	    {{"--sink", "alertmanager:ftp://am:9093", "run"},
	     "--sink: alertmanager:ftp://am:9093: unknown scheme 'ftp' (expected http or https)"},
	    {{"--sink", "webhook:http://x", "run"}, "--sink: webhook:http://x: expected stdout, file:PATH"},
	    {{"--sink", "http:http://127.0.0.1:9/", "--http-token-file", tmp.path("missing").string(), "run"},
	     "mxwatch: --http-token-file " + tmp.path("missing").string() +
	         ": cannot read it: No such file or directory"},
	    // Owned by root, mode 0600, read by nobody.
	    {{"--sink", "http:http://127.0.0.1:9/", "--http-token-file", token, "run"},
	     "mxwatch: --http-token-file " + token + ": cannot read it: Permission denied",
	     65534},
	    {{"--sink", "alertmanager:https://am:9093", "--http-ca-file", "/etc/hostname", "run"},
	     "mxwatch: --http-ca-file /etc/hostname: no PEM certificate in it"},
	};
	for (const auto &c : cases) {
		SCOPED_TRACE(testing::PrintToString(c.args));
		const auto [status, err] = run_mxwatch(c.args, tmp, c.as);
		EXPECT_EQ(status, 2) << err;
		const std::string first = err.substr(0, err.find('\n'));
		EXPECT_TRUE(first.starts_with(c.error)) << err;
		EXPECT_EQ(err.find("attached"), std::string::npos) << "nothing may be attached first: " << err;
		// One line (CLI11 adds its "Run with --help" hint to option errors).
		const auto lines = std::count(err.begin(), err.end(), '\n');
		EXPECT_LE(lines, first.starts_with("--sink") ? 2 : 1) << err;
	}
}

} // namespace
} // namespace mxwatch::test
