// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/sinks/alert_output.hpp"

#include "mxwatch/util/queue_worker.hpp"

#include <algorithm>
#include <mutex>
#include <spdlog/spdlog.h>

namespace mxwatch {

namespace {

// What the output adds before it renders: the host, an id, and (off the
// detection path: the first alert for a binary reads it whole) the executable's
// hash and which miner it is.
void stamp(Alert &alert, const HostIdentity &host, ExecutableHasher *hasher, MinerIdentifier *identifier = nullptr)
{
	if (hasher)
		complete_process_info(alert.process, *hasher);
	if (identifier && alert.process.sha256 && alert.process.executable_file && alert.stage() != AlertStage::Resolved)
		alert.miner = identifier->identify(*alert.process.executable_file, *alert.process.sha256);
	alert.host = host;
	alert.id = new_alert_id();
}

} // namespace

struct QueuedOutput::Shared {
	HostIdentity host;
	AlertFormat format = AlertFormat::Ecs;
	std::shared_ptr<ExecutableHasher> hasher;
	std::shared_ptr<MinerIdentifier> identifier;
	std::mutex mutex; // guards sinks against add_sink while rendering
	std::vector<std::unique_ptr<SinkQueue>> sinks;
	std::unique_ptr<QueueWorker<Alert>> render;

	explicit Shared(std::shared_ptr<ExecutableHasher> executable_hasher) : hasher(std::move(executable_hasher)) {}

	void render_and_fan_out(Alert &alert)
	{
		stamp(alert, host, hasher.get(), identifier.get());
		auto rendered = std::make_shared<const RenderedAlert>(render_alert(alert, format));
		std::lock_guard lock(mutex);
		for (auto &sink : sinks)
			sink->offer(rendered); // a full queue counts the drop itself
	}
};

QueuedOutput::QueuedOutput(HostIdentity host, OutputSettings settings)
    : shared_(std::make_shared<Shared>(settings.hasher)), settings_(settings)
{
	shared_->host = std::move(host);
	shared_->format = settings.format;
	shared_->identifier = settings.identifier;
	// The handler holds the shared state, not `this`: see QueueWorker.
	shared_->render = std::make_unique<QueueWorker<Alert>>(
	    settings.queue_capacity, [shared = std::weak_ptr<Shared>(shared_)](Alert &alert) {
		    if (auto s = shared.lock())
			    s->render_and_fan_out(alert);
	    });
}

QueuedOutput::~QueuedOutput()
{
	shutdown();
}

void QueuedOutput::shutdown()
{
	if (shut_down_)
		return;
	shut_down_ = true;
	const auto deadline = std::chrono::steady_clock::now() + settings_.drain_timeout;
	auto left = [&] {
		return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
		                                                  deadline - std::chrono::steady_clock::now()));
	};
	if (!shared_->render->stop(left()))
		spdlog::warn("alert rendering did not finish within {} ms", settings_.drain_timeout.count());
	std::lock_guard lock(shared_->mutex);
	// All sinks drain at once, against the same deadline.
	for (auto &sink : shared_->sinks)
		sink->close();
	for (auto &sink : shared_->sinks) {
		sink->stop(deadline);
		const SinkStats c = sink->stats();
		// Quiet when nothing happened: a start-up error after the sinks were made
		// must stay the one line the operator sees.
		if (c.delivered + c.failed + c.dropped > 0)
			spdlog::info("alert sink {}: {} delivered ({} late), {} failed, {} dropped, {} retried", c.name,
			             c.delivered, c.late, c.failed, c.dropped, c.retried);
	}
}

void QueuedOutput::add_sink(std::unique_ptr<AlertSink> sink)
{
	auto queue = std::make_unique<SinkQueue>(std::move(sink), settings_.queue_capacity, settings_.retry);
	std::lock_guard lock(shared_->mutex);
	shared_->sinks.push_back(std::move(queue));
}

std::size_t QueuedOutput::take_over_sinks(QueuedOutput &previous)
{
	const auto deadline = std::chrono::steady_clock::now() + settings_.drain_timeout;
	if (!previous.shared_->render->stop(settings_.drain_timeout))
		spdlog::warn("alert rendering did not finish within {} ms", settings_.drain_timeout.count());
	std::size_t moved = 0;
	std::scoped_lock lock(shared_->mutex, previous.shared_->mutex);
	auto &old = previous.shared_->sinks;
	for (auto &sink : shared_->sinks) {
		const auto same = std::find_if(old.begin(), old.end(), [&](const auto &q) { return q->name() == sink->name(); });
		if (same == old.end())
			continue;
		moved += sink->take_over(**same, deadline);
		old.erase(same);
	}
	return moved;
}

void QueuedOutput::publish(Alert alert)
{
	if (shared_->render->offer(std::move(alert)))
		return;
	// Every sink misses this one.
	std::lock_guard lock(shared_->mutex);
	for (auto &sink : shared_->sinks)
		sink->count_drop();
}

void QueuedOutput::reopen()
{
	std::lock_guard lock(shared_->mutex);
	for (auto &sink : shared_->sinks)
		sink->reopen();
}

bool QueuedOutput::flush(std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	if (!shared_->render->wait_idle(deadline))
		return false;
	std::lock_guard lock(shared_->mutex);
	for (auto &sink : shared_->sinks)
		if (!sink->wait_idle(deadline))
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
		if (sink->write(rendered) != Delivery::Delivered)
			spdlog::warn("alert sink {} could not deliver an alert: {}", sink->name(), sink->last_error());
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
	for (const auto &sink : shared_->sinks)
		out.push_back(sink->stats());
	return out;
}

} // namespace mxwatch
