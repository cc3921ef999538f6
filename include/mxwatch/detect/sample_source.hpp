// SPDX-License-Identifier: GPL-2.0-only
// Where samples come from: the live ring buffer (kernel/live_source.hpp), a
// recording (recording/recording_source.hpp) or memory (SampleVector, for tests).
// The pipeline drives any of them the same way, on the source's own clock, so
// that `run`, `check`, `replay` and `doctor` judge alike.
#pragma once

#include "mxwatch/detect/footprint.hpp"
#include "mxwatch/detect/sample.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace mxwatch {

class SampleSource {
public:
	using Handler = std::function<void(const Sample &)>;
	virtual ~SampleSource() = default;

	// Hands what is available to `handler`, waiting up to `timeout` for it.
	// False once the source is exhausted (the end of a recording; never live).
	virtual bool poll(std::chrono::milliseconds timeout, const Handler &handler) = 0;
	// Now, in the samples' time base (CLOCK_MONOTONIC ns of the host that took
	// them): the live clock, or a recording's latest sample. Expiry and exit
	// checks run on this clock.
	virtual std::uint64_t now_ns() const = 0;
	// Wall-clock time of a sample timestamp, for the alert's @timestamp.
	virtual std::chrono::system_clock::time_point wall_time(std::uint64_t timestamp_ns) const = 0;

	// Footprints that come with the samples (a recording's footprint lines), handed
	// over at their place in the stream, between the samples around them. Live
	// sources have none: the pipeline reads /proc itself.
	using FootprintHandler =
		std::function<void(std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns, const Footprint &)>;
	virtual void on_footprint(FootprintHandler) {}
};

// Samples from memory, in order, in one poll each: the tests' source. Its clock
// is the latest sample's time, or whatever the test sets.
class SampleVector final : public SampleSource {
public:
	explicit SampleVector(std::vector<Sample> samples = {}) : samples_(std::move(samples)) {}

	void push(Sample sample) { samples_.push_back(std::move(sample)); }
	// Moves the clock forward without a sample (expiry, exits).
	void advance_to(std::uint64_t now_ns) { now_ns_ = std::max(now_ns_, now_ns); }

	bool poll(std::chrono::milliseconds, const Handler &handler) override
	{
		if (next_ == samples_.size())
			return false;
		const Sample &sample = samples_[next_++];
		now_ns_ = std::max(now_ns_, sample.timestamp_ns);
		handler(sample);
		return true;
	}
	std::uint64_t now_ns() const override { return now_ns_; }
	std::chrono::system_clock::time_point wall_time(std::uint64_t timestamp_ns) const override
	{
		return std::chrono::system_clock::time_point(
			std::chrono::duration_cast<std::chrono::system_clock::duration>(
				std::chrono::nanoseconds(timestamp_ns)));
	}

private:
	std::vector<Sample> samples_;
	std::size_t next_ = 0;
	std::uint64_t now_ns_ = 0;
};

} // namespace mxwatch
