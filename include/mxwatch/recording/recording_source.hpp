// SPDX-License-Identifier: GPL-2.0-only
// A recording as the pipeline's source: its samples on their own clock, and its
// process lines as the process directory (replay looks nothing up on this host:
// the processes ran on the recording host, maybe long ago).
//
// Two threads: a reader thread reads and parses the file into batches of
// samples (with the process and footprint lines between them, in their place),
// and poll(), on the pipeline's thread, hands them on. Parsing is most of
// replay's cost, so the detector runs beside it instead of after it. Everything
// poll() hands on and every map it keeps are the pipeline thread's own; the two
// share only the queue of batches.
#pragma once

#include "mxwatch/detect/detector.hpp"
#include "mxwatch/detect/sample_source.hpp"
#include "mxwatch/enrich/process_directory.hpp"
#include "mxwatch/recording/mapped_file.hpp"
#include "mxwatch/recording/sample_file.hpp"

#include <condition_variable>
#include <deque>
#include <istream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

namespace mxwatch {

class RecordingSource final : public SampleSource, public ProcessDirectory {
public:
	// Reads and checks the header; throws SampleFileError's message as
	// std::runtime_error when it is not a sample file.
	RecordingSource(std::istream &in, std::string name);
	// From a file descriptor (a file, or stdin: replayed as it is written).
	RecordingSource(int fd, std::string name);
	// Stops the reader thread, also when it waits for a pipe that stays silent.
	~RecordingSource() override;
	RecordingSource(const RecordingSource &) = delete;
	RecordingSource &operator=(const RecordingSource &) = delete;

	const SampleFileHeader &header() const { return reader_.header(); }
	// The first line that could not be read, once poll() has returned false.
	const std::optional<SampleFileError> &error() const { return error_; }
	// Sample lines read (records), and the samples they stand for (Sample::samples()).
	std::uint64_t records_read() const { return records_; }
	std::uint64_t samples_read() const { return samples_; }

	// SampleSource: the next batch of samples, waiting up to `timeout` for it (a
	// pipe from `record -o -` is handed on as it is written); false at the end.
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
	struct ProcessLine {
		std::uint32_t pid;
		std::uint64_t start_ns;
		ProcessInfo info;
	};
	struct FootprintLine {
		std::uint32_t pid;
		std::uint64_t start_ns, t_ns;
		Footprint footprint;
	};
	// What the reader thread hands over: samples, and the other lines with the
	// index of the sample they came before.
	struct Batch {
		std::vector<Sample> samples;
		std::vector<std::pair<std::size_t, std::variant<ProcessLine, FootprintLine>>> lines;
	};

	SampleReader open(int fd, std::string name); // mapped, or read() through fd
	void start();
	void read_all(); // the reader thread
	// Where the line being read goes in the batch: a reader that cannot wait
	// parses in place, into the batch's last sample.
	std::size_t next_sample_index() const { return filling_.samples.size() - (may_block_ ? 0 : 1); }
	bool hand_over(bool final);		// the batch being filled, to the queue; false when stopping
	void apply(ProcessLine &line);
	void apply(FootprintLine &line);

	// Shared by both threads, under mutex_.
	std::mutex mutex_;
	std::condition_variable ready_cv_, room_cv_;
	std::deque<Batch> ready_;
	std::vector<Batch> spare_; // handed back, for their buffers
	bool done_ = false;	   // the reader thread has handed over its last batch
	bool stop_ = false;
	std::optional<SampleFileError> read_error_;

	// The reader thread's (and the constructor's, before it starts).
	std::optional<MappedFile> mapped_; // a regular file, parsed in place
	SampleReader reader_;
	Batch filling_;
	bool may_block_;  // reading can wait (a pipe): hand over what is there first
	int stop_fd_ = -1; // an eventfd that ends a wait in read()

	// The pipeline thread's.
	std::optional<SampleFileError> error_;
	std::unordered_map<ProcessKey, ProcessInfo, ProcessKeyHash> processes_; // until their first sample
	std::uint64_t records_ = 0;
	std::uint64_t samples_ = 0;
	std::uint64_t first_ns_ = 0;
	std::uint64_t now_ns_ = 0;
	FootprintHandler on_footprint_;

	std::thread thread_; // last: it starts when everything else is there
};

} // namespace mxwatch
