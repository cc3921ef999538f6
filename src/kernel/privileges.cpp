// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/privileges.hpp"

#include "mxwatch/util/capabilities.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/util/kernel_version.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sys/capability.h>
#include <sys/prctl.h>

namespace mxwatch {

std::vector<std::string> capabilities_to_keep(const PrivilegeNeeds &needs)
{
	// /proc/<pid>/exe, cwd and environ of other users' processes need a
	// ptrace-read check; opening their executables for hashing needs the
	// files to be readable.
	std::vector<std::string> keep = {"cap_sys_ptrace", "cap_dac_read_search"};
	if (needs.signal_processes)
		keep.push_back("cap_kill");
	if (needs.bpf_syscalls)
		keep.push_back("cap_bpf");
	return keep;
}

bool kernel_needs_cap_bpf_for_map_reads()
{
	// Until 6.5 every bpf() command checked unprivileged_bpf_disabled, even on
	// a map fd the caller already holds; since then only loading does.
	int disabled = 0;
	if (std::ifstream sysctl("/proc/sys/kernel/unprivileged_bpf_disabled"); !(sysctl >> disabled))
		disabled = 1;
	if (disabled == 0)
		return false;
	const auto version = running_kernel_version();
	return !version || *version < KernelVersion{6, 5};
}

std::string drop_capabilities(const std::vector<std::string> &keep)
{
	const CapState current = thread_capabilities();
	const CapState wanted(cap_init());
	if (!current || !wanted)
		throw SetupError(fmt::format("cannot read capabilities: {}", std::strerror(errno)));

	std::vector<cap_value_t> kept;
	for (const auto &name : keep) {
		cap_value_t value{};
		if (cap_from_name(name.c_str(), &value) != 0)
			continue; // a capability this libcap does not know (an old system): nothing to keep
		if (has_capability(current.get(), value, CAP_PERMITTED))
			kept.push_back(value);
	}
	if (!kept.empty()) {
		cap_set_flag(wanted.get(), CAP_EFFECTIVE, static_cast<int>(kept.size()), kept.data(), CAP_SET);
		cap_set_flag(wanted.get(), CAP_PERMITTED, static_cast<int>(kept.size()), kept.data(), CAP_SET);
	}

	// The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
	if (has_capability(current.get(), CAP_SETPCAP, CAP_EFFECTIVE)) {
		for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++) {
			if (std::find(kept.begin(), kept.end(), cap) == kept.end() && CAP_IS_SUPPORTED(cap) &&
			    cap_drop_bound(cap) != 0)
				throw SetupError(fmt::format("cannot drop capability {} from the bounding set: {}",
							     static_cast<int>(cap), std::strerror(errno)));
		}
	}
	if (cap_reset_ambient() != 0 && errno != EINVAL)
		throw SetupError(fmt::format("cannot clear the ambient capabilities: {}", std::strerror(errno)));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		throw SetupError(fmt::format("cannot set no_new_privs: {}", std::strerror(errno)));
	if (cap_set_proc(wanted.get()) != 0)
		throw SetupError(fmt::format("cannot drop capabilities: {}", std::strerror(errno)));
	return capabilities_text(wanted.get());
}

void drop_capabilities_after_attach(const PrivilegeNeeds &needs)
{
	const std::string before = current_capabilities();
	const std::string after = drop_capabilities(capabilities_to_keep(needs));
	spdlog::info("capabilities: attached, now keeping only \"{}\" (was \"{}\")", after, before);
}

void drop_thread_capabilities()
{
	try {
		drop_capabilities({}); // without libpsx, libcap changes only the calling thread
	} catch (const SetupError &e) {
		spdlog::debug("{}: {}", e.what(), "the thread keeps its capabilities");
	}
}

} // namespace mxwatch
