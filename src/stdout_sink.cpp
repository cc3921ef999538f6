// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alert_sink.hpp"

namespace mxwatch {

bool StdoutSink::write(const std::string &line)
{
	// One fwrite per line keeps lines whole when stdout is a pipe shared with others.
	std::string out = line;
	out.push_back('\n');
	const bool ok = std::fwrite(out.data(), 1, out.size(), stdout) == out.size();
	std::fflush(stdout);
	return ok;
}

} // namespace mxwatch
