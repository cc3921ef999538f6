// SPDX-License-Identifier: GPL-2.0-only
// The boundary between detection and delivery. The pipeline hands every Alert
// to one AlertOutput, which stamps it (host, id, the executable's hash) and
// renders it once into the RenderedAlert every sink receives; how it is formatted (ECS, OCSF), queued and where it
// goes (stdout, file, syslog, journald) is the output's business.
//
//   publish() --> [render queue] --> render thread: hash the executable, format once
//                                      |--> [queue] --> sink thread --> stdout
//                                      |--> [queue] --> sink thread --> syslog ...
//
// Every queue is bounded and every hand-over is non-blocking: a full queue drops
// the alert and counts it against the sink(s) that missed it. Detection never
// waits for hashing, formatting or delivery. A sink that fails (peer down, disk
// full) keeps its alerts queued and retries them with backoff (sink_queue.hpp).
#pragma once

#include "mxwatch/alerts/alert.hpp"
#include "mxwatch/alerts/alert_format.hpp"
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/sinks/sink_queue.hpp"
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/enrich/process_info.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mxwatch {

class AlertOutput {
public:
	virtual ~AlertOutput() = default;
	// Must not block detection for long: slow destinations queue or drop (and count).
	// The output sets the alert's host and id, and hashes its executable.
	virtual void publish(Alert alert) = 0;
	// SIGHUP: reopen files and connections.
	virtual void reopen() {}
	// Per sink: delivered, failed, dropped, retried... (for metrics); empty if not counted.
	virtual std::vector<SinkStats> stats() const { return {}; }
};

// Formats and writes in the caller's thread, every alert, however long it takes:
// for batch commands (`replay`) where nothing must be dropped and nothing waits.
class JsonLinesOutput final : public AlertOutput {
public:
	// `hasher`: the enrich stage's executable-hash cache (ProcessDirectory::hasher()); null: no hashing.
	explicit JsonLinesOutput(HostIdentity host, AlertFormat format = AlertFormat::Ecs,
				 std::shared_ptr<ExecutableHasher> hasher = nullptr);
	void add_sink(std::unique_ptr<AlertSink> sink) { sinks_.push_back(std::move(sink)); }
	void publish(Alert alert) override;
	void reopen() override;

private:
	HostIdentity host_;
	AlertFormat format_;
	std::shared_ptr<ExecutableHasher> hasher_;
	std::vector<std::unique_ptr<AlertSink>> sinks_;
};

struct OutputSettings {
	AlertFormat format = AlertFormat::Ecs;
	std::size_t queue_capacity = 1024; // per queue, in alerts
	// At shutdown, how long queued alerts may take to go out before they are abandoned.
	std::chrono::milliseconds drain_timeout{3000};
	// The enrich stage's executable-hash cache (ProcessDirectory::hasher()), one
	// per daemon; null: alerts carry no hash (replay: the files are not here).
	std::shared_ptr<ExecutableHasher> hasher;
	// Which miner the executable is (YARA), with the hash; null: not scanned.
	std::shared_ptr<MinerIdentifier> identifier;
	// How a failing sink's retries are spaced.
	BackoffPolicy retry;
};

class QueuedOutput final : public AlertOutput {
public:
	QueuedOutput(HostIdentity host, OutputSettings settings = {});
	// shutdown(), if it was not called.
	~QueuedOutput() override;
	// Delivers what is queued, for at most drain_timeout (retrying as usual), then
	// counts what is left as failed and logs each sink's counts. Publishing after
	// it counts drops; stats() stay readable.
	void shutdown();

	void add_sink(std::unique_ptr<AlertSink> sink);
	// A reload: each of this output's sinks that `previous` also has (the same
	// name(), i.e. the same destination) takes over the previous one's queue,
	// counts and outage (SinkQueue::take_over), after `previous` has rendered
	// what it was given. Queued alerts keep the format they were rendered in.
	// The sinks taken over leave `previous`; its others drain when it is
	// destroyed, as at shutdown. Returns how many alerts moved.
	std::size_t take_over_sinks(QueuedOutput &previous);
	void publish(Alert alert) override;
	void reopen() override;

	// Waits until everything published so far was delivered, dropped or given up
	// (false at the timeout, e.g. while a sink is failing).
	bool flush(std::chrono::milliseconds timeout);
	std::vector<SinkStats> stats() const override;

private:
	struct Shared;
	std::shared_ptr<Shared> shared_;
	OutputSettings settings_;
	bool shut_down_ = false;
};

} // namespace mxwatch
