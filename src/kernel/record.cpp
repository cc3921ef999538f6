// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/record.hpp"

#include "mxwatch_event.h"

#include <array>
#include <cstring>

namespace mxwatch {

std::string_view to_string(DecodeError error)
{
	constexpr std::array<std::string_view, 3> kNames{"record shorter than its header", "unknown record type", "record size does not match its type"};
	const auto index = static_cast<std::size_t>(error);
	return index < kNames.size() ? kNames[index] : "invalid";
}

namespace {

template <typename Record> void decode_common(const Record &raw, Sample &sample)
{
	sample.timestamp_ns = raw.hdr.timestamp_ns;
	sample.tgid = raw.tgid;
	sample.tid = raw.tid;
	sample.process_start_ns = raw.process_start_ns;
	sample.cgroup_id = raw.cgroup_id;
	sample.mxcsr = raw.mxcsr;
	sample.x87_cw = raw.x87_cw;
	sample.flags = raw.flags;
	sample.comm.assign(raw.comm, strnlen(raw.comm, sizeof(raw.comm)));
}

// Copies the whole record of its type, or says why not: never past record's end.
template <typename Record> std::optional<DecodeError> copy_record(std::span<const std::byte> record,
								   const mxw_record_header &header, Record &out)
{
	if (header.size != sizeof(out) || record.size() < sizeof(out))
		return DecodeError::SizeMismatch;
	std::memcpy(&out, record.data(), sizeof(out));
	return std::nullopt;
}

} // namespace

ModeCounts mode_counts_of(const mxw_counts &counts)
{
	ModeCounts out;
	for (int m = 0; m < kRoundingModes; m++)
		out.by_mode[m] = counts.by_mode[m];
	out.transitions = counts.transitions;
	out.after_non_default = counts.after_non_default;
	out.changed_after_non_default = counts.changed_after_non_default;
	out.records = counts.records;
	out.ftz_daz = counts.ftz_daz;
	out.x87_agrees = counts.x87_agrees;
	return out;
}

Decoded decode_record(std::span<const std::byte> record)
{
	mxw_record_header header{};
	if (record.size() < sizeof(header))
		return {std::nullopt, DecodeError::TooShort};
	std::memcpy(&header, record.data(), sizeof(header));
	Sample sample;
	switch (header.type) {
	case MXW_RECORD_SAMPLE: {
		mxw_sample_record raw{};
		if (auto error = copy_record(record, header, raw))
			return {std::nullopt, *error};
		decode_common(raw, sample);
		sample.default_skipped = raw.default_skipped;
		break;
	}
	case MXW_RECORD_SUMMARY: {
		mxw_summary_record raw{};
		if (auto error = copy_record(record, header, raw))
			return {std::nullopt, *error};
		decode_common(raw, sample);
		SampleSummary summary;
		summary.counts = mode_counts_of(raw.counts);
		summary.first_ns = raw.first_ns;
		summary.deferrals = raw.deferrals;
		sample.summary = summary;
		break;
	}
	default:
		return {std::nullopt, DecodeError::UnknownType};
	}
	return {std::move(sample), DecodeError::TooShort};
}

} // namespace mxwatch
