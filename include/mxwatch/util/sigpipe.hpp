// SPDX-License-Identifier: GPL-2.0-only
// A peer that closes its end of a socket or pipe must cost one failed write, never
// the daemon. cpp-httplib 0.11 (Docker API, HTTP and Alertmanager sinks, metrics)
// and librelp write with plain send(), which raises SIGPIPE; each component that
// writes to a peer calls this before its first write, so that it is safe in every
// program that links it, not only in mxwatch's main().
#pragma once

namespace mxwatch {

// Sets SIGPIPE to ignored, once per process; writes then fail with EPIPE.
void ignore_sigpipe();

} // namespace mxwatch
