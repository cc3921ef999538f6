// SPDX-License-Identifier: GPL-2.0-only
// The one data path of `run`, `check`, `replay` and `doctor`:
//
//   SampleSource --> Detector --> enrich (ProcessDirectory) --> decide (Decider) --> publish (AlertOutput)
//
// driven by one poll loop on the source's clock. What differs between the
// commands is only what is plugged in: the live ring buffer or a recording,
// /proc or the recording's process facts, a real or a recording responder.
#pragma once

#include "mxwatch/decide/decision.hpp"
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/detect/sample_source.hpp"
#include "mxwatch/enrich/process_directory.hpp"
#include "mxwatch/recording/sample_file.hpp"
#include "mxwatch/sinks/alert_output.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace mxwatch {

struct PipelineOptions {
	DetectorConfig detector;
	AllowlistConfig allowlist;
	ResponseAction action = ResponseAction::None; // applied on first alerts, never to allowlisted processes
	// A daemon forgets processes that were not alerted on once they have exited
	// and been idle this long (their group's evidence stays; looked for every
	// second), so that churn does not hold memory for the idle expiry; `check`
	// keeps them for its report.
	std::optional<std::uint64_t> forget_exited_after_ns;
	std::size_t max_reports = 4096; // reports() keeps the latest alerts
	// A first alert about a process in a container whose runtime has not answered
	// yet is held back at most this long (detection goes on meanwhile), then goes
	// out with what is known; later events carry the rest (--container-wait).
	std::chrono::milliseconds container_wait{500};
};

// What the pipeline did, for metrics.
struct PipelineCounts {
	std::array<std::uint64_t, 3> detections{}; // by AlertStage, sent to the output
	std::uint64_t allowlisted = 0;             // alert events held back by the allowlist
	std::uint64_t container_waits = 0;         // first alerts held back for their container's metadata
	std::uint64_t container_wait_timeouts = 0; // ... that went out without it
	std::uint64_t footprints = 0;              // footprints handed to the detector (read here or replayed)
};

class Pipeline {
public:
	// Throws std::invalid_argument for a malformed allowlist entry. The source
	// and the directory must outlive the pipeline.
	Pipeline(const PipelineOptions &options, SampleSource &source, ProcessDirectory &processes,
		 Responder respond = apply_response);

	// Where alerts go; without one they are only kept for reports().
	void set_output(std::unique_ptr<AlertOutput> output) { output_ = std::move(output); }
	AlertOutput *output() { return output_.get(); }
	void reopen_output();
	// Every sample, and each process's facts at its first sample, also go to
	// this recording (`record`, `run --record`): replaying it judges alike.
	void set_recorder(SampleWriter *recorder) { recorder_ = recorder; }
	// A reload (SIGHUP): new detector settings and allowlist; evidence is kept.
	// Throws std::invalid_argument for a malformed allowlist entry.
	void reconfigure(const DetectorConfig &detector, const AllowlistConfig &allowlist);

	// Polls the source until it is exhausted, `stop` is set or `until` passes;
	// calls `tick` about every 250 ms. Then resolves and expires what is due.
	void run(const std::atomic<bool> &stop,
		 std::chrono::steady_clock::time_point until = std::chrono::steady_clock::time_point::max(),
		 const std::function<void()> &tick = {});

	const Detector &detector() const { return detector_; }
	const std::vector<Alert> &reports() const { return reports_; }
	// What was learnt about the process at its first sample (it may be gone since).
	ProcessInfo process_info(const ProcessKey &key) const;
	// Why the process is allowlisted, or nothing.
	std::optional<std::string> allowed(const ProcessKey &key) const;
	// What corroborates a process's verdict (alerts/assessment.hpp), read now:
	// its footprint (in a replay, the latest the recording had) and its sockets.
	struct Corroborating {
		std::optional<Footprint> footprint;
		std::optional<ProcessSockets> sockets;
		bool live_footprint = false; // read from /proc now, not from the recording
	};
	Corroborating corroborating(const ProcessKey &key);
	std::uint64_t samples_seen() const { return samples_seen_; }
	const PipelineCounts &counts() const { return counts_; }
	std::vector<SinkStats> output_stats() const { return output_ ? output_->stats() : std::vector<SinkStats>{}; }

private:
	// The enrich stage's result for one process, kept exactly as long as the
	// detector keeps the process (Detector::on_forget).
	struct KnownProcess {
		ProcessFacts facts;
		std::string group; // executable, or empty: groups processes for the detector
		std::optional<std::string> allowed;
		std::uint64_t liveness_checked_ns = 0; // when it was last found alive
		std::uint64_t footprint_checked_ns = 0; // when its footprint was last read
	};

	void on_sample(const Sample &sample);
	KnownProcess &known(const Sample &sample);
	void on_detection(Detection detection);
	void publish_detection(Detection detection);
	// Held first alerts whose container was resolved or whose wait is over
	// (all of them with `all`; those of `key` only, with a key).
	void release_held(bool all, const ProcessKey *key = nullptr);
	static bool refresh_container(ProcessInfo &info);
	void resolve_exited_processes(std::uint64_t now_ns);
	void forget_exited(std::uint64_t now_ns);
	void expire(std::uint64_t now_ns);
	void run_periodic(std::uint64_t now_ns);
	// Reads the footprints of processes whose churn awaits corroboration (bounded, rate-limited).
	void gather_footprints(std::uint64_t now_ns);
	void on_footprint(const ProcessKey &key, const Footprint &footprint, std::uint64_t t_ns);

	PipelineOptions options_;
	SampleSource &source_;
	ProcessDirectory &processes_;
	Decider decider_;
	Detector detector_;
	std::unordered_map<ProcessKey, KnownProcess, ProcessKeyHash> known_;
	KnownProcess *last_known_ = nullptr; // of the latest sample, until known_ erases anything
	ProcessKey last_key_;
	std::unique_ptr<AlertOutput> output_;
	SampleWriter *recorder_ = nullptr;
	std::vector<Alert> reports_;
	std::uint64_t samples_seen_ = 0;
	std::vector<ProcessKey> forgotten_; // by the detector, erased from known_ after this round
	struct HeldAlert {
		Detection detection;
		std::chrono::steady_clock::time_point until;
	};
	std::vector<HeldAlert> held_; // first alerts waiting for their container's metadata
	std::uint64_t next_liveness_ns_ = 0, next_expiry_ns_ = 0;
	PipelineCounts counts_;
};

// Sets the flag on SIGINT and SIGTERM; counts SIGHUPs.
struct StopSignals {
	static std::atomic<bool> &stop_requested();
	static std::atomic<unsigned> &hangups();
	static void install();
};

} // namespace mxwatch
