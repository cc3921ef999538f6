// SPDX-License-Identifier: GPL-2.0-only
// The ring-buffer reader must keep up when every CPU is busy with other tasks:
// thousands of runnable threads of one process outcompete a single normal
// reader thread, and the kernel then drops records.
#pragma once

#include <string>

namespace mxwatch {

// Gives the calling thread SCHED_FIFO priority 1 (above every normal task,
// below every other real-time one), with SCHED_RESET_ON_FORK so that the
// threads it starts later (sinks, metrics) stay normal. Needs CAP_SYS_NICE
// and a real-time budget in the cgroup: call it before the capabilities are
// dropped. Returns "" on success, else why not (also logged as a warning).
std::string make_reader_realtime();

} // namespace mxwatch
