// SPDX-License-Identifier: GPL-2.0-only
// --action against real RandomX: kill ends the miner, stop leaves it stopped,
// and an allowlisted miner is left alone. Each alert says what was done.
#include "harness.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

namespace mxwatch::test {
namespace {

using namespace std::chrono_literals;

// The state letter of /proc/PID/stat (R, S, T, Z, ...), or 0 when it is gone.
char process_state(pid_t pid)
{
	const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
	const auto close = stat.rfind(')');
	return close == std::string::npos || close + 2 >= stat.size() ? 0 : stat[close + 2];
}

// The host is shared: other tests (and other worktrees' tests) run RandomX as
// root at the same time, and a daemon with --action must not stop or kill
// those. So every daemon here allowlists root's processes, and the miners it
// is meant to act on run as nobody.
constexpr uid_t kNobody = 65534;
const std::vector<std::string> kSpareRoot = {"--allow-user", "0"};

// `mxwatch <options> --allow-user 0 run` with alerts to a file, attached when constructed.
class Daemon {
public:
	explicit Daemon(const std::vector<std::string> &options)
	{
		std::vector<std::string> argv{mxwatch_binary()};
		argv.insert(argv.end(), options.begin(), options.end());
		argv.insert(argv.end(), kSpareRoot.begin(), kSpareRoot.end());
		argv.insert(argv.end(), {"--sink", "file:" + alerts().string(), "run"});
		child_ = std::make_unique<Child>(argv, SpawnOptions{.stdout_path = tmp_.path("out").string(),
								    .stderr_path = log().string()});
		attached_ = wait_for_text(log(), "attached", 60s);
	}
	bool attached() const { return attached_; }
	std::filesystem::path alerts() const { return tmp_.path("alerts.jsonl"); }
	std::filesystem::path log() const { return tmp_.path("err.log"); }
	std::optional<int> stop()
	{
		child_->signal(SIGTERM);
		return child_->wait(30s);
	}

private:
	TempDir tmp_;
	std::unique_ptr<Child> child_;
	bool attached_ = false;
};

TEST(Action, KillEndsARandomxMinerAndTheAlertSaysSo)
{
	MXW_REQUIRE_PRIVILEGED();
	Daemon daemon({"--action", "kill"});
	ASSERT_TRUE(daemon.attached()) << read_text(daemon.log());
	Child miner({workload("mxw-randomx"), "--seconds", "120"}, {.run_as_uid = kNobody, .stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(daemon.alerts(), miner.pid(), false, 90s);
	const auto status = miner.wait(30s);
	EXPECT_EQ(daemon.stop(), 0) << read_text(daemon.log());
	ASSERT_TRUE(alert) << read_text(daemon.log()) << read_text(daemon.alerts());
	SCOPED_TRACE(alert->dump(2));
	EXPECT_EQ(status, -SIGKILL);
	EXPECT_EQ((*alert)["mxwatch"]["response"], nlohmann::json({{"action", "kill"}, {"result", "applied"}}));
	EXPECT_EQ((*alert)["event"]["type"], nlohmann::json({"info", "denied"}));
	EXPECT_NE((*alert)["message"].get<std::string>().find("response kill: applied"), std::string::npos);
}

TEST(Action, StopLeavesARandomxMinerStoppedAndTheOcsfFindingSaysSo)
{
	MXW_REQUIRE_PRIVILEGED();
	Daemon daemon({"--action", "stop", "--format", "ocsf"});
	ASSERT_TRUE(daemon.attached()) << read_text(daemon.log());
	Child miner({workload("mxw-randomx"), "--seconds", "120"}, {.run_as_uid = kNobody, .stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(daemon.alerts(), miner.pid(), true, 90s);
	char state = 0;
	for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;
	     std::this_thread::sleep_for(100ms))
		if ((state = process_state(miner.pid())) == 'T')
			break;
	miner.signal(SIGKILL); // SIGKILL ends a stopped process too
	const auto status = miner.wait(30s);
	EXPECT_EQ(daemon.stop(), 0) << read_text(daemon.log());
	ASSERT_TRUE(alert) << read_text(daemon.log()) << read_text(daemon.alerts());
	SCOPED_TRACE(alert->dump(2));
	EXPECT_EQ(state, 'T');
	EXPECT_EQ(status, -SIGKILL); // it was still there, stopped, for the test to end
	EXPECT_EQ((*alert)["action_id"], 2);
	EXPECT_EQ((*alert)["disposition_id"], 3);
	EXPECT_EQ((*alert)["unmapped"]["mxwatch"]["response"],
		  nlohmann::json({{"action", "stop"}, {"result", "applied"}}));
}

TEST(Action, AllowlistedRandomxMinerSurvivesKill)
{
	MXW_REQUIRE_PRIVILEGED();
	const std::string randomx = workload("mxw-randomx");
	Daemon daemon({"--action", "kill", "--allow-exe", randomx});
	ASSERT_TRUE(daemon.attached()) << read_text(daemon.log());
	Child miner({randomx, "--seconds", "120"}, {.run_as_uid = kNobody, .stdout_path = "/dev/null"});
	const std::string judged = "pid " + std::to_string(miner.pid()) + " (mxw-randomx) computes RandomX but is "
				   "allowlisted";
	const bool seen = wait_for_text(daemon.log(), judged, 90s);
	std::this_thread::sleep_for(2s);
	const char state = process_state(miner.pid());
	const auto early_exit = miner.wait(0ms);
	miner.signal(SIGKILL);
	miner.wait(30s);
	EXPECT_EQ(daemon.stop(), 0) << read_text(daemon.log());
	const std::string log = read_text(daemon.log());
	ASSERT_TRUE(seen) << log;
	EXPECT_FALSE(early_exit.has_value()) << "the allowlisted miner ended: " << *early_exit;
	EXPECT_TRUE(state == 'R' || state == 'S') << state;
	EXPECT_NE(log.find("kill skipped: allowlisted (executable " + randomx + ")"), std::string::npos) << log;
	EXPECT_FALSE(first_alert(daemon.alerts(), miner.pid(), false)) << read_text(daemon.alerts());
}

} // namespace
} // namespace mxwatch::test
