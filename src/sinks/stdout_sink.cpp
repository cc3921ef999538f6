// SPDX-License-Identifier: GPL-2.0-only
// Alerts as JSON lines on standard output.
#include "mxwatch/sinks/alert_sink.hpp"

#include <cerrno>
#include <csignal>
#include <unistd.h>

namespace mxwatch {

// Writes all of `data` to fd, retrying short writes; false on error.
bool write_all(int fd, std::string_view data)
{
	while (!data.empty()) {
		const ssize_t n = ::write(fd, data.data(), data.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data.remove_prefix(static_cast<std::size_t>(n));
	}
	return true;
}

bool StdoutSink::write(const RenderedAlert &alert)
{
	// One write per line keeps lines whole when stdout is a pipe shared with others.
	std::string line = alert.document;
	line.push_back('\n');
	return write_all(STDOUT_FILENO, line);
}

std::unique_ptr<AlertSink> make_stdout_sink()
{
	// A reader that went away must cost alerts on stdout, not the detector's life.
	std::signal(SIGPIPE, SIG_IGN);
	return std::make_unique<StdoutSink>();
}

} // namespace mxwatch
