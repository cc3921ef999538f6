// SPDX-License-Identifier: GPL-2.0-only
// The backoff schedule, and a sink's queue through an outage: alerts that could
// not be delivered stay queued and go out in order, each once; past the bound
// drops are counted; the log says when a sink starts failing and when it
// recovered; at shutdown what is left is counted as failed. (The real peers, an
// rsyslogd stopped and restarted and a full tmpfs, are in
// tests/integration/sink_outage_test.cpp.)
#include "alert_samples.hpp"
#include "captured_log.hpp"

#include "mxwatch/sinks/sink_queue.hpp"

#include <atomic>
#include <deque>
#include <gtest/gtest.h>
#include <mutex>
#include <set>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <thread>

namespace mxwatch
{
namespace
{

using namespace std::chrono_literals;
using test::CapturedLog;
using test::eventually;

TEST(Backoff, DoublesFromHalfASecondToThirtySeconds)
{
	const BackoffPolicy policy; // the default every sink uses
	const std::vector<long> expected = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
	for (unsigned n = 1; n <= expected.size(); n++)
		EXPECT_EQ(Backoff::ceiling(policy, n).count(), expected[n - 1]) << "failure " << n;
	EXPECT_EQ(Backoff::ceiling(policy, 1000).count(), 30000); // no overflow however long the outage
}

TEST(Backoff, EachWaitIsJitteredBelowItsCeilingAndResetStartsOver)
{
	const BackoffPolicy policy;
	Backoff backoff(policy, 42);
	for (int round = 0; round < 3; round++) {
		for (unsigned n = 1; n <= 12; n++) {
			const auto wait = backoff.next();
			const auto top = Backoff::ceiling(policy, n);
			EXPECT_LE(wait, top) << "failure " << n;
			EXPECT_GE(wait.count(),
			          static_cast<long>(static_cast<double>(top.count()) * (1 - policy.jitter)))
			    << "failure " << n;
			EXPECT_EQ(backoff.failures(), n);
		}
		backoff.reset();
		EXPECT_EQ(backoff.failures(), 0u);
	}
}

TEST(Backoff, JitterSpreadsDaemonsThatFailedTogether)
{
	// A fleet (one daemon per node) that lost the same receiver at the same moment.
	std::set<long> first_waits;
	for (std::uint64_t node = 0; node < 50; node++)
		first_waits.insert(Backoff({}, node).next().count());
	EXPECT_GT(first_waits.size(), 25u);
	// Without jitter the schedule is exact.
	Backoff exact({.initial = 100ms, .max = 1000ms, .jitter = 0});
	for (long expected : {100, 200, 400, 800, 1000})
		EXPECT_EQ(exact.next().count(), expected);
}

// What the test's sink does, shared with it (it outlives an abandoned thread).
struct Script {
	std::mutex mutex;
	std::deque<Delivery> results; // one per attempt; Delivered when empty
	bool throw_next = false;
	std::vector<std::string> delivered;
	int attempts = 0;
	int reopens = 0;
};

class ScriptedSink final : public AlertSink
{
public:
	explicit ScriptedSink(std::shared_ptr<Script> s) : s_(std::move(s)) {}
	Delivery write(const RenderedAlert &alert) override
	{
		std::lock_guard lock(s_->mutex);
		s_->attempts++;
		if (s_->throw_next) {
			s_->throw_next = false;
			throw std::runtime_error("sink bug");
		}
		Delivery result = Delivery::Delivered;
		if (!s_->results.empty()) {
			result = s_->results.front();
			s_->results.pop_front();
		}
		if (result == Delivery::Delivered)
			s_->delivered.push_back(alert.document);
		return result;
	}
	std::string last_error() const override { return "peer down"; }
	void reopen() override
	{
		std::lock_guard lock(s_->mutex);
		s_->reopens++;
	}
	std::string name() const override { return "scripted"; }

private:
	std::shared_ptr<Script> s_;
};

SinkQueue::Item alert(int n)
{
	return std::make_shared<const RenderedAlert>(RenderedAlert{.document = "alert " + std::to_string(n)});
}

// Retries in a unit test wait a few milliseconds, not seconds.
constexpr BackoffPolicy kFast{.initial = 1ms, .max = 4ms};

TEST(SinkQueue, AnOutageDelaysAlertsButDeliversEachOnceInOrder)
{
	CapturedLog log;
	auto script = std::make_shared<Script>();
	script->results.assign(5, Delivery::Retry); // the peer is down for five attempts
	SinkQueue queue(std::make_unique<ScriptedSink>(script), 64, kFast);
	for (int i = 0; i < 10; i++)
		ASSERT_TRUE(queue.offer(alert(i)));
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 20s));

	const SinkStats s = queue.stats();
	EXPECT_EQ(s.delivered, 10u);
	EXPECT_EQ(s.retried, 5u);
	EXPECT_EQ(s.failed, 0u);
	EXPECT_EQ(s.dropped, 0u);
	EXPECT_EQ(s.late, 10u); // all ten waited out the outage
	EXPECT_EQ(s.queued, 0u);
	EXPECT_FALSE(s.failing);
	std::lock_guard lock(script->mutex);
	ASSERT_EQ(script->delivered.size(), 10u);
	for (int i = 0; i < 10; i++)
		EXPECT_EQ(script->delivered[i], "alert " + std::to_string(i));
	EXPECT_EQ(script->attempts, 15);

	// One warning when it started failing, one when it recovered; none per retry.
	const auto failing = log.matching("alert sink scripted is failing (peer down)");
	ASSERT_EQ(failing.size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_TRUE(failing[0].starts_with("warning "));
	const auto recovered = log.matching("alert sink scripted recovered after");
	ASSERT_EQ(recovered.size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_NE(recovered[0].find("10 alerts delivered late, 0 dropped and 5 attempts retried"), std::string::npos)
	    << recovered[0];
}

TEST(SinkQueue, PastTheBoundDropsAreCountedAndShutdownCountsWhatIsLeft)
{
	CapturedLog log;
	auto script = std::make_shared<Script>();
	script->results.assign(1'000'000, Delivery::Retry); // down for good
	SinkQueue queue(std::make_unique<ScriptedSink>(script), 4, kFast);
	int accepted = 0;
	for (int i = 0; i < 100; i++)
		accepted += queue.offer(alert(i)) ? 1 : 0;
	EXPECT_EQ(accepted, 4);
	ASSERT_TRUE(eventually([&] { return queue.stats().failing; }));
	SinkStats s = queue.stats();
	EXPECT_EQ(s.dropped, 96u);
	EXPECT_EQ(s.queued, 4u);
	EXPECT_EQ(s.delivered, 0u);
	EXPECT_GE(s.retried, 1u);
	// Drops are logged at powers of two: 1, 2, 4, ... 64.
	EXPECT_EQ(log.matching("is not keeping up").size(), 7u) << testing::PrintToString(log.lines());
	EXPECT_FALSE(queue.wait_idle(std::chrono::steady_clock::now() + 20ms)); // still holding them

	EXPECT_EQ(queue.stop(std::chrono::steady_clock::now() + 50ms), 4u);
	s = queue.stats();
	EXPECT_EQ(s.failed, 4u);
	EXPECT_EQ(s.queued, 0u);
	EXPECT_EQ(s.delivered + s.failed + s.dropped, 100u); // every alert accounted for
	EXPECT_EQ(log.matching("4 alerts not delivered when the drain timeout ended (peer down)").size(), 1u)
	    << testing::PrintToString(log.lines());
	EXPECT_FALSE(queue.offer(alert(100))); // closed: a drop, not a hang
	EXPECT_EQ(queue.stats().dropped, 97u);
}

TEST(SinkQueue, ShutdownKeepsRetryingUntilTheDeadline)
{
	auto script = std::make_shared<Script>();
	script->results.assign(3, Delivery::Retry);
	SinkQueue queue(std::make_unique<ScriptedSink>(script), 16, kFast);
	for (int i = 0; i < 5; i++)
		queue.offer(alert(i));
	EXPECT_EQ(queue.stop(std::chrono::steady_clock::now() + 20s), 0u);
	EXPECT_EQ(queue.stats().delivered, 5u);
	EXPECT_EQ(queue.stats().failed, 0u);
}

TEST(SinkQueue, ARejectedAlertIsCountedAndTheNextOneGoesOut)
{
	auto script = std::make_shared<Script>();
	script->results = {Delivery::Delivered, Delivery::Rejected, Delivery::Delivered};
	script->throw_next = false;
	SinkQueue queue(std::make_unique<ScriptedSink>(script), 16, kFast);
	for (int i = 0; i < 3; i++)
		queue.offer(alert(i));
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 20s));
	EXPECT_EQ(queue.stats().delivered, 2u);
	EXPECT_EQ(queue.stats().failed, 1u);
	EXPECT_EQ(queue.stats().retried, 0u);

	// A sink that throws is a rejected alert, not a dead thread.
	{
		std::lock_guard lock(script->mutex);
		script->throw_next = true;
	}
	queue.offer(alert(3));
	queue.offer(alert(4));
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 20s));
	EXPECT_EQ(queue.stats().failed, 2u);
	EXPECT_EQ(queue.stats().delivered, 3u);
	std::lock_guard lock(script->mutex);
	EXPECT_EQ(script->delivered.back(), "alert 4");
}

TEST(SinkQueue, ReopenRetriesAtOnceInsteadOfWaitingOutTheBackoff)
{
	auto script = std::make_shared<Script>();
	script->results = {Delivery::Retry};
	// After one failure the next attempt would be an hour away.
	SinkQueue queue(std::make_unique<ScriptedSink>(script), 16, {.initial = 1h, .max = 1h, .jitter = 0});
	queue.offer(alert(0));
	ASSERT_TRUE(eventually([&] { return queue.stats().retried == 1; }));
	EXPECT_FALSE(queue.wait_idle(std::chrono::steady_clock::now() + 20ms));
	queue.reopen(); // SIGHUP: the operator fixed the peer
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 20s));
	EXPECT_EQ(queue.stats().delivered, 1u);
	std::lock_guard lock(script->mutex);
	EXPECT_EQ(script->reopens, 1);
}

TEST(SinkQueue, AReloadHandsTheQueueAndTheOutageToTheSinksNextInstance)
{
	CapturedLog log;
	auto down = std::make_shared<Script>();
	down->results.assign(1'000'000, Delivery::Retry); // the old instance never gets through
	// An hour between retries: the alerts are still waiting when the reload comes.
	SinkQueue previous(std::make_unique<ScriptedSink>(down), 16, {.initial = 1h, .max = 1h, .jitter = 0});
	for (int i = 0; i < 6; i++)
		ASSERT_TRUE(previous.offer(alert(i)));
	ASSERT_TRUE(eventually([&] { return previous.stats().failing && previous.stats().retried == 1; }));

	auto up = std::make_shared<Script>();
	up->results = {Delivery::Retry}; // the new instance's first attempt fails too: the same outage
	SinkQueue next(std::make_unique<ScriptedSink>(up), 16, kFast);
	EXPECT_EQ(next.take_over(previous, std::chrono::steady_clock::now() + 20s), 6u);
	ASSERT_TRUE(next.offer(alert(6))); // offered after the reload: behind the six
	ASSERT_TRUE(next.wait_idle(std::chrono::steady_clock::now() + 20s));

	const SinkStats s = next.stats();
	EXPECT_EQ(s.delivered, 7u);
	EXPECT_EQ(s.failed, 0u);
	EXPECT_EQ(s.retried, 2u); // the old instance's attempt and the new one's, both counted once
	EXPECT_GE(s.late, 6u); // the seventh, if the backlog was not out yet
	EXPECT_FALSE(s.failing);
	{
		std::lock_guard lock(up->mutex);
		ASSERT_EQ(up->delivered.size(), 7u);
		for (int i = 0; i < 7; i++)
			EXPECT_EQ(up->delivered[i], "alert " + std::to_string(i));
	}
	{
		std::lock_guard lock(down->mutex);
		EXPECT_TRUE(down->delivered.empty());
		EXPECT_EQ(down->attempts, 1); // its thread ended at the reload
	}
	// The previous queue is stopped and empty: nothing left to count as failed.
	EXPECT_EQ(previous.stop(std::chrono::steady_clock::now()), 0u);
	EXPECT_EQ(previous.stats().queued, 0u);
	EXPECT_FALSE(previous.offer(alert(99)));
	// One outage, reported once: started before the reload, recovered after it.
	EXPECT_EQ(log.matching("is failing (").size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_EQ(log.matching("recovered after").size(), 1u) << testing::PrintToString(log.lines());
	EXPECT_TRUE(log.matching("not delivered").empty()) << testing::PrintToString(log.lines());
}

// A sink that wants refresh() every 5 ms (as the alertmanager sink re-sends).
class RefreshingSink final : public AlertSink
{
public:
	RefreshingSink(std::shared_ptr<Script> s, std::shared_ptr<std::atomic<int>> refreshes)
	    : s_(std::move(s)), refreshes_(std::move(refreshes))
	{
	}
	Delivery write(const RenderedAlert &) override
	{
		std::lock_guard lock(s_->mutex);
		s_->attempts++;
		if (s_->results.empty())
			return Delivery::Delivered;
		const Delivery result = s_->results.front();
		s_->results.pop_front();
		return result;
	}
	std::optional<std::chrono::steady_clock::time_point> refresh_due() const override { return last_ + 5ms; }
	void refresh() override
	{
		last_ = std::chrono::steady_clock::now();
		refreshes_->fetch_add(1);
	}
	std::string name() const override { return "refreshing"; }

private:
	std::shared_ptr<Script> s_;
	std::shared_ptr<std::atomic<int>> refreshes_;
	std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

TEST(SinkQueue, RefreshRunsWhileIdleButNotDuringAnOutage)
{
	auto script = std::make_shared<Script>();
	auto refreshes = std::make_shared<std::atomic<int>>(0);
	script->results = {Delivery::Retry};
	SinkQueue queue(std::make_unique<RefreshingSink>(script, refreshes), 16,
	                {.initial = 1h, .max = 1h, .jitter = 0});
	ASSERT_TRUE(eventually([&] { return refreshes->load() >= 2; })); // idle: refreshed when due
	queue.offer(alert(0));
	ASSERT_TRUE(eventually([&] { return queue.stats().failing; }));
	const int during = refreshes->load();
	std::this_thread::sleep_for(50ms); // ten refresh periods, all in the outage
	EXPECT_EQ(refreshes->load(), during);
	queue.reopen(); // the retry goes through; refreshing resumes
	ASSERT_TRUE(queue.wait_idle(std::chrono::steady_clock::now() + 20s));
	EXPECT_EQ(queue.stats().delivered, 1u);
	ASSERT_TRUE(eventually([&] { return refreshes->load() >= during + 2; }));
}

} // namespace
} // namespace mxwatch
