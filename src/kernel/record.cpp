// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/record.hpp"

#include "mxwatch_event.h"

#include <cstring>

namespace mxwatch {

std::string_view to_string(DecodeError error)
{
	switch (error) {
	case DecodeError::TooShort:
		return "record shorter than its header";
	case DecodeError::UnknownType:
		return "unknown record type";
	case DecodeError::SizeMismatch:
		return "record size does not match its type";
	}
	return "invalid";
}

Decoded decode_record(std::span<const std::byte> record)
{
	mxw_record_header header{};
	if (record.size() < sizeof(header))
		return {std::nullopt, DecodeError::TooShort};
	std::memcpy(&header, record.data(), sizeof(header));
	if (header.type != MXW_RECORD_SAMPLE)
		return {std::nullopt, DecodeError::UnknownType};
	mxw_sample_record raw{};
	if (header.size != sizeof(raw) || record.size() < sizeof(raw))
		return {std::nullopt, DecodeError::SizeMismatch};
	std::memcpy(&raw, record.data(), sizeof(raw));

	Sample sample;
	sample.timestamp_ns = raw.hdr.timestamp_ns;
	sample.tgid = raw.tgid;
	sample.tid = raw.tid;
	sample.process_start_ns = raw.process_start_ns;
	sample.cgroup_id = raw.cgroup_id;
	sample.mxcsr = raw.mxcsr;
	sample.x87_cw = raw.x87_cw;
	sample.flags = raw.flags;
	sample.default_skipped = raw.default_skipped;
	sample.comm.assign(raw.comm, strnlen(raw.comm, sizeof(raw.comm)));
	return {std::move(sample), DecodeError::TooShort};
}

} // namespace mxwatch
