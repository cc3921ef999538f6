// SPDX-License-Identifier: GPL-2.0-only
// A bounded queue with one thread that handles its items in order.
//
// offer() never blocks: when the queue is full the item is refused and the caller
// counts a drop. This is what keeps a slow or dead alert sink from ever stalling
// detection. The thread's state is shared with the thread itself, so a worker
// stuck in a handler at shutdown can be abandoned (detached) without leaving it
// with dangling pointers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace mxwatch {

template <typename T> class QueueWorker {
public:
	using Handler = std::function<void(T &)>;

	// `on_poke` runs in the worker's thread, before the next item, after poke().
	QueueWorker(std::size_t capacity, Handler handler, std::function<void()> on_poke = {})
	    : state_(std::make_shared<State>())
	{
		state_->capacity = capacity;
		state_->handler = std::move(handler);
		state_->on_poke = std::move(on_poke);
		thread_ = std::thread([state = state_] { run(*state); });
	}

	~QueueWorker() { stop(std::chrono::milliseconds(0)); }
	QueueWorker(const QueueWorker &) = delete;
	QueueWorker &operator=(const QueueWorker &) = delete;

	// False (and the item is not taken) when the queue is full or closed.
	bool offer(T item)
	{
		{
			std::lock_guard lock(state_->mutex);
			if (state_->closed || state_->items.size() >= state_->capacity)
				return false;
			state_->items.push_back(std::move(item));
		}
		state_->wake.notify_one();
		return true;
	}

	void poke()
	{
		{
			std::lock_guard lock(state_->mutex);
			state_->poked = true;
		}
		state_->wake.notify_one();
	}

	// True once everything offered so far has been handled.
	bool wait_idle(std::chrono::steady_clock::time_point deadline)
	{
		std::unique_lock lock(state_->mutex);
		return state_->idle.wait_until(lock, deadline, [&] { return state_->items.empty() && !state_->busy; });
	}

	// No more offers; the thread handles what is queued and ends. Joins it if it
	// ends before `grace` passes, else detaches it (it then ends on its own, or
	// with the process). True when it ended in time.
	bool stop(std::chrono::milliseconds grace)
	{
		if (!thread_.joinable())
			return true;
		{
			std::lock_guard lock(state_->mutex);
			state_->closed = true;
		}
		state_->wake.notify_one();
		std::unique_lock lock(state_->mutex);
		const bool done = state_->idle.wait_for(lock, grace, [&] { return state_->finished; });
		lock.unlock();
		if (done)
			thread_.join();
		else
			thread_.detach();
		return done;
	}

	std::size_t queued() const
	{
		std::lock_guard lock(state_->mutex);
		return state_->items.size();
	}

private:
	struct State {
		mutable std::mutex mutex;
		std::condition_variable wake; // items, poke or close
		std::condition_variable idle; // drained or finished
		std::deque<T> items;
		std::size_t capacity = 0;
		bool busy = false;
		bool poked = false;
		bool closed = false;
		bool finished = false;
		Handler handler;
		std::function<void()> on_poke;
	};

	static void run(State &s)
	{
		std::unique_lock lock(s.mutex);
		while (true) {
			s.wake.wait(lock, [&] { return !s.items.empty() || s.poked || s.closed; });
			if (s.poked) {
				s.poked = false;
				s.busy = true;
				lock.unlock();
				if (s.on_poke)
					s.on_poke();
				lock.lock();
				s.busy = false;
				if (s.items.empty())
					s.idle.notify_all();
				continue;
			}
			if (s.items.empty())
				break; // closed and drained
			T item = std::move(s.items.front());
			s.items.pop_front();
			s.busy = true;
			lock.unlock();
			// Handlers report their own failures; an escaping exception must not
			// end the thread (std::terminate) and with it the daemon.
			try {
				s.handler(item);
			} catch (...) {
			}
			lock.lock();
			s.busy = false;
			if (s.items.empty())
				s.idle.notify_all();
		}
		s.finished = true;
		s.idle.notify_all();
	}

	std::shared_ptr<State> state_;
	std::thread thread_;
};

} // namespace mxwatch
