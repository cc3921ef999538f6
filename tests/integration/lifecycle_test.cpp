// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch run` as a daemon: its alert lines, clean detach, and clear refusal without privileges.
#include "harness.hpp"

#include <algorithm>
#include <csignal>
#include <sstream>
#include <thread>

namespace mxwatch::test {
namespace {

bool mxwatch_program_loaded()
{
	const auto names = loaded_bpf_program_names();
	return std::any_of(names.begin(), names.end(), [](const std::string &name) { return name.rfind("mxw_", 0) == 0; });
}

// The kernel frees a detached program after an RCU grace period, not at once.
bool mxwatch_programs_gone()
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
	while (mxwatch_program_loaded()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return true;
}

TEST(Daemon, AlertsAsEcsJsonLineAndDetachesOnSigterm)
{
	MXW_REQUIRE_PRIVILEGED();
	ASSERT_TRUE(mxwatch_programs_gone()) << "an mxwatch program is already loaded; is a daemon running?";
	TempDir tmp;
	Child daemon({mxwatch_binary(), "run"}, {.stdout_path = tmp.path("alerts.jsonl"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", std::chrono::seconds(60))) << read_text(tmp.path("err.log"));
	EXPECT_TRUE(mxwatch_program_loaded());

	Child miner({workload("mxw-cfround"), "--seconds", "30"});
	const bool alerted = wait_for_text(tmp.path("alerts.jsonl"), "\"alert\"", std::chrono::seconds(40));
	miner.signal(SIGKILL);
	daemon.signal(SIGTERM);
	const auto status = daemon.wait(std::chrono::seconds(30));
	ASSERT_TRUE(alerted) << read_text(tmp.path("err.log"));
	ASSERT_EQ(status, 0) << read_text(tmp.path("err.log"));
	EXPECT_TRUE(mxwatch_programs_gone()) << "program left loaded after SIGTERM";

	std::istringstream lines(read_text(tmp.path("alerts.jsonl")));
	std::string line;
	bool found = false;
	while (std::getline(lines, line)) {
		const auto alert = nlohmann::json::parse(line); // every line must be valid JSON
		if (alert["process"]["pid"] != miner.pid())
			continue;
		found = true;
		EXPECT_EQ(alert["event"]["kind"], "alert");
		EXPECT_EQ(alert["process"]["name"], "mxw-cfround");
		EXPECT_EQ(alert["process"]["executable"], workload("mxw-cfround"));
		EXPECT_FALSE(alert["@timestamp"].get<std::string>().empty());
		EXPECT_EQ(alert["threat"]["technique"]["id"][0], "T1496");
		for (const char *mode : {"nearest", "down", "up", "toward_zero"})
			EXPECT_GT(alert["mxwatch"]["samples_by_mode"][mode].get<int>(), 0) << mode;
		EXPECT_GE(alert["process"]["thread"]["id"].size(), 1u);
	}
	EXPECT_TRUE(found) << read_text(tmp.path("alerts.jsonl"));
}

TEST(Daemon, SigintDetachesEveryProgram)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	Child daemon({mxwatch_binary(), "run"}, {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", std::chrono::seconds(60)));
	ASSERT_TRUE(mxwatch_program_loaded());
	daemon.signal(SIGINT);
	ASSERT_EQ(daemon.wait(std::chrono::seconds(30)), 0) << read_text(tmp.path("err.log"));
	EXPECT_TRUE(mxwatch_programs_gone()) << "program left loaded after SIGINT";
}

TEST(Daemon, UnprivilegedUserGetsOneLineReasonAndExit2)
{
	MXW_REQUIRE_PRIVILEGED(); // needs root to become someone else
	TempDir tmp;
	std::filesystem::permissions(tmp.path(""), std::filesystem::perms::all);
	for (const char *command : {"run", "check"}) {
		Child user({mxwatch_binary(), command}, {.run_as_uid = 65534,
							  .stdout_path = tmp.path("out"),
							  .stderr_path = tmp.path("err.log")});
		ASSERT_EQ(user.wait(std::chrono::seconds(30)), 2) << command;
		const std::string err = read_text(tmp.path("err.log"));
		EXPECT_NE(err.find("CAP_BPF"), std::string::npos) << err;
		EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
		EXPECT_EQ(err.rfind("mxwatch: ", 0), 0u) << err;
	}
}

} // namespace
} // namespace mxwatch::test
