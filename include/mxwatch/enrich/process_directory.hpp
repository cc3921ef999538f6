// SPDX-License-Identifier: GPL-2.0-only
// The enrich stage's view of processes: what is learnt about one at its first
// sample, whether it still runs later, and its executable's hash when an alert
// needs it. /proc on the live host (ProcDirectory); the recording's process
// lines in replay (recording/recording_source.hpp), where nothing is looked up
// on this host.
#pragma once

#include "mxwatch/detect/footprint.hpp"
#include "mxwatch/enrich/container_resolver.hpp"
#include "mxwatch/enrich/executable_hash.hpp"
#include "mxwatch/enrich/process_info.hpp"
#include "mxwatch/enrich/process_sockets.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace mxwatch {

struct ProcessFacts {
	ProcessInfo info;
	// /proc/PID/stat's starttime at first sight: later checks tell PID reuse apart.
	std::optional<std::uint64_t> start_ticks;
};

class ProcessDirectory {
public:
	virtual ~ProcessDirectory() = default;
	// At the first sample of the process `pid` the kernel says started at `start_ns`.
	virtual ProcessFacts first_seen(std::uint32_t pid, std::uint64_t start_ns) = 0;
	// Whether it still runs; nothing when this directory cannot tell.
	virtual std::optional<bool> running(std::uint32_t pid, const ProcessFacts &facts) const = 0;
	// The executable hash cache, shared with the alert output; null where the
	// executables are not on this host (replay).
	virtual std::shared_ptr<ExecutableHasher> hasher() const = 0;
	// Whether these processes run here, so that a response can be applied to them.
	virtual bool local() const = 0;
	// Its memory and CPU use now (enrich/footprint.hpp); nothing when it is gone
	// or when this directory cannot look (replay: footprints come from the recording).
	virtual std::optional<Footprint> footprint(std::uint32_t, const ProcessFacts &) { return std::nullopt; }
	// The process's sockets now (see process_sockets.hpp); nothing where the
	// processes are not on this host, or when `pid` is no longer that process.
	virtual std::optional<ProcessSockets> sockets(std::uint32_t pid, const ProcessFacts &facts) const
	{
		(void)pid, (void)facts;
		return std::nullopt;
	}
};

// The live host's /proc.
class ProcDirectory final : public ProcessDirectory {
public:
	// `containers`: where a process's container is looked up (asynchronously);
	// null: alerts carry only what the cgroup path says.
	explicit ProcDirectory(HashLimits limits = {}, std::string proc_root = "/proc",
			       std::shared_ptr<ContainerResolver> containers = nullptr);

	ProcessFacts first_seen(std::uint32_t pid, std::uint64_t start_ns) override;
	std::optional<bool> running(std::uint32_t pid, const ProcessFacts &facts) const override;
	std::shared_ptr<ExecutableHasher> hasher() const override { return hasher_; }
	bool local() const override { return true; }
	std::optional<Footprint> footprint(std::uint32_t pid, const ProcessFacts &facts) override;
	std::optional<ProcessSockets> sockets(std::uint32_t pid, const ProcessFacts &facts) const override;

private:
	std::shared_ptr<ExecutableHasher> hasher_;
	std::string proc_root_;
	std::shared_ptr<ContainerResolver> containers_;
};

} // namespace mxwatch
