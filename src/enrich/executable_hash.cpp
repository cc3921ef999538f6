// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/executable_hash.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace mxwatch {
namespace {

std::atomic<int> g_open_files{0};

std::string to_hex(const unsigned char *bytes, unsigned length)
{
	std::string hex;
	hex.reserve(length * 2);
	for (unsigned i = 0; i < length; i++)
		hex += fmt::format("{:02x}", bytes[i]);
	return hex;
}

struct DigestContext {
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	~DigestContext() { EVP_MD_CTX_free(ctx); }
	bool init() { return ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1; }
	bool update(const void *data, std::size_t size) { return EVP_DigestUpdate(ctx, data, size) == 1; }
	std::optional<std::string> final()
	{
		unsigned char digest[EVP_MAX_MD_SIZE];
		unsigned length = 0;
		if (EVP_DigestFinal_ex(ctx, digest, &length) != 1)
			return std::nullopt;
		return to_hex(digest, length);
	}
};

} // namespace

std::shared_ptr<const ExecutableFile> ExecutableFile::open(std::uint32_t pid, const std::string &proc_root)
{
	return open_path(proc_root + "/" + std::to_string(pid) + "/exe");
}

std::shared_ptr<const ExecutableFile> ExecutableFile::open_path(const std::string &path)
{
	// Counted before opening so that concurrent callers cannot overshoot the bound.
	if (g_open_files.fetch_add(1) >= kMaxOpen) {
		g_open_files.fetch_sub(1);
		return nullptr;
	}
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	struct stat st {
	};
	if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
		fd.reset();
		g_open_files.fetch_sub(1);
		return nullptr;
	}
	const FileIdentity identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
	                            static_cast<std::int64_t>(st.st_size),
	                            st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec,
	                            st.st_ctim.tv_sec * 1'000'000'000ll + st.st_ctim.tv_nsec};
	return std::shared_ptr<const ExecutableFile>(new ExecutableFile(std::move(fd), identity));
}

ExecutableFile::~ExecutableFile()
{
	fd_.reset(); // before the count goes down: the count bounds open descriptors
	g_open_files.fetch_sub(1);
}

std::size_t ExecutableHasher::IdentityHash::operator()(const FileIdentity &id) const noexcept
{
	std::uint64_t h = id.inode * 0x9E3779B97F4A7C15ull;
	h ^= id.device + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
	h ^= static_cast<std::uint64_t>(id.mtime_ns) + (h << 6) + (h >> 2);
	return static_cast<std::size_t>(h);
}

std::optional<std::string> ExecutableHasher::sha256(const ExecutableFile &file)
{
	const FileIdentity &id = file.identity();
	{
		std::lock_guard lock(mutex_);
		if (auto it = index_.find(id); it != index_.end()) {
			lru_.splice(lru_.begin(), lru_, it->second);
			return it->second->second;
		}
	}

	std::optional<std::string> result;
	bool definitive = true; // worth remembering: the same file gives the same answer
	if (id.size > limits_.max_bytes) {
		result = std::nullopt;
	} else {
		DigestContext digest;
		std::vector<char> buffer(1 << 20);
		const auto deadline = std::chrono::steady_clock::now() + limits_.max_time;
		std::int64_t offset = 0;
		bool ok = digest.init();
		// pread, never read: the descriptor is shared by every copy of the handle.
		// Reads up to the size seen at open (plus one chunk), so a file that grows
		// while being read cannot keep us here.
		while (ok && offset <= limits_.max_bytes) {
			const ssize_t n = pread(file.fd(), buffer.data(), buffer.size(), offset);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ok = false;
				definitive = false;
				break;
			}
			if (n == 0)
				break;
			ok = digest.update(buffer.data(), static_cast<std::size_t>(n));
			offset += n;
			if (std::chrono::steady_clock::now() > deadline) {
				ok = false;
				definitive = false; // slow disk: another time may succeed
			}
		}
		if (ok && offset <= limits_.max_bytes)
			result = digest.final();
	}

	std::lock_guard lock(mutex_);
	hashed_++;
	if (definitive && !index_.contains(id)) {
		lru_.emplace_front(id, result);
		index_[id] = lru_.begin();
		while (lru_.size() > limits_.cache_entries) {
			index_.erase(lru_.back().first);
			lru_.pop_back();
		}
	}
	return result;
}

std::string sha256_hex(std::string_view data)
{
	DigestContext digest;
	if (!digest.init() || !digest.update(data.data(), data.size()))
		return {};
	return digest.final().value_or("");
}

} // namespace mxwatch
