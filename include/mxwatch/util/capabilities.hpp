// SPDX-License-Identifier: GPL-2.0-only
// Capability queries through libcap. Capabilities belong to threads on Linux:
// every query here is about the calling thread (cap_get_proc), which is what
// decides whether the calling thread's next system call is allowed. Name
// capabilities by libcap's constants (CAP_BPF, CAP_KILL, ...).
#pragma once

#include <memory>
#include <string>
#include <sys/capability.h>
#include <type_traits>

namespace mxwatch {

struct CapFree {
	void operator()(void *p) const { cap_free(p); }
};
// A libcap capability state, freed with cap_free.
using CapState = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

// The calling thread's capabilities (null when they cannot be read, errno set).
CapState thread_capabilities();

// Whether `cap` is set in `flag` (CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE) of `state`.
bool has_capability(cap_t state, cap_value_t cap, cap_flag_t flag);

// Whether the calling thread has `cap` in its effective set.
bool has_effective_capability(cap_value_t cap);

// libcap's text form, e.g. "cap_dac_read_search,cap_sys_ptrace=ep"; "?" when it has none.
std::string capabilities_text(cap_t state);
// The calling thread's capabilities as text, for logs and doctor.
std::string current_capabilities();

} // namespace mxwatch
