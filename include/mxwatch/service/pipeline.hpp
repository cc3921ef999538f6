// SPDX-License-Identifier: GPL-2.0-only
// The live data path of `run` and `check`: kernel sampler -> detector ->
// enrichment -> alert -> sinks, driven by one poll loop.
#pragma once

#include "mxwatch/sinks/alert_output.hpp"
#include "mxwatch/decide/allowlist.hpp"
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/enrich/executable_hash.hpp"
#include "mxwatch/enrich/process_info.hpp"
#include "mxwatch/kernel/kernel_sampler.hpp"
#include "mxwatch/decide/response_action.hpp"
#include "mxwatch/kernel/sampling_floor.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace mxwatch {

struct PipelineOptions {
	SamplerOptions sampler;
	DetectorConfig detector;
	unsigned sampling_floor_hz = 50; // 0: no wakers
	AllowlistConfig allowlist;
	ResponseAction action = ResponseAction::None; // applied on first alerts, never to allowlisted processes
	// A daemon forgets processes that were not alerted on once they have exited
	// and been idle this long (their group's evidence stays; looked for every
	// second), so that churn does not hold memory for the idle expiry; `check`
	// keeps them for its report.
	std::optional<std::uint64_t> forget_exited_after_ns;
	std::size_t max_reports = 4096; // reports() keeps the latest alerts
};

// What the pipeline did, for metrics.
struct PipelineCounts {
	std::array<std::uint64_t, 3> detections{}; // by AlertKind, sent to the output
	std::uint64_t allowlisted = 0;             // alert events held back by the allowlist
};

struct DetectionReport {
	Detection detection;
	ProcessInfo process;
	std::optional<ResponseOutcome> response; // the --action taken
};

class Pipeline {
public:
	// Checks the host and attaches; throws SetupError with one sentence on failure.
	explicit Pipeline(const PipelineOptions &options);

	// Where alerts go; without one they are only kept for reports().
	void set_output(std::unique_ptr<AlertOutput> output) { output_ = std::move(output); }
	void reopen_output();
	// A reload (SIGHUP): new detector settings and allowlist; evidence is kept.
	// Throws std::invalid_argument for a malformed allowlist entry.
	void reconfigure(const DetectorConfig &detector, const AllowlistConfig &allowlist);

	// Polls until `stop` is set or `until` passes; calls `tick` about every 250 ms.
	void run_until(const std::atomic<bool> &stop, std::chrono::steady_clock::time_point until,
		       const std::function<void()> &tick = {});

	const Detector &detector() const { return detector_; }
	const KernelSampler &sampler() const { return *sampler_; }
	const SamplingFloor &sampling_floor() const { return *sampling_floor_; }
	const std::vector<DetectionReport> &reports() const { return reports_; }
	// What /proc said about the process when its first sample arrived (it may be gone since).
	ProcessInfo process_info(const ProcessKey &key) const;
	// Why the process is allowlisted, or nothing.
	std::optional<std::string> allowed(const ProcessKey &key) const;
	std::uint64_t samples_seen() const { return samples_seen_; }
	const PipelineCounts &counts() const { return counts_; }
	std::vector<SinkStats> output_stats() const { return output_ ? output_->stats() : std::vector<SinkStats>{}; }
	unsigned sampling_floor_hz() const { return options_.sampling_floor_hz; }
	// Why run_until() stopped watching: the program was detached or stopped
	// running (checked every kAttachmentCheckInterval); empty while attached.
	const std::string &attachment_problem() const { return attachment_problem_; }
	// Why the reader thread is not real-time, or empty.
	const std::string &reader_realtime_refusal() const { return reader_realtime_refusal_; }
	static constexpr std::chrono::seconds kAttachmentCheckInterval{5};

private:
	// What the pipeline learnt about a process at its first sample.
	struct KnownProcess {
		ProcessInfo info;
		std::string group; // executable, or empty: groups processes for the detector
		std::optional<std::uint64_t> start_ticks;
		std::optional<std::string> allowed;
		std::uint64_t liveness_checked_ns = 0; // when it was last found alive
	};

	void on_sample(const Sample &sample);
	void on_detection(Detection detection, KnownProcess &known);
	void resolve_exited_processes();
	void expire(std::uint64_t now_ns);
	void forget_exited(std::uint64_t now_ns);
	// malloc_trim() once many processes' state was freed.
	void trim_heap_after(std::size_t processes_freed);

	PipelineOptions options_;
	Detector detector_;
	std::unique_ptr<AlertOutput> output_;
	std::vector<DetectionReport> reports_;
	Allowlist allowlist_;
	ExecutableHasher hasher_; // for sha256 allowlist entries
	std::unordered_map<ProcessKey, KnownProcess, ProcessKeyHash> known_;
	std::uint64_t samples_seen_ = 0;
	PipelineCounts counts_;
	std::string attachment_problem_;
	std::string reader_realtime_refusal_;
	std::unique_ptr<KernelSampler> sampler_; // detached before the rest goes away
	std::unique_ptr<SamplingFloor> sampling_floor_; // last: its wakers stop first
};

// Sets the flag on SIGINT and SIGTERM; counts SIGHUPs.
struct StopSignals {
	static std::atomic<bool> &stop_requested();
	static std::atomic<unsigned> &hangups();
	static void install();
};

} // namespace mxwatch
