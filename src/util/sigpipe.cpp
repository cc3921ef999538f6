// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/sigpipe.hpp"

#include <csignal>
#include <mutex>

namespace mxwatch {

void ignore_sigpipe()
{
	static std::once_flag once;
	std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

} // namespace mxwatch
