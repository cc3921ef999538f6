// SPDX-License-Identifier: GPL-2.0-only
// Alerts appended as JSON lines to a file; reopened on SIGHUP for logrotate. A
// full file system is an outage like a peer that is down: the alert is retried.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/util/errors.hpp"
#include "mxwatch/util/fd.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
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

	Delivery write(const RenderedAlert &alert) override
	{
		if (!fd_)
			reopen();
		if (!fd_) {
			error_ = fmt::format("{} is not open", path_);
			return Delivery::Retry;
		}
		// O_APPEND and one write(2) per line: lines stay whole next to other writers.
		std::string line = alert.document;
		line.push_back('\n');
		struct stat before {};
		const bool sized = fstat(fd_.get(), &before) == 0;
		std::size_t written = 0;
		if (write_all(fd_.get(), line, &written))
			return Delivery::Delivered;
		error_ = fmt::format("write {}: {}", path_, std::strerror(errno));
		// The file system filled up in the middle of the line: take the part written
		// back, so that the retry writes it whole and no reader sees a torn line. Only
		// if nobody else appended since (then the torn part has to stay).
		struct stat after {};
		if (written > 0 && sized && fstat(fd_.get(), &after) == 0 &&
		    after.st_size == before.st_size + static_cast<off_t>(written) && ftruncate(fd_.get(), before.st_size) != 0)
			error_ += fmt::format("; a partial line is left (ftruncate: {})", std::strerror(errno));
		// ENOSPC, EDQUOT, EIO, EFBIG: space is freed, the quota raised, the file
		// rotated. The queue keeps the alert and tries again.
		return Delivery::Retry;
	}

	std::string last_error() const override { return error_; }

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
	std::string error_;
};

} // namespace

std::unique_ptr<AlertSink> make_file_sink(const std::string &path)
{
	return std::make_unique<FileSink>(path);
}

} // namespace mxwatch
