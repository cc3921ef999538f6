// SPDX-License-Identifier: GPL-2.0-only
// The detector: pure, deterministic C++ over timestamped samples. No I/O.
//
// Evidence is kept per thread and per process over a sliding window. A
// RandomX thread executes CFROUND thousands of times per hash with random
// operands, so when it is switched out it can be in any of the four rounding
// modes with roughly equal probability. Benign programs that touch rounding
// use one fixed non-default mode, or toggle between nearest, down and up
// (interval arithmetic); they do not spread over all four modes.
#pragma once

#include "mxwatch/sample.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace mxwatch {

struct DetectorConfig {
	std::uint64_t window_ns = 60'000'000'000;  // evidence older than this is forgotten
	std::uint64_t min_samples = 24;            // below this no verdict is reached
	double min_mode_share = 0.05;              // each of the four modes must reach this share
	std::uint64_t idle_expiry_ns = 120'000'000'000; // a process without samples this long is dropped
};

// Sample counts over some span of time.
struct ModeCounts {
	std::array<std::uint64_t, kRoundingModes> by_mode{};
	std::uint64_t transitions = 0; // mode changes between consecutive samples of a thread
	std::uint64_t ftz_daz = 0;     // samples with FTZ and DAZ both set

	std::uint64_t total() const;
	std::uint64_t non_default() const { return total() - by_mode[0]; }
	double share(RoundingMode mode) const;
	ModeCounts &operator+=(const ModeCounts &other);
};

// ModeCounts over a sliding window, kept as a ring of equal time buckets.
class WindowedCounts {
public:
	static constexpr int kBuckets = 6;

	void add(std::uint64_t timestamp_ns, std::uint64_t window_ns, const ModeCounts &delta);
	ModeCounts sum(std::uint64_t now_ns, std::uint64_t window_ns) const;

private:
	struct Bucket {
		std::uint64_t epoch = 0; // timestamp / bucket length, +1 so that 0 means unused
		ModeCounts counts;
	};
	std::array<Bucket, kBuckets> buckets_{};
};

enum class VerdictKind { Benign, Suspicious, Miner };
std::string_view to_string(VerdictKind kind);

struct Verdict {
	VerdictKind kind = VerdictKind::Benign;
	double score = 0; // 0..1: the smallest mode share relative to a uniform spread
	std::string reason;
};

// Pure decision over the counts of one thread or one process.
Verdict judge(const ModeCounts &counts, const DetectorConfig &config);

struct ProcessKey {
	std::uint32_t tgid = 0;
	std::uint64_t start_ns = 0;
	bool operator==(const ProcessKey &) const = default;
};

struct ProcessKeyHash {
	std::size_t operator()(const ProcessKey &key) const noexcept
	{
		return std::hash<std::uint64_t>{}(key.start_ns * 0x9E3779B97F4A7C15ull ^ key.tgid);
	}
};

struct ThreadEvidence {
	std::uint32_t tid = 0;
	RoundingMode last_mode = RoundingMode::Nearest;
	bool seen = false;
	WindowedCounts window;
	ModeCounts total;
	Verdict verdict;
};

struct ProcessEvidence {
	ProcessKey key;
	std::string comm;
	std::uint64_t cgroup_id = 0;
	std::uint64_t first_ns = 0;
	std::uint64_t last_ns = 0;
	std::unordered_map<std::uint32_t, ThreadEvidence> threads;
	WindowedCounts window;
	ModeCounts total;
	Verdict verdict;
	bool alerted = false;
};

// A process judged a miner for the first time.
struct Detection {
	ProcessKey key;
	std::string comm;
	std::uint64_t cgroup_id = 0;
	std::uint64_t timestamp_ns = 0;
	std::uint64_t first_seen_ns = 0;
	ModeCounts window_counts;
	std::vector<std::uint32_t> threads; // threads whose own evidence looks like RandomX
	Verdict verdict;
};

class Detector {
public:
	explicit Detector(DetectorConfig config = {});

	// Feeds one sample; returns a Detection when its process is first judged a miner.
	std::optional<Detection> observe(const Sample &sample);

	// Forgets processes that sent nothing for idle_expiry_ns.
	void expire(std::uint64_t now_ns);

	const std::unordered_map<ProcessKey, ProcessEvidence, ProcessKeyHash> &processes() const
	{
		return processes_;
	}
	const DetectorConfig &config() const { return config_; }

private:
	Detection detection_for(const ProcessEvidence &process, std::uint64_t now_ns) const;

	DetectorConfig config_;
	std::unordered_map<ProcessKey, ProcessEvidence, ProcessKeyHash> processes_;
};

} // namespace mxwatch
