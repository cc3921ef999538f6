// SPDX-License-Identifier: GPL-2.0-only
// One pipeline for every command: `mxwatch run --record` while a real RandomX
// hasher and benign rounding users run, then `mxwatch replay` of that recording
// must send the same alerts (stage, process, verdict, scope, per-mode counts),
// and honour the detection, format and sink options as run does.
#include "harness.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What replay must reproduce of an ECS alert event.
nlohmann::json essence(const nlohmann::json &alert)
{
	const auto &m = alert["mxwatch"];
	return {{"action", alert["event"]["action"]},
		{"pid", alert["process"]["pid"]},
		{"executable", alert["process"].value("executable", "")},
		{"threads", alert["process"]["thread"]["id"]},
		{"verdict", m["verdict"]},
		{"scope", m.value("scope", "")},
		{"samples_by_mode", m["samples_by_mode"]},
		{"transitions", m["transitions"]},
		{"score", m["score"]},
		{"reason", m["reason"]}};
}

int run_status(const std::vector<std::string> &argv, const fs::path &err)
{
	Child child(argv, {std::nullopt, std::nullopt, err.string()});
	const auto status = child.wait(120s);
	return status.value_or(-1);
}

TEST(Replay, ReplayOfRunsRecordingSendsTheAlertsRunSent)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir dir;
	const auto live = dir.path("live.jsonl"), recording = dir.path("recording.jsonl"),
		   replayed = dir.path("replayed.jsonl");
	// Short update interval: the comparison covers alert and ongoing events.
	const std::vector<std::string> detection{"--ongoing-interval", "3", "--window", "30"};
	std::vector<std::string> argv{mxwatch_binary()};
	argv.insert(argv.end(), detection.begin(), detection.end());
	for (const std::string &arg : std::vector<std::string>{"--sink", "file:" + live.string(), "run", "--record", recording.string()})
		argv.push_back(arg);
	Child daemon(argv, {std::nullopt, std::nullopt, dir.path("run.err").string()});
	ASSERT_TRUE(wait_for_text(dir.path("run.err"), "watching", 30s)) << read_text(dir.path("run.err"));

	Child miner({workload("mxw-randomx"), "--seconds", "8"});
	Child interval({workload("mxw-interval"), "--seconds", "8"});
	Child fenv({workload("mxw-fenv-cycle"), "--seconds", "8", "--block-us", "1000"});
	ASSERT_TRUE(wait_for_alert(live, miner.pid(), false, 30s)) << read_text(dir.path("run.err"));
	for (Child *c : {&miner, &interval, &fenv})
		ASSERT_EQ(c->wait(60s), 0);
	std::this_thread::sleep_for(2s); // the resolution of the miner, then the last records
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(dir.path("run.err"));

	std::vector<std::string> replay{mxwatch_binary()};
	replay.insert(replay.end(), detection.begin(), detection.end());
	for (const std::string &arg : std::vector<std::string>{"--sink", "file:" + replayed.string(), "replay", recording.string()})
		replay.push_back(arg);
	ASSERT_EQ(run_status(replay, dir.path("replay.err")), 1) << read_text(dir.path("replay.err"));

	// Run also resolves on exit (it sees /proc); replay, like run, alerts and updates.
	auto comparable = [](const std::vector<nlohmann::json> &alerts) {
		std::vector<nlohmann::json> out;
		for (const auto &a : alerts)
			if (a["event"]["action"] != "miner-resolved")
				out.push_back(essence(a));
		return out;
	};
	const auto from_run = comparable(json_lines(live));
	const auto from_replay = comparable(json_lines(replayed));
	ASSERT_FALSE(from_run.empty());
	EXPECT_EQ(from_run, from_replay) << "run:\n"
					 << nlohmann::json(from_run).dump(1) << "\nreplay:\n"
					 << nlohmann::json(from_replay).dump(1);
	// Only the miner: neither benign rounding user was alerted, live or replayed.
	for (const auto &a : from_run)
		EXPECT_EQ(a["pid"], miner.pid());
	EXPECT_EQ(from_run.front()["action"], "miner-detected");
	EXPECT_EQ(from_run.front()["executable"], workload("mxw-randomx")) << "the recording's process lines";

	// The allowlist applies in replay as in run, from the recording's process facts.
	const auto allowed = dir.path("allowed.jsonl");
	EXPECT_EQ(run_status({mxwatch_binary(), "--allow-exe", workload("mxw-randomx"), "--sink",
			      "file:" + allowed.string(), "replay", recording.string()},
			     dir.path("allowed.err")),
		  0)
		<< read_text(dir.path("allowed.err"));
	EXPECT_TRUE(json_lines(allowed).empty());
}

TEST(Replay, ReplayHonoursFormatSinkAndDetectionOptions)
{
	// No BPF: the checked-in recording of the JIT hasher, like any recording from elsewhere.
	TempDir dir;
	const auto fixture = std::string(MXWATCH_SOURCE_DIR) + "/tests/fixtures/randomx-jit.jsonl";
	const auto out = dir.path("ocsf.jsonl");
	ASSERT_EQ(run_status({mxwatch_binary(), "--format", "ocsf", "--sink", "file:" + out.string(), "replay", fixture},
			     dir.path("err")),
		  1)
		<< read_text(dir.path("err"));
	const auto alerts = json_lines(out);
	ASSERT_FALSE(alerts.empty()) << read_text(dir.path("err"));
	EXPECT_EQ(alerts.front()["class_uid"], 2004) << "OCSF Detection Finding";
	EXPECT_EQ(alerts.front()["activity_id"], 1) << "Create: the first alert";

	// A stricter false-alarm rate needs more evidence: the first alert comes later, on more samples.
	auto samples_at_first_alert = [&](const std::vector<std::string> &extra, const std::string &name) {
		std::vector<std::string> argv{mxwatch_binary()};
		argv.insert(argv.end(), extra.begin(), extra.end());
		for (const std::string &arg : std::vector<std::string>{"--sink", "file:" + dir.path(name).string(), "replay", fixture})
			argv.push_back(arg);
		EXPECT_EQ(run_status(argv, dir.path(name + ".err")), 1) << read_text(dir.path(name + ".err"));
		const auto alerts = json_lines(dir.path(name));
		return alerts.empty() ? 0 : alerts.front()["mxwatch"]["samples"].get<std::uint64_t>();
	};
	const auto lenient = samples_at_first_alert({"--false-alarm", "0.01"}, "lenient.jsonl");
	const auto strict = samples_at_first_alert({"--false-alarm", "1e-15"}, "strict.jsonl");
	EXPECT_GT(lenient, 0u);
	EXPECT_GT(strict, lenient);
}

TEST(Replay, RecordToStdoutPipedIntoReplayAlertsWhileItRecords)
{
	// `mxwatch record -o - | mxwatch replay -` follows a live host: replay must
	// alert on the miner while record is still running, not at its end of file.
	MXW_REQUIRE_PRIVILEGED();
	TempDir dir;
	const auto alerts = dir.path("alerts.jsonl"), record_err = dir.path("record.err"),
		   replay_err = dir.path("replay.err");
	const std::string pipeline = mxwatch_binary() + " record -o - --duration 90 2>" + record_err.string() + " | " +
				     mxwatch_binary() + " --sink file:" + alerts.string() + " replay - 2>" +
				     replay_err.string() + "; echo $? >" + dir.path("replay.status").string();
	Child shell({"/bin/sh", "-c", pipeline});
	ASSERT_TRUE(wait_for_text(record_err, "attached", 30s)) << read_text(record_err);

	Child miner({workload("mxw-randomx"), "--seconds", "20"});
	const auto alert = wait_for_alert(alerts, miner.pid(), false, 30s);
	ASSERT_TRUE(alert) << read_text(record_err) << read_text(replay_err);
	EXPECT_EQ((*alert)["event"]["action"], "miner-detected");
	EXPECT_FALSE(fs::exists(dir.path("replay.status"))) << "replay had ended: it did not follow the pipe";

	// SIGINT to record: it ends its file, replay reads to the end and exits 1 (a miner).
	ASSERT_EQ(miner.wait(60s), 0);
	std::ignore = std::system(("pkill -INT -f '^" + mxwatch_binary() + " record -o - --duration 90'").c_str());
	ASSERT_EQ(shell.wait(60s), 0) << read_text(record_err) << read_text(replay_err);
	EXPECT_EQ(read_text(dir.path("replay.status")), "1\n") << read_text(replay_err);
	EXPECT_NE(read_text(replay_err).find("replayed "), std::string::npos) << read_text(replay_err);
}

} // namespace
} // namespace mxwatch::test
