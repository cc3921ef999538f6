// SPDX-License-Identifier: GPL-2.0-only
// mxw-detector-replay FILE [ROUNDS]: the detector's own throughput on a
// recording. Reads every sample into memory first (parsing is `mxwatch
// replay`'s cost, measured separately), then feeds them to a fresh Detector
// exactly as `mxwatch replay` does (observe, expiry every 10 s of sample time),
// ROUNDS times; prints "samples alerts seconds read_seconds": the fastest
// round's, and the time the file took to read and parse (the one pass of
// SampleReader::next over it, which `replay`'s reader thread does beside the
// detector).
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/recording/mapped_file.hpp"
#include "mxwatch/recording/sample_file.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <unistd.h>
#include <vector>

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "usage: mxw-detector-replay FILE [ROUNDS]\n");
		return 2;
	}
	const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
	// The parse alone first: one pass over the file, as replay's reader thread makes it.
	double read_seconds = 0;
	{
		const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			std::perror(argv[1]);
			return 2;
		}
		mxwatch::Sample sample;
		std::uint64_t sum = 0;
		const auto started = std::chrono::steady_clock::now();
		// Mapped where it can be, as RecordingSource does.
		const auto mapped = mxwatch::MappedFile::map(fd);
		std::optional<mxwatch::SampleReader> reader_storage;
		if (mapped)
			reader_storage.emplace(mapped->contents(), argv[1]);
		else
			reader_storage.emplace(fd, argv[1]);
		mxwatch::SampleReader &pass = *reader_storage;
		while (pass.next(sample))
			sum += sample.mxcsr;
		read_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
		::close(fd);
		if (sum == 0)
			std::fprintf(stderr, "mxw-detector-replay: every MXCSR is 0?\n");
	}
	std::ifstream in(argv[1], std::ios::binary);
	mxwatch::SampleReader reader(in, argv[1]);
	std::vector<mxwatch::Sample> samples;
	mxwatch::Sample sample;
	while (reader.next(sample))
		samples.push_back(sample);
	if (reader.error() || samples.empty()) {
		std::fprintf(stderr, "mxw-detector-replay: %s\n",
			     reader.error() ? reader.error()->message().c_str() : "no samples");
		return 2;
	}
	constexpr std::uint64_t kExpiryIntervalNs = 10'000'000'000;
	double best = 1e30;
	std::uint64_t alerts = 0;
	for (int r = 0; r < rounds; r++) {
		mxwatch::Detector detector;
		alerts = 0;
		const auto started = std::chrono::steady_clock::now();
		std::uint64_t next_expiry_ns = samples.front().timestamp_ns + kExpiryIntervalNs;
		for (const auto &s : samples) {
			if (s.timestamp_ns >= next_expiry_ns) {
				alerts += detector.expire(s.timestamp_ns).size();
				next_expiry_ns = s.timestamp_ns + kExpiryIntervalNs;
			}
			if (detector.observe(s))
				alerts++;
		}
		best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
	}
	std::printf("%zu %llu %.6f %.6f\n", samples.size(), static_cast<unsigned long long>(alerts), best, read_seconds);
	return 0;
}
