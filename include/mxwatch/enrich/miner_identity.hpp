// SPDX-License-Identifier: GPL-2.0-only
// Which miner it is: the executable scanned with YARA (Debian's libyara)
// against the rules mxwatch ships (packaging/yara/miners.yar: xmrig and its
// forks, xmr-stak, cpuminer) and any the user adds. A verdict's corroboration,
// never its trigger: the rounding-mode evidence decides, the rule names tell an
// analyst what to look for next.
//
// Scans run on the alert output's thread (off the detection path), once per
// executable (cached by SHA-256), bounded in size and time.
#pragma once

#include "mxwatch/enrich/executable_hash.hpp"

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct YR_RULES;

namespace mxwatch {

struct MinerMatch {
	std::string rule;     // the YARA rule's identifier
	std::string software; // its `software` meta (e.g. "XMRig"), or the rule name
	bool generic = false; // its `generic` meta: dropped when a specific rule matches too
	bool operator==(const MinerMatch &) const = default;
};

struct ScanLimits {
	std::int64_t max_bytes = 64ll << 20; // larger executables are not scanned
	int timeout_s = 2;                   // YARA's own scan timeout
	std::size_t cache_entries = 512;     // distinct executables remembered
};

struct ScanCounts {
	std::uint64_t scanned = 0;
	std::uint64_t matched = 0;   // scans with at least one match
	std::uint64_t skipped = 0;   // too large, or no hash to cache by
	std::uint64_t failed = 0;    // YARA errors and timeouts
	std::uint64_t cache_hits = 0;
};

class MinerIdentifier {
public:
	// Compiles the shipped rules (packaging/yara/miners.yar, built in) unless
	// `shipped` is false, then the rule files, in order. Throws
	// std::runtime_error with one line ("FILE:LINE: message") for the first file
	// that does not open or compile.
	static std::shared_ptr<MinerIdentifier> load(const std::vector<std::string> &rule_files, bool shipped = true,
						     ScanLimits limits = {});
	~MinerIdentifier();
	MinerIdentifier(const MinerIdentifier &) = delete;
	MinerIdentifier &operator=(const MinerIdentifier &) = delete;

	// The rules the executable matches; nothing when it could not be scanned
	// (too large, timed out, unreadable). `sha256` keys the cache. Thread-safe.
	std::optional<std::vector<MinerMatch>> identify(const ExecutableFile &file, const std::string &sha256);
	// The same for a file descriptor, uncached (tests, doctor).
	std::optional<std::vector<MinerMatch>> scan_fd(int fd);

	ScanCounts counts() const;
	std::size_t rule_count() const { return rule_count_; }

private:
	MinerIdentifier(YR_RULES *rules, std::size_t rule_count, ScanLimits limits);

	YR_RULES *rules_;
	std::size_t rule_count_;
	ScanLimits limits_;
	mutable std::mutex mutex_;
	ScanCounts counts_;
	using Lru = std::list<std::pair<std::string, std::optional<std::vector<MinerMatch>>>>;
	Lru lru_; // most recent first
	std::unordered_map<std::string, Lru::iterator> index_;
};

} // namespace mxwatch
