// SPDX-License-Identifier: GPL-2.0-only
// One sink's bounded queue and the thread that delivers it, in order, riding out
// outages. The same for every sink (file, syslog, journald, http, alertmanager),
// so that a sink only says what became of one alert (alert_sink.hpp):
//
//  - Delivered: taken off the queue.
//  - Retry (peer down, disk full): the alert stays at the head of the queue and
//    is tried again after a backoff (0.5 s doubling to 30 s, with jitter); the
//    alerts behind it wait, so that order is kept and each is sent once. A
//    SIGHUP (reopen) retries at once.
//  - Rejected: counted as failed, the next one is tried.
//
// A sink that takes batches (batch_limit() > 1: the http sink's NDJSON) gets
// what is queued, up to its limit, in one write_batch(); the batch's alerts are
// counted one by one and go back to the head together on Retry. Between alerts,
// and never during an outage, the thread calls the sink's refresh() when it is
// due (the alertmanager sink re-sends its active alerts).
//
// offer() never blocks: past the bound an alert is dropped and counted. The log
// says when a sink starts failing (once), reminds every 5 minutes while it is
// down, and says when it recovered with how many alerts were delivered late.
// At shutdown the queue drains until a deadline; what is left is counted as
// failed and logged. A reload hands the queue, outage and counts over to the
// same sink's new instance (take_over).
#pragma once

#include "mxwatch/alerts/alert_format.hpp"
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/util/backoff.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace mxwatch
{

struct SinkStats {
	std::string name;
	std::uint64_t delivered = 0;
	std::uint64_t failed = 0;  // given up: rejected by the sink, or still queued when shutdown's drain ended
	std::uint64_t dropped = 0; // never queued for the sink: a queue was full
	std::uint64_t retried = 0; // attempts that did not deliver and were retried (peer down, disk full)
	std::uint64_t late = 0;    // delivered after waiting out an outage
	std::uint64_t queued = 0;  // waiting now
	bool failing = false;      // in an outage: the last attempt did not deliver
};

class SinkQueue
{
public:
	using Item = std::shared_ptr<const RenderedAlert>;

	SinkQueue(std::unique_ptr<AlertSink> sink, std::size_t capacity, BackoffPolicy backoff = {});
	// stop() now, if it was not called.
	~SinkQueue();
	SinkQueue(const SinkQueue &) = delete;
	SinkQueue &operator=(const SinkQueue &) = delete;

	const std::string &name() const;

	// Queues the alert, or counts a drop when the queue is full or closed.
	bool offer(Item alert);
	// An alert this sink missed before it reached the queue (an earlier queue was full).
	void count_drop(std::uint64_t n = 1);
	// SIGHUP: the sink reopens in its own thread, then a waiting alert is retried at once.
	void reopen();
	// True once everything queued so far was delivered or given up (false while failing).
	bool wait_idle(std::chrono::steady_clock::time_point deadline);

	// No more offers; the thread goes on delivering. stop() does not wait.
	void close();
	// Closes, waits until the queue is drained or `deadline`, then gives up: what
	// is still queued is counted as failed and logged. A thread still inside a
	// write is left to end on its own (its state stays alive). Returns how many
	// alerts were given up (not counting one that was being written).
	std::uint64_t stop(std::chrono::steady_clock::time_point deadline);

	// A reload (SIGHUP) that configures the same sink again: `previous`'s thread
	// ends after the write in progress (an alert it must retry stays queued), and
	// its waiting alerts, its counts and its outage, if any, move to this queue,
	// ahead of anything offered here, to be retried at once. Nothing is sent twice
	// or counted as failed. A write still in progress at `deadline` is left to end
	// on its own and counted by `previous`; the rest move all the same.
	// `previous` is stopped afterwards. Returns how many alerts moved.
	std::size_t take_over(SinkQueue &previous, std::chrono::steady_clock::time_point deadline);

	SinkStats stats() const;

private:
	struct State;
	std::shared_ptr<State> state_;
};

} // namespace mxwatch
