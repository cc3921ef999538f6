// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/fd.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace mxwatch {

void UniqueFd::reset(int fd) noexcept
{
	if (fd_ >= 0 && fd_ != fd)
		::close(fd_); // on Linux the descriptor is released even when close fails: never retry
	fd_ = fd;
}

std::optional<std::string> read_bounded(const std::string &path, std::size_t limit)
{
	const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd)
		return std::nullopt;
	return read_bounded(fd.get(), limit);
}

std::string read_bounded(int fd, std::size_t limit)
{
	std::string data;
	std::array<char, 4096> chunk{};
	while (data.size() < limit) {
		const ssize_t n = ::read(fd, chunk.data(), std::min(chunk.size(), limit - data.size()));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		data.append(chunk.data(), static_cast<std::size_t>(n));
	}
	return data;
}

} // namespace mxwatch
