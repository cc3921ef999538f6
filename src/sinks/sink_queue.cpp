// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/sinks/sink_queue.hpp"

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>
#include <vector>

namespace mxwatch
{
namespace
{

using Clock = std::chrono::steady_clock;

// While a sink stays down, the log says so again this often.
constexpr auto kReminderInterval = std::chrono::minutes(5);
// At shutdown, how long a thread that was told to give up may take to notice.
constexpr auto kGiveUpGrace = std::chrono::milliseconds(100);

const char *plural(std::uint64_t n)
{
	return n == 1 ? "" : "s";
}

double seconds(Clock::duration d)
{
	return std::chrono::duration<double>(d).count();
}

} // namespace

// Everything the thread touches, shared with it: a thread abandoned at shutdown
// (stuck in a write) keeps it alive and never sees dangling pointers.
struct SinkQueue::State {
	std::string name;
	std::unique_ptr<AlertSink> sink;
	std::size_t capacity = 0;
	Backoff backoff;

	mutable std::mutex mutex;
	std::condition_variable wake; // an item, a poke, close, give up
	std::condition_variable idle; // drained or finished
	std::deque<Item> items;
	std::size_t in_flight = 0; // alerts in the sink's hands (1 during a reopen)
	bool poked = false;
	bool closed = false;
	bool abandoned = false; // shutdown gave up: end without writing more
	bool finished = false;
	bool stopped = false; // stop() ran
	bool handing_over = false; // take_over(): end after the write in progress
	Clock::time_point retry_at{};
	std::thread thread;

	std::uint64_t delivered = 0, failed = 0, dropped = 0, retried = 0, late = 0;

	// The outage in progress, if any.
	bool failing = false;
	bool recovering = false; // delivering again, the backlog not yet out
	std::size_t backlog = 0; // alerts queued before the recovery still to go
	std::uint64_t late_in_outage = 0, dropped_before = 0, retried_before = 0;
	Clock::time_point failing_since{}, recovered_at{}, last_reminder{};
	std::string last_error;

	State(std::unique_ptr<AlertSink> s, std::size_t cap, BackoffPolicy policy)
	    : name(s->name()), sink(std::move(s)), capacity(cap), backoff(policy)
	{
	}

	// `n`: the alerts of the delivery (a batch), already counted in `delivered`.
	void on_delivered(Clock::time_point now, std::uint64_t n)
	{
		backoff.reset();
		retry_at = {};
		if (!failing)
			return;
		late += n;
		late_in_outage += n;
		if (!recovering) {
			recovering = true;
			recovered_at = now;
			backlog = items.size();
		} else {
			backlog -= std::min<std::size_t>(backlog, n);
		}
		if (backlog > 0)
			return;
		spdlog::warn("alert sink {} recovered after {:.1f} s: {} alert{} delivered late, {} dropped and {} "
		             "attempt{} retried meanwhile",
		             name, seconds(recovered_at - failing_since), late_in_outage, plural(late_in_outage),
		             dropped - dropped_before, retried - retried_before, plural(retried - retried_before));
		failing = recovering = false;
		late_in_outage = 0;
	}

	// `attempted`: the alerts of the attempt (already counted in `retried`).
	void on_retry(const std::string &error, Clock::time_point now, std::uint64_t attempted)
	{
		const auto wait = backoff.next();
		retry_at = now + wait;
		last_error = error;
		if (!failing) {
			failing = true;
			recovering = false;
			failing_since = last_reminder = now;
			dropped_before = dropped;
			retried_before = retried - attempted;
			late_in_outage = 0;
			spdlog::warn(
			    "alert sink {} is failing ({}): {} alert{} kept queued and retried, first in {} ms, "
			    "then backing off up to {} s",
			    name, error, items.size(), plural(items.size()), wait.count(),
			    backoff.policy().max.count() / 1000.0);
			return;
		}
		recovering = false; // down again before the backlog went out: the same outage
		if (now - last_reminder >= kReminderInterval) {
			last_reminder = now;
			spdlog::warn("alert sink {} still failing after {:.0f} s ({}): {} queued, {} dropped so far",
			             name, seconds(now - failing_since), error, items.size(), dropped);
			return;
		}
		spdlog::debug("alert sink {}: {}; retrying in {} ms", name, error, wait.count());
	}

	void on_rejected(const std::string &error)
	{
		backoff.reset();
		retry_at = {};
		// Logged at powers of two: visible at once, never a flood.
		if (std::has_single_bit(failed))
			spdlog::warn("alert sink {} rejected an alert ({}): {} alert{} failed so far", name, error,
			             failed, plural(failed));
	}

	void count_drop(std::uint64_t n)
	{
		const std::uint64_t before = dropped;
		dropped += n;
		if (std::bit_width(before) != std::bit_width(dropped))
			spdlog::warn(
			    "alert sink {} is not keeping up: {} alert{} dropped so far ({} queued, the most it "
			    "holds{})",
			    name, dropped, plural(dropped), items.size() + in_flight,
			    failing ? "; it is failing: " + last_error : "");
	}

	bool idle_now() const { return items.empty() && in_flight == 0; }

	// After stop() or take_over(): joins a thread that finished; one still inside
	// a write is left to end on its own (it holds this state alive).
	void release_thread(bool done)
	{
		if (!thread.joinable())
			return;
		if (done)
			thread.join();
		else
			thread.detach();
	}

	static void run(State &s)
	{
		std::unique_lock lock(s.mutex);
		while (!s.abandoned && !s.handing_over) {
			if (s.poked) {
				s.poked = false;
				s.in_flight = 1;
				lock.unlock();
				try {
					s.sink->reopen();
				} catch (...) {
				}
				lock.lock();
				s.in_flight = 0;
				s.retry_at = {}; // an operator's SIGHUP: try the waiting alert now
				continue;
			}
			if (s.items.empty() && s.closed)
				break;
			// Between alerts (not in an outage: the alert being retried goes first).
			const auto refresh_at = s.failing ? std::nullopt : s.sink->refresh_due();
			if (refresh_at && Clock::now() >= *refresh_at) {
				lock.unlock();
				try {
					s.sink->refresh();
				} catch (const std::exception &e) {
					spdlog::warn("alert sink {}: refresh failed: {}", s.name, e.what());
				} catch (...) {
				}
				lock.lock();
				continue;
			}
			if (s.items.empty()) {
				s.idle.notify_all();
				if (refresh_at)
					s.wake.wait_until(lock, *refresh_at);
				else
					s.wake.wait(lock);
				continue;
			}
			if (Clock::now() < s.retry_at) {
				s.wake.wait_until(lock, s.retry_at);
				continue;
			}
			// One alert, or as many as the sink takes at once (NDJSON batches).
			std::vector<Item> batch;
			const std::size_t limit = std::max<std::size_t>(1, s.sink->batch_limit());
			while (!s.items.empty() && batch.size() < limit) {
				batch.push_back(std::move(s.items.front()));
				s.items.pop_front();
			}
			const std::uint64_t n = batch.size();
			s.in_flight = n;
			lock.unlock();
			Delivery result = Delivery::Rejected;
			std::string error;
			// An escaping exception must not end the thread (std::terminate) and with
			// it the daemon; nor may it hold the queue forever.
			try {
				if (n == 1) {
					result = s.sink->write(*batch.front());
				} else {
					std::vector<const RenderedAlert *> alerts;
					for (const Item &item : batch)
						alerts.push_back(item.get());
					result = s.sink->write_batch(alerts);
				}
				if (result != Delivery::Delivered)
					error = s.sink->last_error();
			} catch (const std::exception &e) {
				error = e.what();
			} catch (...) {
				error = "unknown exception";
			}
			if (error.empty())
				error = "no reason given";
			lock.lock();
			s.in_flight = 0;
			if (s.abandoned) {
				(result == Delivery::Delivered ? s.delivered : s.failed) += n;
				break;
			}
			switch (result) {
			case Delivery::Delivered:
				s.delivered += n;
				s.on_delivered(Clock::now(), n);
				break;
			case Delivery::Rejected:
				s.failed += n;
				s.on_rejected(error);
				break;
			case Delivery::Retry:
				// They stay first: order is kept.
				for (auto it = batch.rbegin(); it != batch.rend(); ++it)
					s.items.push_front(std::move(*it));
				s.retried += n;
				s.on_retry(error, Clock::now(), n);
				break;
			}
		}
		s.finished = true;
		s.idle.notify_all();
	}
};

SinkQueue::SinkQueue(std::unique_ptr<AlertSink> sink, std::size_t capacity, BackoffPolicy backoff)
    : state_(std::make_shared<State>(std::move(sink), capacity, backoff))
{
	state_->thread = std::thread([state = state_] { State::run(*state); });
}

SinkQueue::~SinkQueue()
{
	stop(Clock::now());
}

const std::string &SinkQueue::name() const
{
	return state_->name;
}

bool SinkQueue::offer(Item alert)
{
	{
		std::lock_guard lock(state_->mutex);
		if (state_->closed || state_->items.size() + state_->in_flight >= state_->capacity) {
			state_->count_drop(1);
			return false;
		}
		state_->items.push_back(std::move(alert));
	}
	state_->wake.notify_one();
	return true;
}

void SinkQueue::count_drop(std::uint64_t n)
{
	if (n == 0)
		return;
	std::lock_guard lock(state_->mutex);
	state_->count_drop(n);
}

void SinkQueue::reopen()
{
	{
		std::lock_guard lock(state_->mutex);
		state_->poked = true;
	}
	state_->wake.notify_one();
}

bool SinkQueue::wait_idle(Clock::time_point deadline)
{
	std::unique_lock lock(state_->mutex);
	return state_->idle.wait_until(lock, deadline,
	                               [&] { return state_->finished || (state_->idle_now() && !state_->poked); });
}

void SinkQueue::close()
{
	{
		std::lock_guard lock(state_->mutex);
		state_->closed = true;
	}
	state_->wake.notify_one();
}

std::uint64_t SinkQueue::stop(Clock::time_point deadline)
{
	State &s = *state_;
	close();
	std::unique_lock lock(s.mutex);
	if (s.stopped)
		return 0;
	s.stopped = true;
	s.idle.wait_until(lock, deadline, [&] { return s.finished; });
	std::uint64_t given_up = 0;
	bool writing = false;
	if (!s.finished) {
		s.abandoned = true;
		given_up = s.items.size();
		s.failed += given_up;
		s.items.clear();
		writing = s.in_flight > 0;
		s.wake.notify_one();
		// A thread waiting for its next retry ends at once; one inside a write is
		// left to finish it (counted then, if it ever returns).
		s.idle.wait_for(lock, kGiveUpGrace, [&] { return s.finished; });
	}
	const bool done = s.finished;
	const std::string error = s.failing ? s.last_error : std::string{};
	lock.unlock();
	s.release_thread(done);
	if (given_up > 0 || writing)
		spdlog::warn(
		    "alert sink {}: {} alert{} not delivered when the drain timeout ended{}{}; counted as failed",
		    s.name, given_up, plural(given_up), error.empty() ? "" : " (" + error + ")",
		    writing ? ", and one still being written" : "");
	return given_up;
}

std::size_t SinkQueue::take_over(SinkQueue &previous, Clock::time_point deadline)
{
	State &p = *previous.state_;
	State &s = *state_;
	std::unique_lock old(p.mutex);
	if (p.stopped)
		return 0;
	p.stopped = true;
	p.closed = true;
	p.handing_over = true;
	p.wake.notify_one();
	p.idle.wait_until(old, deadline, [&] { return p.finished; });
	const bool done = p.finished;
	const bool writing = !done && p.in_flight > 0;
	if (!done)
		p.abandoned = true; // the write in progress is counted by `previous` when it returns
	std::size_t moved = 0;
	{
		std::lock_guard lock(s.mutex);
		moved = p.items.size();
		for (auto it = p.items.rbegin(); it != p.items.rend(); ++it)
			s.items.push_front(std::move(*it));
		p.items.clear();
		s.delivered += p.delivered;
		s.failed += p.failed;
		s.dropped += p.dropped;
		s.retried += p.retried;
		s.late += p.late;
		if (p.failing && !s.failing) { // the same outage goes on: no second "is failing" warning
			s.failing = true;
			s.recovering = false;
			s.failing_since = p.failing_since;
			s.last_reminder = p.last_reminder;
			s.last_error = p.last_error;
			s.dropped_before = p.dropped_before;
			s.retried_before = p.retried_before;
			s.late_in_outage = p.late_in_outage;
		}
		s.retry_at = {}; // an operator's SIGHUP: try the waiting alerts now
		p.delivered = p.failed = p.dropped = p.retried = p.late = 0;
	}
	old.unlock();
	s.wake.notify_one();
	p.release_thread(done);
	if (writing)
		spdlog::warn("alert sink {}: a write was still in progress at the reload; {} queued alert{} moved to "
		             "the reloaded sink",
		             s.name, moved, plural(moved));
	return moved;
}

SinkStats SinkQueue::stats() const
{
	const State &s = *state_;
	std::lock_guard lock(s.mutex);
	return {s.name, s.delivered, s.failed, s.dropped, s.retried, s.late, s.items.size() + s.in_flight, s.failing};
}

} // namespace mxwatch
