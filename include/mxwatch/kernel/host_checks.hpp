// SPDX-License-Identifier: GPL-2.0-only
// What the host must offer before mxwatch can load its BPF program.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mxwatch {

struct HostCheck {
	std::string name;    // e.g. "btf"
	bool ok = false;
	std::string detail;  // what was found, or what is missing and how to fix it
};

// Runs every check (architecture, kernel BTF, the tracepoint, privileges), in the
// order an operator would fix them.
std::vector<HostCheck> check_host();

// The first failed check as one sentence, or nothing when the host is ready.
std::optional<std::string> first_host_problem(const std::vector<HostCheck> &checks);

} // namespace mxwatch
