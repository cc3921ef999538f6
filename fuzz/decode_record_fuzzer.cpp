// SPDX-License-Identifier: GPL-2.0-only
// The ring-buffer record decoder on arbitrary bytes: a record the kernel side
// (or a corrupted ring) hands over must be decoded or refused, never read past.
#include "mxwatch/kernel/record.hpp"

#include "mxwatch_event.h"

#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	// An exact-size heap copy: ASan catches a read one byte past the record.
	auto *copy = static_cast<std::byte *>(std::malloc(size ? size : 1));
	std::memcpy(copy, data, size);
	const mxwatch::Decoded decoded = mxwatch::decode_record({copy, size});
	if (decoded.sample) {
		// Only a whole record of its type decodes, and its comm stays within the field.
		const std::size_t whole = decoded.sample->summary ? sizeof(mxw_summary_record) : sizeof(mxw_sample_record);
		if (size < whole || decoded.sample->comm.size() > sizeof(mxw_sample_record{}.comm))
			std::abort();
		if (decoded.sample->summary && decoded.sample->summary->counts.total() > 4ull * UINT32_MAX)
			std::abort(); // four 32-bit counts on the wire
		(void)mxwatch::to_string(decoded.sample->mode());
	} else {
		(void)mxwatch::to_string(decoded.error);
	}
	std::free(copy);
	return 0;
}
