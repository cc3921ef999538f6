// SPDX-License-Identifier: GPL-2.0-only
// The bounded queue between detection and sinks: nothing blocks the publisher,
// drops are counted per sink, queued alerts are delivered at shutdown, and the
// file sink survives a logrotate-style rename with nothing lost.
#include "alert_samples.hpp"

#include "mxwatch/sinks/alert_output.hpp"
#include "mxwatch/util/errors.hpp"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

namespace mxwatch {
namespace {

using namespace std::chrono_literals;

template <typename Pred> bool wait_until_true(Pred pred, std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (!pred()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(5ms);
	}
	return true;
}

// Shared with the test, so that it outlives an abandoned sink thread.
struct Recording {
	std::mutex mutex;
	std::condition_variable released_cv;
	bool released = true;
	std::vector<std::string> documents;
	std::vector<std::thread::id> writer_threads;
	std::vector<std::thread::id> reopen_threads;
	std::atomic<int> writes{0};

	void hold()
	{
		std::lock_guard lock(mutex);
		released = false;
	}
	void release()
	{
		{
			std::lock_guard lock(mutex);
			released = true;
		}
		released_cv.notify_all();
	}
};

class RecordingSink final : public AlertSink {
public:
	explicit RecordingSink(std::shared_ptr<Recording> r, std::string name = "recording")
	    : r_(std::move(r)), name_(std::move(name))
	{
	}
	Delivery write(const RenderedAlert &alert) override
	{
		std::unique_lock lock(r_->mutex);
		r_->released_cv.wait(lock, [&] { return r_->released; }); // a stuck peer, while held
		r_->documents.push_back(alert.document);
		r_->writer_threads.push_back(std::this_thread::get_id());
		r_->writes++;
		return Delivery::Delivered;
	}
	void reopen() override
	{
		std::lock_guard lock(r_->mutex);
		r_->reopen_threads.push_back(std::this_thread::get_id());
	}
	std::string name() const override { return name_; }

private:
	std::shared_ptr<Recording> r_;
	std::string name_;
};

Alert event_for(std::uint32_t pid)
{
	Detection detection = test::sample_detection("xmrig");
	detection.key.tgid = pid;
	ProcessInfo process;
	process.pid = pid;
	return {detection, process, std::chrono::system_clock::now(), 60'000'000'000};
}

const SinkStats &stats_of(const std::vector<SinkStats> &all, const std::string &name)
{
	for (const auto &s : all)
		if (s.name == name)
			return s;
	throw std::runtime_error("no sink " + name);
}

TEST(QueuedOutput, DeliversEveryAlertToEverySinkInOrder)
{
	auto a = std::make_shared<Recording>(), b = std::make_shared<Recording>();
	QueuedOutput output(test::sample_host());
	output.add_sink(std::make_unique<RecordingSink>(a, "a"));
	output.add_sink(std::make_unique<RecordingSink>(b, "b"));
	for (std::uint32_t pid = 1; pid <= 100; pid++)
		output.publish(event_for(pid));
	ASSERT_TRUE(output.flush(10s));
	for (const auto &r : {a, b}) {
		ASSERT_EQ(r->documents.size(), 100u);
		for (std::size_t i = 0; i < 100; i++)
			EXPECT_EQ(nlohmann::json::parse(r->documents[i])["process"]["pid"], i + 1);
		EXPECT_NE(r->writer_threads[0], std::this_thread::get_id()); // never the publisher's thread
	}
	EXPECT_EQ(stats_of(output.stats(), "a").delivered, 100u);
	EXPECT_EQ(stats_of(output.stats(), "b").dropped, 0u);
}

TEST(QueuedOutput, AStuckSinkNeverBlocksThePublisherAndDropsAreCountedForItAlone)
{
	auto stuck = std::make_shared<Recording>(), healthy = std::make_shared<Recording>();
	stuck->hold();
	OutputSettings settings;
	settings.queue_capacity = 16;
	QueuedOutput output(test::sample_host(), settings);
	output.add_sink(std::make_unique<RecordingSink>(stuck, "stuck"));
	output.add_sink(std::make_unique<RecordingSink>(healthy, "healthy"));

	constexpr int kAlerts = 200;
	std::chrono::nanoseconds slowest{0};
	for (int i = 0; i < kAlerts; i++) {
		const auto before = std::chrono::steady_clock::now();
		output.publish(event_for(static_cast<std::uint32_t>(i)));
		slowest = std::max(slowest, std::chrono::steady_clock::now() - before);
		std::this_thread::sleep_for(2ms); // a fast but not instantaneous detector
	}
	// publish() only copies into a queue: no call waited for the stuck sink.
	EXPECT_LT(slowest, 50ms);
	ASSERT_TRUE(wait_until_true([&] { return healthy->writes.load() == kAlerts; }, 10s));

	const auto before_release = output.stats();
	EXPECT_EQ(stats_of(before_release, "healthy").dropped, 0u);
	EXPECT_GE(stats_of(before_release, "stuck").dropped, static_cast<std::uint64_t>(kAlerts - 16 - 1));

	stuck->release();
	ASSERT_TRUE(output.flush(10s));
	const auto after = output.stats();
	const auto &s = stats_of(after, "stuck");
	EXPECT_EQ(s.delivered + s.dropped, static_cast<std::uint64_t>(kAlerts));
	EXPECT_EQ(stuck->documents.size(), s.delivered);
}

TEST(QueuedOutput, QueuedAlertsAreDeliveredAtShutdown)
{
	auto r = std::make_shared<Recording>();
	r->hold();
	{
		QueuedOutput output(test::sample_host());
		output.add_sink(std::make_unique<RecordingSink>(r));
		for (std::uint32_t pid = 1; pid <= 50; pid++)
			output.publish(event_for(pid));
		std::thread releaser([r] {
			std::this_thread::sleep_for(100ms);
			r->release();
		});
		releaser.detach();
	} // the destructor waits for the queue to drain
	EXPECT_EQ(r->documents.size(), 50u);
}

TEST(QueuedOutput, ShutdownAbandonsASinkThatNeverReturns)
{
	auto r = std::make_shared<Recording>();
	r->hold();
	OutputSettings settings;
	settings.drain_timeout = 300ms;
	const auto before = std::chrono::steady_clock::now();
	{
		QueuedOutput output(test::sample_host(), settings);
		output.add_sink(std::make_unique<RecordingSink>(r));
		output.publish(event_for(1));
		output.publish(event_for(2));
	}
	EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);
	r->release(); // the abandoned thread finishes its write; its state is still alive
	EXPECT_TRUE(wait_until_true([&] { return r->writes.load() == 1; }, 5s));
	// The alert still queued was given up (and counted as failed), not written
	// after the counts were logged.
	std::this_thread::sleep_for(100ms);
	EXPECT_EQ(r->writes.load(), 1);
}

TEST(QueuedOutput, ReopenRunsInTheSinksOwnThread)
{
	auto r = std::make_shared<Recording>();
	QueuedOutput output(test::sample_host());
	output.add_sink(std::make_unique<RecordingSink>(r));
	output.publish(event_for(1));
	ASSERT_TRUE(output.flush(5s));
	output.reopen();
	ASSERT_TRUE(wait_until_true(
	    [&] {
		    std::lock_guard lock(r->mutex);
		    return !r->reopen_threads.empty();
	    },
	    5s));
	std::lock_guard lock(r->mutex);
	EXPECT_EQ(r->reopen_threads[0], r->writer_threads[0]);
}

// A peer that is down until `up` is set (the sink's next instance is a new object).
class FlakySink final : public AlertSink {
public:
	FlakySink(std::shared_ptr<Recording> r, std::shared_ptr<std::atomic<bool>> up) : r_(std::move(r)), up_(std::move(up)) {}
	Delivery write(const RenderedAlert &alert) override
	{
		r_->writes++;
		if (!*up_)
			return Delivery::Retry;
		std::lock_guard lock(r_->mutex);
		r_->documents.push_back(alert.document);
		return Delivery::Delivered;
	}
	std::string name() const override { return "syslog:tcp:peer"; }

private:
	std::shared_ptr<Recording> r_;
	std::shared_ptr<std::atomic<bool>> up_;
};

TEST(QueuedOutput, AReloadKeepsWhatTheSameSinkWasStillTryingToDeliver)
{
	auto up = std::make_shared<std::atomic<bool>>(false);
	auto before = std::make_shared<Recording>(), after = std::make_shared<Recording>();
	auto dropped_sink = std::make_shared<Recording>();
	OutputSettings slow; // retries an hour apart: the alerts wait for the reload
	slow.retry = {.initial = 1h, .max = 1h, .jitter = 0};
	auto previous = std::make_unique<QueuedOutput>(test::sample_host(), slow);
	previous->add_sink(std::make_unique<FlakySink>(before, up));
	previous->add_sink(std::make_unique<RecordingSink>(dropped_sink, "file:/old"));
	for (std::uint32_t pid = 1; pid <= 5; pid++)
		previous->publish(event_for(pid));
	ASSERT_TRUE(wait_until_true([&] { return stats_of(previous->stats(), "syslog:tcp:peer").failing; }, 10s));

	// The reloaded configuration: the same syslog peer, and a new file instead of the old one.
	QueuedOutput next(test::sample_host());
	next.add_sink(std::make_unique<FlakySink>(after, up));
	auto new_file = std::make_shared<Recording>();
	next.add_sink(std::make_unique<RecordingSink>(new_file, "file:/new"));
	*up = true;
	EXPECT_EQ(next.take_over_sinks(*previous), 5u);
	EXPECT_EQ(previous->stats().size(), 1u); // only the sink that is not configured any more
	previous.reset();                        // drains the old file sink as at shutdown
	EXPECT_EQ(dropped_sink->documents.size(), 5u);

	next.publish(event_for(6));
	ASSERT_TRUE(next.flush(10s));
	ASSERT_EQ(after->documents.size(), 6u);
	for (std::size_t i = 0; i < 6; i++)
		EXPECT_EQ(nlohmann::json::parse(after->documents[i])["process"]["pid"], i + 1);
	EXPECT_TRUE(before->documents.empty());
	const SinkStats &s = stats_of(next.stats(), "syslog:tcp:peer");
	EXPECT_EQ(s.delivered, 6u);
	EXPECT_EQ(s.failed, 0u);
	EXPECT_GE(s.retried, 1u); // the old instance's attempts are counted on
	EXPECT_EQ(new_file->documents.size(), 1u);
}

TEST(FileSink, LogrotateRenameAndReopenLoseNothing)
{
	const auto dir = std::filesystem::temp_directory_path() / ("mxwatch-rotate-" + std::to_string(getpid()));
	std::filesystem::create_directories(dir);
	const auto path = dir / "alerts.jsonl";
	constexpr std::uint32_t kAlerts = 3000;
	{
		OutputSettings settings;
		settings.queue_capacity = 2 * kAlerts; // this test is about rotation, not drops
		QueuedOutput output(test::sample_host(), settings);
		output.add_sink(make_file_sink(path.string()));
		std::atomic<bool> done{false};
		std::thread publisher([&] {
			for (std::uint32_t pid = 0; pid < kAlerts; pid++) {
				output.publish(event_for(pid));
				if (pid % 64 == 0)
					std::this_thread::sleep_for(1ms);
			}
			done = true;
		});
		for (int rotation = 1; rotation <= 5; rotation++) {
			std::this_thread::sleep_for(15ms);
			std::filesystem::rename(path, dir / ("alerts.jsonl." + std::to_string(rotation)));
			output.reopen(); // what SIGHUP does
		}
		publisher.join();
		ASSERT_TRUE(output.flush(30s));
		EXPECT_EQ(output.stats()[0].dropped, 0u);
		EXPECT_EQ(output.stats()[0].failed, 0u);
	}
	std::multiset<std::uint32_t> seen;
	int files = 0;
	for (const auto &entry : std::filesystem::directory_iterator(dir)) {
		files++;
		std::ifstream in(entry.path());
		std::string line;
		while (std::getline(in, line))
			seen.insert(nlohmann::json::parse(line)["process"]["pid"].get<std::uint32_t>());
	}
	EXPECT_EQ(files, 6);
	ASSERT_EQ(seen.size(), kAlerts);
	for (std::uint32_t pid = 0; pid < kAlerts; pid++)
		EXPECT_EQ(seen.count(pid), 1u) << pid;
	std::filesystem::remove_all(dir);
}

TEST(FileSink, AFileThatCannotBeOpenedIsASetupError)
{
	EXPECT_THROW(make_file_sink("/nonexistent-dir/alerts.jsonl"), SetupError);
}

} // namespace
} // namespace mxwatch
