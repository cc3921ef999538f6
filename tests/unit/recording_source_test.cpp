// SPDX-License-Identifier: GPL-2.0-only
// RecordingSource: a reader thread parses, poll() hands on. What crosses between
// the threads must arrive whole and in the file's order, a pipe must be handed
// on as it is written, and a source must stop whatever its input does.
#include "mxwatch/recording/recording_source.hpp"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace mxwatch {
namespace {

Sample sample_at(std::uint64_t t, std::uint32_t pid)
{
	Sample s;
	s.timestamp_ns = t;
	s.tgid = s.tid = pid;
	s.process_start_ns = 7;
	s.mxcsr = 0x9FC0 | (t % 4) << 13;
	s.x87_cw = 0x037F;
	s.comm = "w" + std::to_string(pid);
	return s;
}

// Header, then `n` samples of pids 1000.., each pid's process line before its
// first sample, a footprint line after every 1000th sample, and `tail`.
std::string recording(std::size_t n, const std::string &tail = "")
{
	std::ostringstream out;
	SampleWriter writer(out);
	writer.write_header(SampleFileHeader{});
	for (std::size_t i = 0; i < n; i++) {
		const auto pid = static_cast<std::uint32_t>(1000 + i / 100);
		if (i % 100 == 0) {
			ProcessInfo info;
			info.executable = "/opt/exe-" + std::to_string(pid);
			writer.write_process(pid, 7, info);
		}
		writer.write(sample_at(i + 1, pid));
		if ((i + 1) % 1000 == 0)
			writer.write_footprint(pid, 7, i + 1, Footprint{(i + 1) * 4096, 0, 0, {}});
	}
	writer.finish();
	return out.str() + tail;
}

// A recording in a temporary regular file, removed at the end.
class RecordingFile {
public:
	explicit RecordingFile(const std::string &text)
	{
		char name[] = "/tmp/mxw-recording-XXXXXX";
		fd_ = ::mkstemp(name);
		path_ = name;
		EXPECT_GE(fd_, 0);
		EXPECT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
	}
	~RecordingFile()
	{
		::close(fd_);
		::unlink(path_.c_str());
	}
	int fd() const { return fd_; }

private:
	int fd_ = -1;
	std::string path_;
};

// Reads a source of recording(kSamples) to its end, checking order and process lines.
void expect_whole_and_in_order(RecordingSource &source, std::size_t samples)
{
	std::vector<std::uint64_t> footprints_at; // the sample time each footprint followed
	std::uint64_t last_t = 0;
	source.on_footprint([&](std::uint32_t, std::uint64_t, std::uint64_t t_ns, const Footprint &f) {
		EXPECT_EQ(f.resident_bytes, t_ns * 4096);
		footprints_at.push_back(last_t);
	});
	std::size_t named = 0;
	const SampleSource::Handler handler = [&](const Sample &s) {
		EXPECT_EQ(s.timestamp_ns, last_t + 1) << "out of order or lost";
		last_t = s.timestamp_ns;
		EXPECT_EQ(s.comm, "w" + std::to_string(s.tgid));
		// The pipeline asks at a process's first sample: its line came before.
		if ((s.timestamp_ns - 1) % 100 == 0) {
			const auto facts = source.first_seen(s.tgid, 7);
			EXPECT_EQ(facts.info.executable, "/opt/exe-" + std::to_string(s.tgid));
			named++;
		}
		EXPECT_EQ(source.now_ns(), s.timestamp_ns);
	};
	while (source.poll(std::chrono::seconds(10), handler)) {
	}
	EXPECT_FALSE(source.error()) << source.error()->message();
	EXPECT_EQ(last_t, samples);
	EXPECT_EQ(source.records_read(), samples);
	EXPECT_EQ(named, samples / 100);
	ASSERT_EQ(footprints_at.size(), samples / 1000);
	for (std::size_t k = 0; k < footprints_at.size(); k++)
		EXPECT_EQ(footprints_at[k], (k + 1) * 1000);
}

TEST(RecordingSource, AMappedFileArrivesWholeAndInOrder)
{
	constexpr std::size_t kSamples = 20'000; // several of the reader's batches
	RecordingFile file(recording(kSamples));
	RecordingSource source(file.fd(), "many.jsonl");
	expect_whole_and_in_order(source, kSamples);
}

TEST(RecordingSource, AFileThatShrinksWhileMappedIsAnErrorNotACrash)
{
	// The reader parses at most five batches (20,480 samples, ~3 MiB) before the
	// first poll; the file is cut far past that, in the middle of a line.
	RecordingFile file(recording(200'000));
	RecordingSource source(file.fd(), "cut.jsonl");
	ASSERT_EQ(::ftruncate(file.fd(), (12 << 20) + 77), 0);
	std::size_t seen = 0;
	while (source.poll(std::chrono::seconds(10), [&](const Sample &) { seen++; })) {
	}
	ASSERT_TRUE(source.error());
	EXPECT_NE(source.error()->message().find("the file shrank while it was read"), std::string::npos)
		<< source.error()->message();
	EXPECT_GT(seen, 20'480u);
	EXPECT_LT(seen, 200'000u);
}

TEST(RecordingSource, BatchesArriveWholeAndInTheFilesOrder)
{
	constexpr std::size_t kSamples = 20'000; // several of the reader's batches
	std::istringstream in(recording(kSamples));
	RecordingSource source(in, "many.jsonl");
	expect_whole_and_in_order(source, kSamples);
}

TEST(RecordingSource, AnErrorComesAfterEverySampleBeforeIt)
{
	std::istringstream in(recording(9'000, "{\"t\":1,\"tgid\":\n"));
	RecordingSource source(in, "broken.jsonl");
	std::size_t seen = 0;
	while (source.poll(std::chrono::seconds(10), [&](const Sample &) { seen++; })) {
	}
	EXPECT_EQ(seen, 9'000u);
	ASSERT_TRUE(source.error());
	// Line 1 is the header, then 9,000 samples, 90 process and 9 footprint lines.
	EXPECT_EQ(source.error()->line, 1u + 9'000 + 90 + 9 + 1) << source.error()->message();
}

TEST(RecordingSource, APipeIsHandedOnAsItIsWrittenAndStopsWhileSilent)
{
	int fds[2];
	ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
	const std::string text = recording(3);
	ASSERT_EQ(::write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
	{
		RecordingSource source(fds[0], "-");
		std::size_t seen = 0;
		const auto count = [&](const Sample &) { seen++; };
		// The writer is still there: the three samples come without an end of file.
		for (int i = 0; i < 100 && seen < 3; i++)
			ASSERT_TRUE(source.poll(std::chrono::milliseconds(100), count));
		EXPECT_EQ(seen, 3u);
		EXPECT_TRUE(source.poll(std::chrono::milliseconds(20), count)); // quiet, not over
		EXPECT_EQ(seen, 3u);
	} // the reader thread waits in read(): the destructor must still return
	::close(fds[0]);
	::close(fds[1]);
}

TEST(RecordingSource, APipeEndsWhenItsWriterCloses)
{
	int fds[2];
	ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
	const std::string text = recording(250);
	ASSERT_EQ(::write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
	::close(fds[1]);
	RecordingSource source(fds[0], "-");
	std::size_t seen = 0;
	while (source.poll(std::chrono::seconds(10), [&](const Sample &) { seen++; })) {
	}
	EXPECT_FALSE(source.error());
	EXPECT_EQ(seen, 250u);
	::close(fds[0]);
}

} // namespace
} // namespace mxwatch
