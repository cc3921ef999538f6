// SPDX-License-Identifier: GPL-2.0-only
// Recorded samples as JSON lines: what `mxwatch record` writes and `mxwatch
// replay` and the tests read. The format is described in docs/sample-format.md.
//
// Pure: the writer takes a std::ostream, the reader a std::istream, so tests need
// no files. Neither trusts the other side: the writer never throws on hostile
// process names, the reader names the file and line of the first thing it cannot
// accept instead of guessing.
#pragma once

#include "mxwatch/detect/footprint.hpp"
#include "mxwatch/detect/sample.hpp"
#include "mxwatch/enrich/process_info.hpp"

#include <chrono>
#include <functional>
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace mxwatch {

inline constexpr std::string_view kSampleFormat = "mxwatch-samples";
// Version 2 added process lines and kernel summaries on sample lines ("summary");
// version 1 files are still read.
inline constexpr std::uint64_t kSampleFormatVersion = 2;
inline constexpr std::uint64_t kOldestSampleFormatVersion = 1;
// Longer lines are rejected, not buffered: a sample line is about 130 bytes.
inline constexpr std::size_t kMaxSampleLineBytes = 64 * 1024;

// The first line of a sample file. Everything but format and version is
// informational and may be absent (empty / nullopt).
struct SampleFileHeader {
	std::string recorded_at;                   // RFC 3339 UTC, when recording started
	std::optional<std::uint64_t> monotonic_ns; // CLOCK_MONOTONIC at recorded_at: maps "t" to wall time
	std::string host;                          // hostname
	std::string kernel;                        // uname -r
	std::string fpu_layout;                    // "fpstate", "state" or "unknown"
	std::string attach;                        // tp_btf, raw_tp or tracepoint
	std::optional<std::uint64_t> sampling_floor_hz; // wakes per CPU per second, 0: none
	std::string mxwatch;                       // version of the mxwatch that recorded it
	std::uint64_t version = kSampleFormatVersion; // of the file read; the writer writes kSampleFormatVersion
};

class SampleWriter {
public:
	explicit SampleWriter(std::ostream &out) : out_(out) {}

	void write_header(const SampleFileHeader &header);
	// The header as `make` returns it, written just before the first line (or by
	// finish()): what only the attached program knows is known by then.
	void defer_header(std::function<SampleFileHeader()> make) { deferred_header_ = std::move(make); }
	// Writes a deferred header that no line has written yet.
	void finish();
	void write(const Sample &sample);
	// What was learnt about a process at its first sample (a "process" line), so
	// that replay groups and names processes as the live run did.
	void write_process(std::uint32_t pid, std::uint64_t start_ns, const ProcessInfo &info);
	// A footprint the pipeline learnt at `t_ns` (a "footprint" line), where it
	// learnt it in the stream, so that replay corroborates alike.
	void write_footprint(std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns, const Footprint &footprint);
	std::uint64_t samples_written() const { return written_; }

private:
	std::ostream &out_;
	void header_before_line();

	std::function<SampleFileHeader()> deferred_header_;
	std::string line_; // reused: one allocation for the whole recording
	std::uint64_t written_ = 0;
};

// The first line the reader could not accept.
struct SampleFileError {
	std::string file;
	std::uint64_t line = 0; // 1-based
	std::string reason;
	// "FILE:LINE: reason"
	std::string message() const;
};

class SampleReader {
public:
	// `name` only labels errors (a path, or "-" for stdin).
	SampleReader(std::istream &in, std::string name);
	// Reads the file descriptor directly (not closed): what a read() returns is
	// used at once, so a pipe is replayed as it is written.
	SampleReader(int fd, std::string name);
	~SampleReader();
	SampleReader(const SampleReader &) = delete;
	SampleReader &operator=(const SampleReader &) = delete;

	// Reads and checks the header line; false on error. next() calls it when needed.
	bool read_header();
	// Fills `sample` from the next sample line: true, or false at the end of the
	// file and on the first error (then error() is set and every later call is false).
	bool next(Sample &sample);

	// Process lines met by next() go here (skipped without a handler).
	using ProcessHandler = std::function<void(std::uint32_t pid, std::uint64_t start_ns, ProcessInfo info)>;
	void on_process(ProcessHandler handler) { on_process_ = std::move(handler); }
	// Footprint lines met by next() go here (skipped without a handler).
	using FootprintHandler =
		std::function<void(std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns, Footprint footprint)>;
	void on_footprint(FootprintHandler handler) { on_footprint_ = std::move(handler); }

	const SampleFileHeader &header() const { return header_; }
	const std::optional<SampleFileError> &error() const { return error_; }
	std::uint64_t line_number() const { return line_; }

	// Bytes into the buffer: how many, 0 at the end, -1 on error.
	using ReadFunction = std::function<std::ptrdiff_t(char *, std::size_t)>;
	// Reads through `read`, called whenever the buffered lines are used up.
	SampleReader(ReadFunction read, std::string name);
	// Reads `contents` in place (a mapped file): it must outlive the reader.
	SampleReader(std::string_view contents, std::string name);

private:
	enum class LineStatus { Line, End, Failed };
	// The next non-blank line, a view into the buffer valid until the next call.
	LineStatus next_line(std::string_view &line);
	// A line the fast path declined: a process or footprint line, a sample
	// spelled otherwise than the writer spells it, or an error.
	enum class OtherLine { Sample, Skipped, Failed };
	OtherLine parse_other(std::string_view line, Sample &sample);
	bool fail(std::string reason);

	// Lines are found in place (no copy); a chunk read at a time, plus room for
	// the longest line allowed left over from the previous chunk.
	static constexpr std::size_t kBufferBytes = (256 << 10) + kMaxSampleLineBytes + 1;
	ReadFunction read_;
	std::string name_;
	std::unique_ptr<char[]> storage_; // what read_ fills (none for contents in place)
	const char *buffer_ = nullptr;     // storage_, or the contents
	std::size_t begin_ = 0, end_ = 0; // the unread bytes in buffer_
	bool eof_ = false;
	std::uint64_t line_ = 0;
	bool header_read_ = false;
	SampleFileHeader header_;
	std::optional<SampleFileError> error_;
	ProcessHandler on_process_;
	FootprintHandler on_footprint_;
};

// Parses what rfc3339() writes, and any RFC 3339 time with a Z or ±HH:MM offset.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// Wall-clock time of a sample: recorded_at plus the sample's distance from
// monotonic_ns (or, in files without it, from the first sample's timestamp).
// Nothing when the header has no usable recorded_at.
std::optional<std::chrono::system_clock::time_point> sample_wall_time(const SampleFileHeader &header,
									std::uint64_t first_timestamp_ns,
									std::uint64_t timestamp_ns);

} // namespace mxwatch
