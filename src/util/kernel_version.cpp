// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/kernel_version.hpp"

#include <charconv>
#include <sys/utsname.h>

namespace mxwatch {
namespace {

// A decimal number at the start of `s`, consumed.
std::optional<unsigned> take_number(std::string_view &s)
{
	unsigned value = 0;
	const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
	if (ec != std::errc{} || end == s.data())
		return std::nullopt;
	s.remove_prefix(static_cast<std::size_t>(end - s.data()));
	return value;
}

bool take_dot(std::string_view &s)
{
	if (!s.starts_with('.'))
		return false;
	s.remove_prefix(1);
	return true;
}

} // namespace

std::optional<KernelVersion> parse_kernel_release(std::string_view release)
{
	KernelVersion version;
	const auto major = take_number(release);
	if (!major || !take_dot(release))
		return std::nullopt;
	const auto minor = take_number(release);
	if (!minor)
		return std::nullopt;
	version.major = *major;
	version.minor = *minor;
	if (std::string_view rest = release; take_dot(rest))
		if (const auto patch = take_number(rest))
			version.patch = *patch;
	return version;
}

std::string kernel_release()
{
	utsname uts{};
	if (uname(&uts) != 0)
		return {};
	return uts.release;
}

std::optional<KernelVersion> running_kernel_version()
{
	return parse_kernel_release(kernel_release());
}

} // namespace mxwatch
