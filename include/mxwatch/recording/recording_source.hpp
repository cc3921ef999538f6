// SPDX-License-Identifier: GPL-2.0-only
// A recording as the pipeline's source: its samples on their own clock, and its
// process lines as the process directory (replay looks nothing up on this host:
// the processes ran on the recording host, maybe long ago).
#pragma once

#include "mxwatch/detect/detector.hpp"
#include "mxwatch/detect/sample_source.hpp"
#include "mxwatch/enrich/process_directory.hpp"
#include "mxwatch/recording/sample_file.hpp"

#include <istream>
#include <string>
#include <unordered_map>

namespace mxwatch {

class RecordingSource final : public SampleSource, public ProcessDirectory {
public:
	// Reads and checks the header; throws SampleFileError's message as
	// std::runtime_error when it is not a sample file.
	RecordingSource(std::istream &in, std::string name);
	// From a file descriptor (a file, or stdin: replayed as it is written).
	RecordingSource(int fd, std::string name);

	const SampleFileHeader &header() const { return reader_.header(); }
	// The first line that could not be read, once poll() has returned false.
	const std::optional<SampleFileError> &error() const { return reader_.error(); }
	// Sample lines read (records), and the samples they stand for (Sample::samples()).
	std::uint64_t records_read() const { return records_; }
	std::uint64_t samples_read() const { return samples_; }

	// SampleSource: a batch of samples per call; the timeout is irrelevant (a
	// pipe blocks in read(), which is what following `record -o -` needs).
	bool poll(std::chrono::milliseconds timeout, const Handler &handler) override;
	std::uint64_t now_ns() const override { return now_ns_; }
	std::chrono::system_clock::time_point wall_time(std::uint64_t timestamp_ns) const override;
	// The recording's footprint lines, in their place between the samples.
	void on_footprint(FootprintHandler handler) override { on_footprint_ = std::move(handler); }

	// ProcessDirectory: what the recording says, and never "exited" (processes
	// end by idle expiry on the recording's clock), nothing to hash here.
	ProcessFacts first_seen(std::uint32_t pid, std::uint64_t start_ns) override;
	std::optional<bool> running(std::uint32_t, const ProcessFacts &) const override { return std::nullopt; }
	std::shared_ptr<ExecutableHasher> hasher() const override { return nullptr; }
	bool local() const override { return false; }

private:
	void start();

	SampleReader reader_;
	std::unordered_map<ProcessKey, ProcessInfo, ProcessKeyHash> processes_; // until their first sample
	std::uint64_t records_ = 0;
	std::uint64_t samples_ = 0;
	std::uint64_t first_ns_ = 0;
	std::uint64_t now_ns_ = 0;
	FootprintHandler on_footprint_;
};

} // namespace mxwatch
