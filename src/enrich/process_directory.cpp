// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/process_directory.hpp"

#include "mxwatch/enrich/footprint.hpp"
#include "mxwatch/enrich/process_liveness.hpp"

namespace mxwatch {

ProcDirectory::ProcDirectory(HashLimits limits, std::string proc_root, std::shared_ptr<ContainerResolver> containers)
    : hasher_(std::make_shared<ExecutableHasher>(limits)), proc_root_(std::move(proc_root)),
      containers_(std::move(containers))
{
}

ProcessFacts ProcDirectory::first_seen(std::uint32_t pid, std::uint64_t)
{
	// Read now: short-lived processes are gone by the time they are reported.
	ProcessFacts facts{read_process_info(pid, proc_root_), read_start_ticks(pid, proc_root_)};
	// The container's names are asked for now, off this thread, so that they
	// are usually known by the time the process is judged.
	// A bare id under a pod's cgroup (cgroupfs driver) does not name its runtime:
	// the resolver asks the one that runs pods here.
	if (auto &c = facts.info.container; containers_ && c && c->id && (c->runtime || c->pod_uid)) {
		facts.info.container_lookup = containers_->request(*c->id, c->runtime.value_or(""));
		if (facts.info.container_lookup && !c->runtime)
			c->runtime = facts.info.container_lookup->runtime();
	}
	return facts;
}

std::optional<bool> ProcDirectory::running(std::uint32_t pid, const ProcessFacts &facts) const
{
	return facts.start_ticks && same_process_alive(pid, *facts.start_ticks, proc_root_);
}

std::optional<Footprint> ProcDirectory::footprint(std::uint32_t pid, const ProcessFacts &facts)
{
	return read_footprint(pid, facts.start_ticks, proc_root_);
}

std::optional<ProcessSockets> ProcDirectory::sockets(std::uint32_t pid, const ProcessFacts &facts) const
{
	// The same process before and after: a pid reused in between is not it.
	if (running(pid, facts) != true)
		return std::nullopt;
	ProcessSockets found = process_sockets(pid, kMaxSocketsPerAlert, proc_root_);
	if (running(pid, facts) != true)
		return std::nullopt;
	return found;
}

} // namespace mxwatch
