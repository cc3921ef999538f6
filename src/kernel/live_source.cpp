// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/live_source.hpp"

#include "mxwatch/kernel/host_checks.hpp"
#include "mxwatch/kernel/reader_priority.hpp"
#include "mxwatch/util/clock.hpp"
#include "mxwatch/util/errors.hpp"

#include <spdlog/spdlog.h>

namespace mxwatch {

LiveSource::LiveSource(const LiveSourceOptions &options)
{
	// The thread that loads the program, then polls the ring buffer and runs the
	// detector, must not starve on a saturated host: real-time from the start
	// (while the capabilities are there: the caller drops them after this).
	// The host first: a missing privilege is one line, not a warning and then the line.
	if (auto problem = first_host_problem(check_host()))
		throw SetupError(*problem);
	reader_realtime_refusal_ = make_reader_realtime();
	sampler_ = std::make_unique<KernelSampler>(options.sampler, [this](const Sample &sample) {
		sampling_floor_->on_sample(sample);
		(*handler_)(sample);
	});
	const auto idle_after = options.park_sampling_floor ? std::chrono::nanoseconds(options.sampler.forget_after_ns)
							    : std::chrono::nanoseconds(0);
	FloorBoost boost;
	boost.factor = options.sampling_boost;
	sampling_floor_ = std::make_unique<SamplingFloor>(options.sampling_floor_hz, idle_after, boost);
	next_health_check_ = std::chrono::steady_clock::now() + kAttachmentCheckInterval;
}

LiveSource::~LiveSource() = default;

bool LiveSource::poll(std::chrono::milliseconds timeout, const Handler &handler)
{
	if (!attachment_problem_.empty())
		return false;
	handler_ = &handler;
	sampler_->poll(static_cast<int>(timeout.count()));
	handler_ = nullptr;
	if (const auto now = std::chrono::steady_clock::now(); now >= next_health_check_) {
		next_health_check_ = now + kAttachmentCheckInterval;
		if (AttachmentHealth health = sampler_->check_attachment(); !health.ok) {
			// Blind: better to stop (systemd restarts us, attached again) than to watch nothing.
			spdlog::error("{}; stopping", health.problem);
			attachment_problem_ = std::move(health.problem);
			return false;
		}
	}
	return true;
}

std::uint64_t LiveSource::now_ns() const { return monotonic_ns(); }

std::chrono::system_clock::time_point LiveSource::wall_time(std::uint64_t timestamp_ns) const
{
	const auto age = std::chrono::nanoseconds(static_cast<std::int64_t>(monotonic_ns() - timestamp_ns));
	return std::chrono::system_clock::now() - std::chrono::duration_cast<std::chrono::system_clock::duration>(age);
}

} // namespace mxwatch
