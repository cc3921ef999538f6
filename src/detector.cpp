// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/detector.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace mxwatch {

std::uint64_t ModeCounts::total() const
{
	std::uint64_t sum = 0;
	for (auto n : by_mode)
		sum += n;
	return sum;
}

double ModeCounts::share(RoundingMode mode) const
{
	const auto n = total();
	return n == 0 ? 0.0 : static_cast<double>(by_mode[static_cast<int>(mode)]) / static_cast<double>(n);
}

ModeCounts &ModeCounts::operator+=(const ModeCounts &other)
{
	for (int m = 0; m < kRoundingModes; m++)
		by_mode[m] += other.by_mode[m];
	transitions += other.transitions;
	ftz_daz += other.ftz_daz;
	return *this;
}

void WindowedCounts::add(std::uint64_t timestamp_ns, std::uint64_t window_ns, const ModeCounts &delta)
{
	const std::uint64_t bucket_ns = std::max<std::uint64_t>(window_ns / kBuckets, 1);
	const std::uint64_t epoch = timestamp_ns / bucket_ns + 1;
	Bucket &bucket = buckets_[epoch % kBuckets];
	if (bucket.epoch != epoch) {
		if (bucket.epoch > epoch)
			return; // a sample older than the window: nothing to add it to
		bucket = Bucket{epoch, {}};
	}
	bucket.counts += delta;
}

ModeCounts WindowedCounts::sum(std::uint64_t now_ns, std::uint64_t window_ns) const
{
	const std::uint64_t bucket_ns = std::max<std::uint64_t>(window_ns / kBuckets, 1);
	const std::uint64_t now_epoch = now_ns / bucket_ns + 1;
	ModeCounts sum;
	for (const auto &bucket : buckets_)
		if (bucket.epoch != 0 && bucket.epoch + kBuckets > now_epoch)
			sum += bucket.counts;
	return sum;
}

std::string_view to_string(VerdictKind kind)
{
	switch (kind) {
	case VerdictKind::Benign:
		return "benign";
	case VerdictKind::Suspicious:
		return "suspicious";
	case VerdictKind::Miner:
		return "miner";
	}
	return "invalid";
}

Verdict judge(const ModeCounts &counts, const DetectorConfig &config)
{
	const auto total = counts.total();
	int modes_seen = 0;
	double min_share = 1.0;
	for (int m = 0; m < kRoundingModes; m++) {
		const double share = counts.share(static_cast<RoundingMode>(m));
		min_share = std::min(min_share, share);
		modes_seen += counts.by_mode[m] > 0;
	}
	const double score = std::min(1.0, min_share * kRoundingModes);

	if (modes_seen < kRoundingModes)
		return {VerdictKind::Benign, 0.0, fmt::format("{} of 4 rounding modes seen", modes_seen)};
	if (total < config.min_samples)
		return {VerdictKind::Suspicious, score,
			fmt::format("all 4 rounding modes seen, only {} samples", total)};
	if (min_share < config.min_mode_share)
		return {VerdictKind::Suspicious, score,
			fmt::format("all 4 rounding modes seen, rarest at {:.1f}%", 100 * min_share)};
	return {VerdictKind::Miner, score,
		fmt::format("all 4 rounding modes in {} samples, rarest at {:.1f}%", total, 100 * min_share)};
}

Detector::Detector(DetectorConfig config) : config_(config) {}

std::optional<Detection> Detector::observe(const Sample &sample)
{
	const ProcessKey key{sample.tgid, sample.process_start_ns};
	auto [it, inserted] = processes_.try_emplace(key);
	ProcessEvidence &process = it->second;
	if (inserted) {
		process.key = key;
		process.first_ns = sample.timestamp_ns;
	}
	if (sample.tid == sample.tgid || process.comm.empty())
		process.comm = sample.comm; // the main thread's name names the process
	process.cgroup_id = sample.cgroup_id;
	process.last_ns = std::max(process.last_ns, sample.timestamp_ns);

	ThreadEvidence &thread = process.threads[sample.tid];
	thread.tid = sample.tid;

	ModeCounts delta;
	const RoundingMode mode = sample.mode();
	delta.by_mode[static_cast<int>(mode)] = 1;
	delta.by_mode[0] += sample.default_skipped;
	delta.ftz_daz = has_ftz_daz(sample.mxcsr) ? 1 : 0;
	// Folded default samples sit between the previous record and this one.
	const RoundingMode before = sample.default_skipped ? RoundingMode::Nearest : thread.last_mode;
	if (thread.seen && before != thread.last_mode)
		delta.transitions++;
	if (thread.seen && mode != before)
		delta.transitions++;
	thread.seen = true;
	thread.last_mode = mode;

	thread.window.add(sample.timestamp_ns, config_.window_ns, delta);
	thread.total += delta;
	process.window.add(sample.timestamp_ns, config_.window_ns, delta);
	process.total += delta;

	thread.verdict = judge(thread.window.sum(sample.timestamp_ns, config_.window_ns), config_);
	// A process is judged on its own pooled evidence and on its most convincing thread:
	// pooling catches many short-lived threads that are each sampled only a few times.
	Verdict pooled = judge(process.window.sum(sample.timestamp_ns, config_.window_ns), config_);
	process.verdict = thread.verdict.kind > pooled.kind ||
				  (thread.verdict.kind == pooled.kind && thread.verdict.score > pooled.score)
			      ? thread.verdict
			      : pooled;
	if (process.verdict.kind == VerdictKind::Miner && !process.alerted) {
		process.alerted = true;
		return detection_for(process, sample.timestamp_ns);
	}
	return std::nullopt;
}

Detection Detector::detection_for(const ProcessEvidence &process, std::uint64_t now_ns) const
{
	Detection detection;
	detection.key = process.key;
	detection.comm = process.comm;
	detection.cgroup_id = process.cgroup_id;
	detection.timestamp_ns = now_ns;
	detection.first_seen_ns = process.first_ns;
	detection.window_counts = process.window.sum(now_ns, config_.window_ns);
	detection.verdict = process.verdict;
	for (const auto &[tid, thread] : process.threads)
		if (thread.verdict.kind != VerdictKind::Benign)
			detection.threads.push_back(tid);
	std::sort(detection.threads.begin(), detection.threads.end());
	return detection;
}

void Detector::expire(std::uint64_t now_ns)
{
	std::erase_if(processes_, [&](const auto &entry) {
		return entry.second.last_ns + config_.idle_expiry_ns < now_ns;
	});
}

} // namespace mxwatch
