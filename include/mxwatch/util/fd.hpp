// SPDX-License-Identifier: GPL-2.0-only
// File descriptors owned by exactly one object, and bounded reads of files
// whose size cannot be trusted (/proc reports 0; a hostile process controls
// its own command line).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace mxwatch {

// Owns a file descriptor: closes it when destroyed or reset. Move-only.
// -1 (or any negative value) means "none".
class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) : fd_(fd) {}
	~UniqueFd() { reset(); }
	UniqueFd(UniqueFd &&other) noexcept : fd_(other.release()) {}
	UniqueFd &operator=(UniqueFd &&other) noexcept
	{
		if (this != &other)
			reset(other.release());
		return *this;
	}
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;

	int get() const { return fd_; }
	bool valid() const { return fd_ >= 0; }
	explicit operator bool() const { return valid(); }

	// Closes the descriptor held (if any) and takes `fd`.
	void reset(int fd = -1) noexcept;
	// Gives the descriptor up without closing it.
	int release() noexcept
	{
		const int fd = fd_;
		fd_ = -1;
		return fd;
	}

private:
	int fd_ = -1;
};

// At most `limit` bytes of the file at `path`, read until EOF (so /proc files,
// which report size 0, work); nothing when it cannot be opened.
std::optional<std::string> read_bounded(const std::string &path, std::size_t limit);
// The same from an open descriptor, from its current offset (what was read
// before an error, if one stops it).
std::string read_bounded(int fd, std::size_t limit);

} // namespace mxwatch
