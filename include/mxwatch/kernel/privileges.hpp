// SPDX-License-Identifier: GPL-2.0-only
// Least privilege: once the BPF program is attached, the daemon keeps only the
// capabilities that reading other processes' /proc entries (and, when a
// response is configured, signalling them) needs.
#pragma once

#include <string>
#include <vector>

namespace mxwatch {

struct PrivilegeNeeds {
	bool signal_processes = false; // --action stop|kill: CAP_KILL
	bool bpf_syscalls = false;     // the kernel wants CAP_BPF for map reads (before 6.5)
};

// The capabilities kept after attaching, by name ("cap_sys_ptrace", ...).
std::vector<std::string> capabilities_to_keep(const PrivilegeNeeds &needs);

// True when this kernel refuses bpf() map operations on an existing map fd
// without CAP_BPF (kernel.unprivileged_bpf_disabled set, kernel before 6.5).
bool kernel_needs_cap_bpf_for_map_reads();

// Reduces the calling thread to `keep` (those it has): effective, permitted
// and inheritable sets, the ambient set and the bounding set; sets
// no_new_privs. Threads created afterwards inherit the reduced sets, threads
// created before keep theirs (capabilities are per thread on Linux): call it
// before starting threads that need nothing. Returns the kept set as text
// ("cap_dac_read_search,cap_sys_ptrace=ep"); throws SetupError on failure.
std::string drop_capabilities(const std::vector<std::string> &keep);

// What `run` and `check` do once attached: drop_capabilities() with what this
// kernel and configuration need, logged at info.
void drop_capabilities_after_attach(const PrivilegeNeeds &needs);

// Drops every capability of the calling thread (for helper threads once they
// have done their one privileged step, like the sampling floor's wakers).
void drop_thread_capabilities();

} // namespace mxwatch
