// SPDX-License-Identifier: GPL-2.0-only
// The running kernel's version, from uname(2), parsed in one place.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

struct KernelVersion {
	unsigned major = 0;
	unsigned minor = 0;
	unsigned patch = 0; // 0 when the release names none ("6.5-rc1")
	auto operator<=>(const KernelVersion &) const = default;
};

// "6.1.0-57-amd64" is 6.1.0: MAJOR.MINOR, optionally .PATCH, then anything.
std::optional<KernelVersion> parse_kernel_release(std::string_view release);

// uname -r ("6.1.0-57-amd64"); empty when uname fails.
std::string kernel_release();

// The running kernel's version; nothing when its release does not parse.
std::optional<KernelVersion> running_kernel_version();

} // namespace mxwatch
