// SPDX-License-Identifier: GPL-2.0-only
// Alerts appended as JSON lines to a file; reopened on SIGHUP for logrotate.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/util/fd.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace mxwatch {

namespace {

int open_append(const std::string &path)
{
	return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

class FileSink final : public AlertSink {
public:
	explicit FileSink(std::string path) : path_(std::move(path)), fd_(open_append(path_))
	{
		if (!fd_)
			throw SetupError(fmt::format("cannot open alert file {}: {}", path_, std::strerror(errno)));
	}

	bool write(const RenderedAlert &alert) override
	{
		if (!fd_)
			reopen();
		if (!fd_)
			return false;
		// O_APPEND and one write(2) per line: lines stay whole next to other writers.
		std::string line = alert.document;
		line.push_back('\n');
		return write_all(fd_.get(), line);
	}

	// logrotate renames the file, then sends SIGHUP: until then alerts still go to
	// the renamed file (nothing is lost), from now on to a new one at the path.
	void reopen() override
	{
		const int fd = open_append(path_);
		if (fd < 0) {
			spdlog::warn("cannot reopen alert file {}: {}; still writing to the old one", path_,
			             std::strerror(errno));
			return;
		}
		fd_.reset(fd);
	}

	std::string name() const override { return "file:" + path_; }

private:
	std::string path_;
	UniqueFd fd_;
};

} // namespace

std::unique_ptr<AlertSink> make_file_sink(const std::string &path)
{
	return std::make_unique<FileSink>(path);
}

} // namespace mxwatch
