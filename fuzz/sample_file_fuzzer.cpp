// SPDX-License-Identifier: GPL-2.0-only
// The replay-file reader (include/mxwatch/sample_file.hpp) on arbitrary bytes:
// files come from anywhere, so every line is either a sample, the end, or one
// error naming the line; never a crash, a hang or an exception.
#include "mxwatch/recording/sample_file.hpp"

#include <cstdlib>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string bytes(reinterpret_cast<const char *>(data), size);
	std::istringstream in(bytes);
	mxwatch::SampleReader reader(in, "fuzz");
	mxwatch::Sample sample;
	std::uint64_t samples = 0, first_ns = 0;
	while (reader.next(sample)) {
		if (samples++ == 0)
			first_ns = sample.timestamp_ns;
		(void)mxwatch::sample_wall_time(reader.header(), first_ns, sample.timestamp_ns);
		if (samples > size) // each sample needs at least one byte of its own
			std::abort();
	}
	if (reader.error() && reader.error()->line == 0)
		std::abort(); // errors name their line
	if (reader.next(sample))
		std::abort(); // after the end or an error, nothing more
	(void)mxwatch::parse_rfc3339(bytes);
	return 0;
}
