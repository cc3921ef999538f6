// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/sinks/alert_output.hpp"

#include "mxwatch/util/queue_worker.hpp"

#include <atomic>
#include <bit>
#include <mutex>
#include <spdlog/spdlog.h>

namespace mxwatch {

using RenderedPtr = std::shared_ptr<const RenderedAlert>;

namespace {

// What the output adds before it renders: the host, an id, and (off the
// detection path: the first alert for a binary reads it whole) the executable's hash.
void stamp(Alert &alert, const HostIdentity &host, ExecutableHasher *hasher)
{
	if (hasher)
		complete_process_info(alert.process, *hasher);
	alert.host = host;
	alert.id = new_alert_id();
}

} // namespace

struct SinkCounters {
	std::atomic<std::uint64_t> delivered{0}, failed{0}, dropped{0};
};

// One sink, its queue and its thread. The queue's handler holds the sink and the
// counters by shared_ptr, so a thread abandoned at shutdown keeps what it uses.
struct QueuedOutput::SinkWorker {
	std::string name;
	std::shared_ptr<SinkCounters> counters = std::make_shared<SinkCounters>();
	std::unique_ptr<QueueWorker<RenderedPtr>> queue;

	void count_drop(std::uint64_t n = 1)
	{
		if (n == 0)
			return;
		const auto total = counters->dropped.fetch_add(n) + n;
		// Logged at powers of two: visible at once, never a flood.
		if (std::has_single_bit(total))
			spdlog::warn("alert sink {} is not keeping up: {} alert{} dropped so far", name, total,
			             total == 1 ? "" : "s");
	}
};

struct QueuedOutput::Shared {
	HostIdentity host;
	AlertFormat format = AlertFormat::Ecs;
	std::shared_ptr<ExecutableHasher> hasher;
	std::mutex mutex; // guards sinks against add_sink while rendering
	std::vector<std::shared_ptr<SinkWorker>> sinks;
	std::unique_ptr<QueueWorker<Alert>> render;

	explicit Shared(std::shared_ptr<ExecutableHasher> executable_hasher) : hasher(std::move(executable_hasher)) {}

	void render_and_fan_out(Alert &alert)
	{
		stamp(alert, host, hasher.get());
		auto rendered = std::make_shared<const RenderedAlert>(render_alert(alert, format));
		std::lock_guard lock(mutex);
		for (auto &worker : sinks)
			if (!worker->queue->offer(rendered))
				worker->count_drop();
	}
};

QueuedOutput::QueuedOutput(HostIdentity host, OutputSettings settings)
    : shared_(std::make_shared<Shared>(settings.hasher)), settings_(settings)
{
	shared_->host = std::move(host);
	shared_->format = settings.format;
	// The handler holds the shared state, not `this`: see QueueWorker.
	shared_->render = std::make_unique<QueueWorker<Alert>>(
	    settings.queue_capacity, [shared = std::weak_ptr<Shared>(shared_)](Alert &alert) {
		    if (auto s = shared.lock())
			    s->render_and_fan_out(alert);
	    });
}

QueuedOutput::~QueuedOutput()
{
	const auto deadline = std::chrono::steady_clock::now() + settings_.drain_timeout;
	auto left = [&] {
		return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
		                                                  deadline - std::chrono::steady_clock::now()));
	};
	if (!shared_->render->stop(left()))
		spdlog::warn("alert rendering did not finish within {} ms", settings_.drain_timeout.count());
	std::lock_guard lock(shared_->mutex);
	for (auto &worker : shared_->sinks) {
		const auto queued = worker->queue->queued();
		if (!worker->queue->stop(left())) {
			worker->count_drop(queued);
			spdlog::warn("alert sink {} did not drain in time; abandoning it", worker->name);
		}
		const SinkCounters &c = *worker->counters;
		// Quiet when nothing happened: a start-up error after the sinks were made
		// must stay the one line the operator sees.
		if (c.delivered + c.failed + c.dropped > 0)
			spdlog::info("alert sink {}: {} delivered, {} failed, {} dropped", worker->name, c.delivered.load(),
				     c.failed.load(), c.dropped.load());
	}
}

void QueuedOutput::add_sink(std::unique_ptr<AlertSink> sink)
{
	auto worker = std::make_shared<SinkWorker>();
	worker->name = sink->name();
	std::shared_ptr<AlertSink> shared_sink = std::move(sink);
	worker->queue = std::make_unique<QueueWorker<RenderedPtr>>(
	    settings_.queue_capacity,
	    [sink = shared_sink, counters = worker->counters](RenderedPtr &alert) {
		    (sink->write(*alert) ? counters->delivered : counters->failed).fetch_add(1);
	    },
	    [sink = shared_sink] { sink->reopen(); });
	std::lock_guard lock(shared_->mutex);
	shared_->sinks.push_back(std::move(worker));
}

void QueuedOutput::publish(Alert alert)
{
	if (shared_->render->offer(std::move(alert)))
		return;
	// Every sink misses this one.
	std::lock_guard lock(shared_->mutex);
	for (auto &worker : shared_->sinks)
		worker->count_drop();
}

void QueuedOutput::reopen()
{
	std::lock_guard lock(shared_->mutex);
	for (auto &worker : shared_->sinks)
		worker->queue->poke();
}

bool QueuedOutput::flush(std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	if (!shared_->render->wait_idle(deadline))
		return false;
	std::lock_guard lock(shared_->mutex);
	for (auto &worker : shared_->sinks)
		if (!worker->queue->wait_idle(deadline))
			return false;
	return true;
}

JsonLinesOutput::JsonLinesOutput(HostIdentity host, AlertFormat format, std::shared_ptr<ExecutableHasher> hasher)
    : host_(std::move(host)), format_(format), hasher_(std::move(hasher))
{
}

void JsonLinesOutput::publish(Alert alert)
{
	stamp(alert, host_, hasher_.get());
	const RenderedAlert rendered = render_alert(alert, format_);
	for (auto &sink : sinks_)
		if (!sink->write(rendered))
			spdlog::warn("alert sink {} could not deliver an alert", sink->name());
}

void JsonLinesOutput::reopen()
{
	for (auto &sink : sinks_)
		sink->reopen();
}

std::vector<SinkStats> QueuedOutput::stats() const
{
	std::vector<SinkStats> out;
	std::lock_guard lock(shared_->mutex);
	for (const auto &worker : shared_->sinks)
		out.push_back({worker->name, worker->counters->delivered.load(), worker->counters->failed.load(),
		               worker->counters->dropped.load()});
	return out;
}

} // namespace mxwatch
