// SPDX-License-Identifier: GPL-2.0-only
// Container metadata, looked up asynchronously and cached by container id.
//
//   first_seen (detection thread) --request()--> [bounded queue] --> resolver thread --> runtime API
//                 |                                                        |
//                 +-- ContainerLookup (shared) <---------- settled --------+
//
// request() never blocks: it returns the container's ContainerLookup at once
// (cached, or new and queued). Whoever holds it reads what is known now, or
// waits a bounded time (the pipeline holds a first alert back at most
// --container-wait for it). A full queue settles the lookup as failed at once.
// Cached entries are asked about again after `revalidate_after`; a runtime
// that no longer knows the container drops it from the cache (holders keep
// their copy). Failures are counted per runtime and warned about once per runtime.
#pragma once

#include "mxwatch/enrich/container_runtime.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mxwatch
{

// One container's metadata, filled in by the resolver's thread.
class ContainerLookup
{
public:
	ContainerLookup(std::string id, std::string runtime) : id_(std::move(id)), runtime_(std::move(runtime)) {}
	const std::string &id() const { return id_; }
	const std::string &runtime() const { return runtime_; }
	// What is known now: nothing while pending, after a failure or when the runtime does not know the container.
	std::optional<ContainerMetadata> get() const;
	// Whether the runtime answered (or failed to).
	bool settled() const;
	// Waits until settled or the deadline, whichever comes first; then get().
	std::optional<ContainerMetadata> wait_until(std::chrono::steady_clock::time_point deadline) const;

	// The resolver's side.
	void settle(std::optional<ContainerMetadata> metadata);

private:
	std::string id_, runtime_;
	mutable std::mutex mutex_;
	mutable std::condition_variable settled_cv_;
	bool settled_ = false;
	std::optional<ContainerMetadata> metadata_;
};

struct ResolverSettings {
	std::size_t queue_capacity = 256;          // lookups waiting for the thread
	std::size_t cache_entries = 1024;          // containers remembered (least recently requested go first)
	std::chrono::seconds revalidate_after{60}; // a cached container is asked about again after this
};

struct RuntimeLookupStats {
	std::string runtime;
	std::uint64_t found = 0;
	std::uint64_t not_found = 0;
	std::uint64_t failed = 0; // the runtime did not answer usefully (absent, timeout, garbage)
	std::string last_error;
	// After a failure, the container's OCI bundle (config.json): names found in
	// it, and bundles that could not be read (a symbolic link, too large, not JSON).
	std::uint64_t bundle_found = 0;
	std::uint64_t bundle_failed = 0;
};

struct ResolverStats {
	std::vector<RuntimeLookupStats> runtimes;
	std::uint64_t queue_drops = 0; // lookups not made: the queue was full
	std::size_t cached = 0;
};

class ContainerResolver
{
public:
	explicit ContainerResolver(std::vector<std::unique_ptr<ContainerRuntime>> runtimes,
	                           ResolverSettings settings = {});
	~ContainerResolver(); // stops the thread (after the request in flight, bounded by its timeouts)
	ContainerResolver(const ContainerResolver &) = delete;
	ContainerResolver &operator=(const ContainerResolver &) = delete;

	// Never blocks. Null when no configured runtime serves `runtime` (the name
	// the cgroup path gave: "docker", "podman", "containerd", "cri-o"; empty for a
	// pod's container of a runtime the path does not name: the first runs_pods()
	// runtime whose socket is there). The lookup's runtime() is the one asked.
	std::shared_ptr<const ContainerLookup> request(const std::string &id, const std::string &runtime);
	ResolverStats stats() const;

private:
	struct Entry {
		std::shared_ptr<ContainerLookup> lookup;
		ContainerRuntime *runtime = nullptr;
		std::chrono::steady_clock::time_point asked; // when the runtime was last asked
		bool in_queue = false;
		std::list<std::string>::iterator recency;
	};
	struct Job {
		std::shared_ptr<ContainerLookup> lookup;
		ContainerRuntime *runtime;
		bool revalidation;
	};

	void work();
	void answer(const Job &job, const RuntimeAnswer &answer, const std::optional<RuntimeAnswer> &bundle);
	void queue_revalidations(std::chrono::steady_clock::time_point now);
	void evict_if_full();
	RuntimeLookupStats &stats_of(const ContainerRuntime &runtime);

	std::vector<std::unique_ptr<ContainerRuntime>> runtimes_;
	ResolverSettings settings_;
	mutable std::mutex mutex_;
	std::condition_variable work_cv_;
	std::deque<Job> queue_;
	std::unordered_map<std::string, Entry> cache_;
	std::list<std::string> recency_; // most recently requested first
	std::map<std::string, RuntimeLookupStats> stats_;
	std::set<std::string> warned_;
	std::uint64_t queue_drops_ = 0;
	bool stopping_ = false;
	std::thread thread_; // started by the first request()
};

} // namespace mxwatch
