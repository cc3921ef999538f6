// SPDX-License-Identifier: GPL-2.0-only
// The daemon's own log: spdlog on stderr, with libbpf's messages routed through it.
#pragma once

namespace mxwatch {

// 0: info, 1 (-v): debug, 2 (-vv): trace, including libbpf's own messages.
void setup_logging(int verbosity);

} // namespace mxwatch
