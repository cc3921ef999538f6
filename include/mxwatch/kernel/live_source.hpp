// SPDX-License-Identifier: GPL-2.0-only
// The live sample source: the host checked, the BPF program attached
// (KernelSampler) and the sampling floor's wakers running beside it.
#pragma once

#include "mxwatch/detect/sample_source.hpp"
#include "mxwatch/kernel/kernel_sampler.hpp"
#include "mxwatch/kernel/sampling_floor.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace mxwatch {

struct LiveSourceOptions {
	SamplerOptions sampler;
	unsigned sampling_floor_hz = 50; // 0: no wakers
	unsigned sampling_boost = FloorBoost{}.factor; // faster while a followed thread is undecided; 1: never
	// Wakers park while no thread leaves the default mode (run, check, doctor);
	// `record` keeps them awake so that a recording shows the rates run gets.
	bool park_sampling_floor = true;
};

class LiveSource final : public SampleSource {
public:
	// Checks the host and attaches; throws SetupError with one sentence on failure.
	explicit LiveSource(const LiveSourceOptions &options);
	~LiveSource() override;

	bool poll(std::chrono::milliseconds timeout, const Handler &handler) override;
	std::uint64_t now_ns() const override;
	std::chrono::system_clock::time_point wall_time(std::uint64_t timestamp_ns) const override;

	const KernelSampler &sampler() const { return *sampler_; }
	// Why the source stopped (poll() returned false): the program was detached or
	// stopped running (checked every kAttachmentCheckInterval). Empty while attached.
	const std::string &attachment_problem() const { return attachment_problem_; }
	// Why the reader (the thread that constructed the source) is not real-time, or empty.
	const std::string &reader_realtime_refusal() const { return reader_realtime_refusal_; }
	static constexpr std::chrono::seconds kAttachmentCheckInterval{5};
	const SamplingFloor &sampling_floor() const { return *sampling_floor_; }

private:
	const Handler *handler_ = nullptr; // the poll() under way
	std::string attachment_problem_;
	std::string reader_realtime_refusal_;
	std::chrono::steady_clock::time_point next_health_check_;
	std::unique_ptr<KernelSampler> sampler_;        // detached before the floor stops
	std::unique_ptr<SamplingFloor> sampling_floor_; // last: its wakers stop first
};

} // namespace mxwatch
