// SPDX-License-Identifier: GPL-2.0-only
// The evasions a modified miner can afford, against the real BPF program: the
// x87 control word loaded with the same mode after every LDMXCSR (fesetround()
// -like), FTZ/DAZ clear, sticky flags kept, RandomX v2's rare mode changes.
// None of them may hide the miner; a fesetround() program cycling all four
// modes in random order, without RandomX's memory, must stay un-alerted.
#include "harness.hpp"

#include <csignal>
#include <fstream>
#include <thread>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string describe(const CheckRun &run)
{
	return "exit " + std::to_string(run.exit_status) + "\nstderr:\n" + run.stderr_text + "\ndocument:\n" +
	       run.document.dump(2);
}

TEST(Evasion, X87MirroringWithRandomxSizedMemoryIsAlertedWithin30sAndReplaysAlike)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir dir;
	const auto live = dir.path("live.jsonl"), recording = dir.path("recording.jsonl"),
		   replayed = dir.path("replayed.jsonl");
	Child daemon({mxwatch_binary(), "--sink", "file:" + live.string(), "run", "--record", recording.string()},
		     {std::nullopt, std::nullopt, dir.path("run.err").string()});
	ASSERT_TRUE(wait_for_text(dir.path("run.err"), "watching", 30s)) << read_text(dir.path("run.err"));

	// The light-mode cache's size; FTZ/DAZ as in the VM, then clear with the sticky flags kept.
	const auto started = std::chrono::steady_clock::now();
	Child vm_like({workload("mxw-cfround-evasive"), "--x87", "--ftz-daz", "--alloc-mib", "256", "--seconds", "25"});
	Child fenv_like({workload("mxw-cfround-evasive"), "--x87", "--sticky", "--alloc-mib", "256", "--seconds", "25"});
	for (Child *c : {&vm_like, &fenv_like}) {
		const auto alert = wait_for_alert(live, c->pid(), false, 30s);
		ASSERT_TRUE(alert) << "pid " << c->pid() << " not alerted within 30 s\n" << read_text(dir.path("run.err"));
		EXPECT_LE(std::chrono::steady_clock::now() - started, 31s);
		const auto &m = (*alert)["mxwatch"];
		EXPECT_EQ(m["rule"], "churn-footprint") << alert->dump(1);
		EXPECT_EQ(m["severity"], "high") << alert->dump(1);
		EXPECT_EQ((*alert)["event"]["severity"], 73);
		EXPECT_NE(m["reason"].get<std::string>().find("RandomX-sized memory"), std::string::npos) << alert->dump(1);
	}
	for (Child *c : {&vm_like, &fenv_like}) {
		c->signal(SIGTERM);
		c->wait(30s);
	}
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(dir.path("run.err"));

	// The recording carries the footprints: replay corroborates at the same point.
	Child replay({mxwatch_binary(), "--sink", "file:" + replayed.string(), "replay", recording.string()},
		     {std::nullopt, std::nullopt, dir.path("replay.err").string()});
	ASSERT_EQ(replay.wait(120s), 1) << read_text(dir.path("replay.err"));
	auto firsts = [](const std::vector<nlohmann::json> &alerts) {
		std::vector<nlohmann::json> out;
		for (const auto &a : alerts)
			if (a["event"]["action"] == "miner-detected")
				out.push_back({{"pid", a["process"]["pid"]},
					       {"rule", a["mxwatch"]["rule"]},
					       {"samples_by_mode", a["mxwatch"]["samples_by_mode"]},
					       {"reason", a["mxwatch"]["reason"]}});
		return out;
	};
	const auto from_run = firsts(json_lines(live)), from_replay = firsts(json_lines(replayed));
	EXPECT_EQ(from_run.size(), 2u);
	EXPECT_EQ(from_run, from_replay) << nlohmann::json(from_run).dump(1) << "\n" << nlohmann::json(from_replay).dump(1);
}

TEST(Evasion, RandomxV2LikeWorkloadsAreMiners)
{
	MXW_REQUIRE_PRIVILEGED();
	// v2: a CFROUND changes the mode 1 time in 16, the mode is reset every hash.
	const auto run = run_check_with({{workload("mxw-cfround-evasive"), "--v2", "--ftz-daz", "--seconds", "14"},
					 {workload("mxw-cfround-evasive"), "--v2", "--x87", "--alloc-mib", "256",
					  "--seconds", "14"}},
					18);
	ASSERT_EQ(run.exit_status, 1) << describe(run);
	for (int i = 0; i < 2; i++) {
		const auto *proc = run.process(run.workload_pids.at(static_cast<std::size_t>(i)));
		ASSERT_NE(proc, nullptr) << describe(run);
		EXPECT_EQ((*proc)["verdict"], "miner") << describe(run);
		EXPECT_EQ((*proc)["severity"], "high") << describe(run);
	}
	EXPECT_EQ((*run.process(run.workload_pids.at(0)))["rule"], std::string("churn-mxcsr-only")) << describe(run);
}

TEST(Evasion, FesetroundProgramCyclingAllModesInRandomOrderFor60sIsNeverAlerted)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-fenv-cycle"), "--random", "--seconds", "60"}}, 63);
	ASSERT_EQ(run.exit_status, 0) << describe(run);
	EXPECT_EQ(run.document["miners"], 0) << describe(run);
	const auto *proc = run.process(run.workload_pids.at(0));
	ASSERT_NE(proc, nullptr) << "never sampled: the test proves nothing\n" << describe(run);
	EXPECT_EQ((*proc)["verdict"], "suspicious") << describe(run);
	EXPECT_EQ((*proc)["rule"], "none") << describe(run);
	EXPECT_EQ((*proc)["severity"], "none") << describe(run);
}

} // namespace
} // namespace mxwatch::test
