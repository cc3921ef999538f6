// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/reader_priority.hpp"

#include "mxwatch/util/capabilities.hpp"
#include "mxwatch/kernel/sampling_floor.hpp"

#include <cerrno>
#include <sched.h>
#include <spdlog/spdlog.h>

namespace mxwatch {

std::string make_reader_realtime()
{
	sched_param param{};
	param.sched_priority = 1;
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0) {
		spdlog::info("ring-buffer reader: SCHED_FIFO priority 1 (keeps up when normal tasks saturate every CPU)");
		return {};
	}
	const std::string why = sched_fifo_refusal(errno, has_effective_capability(CAP_SYS_NICE));
	spdlog::warn("ring-buffer reader: SCHED_FIFO refused ({}); it runs as a normal thread and may fall behind "
		     "when other tasks saturate every CPU (records are then deferred or lost, and counted)",
		     why);
	return why;
}

} // namespace mxwatch
