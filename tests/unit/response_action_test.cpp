// SPDX-License-Identifier: GPL-2.0-only
// --action: how its outcome appears in every alert format, and the signal itself
// against real child processes of the test (no root needed to signal one's own child).
#include "alert_samples.hpp"
#include "rfc5424_parser.hpp"

#include "mxwatch/alerts/journal_fields.hpp"
#include "mxwatch/enrich/process_liveness.hpp"
#include "mxwatch/decide/response_action.hpp"
#include "mxwatch/alerts/syslog_message.hpp"

#include <algorithm>
#include <csignal>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mxwatch {
namespace {

using test::enriched_process;
using test::sample_alert;
using test::sample_detection;

Alert alert_with(std::optional<ResponseOutcome> response)
{
	Alert alert = sample_alert(sample_detection("xmrig"), enriched_process());
	alert.response = std::move(response);
	return alert;
}

const ResponseOutcome kKilled{ResponseAction::Kill, ResponseResult::Applied, {}};
const ResponseOutcome kStopped{ResponseAction::Stop, ResponseResult::Applied, {}};
const ResponseOutcome kKillFailed{ResponseAction::Kill, ResponseResult::Failed, "the process had already exited"};

TEST(ResponseNames, RoundTripAndSignals)
{
	for (auto action : {ResponseAction::None, ResponseAction::Stop, ResponseAction::Kill})
		EXPECT_EQ(response_action_from_string(to_string(action)), action);
	EXPECT_FALSE(response_action_from_string("KILL").has_value());
	EXPECT_EQ(signal_of(ResponseAction::Stop), SIGSTOP);
	EXPECT_EQ(signal_of(ResponseAction::Kill), SIGKILL);
	EXPECT_FALSE(needs_kill_capability(ResponseAction::None));
	EXPECT_TRUE(needs_kill_capability(ResponseAction::Stop));
	EXPECT_TRUE(needs_kill_capability(ResponseAction::Kill));
	EXPECT_EQ(kKilled.describe(), "applied");
	EXPECT_EQ(kKillFailed.describe(), "failed: the process had already exited");
	EXPECT_EQ((ResponseOutcome{ResponseAction::Kill, ResponseResult::Skipped, "allowlisted (user monero)"}.describe()),
	          "skipped: allowlisted (user monero)");
}

TEST(EcsResponse, AppliedKillIsDeniedWithTheDetails)
{
	const auto doc = to_ecs(alert_with(kKilled));
	EXPECT_EQ(doc["event"]["type"], nlohmann::json({"info", "denied"}));
	EXPECT_EQ(doc["event"]["action"], "miner-detected");
	EXPECT_EQ(doc["mxwatch"]["response"], nlohmann::json({{"action", "kill"}, {"result", "applied"}}));
	EXPECT_NE(doc["message"].get<std::string>().find("response kill: applied"), std::string::npos) << doc["message"];
}

TEST(EcsResponse, FailureIsNotDeniedAndSaysWhy)
{
	const auto doc = to_ecs(alert_with(kKillFailed));
	EXPECT_EQ(doc["event"]["type"], nlohmann::json({"info"}));
	EXPECT_EQ(doc["mxwatch"]["response"]["result"], "failed");
	EXPECT_EQ(doc["mxwatch"]["response"]["reason"], "the process had already exited");
	EXPECT_NE(doc["message"].get<std::string>().find("response kill: failed: the process had already exited"),
	          std::string::npos);
}

TEST(EcsResponse, NoActionLeavesTheDocumentAsItWas)
{
	const auto doc = to_ecs(alert_with(std::nullopt));
	EXPECT_EQ(doc["event"]["type"], nlohmann::json({"info"}));
	EXPECT_FALSE(doc["mxwatch"].contains("response"));
	EXPECT_EQ(doc["message"].get<std::string>().find("response"), std::string::npos);
}

TEST(OcsfResponse, SecurityControlProfileAttributes)
{
	const auto killed = to_ocsf(alert_with(kKilled));
	EXPECT_EQ(killed["metadata"]["profiles"], nlohmann::json({"container", "security_control"}));
	EXPECT_EQ(killed["action_id"], 2);
	EXPECT_EQ(killed["action"], "Denied");
	EXPECT_EQ(killed["disposition_id"], 2);
	EXPECT_EQ(killed["disposition"], "Blocked");
	EXPECT_EQ(killed["unmapped"]["mxwatch"]["response"], nlohmann::json({{"action", "kill"}, {"result", "applied"}}));

	const auto stopped = to_ocsf(alert_with(kStopped));
	EXPECT_EQ(stopped["action_id"], 2);
	EXPECT_EQ(stopped["disposition_id"], 3);
	EXPECT_EQ(stopped["disposition"], "Quarantined");

	const auto failed = to_ocsf(alert_with(kKillFailed));
	EXPECT_EQ(failed["action_id"], 3);
	EXPECT_EQ(failed["action"], "Observed");
	EXPECT_EQ(failed["disposition_id"], 13);
	EXPECT_EQ(failed["disposition"], "Uncorrected");
	EXPECT_EQ(failed["unmapped"]["mxwatch"]["response"]["reason"], "the process had already exited");

	const auto none = to_ocsf(alert_with(std::nullopt));
	EXPECT_FALSE(none.contains("action_id"));
	EXPECT_FALSE(none.contains("disposition_id"));
	EXPECT_EQ(none["metadata"]["profiles"], nlohmann::json({"container"}));
	EXPECT_FALSE(none["unmapped"]["mxwatch"].contains("response"));

	Alert bare = alert_with(kKilled);
	bare.process.container.reset();
	EXPECT_EQ(to_ocsf(bare)["metadata"]["profiles"], nlohmann::json({"security_control"}));
}

TEST(TransportResponse, SyslogAndJournaldCarryTheOutcome)
{
	for (auto format : {AlertFormat::Ecs, AlertFormat::Ocsf}) {
		const RenderedAlert rendered = render_alert(alert_with(kKillFailed), format);
		std::string error;
		const auto message = test::parse_rfc5424(rfc5424_message(rendered, kSyslogFacilityDaemon, 1), &error);
		ASSERT_TRUE(message) << error;
		ASSERT_TRUE(message->param("mxwatch.response.action"));
		EXPECT_EQ(*message->param("mxwatch.response.action"), "kill");
		EXPECT_EQ(*message->param("mxwatch.response.result"), "failed");
		EXPECT_EQ(*message->param("mxwatch.response.reason"), "the process had already exited");

		const auto fields = journal_fields(rendered);
		auto has = [&](const std::string &entry) {
			return std::find(fields.begin(), fields.end(), entry) != fields.end();
		};
		EXPECT_TRUE(has("MXWATCH_RESPONSE_ACTION=kill"));
		EXPECT_TRUE(has("MXWATCH_RESPONSE_RESULT=failed"));
		EXPECT_TRUE(has("MXWATCH_RESPONSE_REASON=the process had already exited"));
	}
	const RenderedAlert plain = render_alert(alert_with(std::nullopt), AlertFormat::Ecs);
	for (const auto &[name, value] : plain.fields)
		EXPECT_FALSE(name.starts_with("mxwatch.response")) << name;
}

TEST(StartTicks, FitTheKernelStartTimeWithinTheSuspendOffset)
{
	const long hz = 100; // 10 ms ticks
	const std::uint64_t start = 123'456'789'000; // 123.456789 s after boot, monotonic
	EXPECT_TRUE(start_ticks_fit(12345, start, 0, hz));
	EXPECT_TRUE(start_ticks_fit(12345 + 3000, start, 40'000'000'000, hz)); // suspended 30 s before it started
	EXPECT_FALSE(start_ticks_fit(12345 + 3000, start, 0, hz));             // no suspend: another process
	EXPECT_FALSE(start_ticks_fit(12000, start, 0, hz));                    // started before: another process
	EXPECT_FALSE(start_ticks_fit(12345, start, 0, 0));
}

// A child that waits to be signalled; killed and reaped if the test does not.
class Sleeper {
public:
	Sleeper()
	{
		pid_ = fork();
		if (pid_ == 0) {
			for (;;)
				pause();
		}
		// Its /proc entry exists at once, but read the start time like the pipeline: after fork.
		start_ticks_ = read_start_ticks(static_cast<std::uint32_t>(pid_));
	}
	~Sleeper()
	{
		if (!reaped_) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
	}
	ResponseTarget target() const { return {static_cast<std::uint32_t>(pid_), 0, start_ticks_, std::nullopt}; }
	pid_t pid() const { return pid_; }
	// The wait status once it stopped or ended.
	int wait_status()
	{
		int status = 0;
		waitpid(pid_, &status, WUNTRACED);
		reaped_ = WIFSIGNALED(status) || WIFEXITED(status);
		return status;
	}
	bool alive() const { return kill(pid_, 0) == 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

private:
	pid_t pid_ = -1;
	std::optional<std::uint64_t> start_ticks_;
	bool reaped_ = false;
};

TEST(ApplyResponse, KillEndsTheProcess)
{
	Sleeper child;
	const auto outcome = apply_response(ResponseAction::Kill, child.target());
	ASSERT_TRUE(outcome);
	EXPECT_EQ(outcome->result, ResponseResult::Applied) << outcome->describe();
	const int status = child.wait_status();
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(ApplyResponse, StopStopsTheProcess)
{
	Sleeper child;
	const auto outcome = apply_response(ResponseAction::Stop, child.target());
	ASSERT_TRUE(outcome);
	EXPECT_EQ(outcome->result, ResponseResult::Applied) << outcome->describe();
	const int status = child.wait_status();
	ASSERT_TRUE(WIFSTOPPED(status));
	EXPECT_EQ(WSTOPSIG(status), SIGSTOP);
}

TEST(ApplyResponse, AllowlistedProcessIsSkippedAndLeftAlone)
{
	Sleeper child;
	ResponseTarget target = child.target();
	target.allowed = "executable /usr/bin/monerod";
	const auto outcome = apply_response(ResponseAction::Kill, target);
	ASSERT_TRUE(outcome);
	EXPECT_EQ(outcome->result, ResponseResult::Skipped);
	EXPECT_EQ(outcome->describe(), "skipped: allowlisted (executable /usr/bin/monerod)");
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	EXPECT_TRUE(child.alive());
}

TEST(ApplyResponse, AnotherStartTimeMeansAnotherProcess)
{
	Sleeper child;
	ResponseTarget target = child.target();
	ASSERT_TRUE(target.start_ticks);
	*target.start_ticks += 1; // as if the PID now belonged to a process started later
	const auto outcome = apply_response(ResponseAction::Kill, target);
	ASSERT_TRUE(outcome);
	EXPECT_EQ(outcome->result, ResponseResult::Failed);
	EXPECT_NE(outcome->reason.find("another process"), std::string::npos) << outcome->reason;
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	EXPECT_TRUE(child.alive());

	target = child.target();
	target.kernel_start_ns = 1; // the detector's key says it started at boot: not this one
	EXPECT_EQ(apply_response(ResponseAction::Kill, target)->result, ResponseResult::Failed);
	EXPECT_TRUE(child.alive());
}

TEST(ApplyResponse, GoneOrUnknownProcessFailsWithAReason)
{
	ResponseTarget target;
	{
		Sleeper child;
		target = child.target();
	} // killed and reaped: the PID is free
	const auto gone = apply_response(ResponseAction::Kill, target);
	ASSERT_TRUE(gone);
	EXPECT_EQ(gone->result, ResponseResult::Failed);
	EXPECT_FALSE(gone->reason.empty());

	Sleeper child;
	target = child.target();
	target.start_ticks.reset();
	EXPECT_EQ(apply_response(ResponseAction::Kill, target)->result, ResponseResult::Failed);
	EXPECT_EQ(apply_response(ResponseAction::Kill, {static_cast<std::uint32_t>(getpid()), 0, 1, std::nullopt})->result,
	          ResponseResult::Failed);
	EXPECT_FALSE(apply_response(ResponseAction::None, child.target()).has_value());
	EXPECT_TRUE(child.alive());
}

} // namespace
} // namespace mxwatch
