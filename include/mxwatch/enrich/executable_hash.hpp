// SPDX-License-Identifier: GPL-2.0-only
// SHA-256 of a process's executable, read through /proc/PID/exe.
//
// /proc/PID/exe opens the very file the process runs, even after it was deleted
// or replaced on disk (as droppers do to hide), so the hash is of what runs, not
// of what the path names now. The file is opened when the process is first seen
// and hashed later, off the detection path, only if an alert needs it.
#pragma once

#include "mxwatch/util/fd.hpp"

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mxwatch {

// Identifies file contents without reading them: same inode, size and times.
struct FileIdentity {
	std::uint64_t device = 0;
	std::uint64_t inode = 0;
	std::int64_t size = 0;
	std::int64_t mtime_ns = 0;
	std::int64_t ctime_ns = 0;
	bool operator==(const FileIdentity &) const = default;
};

// An open, read-only handle on an executable. Move-only; shared between copies
// of a ProcessInfo through shared_ptr.
class ExecutableFile {
public:
	// Opens /proc/PID/exe under proc_root; nothing when the process is gone or
	// too many executables are open already (kMaxOpen: a bound on descriptors).
	static std::shared_ptr<const ExecutableFile> open(std::uint32_t pid, const std::string &proc_root = "/proc");
	static std::shared_ptr<const ExecutableFile> open_path(const std::string &path);
	static constexpr int kMaxOpen = 256;

	~ExecutableFile();
	ExecutableFile(const ExecutableFile &) = delete;
	ExecutableFile &operator=(const ExecutableFile &) = delete;

	int fd() const { return fd_.get(); }
	const FileIdentity &identity() const { return identity_; }

private:
	ExecutableFile(UniqueFd fd, FileIdentity identity) : fd_(std::move(fd)), identity_(identity) {}
	UniqueFd fd_;
	FileIdentity identity_;
};

struct HashLimits {
	std::int64_t max_bytes = 256ll << 20;     // larger files are not hashed
	std::chrono::milliseconds max_time{2000}; // reading longer than this gives up
	std::size_t cache_entries = 512;          // distinct executables remembered
};

// Hashes with OpenSSL's libcrypto and remembers results by FileIdentity, so
// a thousand workers of one binary cost one read. Thread-safe.
class ExecutableHasher {
public:
	explicit ExecutableHasher(HashLimits limits = {}) : limits_(limits) {}

	// Lowercase hex SHA-256, or nothing when the file is too big, too slow or unreadable.
	std::optional<std::string> sha256(const ExecutableFile &file);

	std::uint64_t files_hashed() const { return hashed_; }

private:
	struct IdentityHash {
		std::size_t operator()(const FileIdentity &id) const noexcept;
	};
	using Lru = std::list<std::pair<FileIdentity, std::optional<std::string>>>;

	HashLimits limits_;
	std::mutex mutex_;
	Lru lru_; // most recent first
	std::unordered_map<FileIdentity, Lru::iterator, IdentityHash> index_;
	std::uint64_t hashed_ = 0;
};

// SHA-256 of a byte string, lowercase hex (also used for stable identifiers).
std::string sha256_hex(std::string_view data);

} // namespace mxwatch
