// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/container_resolver.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

namespace mxwatch
{
namespace
{

// How often the thread looks for cached containers due for revalidation.
constexpr std::chrono::seconds kSweepInterval{10};

} // namespace

std::optional<ContainerMetadata> ContainerLookup::get() const
{
	std::lock_guard lock(mutex_);
	return metadata_;
}

bool ContainerLookup::settled() const
{
	std::lock_guard lock(mutex_);
	return settled_;
}

std::optional<ContainerMetadata> ContainerLookup::wait_until(std::chrono::steady_clock::time_point deadline) const
{
	std::unique_lock lock(mutex_);
	settled_cv_.wait_until(lock, deadline, [this] { return settled_; });
	return metadata_;
}

void ContainerLookup::settle(std::optional<ContainerMetadata> metadata)
{
	{
		std::lock_guard lock(mutex_);
		settled_ = true;
		if (metadata)
			metadata_ = std::move(metadata);
	}
	settled_cv_.notify_all();
}

ContainerResolver::ContainerResolver(std::vector<std::unique_ptr<ContainerRuntime>> runtimes, ResolverSettings settings)
    : runtimes_(std::move(runtimes)), settings_(settings)
{
	for (const auto &runtime : runtimes_)
		stats_[runtime->name()].runtime = runtime->name();
}

ContainerResolver::~ContainerResolver()
{
	{
		std::lock_guard lock(mutex_);
		stopping_ = true;
	}
	work_cv_.notify_all();
	if (thread_.joinable())
		thread_.join();
	for (auto &job : queue_) // nobody waits past shutdown
		job.lookup->settle(std::nullopt);
}

std::shared_ptr<const ContainerLookup> ContainerResolver::request(const std::string &id,
                                                                  const std::string &runtime_name)
{
	ContainerRuntime *runtime = nullptr;
	for (const auto &candidate : runtimes_)
		if (candidate->name() == runtime_name)
			runtime = candidate.get();
	// A pod's container whose cgroup path does not say which runtime made it: the
	// first runtime that runs pods and whose socket is there (none: not asked).
	if (runtime_name.empty())
		for (const auto &candidate : runtimes_)
			if (!runtime && candidate->runs_pods() && candidate->available())
				runtime = candidate.get();
	if (!runtime || id.empty())
		return nullptr;
	std::lock_guard lock(mutex_);
	// Started at the first request, not at construction: by then the daemon has
	// dropped its capabilities (per thread, inherited), and a thread started
	// from the real-time reader is a normal one (SCHED_RESET_ON_FORK).
	if (!thread_.joinable())
		thread_ = std::thread([this] { work(); });
	if (auto it = cache_.find(id); it != cache_.end()) {
		recency_.splice(recency_.begin(), recency_, it->second.recency);
		return it->second.lookup;
	}
	auto lookup = std::make_shared<ContainerLookup>(id, runtime->name());
	if (queue_.size() >= settings_.queue_capacity) {
		queue_drops_++;
		lookup->settle(std::nullopt); // not cached: the next process of this container asks again
		return lookup;
	}
	evict_if_full();
	recency_.push_front(id);
	cache_[id] = Entry{lookup, runtime, std::chrono::steady_clock::now(), true, recency_.begin()};
	queue_.push_back({lookup, runtime, false});
	work_cv_.notify_one();
	return lookup;
}

void ContainerResolver::evict_if_full()
{
	while (cache_.size() >= settings_.cache_entries && !recency_.empty()) {
		cache_.erase(recency_.back());
		recency_.pop_back();
	}
}

RuntimeLookupStats &ContainerResolver::stats_of(const ContainerRuntime &runtime)
{
	auto &stats = stats_[runtime.name()];
	stats.runtime = runtime.name();
	return stats;
}

ResolverStats ContainerResolver::stats() const
{
	std::lock_guard lock(mutex_);
	ResolverStats out;
	for (const auto &[name, stats] : stats_)
		out.runtimes.push_back(stats);
	out.queue_drops = queue_drops_;
	out.cached = cache_.size();
	return out;
}

void ContainerResolver::queue_revalidations(std::chrono::steady_clock::time_point now)
{
	for (auto &[id, entry] : cache_) {
		if (queue_.size() >= settings_.queue_capacity)
			break;
		if (entry.in_queue || now - entry.asked < settings_.revalidate_after)
			continue;
		entry.in_queue = true;
		queue_.push_back({entry.lookup, entry.runtime, true});
	}
}

void ContainerResolver::answer(const Job &job, const RuntimeAnswer &answer, const std::optional<RuntimeAnswer> &bundle)
{
	std::lock_guard lock(mutex_);
	RuntimeLookupStats &stats = stats_of(*job.runtime);
	const auto it = cache_.find(job.lookup->id());
	const bool cached = it != cache_.end() && it->second.lookup == job.lookup;
	if (cached) {
		it->second.in_queue = false;
		it->second.asked = std::chrono::steady_clock::now();
	}
	switch (answer.kind) {
	case RuntimeAnswer::Kind::Found:
		stats.found++;
		job.lookup->settle(answer.metadata);
		break;
	case RuntimeAnswer::Kind::NotFound:
		stats.not_found++;
		job.lookup->settle(std::nullopt);
		// Gone (or never this runtime's): forget it; whoever holds the lookup keeps what it had.
		if (job.revalidation && cached) {
			recency_.erase(it->second.recency);
			cache_.erase(it);
		}
		break;
	case RuntimeAnswer::Kind::Failed: {
		stats.failed++;
		stats.last_error = answer.error;
		const bool from_bundle = bundle && bundle->kind == RuntimeAnswer::Kind::Found;
		if (bundle && bundle->kind == RuntimeAnswer::Kind::Failed) {
			stats.bundle_failed++;
			if (warned_.insert(job.runtime->name() + " bundle").second)
				spdlog::warn("container runtime {}: its OCI bundle could not be read: {} (counted in "
				             "mxwatch_container_bundle_failures_total, warned once)",
				             job.runtime->name(), bundle->error);
		}
		if (from_bundle)
			stats.bundle_found++;
		job.lookup->settle(from_bundle ? bundle->metadata : std::nullopt);
		if (warned_.insert(job.runtime->name()).second)
			spdlog::warn("container runtime {} ({}): {}; alerts go out without its container names{} "
			             "(failures are counted in mxwatch_container_lookup_failures_total, warned once)",
			             job.runtime->name(), job.runtime->endpoint(), answer.error,
			             job.runtime->bundle_endpoint().empty()
			                 ? ""
			                 : fmt::format(" but those in its OCI bundles ({}/.../config.json)",
			                               job.runtime->bundle_endpoint()));
		else
			spdlog::debug("container runtime {}: {}", job.runtime->name(), answer.error);
		if (from_bundle)
			break; // kept, and asked again after revalidate_after
		// A first lookup that failed is not kept: the next process of this container asks
		// again. Nor is one whose bundle has gone since (the container is gone).
		const bool bundle_gone = bundle && bundle->kind == RuntimeAnswer::Kind::NotFound;
		if ((!job.revalidation || bundle_gone) && cached) {
			recency_.erase(it->second.recency);
			cache_.erase(it);
		}
		break;
	}
	}
}

void ContainerResolver::work()
{
	pthread_setname_np(pthread_self(), "mxw-containers");
	auto next_sweep = std::chrono::steady_clock::now() + kSweepInterval;
	std::unique_lock lock(mutex_);
	while (!stopping_) {
		if (queue_.empty()) {
			work_cv_.wait_until(lock, next_sweep, [this] { return stopping_ || !queue_.empty(); });
			if (const auto now = std::chrono::steady_clock::now(); now >= next_sweep) {
				queue_revalidations(now);
				next_sweep = now + kSweepInterval;
			}
			continue;
		}
		Job job = std::move(queue_.front());
		queue_.pop_front();
		lock.unlock();
		const RuntimeAnswer result = job.runtime->inspect(job.lookup->id());
		std::optional<RuntimeAnswer> bundle;
		if (result.kind == RuntimeAnswer::Kind::Failed)
			bundle = job.runtime->inspect_bundle(job.lookup->id());
		answer(job, result, bundle);
		lock.lock();
	}
}

} // namespace mxwatch
