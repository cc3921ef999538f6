// SPDX-License-Identifier: GPL-2.0-only
// A regular file mapped for reading, so that replay parses it in place instead
// of copying it through read(). A file can shrink while it is mapped (truncated,
// rewritten by a logrotate): touching a page past its new end raises SIGBUS.
// A handler maps zeros over such a page of a live MappedFile and the read goes
// on; zeros are not a sample line, so the reader stops at the first of them
// with an error, and shrank() tells the caller why. A SIGBUS anywhere else gets
// the handler that was there before (the default: the process ends).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace mxwatch {

class MappedFile {
public:
	// The file behind `fd` mapped, or nothing (not a regular file, empty,
	// mmap refused, or every guard slot in use): the caller then read()s it.
	static std::optional<MappedFile> map(int fd);
	~MappedFile();
	MappedFile(MappedFile &&other) noexcept;
	MappedFile &operator=(MappedFile &&) = delete;
	MappedFile(const MappedFile &) = delete;

	std::string_view contents() const { return {data_, size_}; }
	// Part of it was no longer in the file when it was read (zeros stood in).
	bool shrank() const;

private:
	MappedFile(const char *data, std::size_t size, int slot) : data_(data), size_(size), slot_(slot) {}
	const char *data_ = nullptr;
	std::size_t size_ = 0;
	int slot_ = -1; // its entry in the SIGBUS handler's table
};

} // namespace mxwatch
