// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/clock.hpp"

#include <chrono>

namespace mxwatch {

std::uint64_t clock_ns(clockid_t clock)
{
	timespec ts{};
	if (clock_gettime(clock, &ts) != 0)
		return 0;
	return to_ns(ts);
}

double unix_now()
{
	return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace mxwatch
