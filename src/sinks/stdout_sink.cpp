// SPDX-License-Identifier: GPL-2.0-only
// Alerts as JSON lines on standard output.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/util/sigpipe.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace mxwatch {

bool write_all(int fd, std::string_view data, std::size_t *written)
{
	std::size_t done = 0;
	bool ok = true;
	while (done < data.size()) {
		const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			ok = false;
			break;
		}
		done += static_cast<std::size_t>(n);
	}
	if (written)
		*written = done;
	return ok;
}

Delivery StdoutSink::write(const RenderedAlert &alert)
{
	// One write per line keeps lines whole when stdout is a pipe shared with others.
	std::string line = alert.document;
	line.push_back('\n');
	std::size_t written = 0;
	if (write_all(STDOUT_FILENO, line, &written))
		return Delivery::Delivered;
	error_ = std::strerror(errno);
	// A reader that went away does not come back, and half a line cannot be taken
	// back: both are final. Anything else (a full disk behind a redirection) may pass.
	if (errno == EPIPE || written > 0)
		return Delivery::Rejected;
	return Delivery::Retry;
}

std::unique_ptr<AlertSink> make_stdout_sink()
{
	// A reader that went away must cost alerts on stdout, not the detector's life.
	ignore_sigpipe();
	return std::make_unique<StdoutSink>();
}

} // namespace mxwatch
