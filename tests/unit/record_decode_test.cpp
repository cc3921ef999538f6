// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/record.hpp"
#include "mxwatch_event.h"

#include <cstring>
#include <gtest/gtest.h>
#include <vector>

namespace mxwatch {
namespace {

mxw_sample_record make_record()
{
	mxw_sample_record rec{};
	rec.hdr.type = MXW_RECORD_SAMPLE;
	rec.hdr.size = sizeof(rec);
	rec.hdr.cpu = 1;
	rec.hdr.timestamp_ns = 123456789;
	rec.tgid = 4242;
	rec.tid = 4243;
	rec.cgroup_id = 77;
	rec.mxcsr = 0x9FC0 | (3u << 13);
	rec.flags = MXW_SAMPLE_F_FIRST;
	rec.default_skipped = 5;
	rec.process_start_ns = 987654321;
	std::memcpy(rec.comm, "xmrig", 6);
	return rec;
}

std::span<const std::byte> bytes_of(const mxw_sample_record &rec, std::size_t size = sizeof(mxw_sample_record))
{
	return {reinterpret_cast<const std::byte *>(&rec), size};
}

TEST(RecordDecode, DecodesEveryField)
{
	const auto rec = make_record();
	const auto decoded = decode_record(bytes_of(rec));
	ASSERT_TRUE(decoded.sample);
	const Sample &s = *decoded.sample;
	EXPECT_EQ(s.timestamp_ns, 123456789u);
	EXPECT_EQ(s.tgid, 4242u);
	EXPECT_EQ(s.tid, 4243u);
	EXPECT_EQ(s.cgroup_id, 77u);
	EXPECT_EQ(s.process_start_ns, 987654321u);
	EXPECT_EQ(s.mxcsr, 0xFFC0u);
	EXPECT_EQ(s.mode(), RoundingMode::TowardZero);
	EXPECT_TRUE(has_ftz_daz(s.mxcsr));
	EXPECT_EQ(s.flags, static_cast<std::uint32_t>(MXW_SAMPLE_F_FIRST));
	EXPECT_EQ(s.default_skipped, 5u);
	EXPECT_EQ(s.comm, "xmrig");
}

TEST(RecordDecode, CommFillingAllSixteenBytesIsNotReadPastItsEnd)
{
	auto rec = make_record();
	std::memset(rec.comm, 'A', sizeof(rec.comm)); // no terminating NUL
	const auto decoded = decode_record(bytes_of(rec));
	ASSERT_TRUE(decoded.sample);
	EXPECT_EQ(decoded.sample->comm, std::string(16, 'A'));
}

TEST(RecordDecode, RejectsShortUnknownAndInconsistentRecords)
{
	auto rec = make_record();
	EXPECT_EQ(decode_record(bytes_of(rec, 4)).error, DecodeError::TooShort);
	EXPECT_FALSE(decode_record(bytes_of(rec, 4)).sample);
	EXPECT_EQ(decode_record(bytes_of(rec, sizeof(rec) - 1)).error, DecodeError::SizeMismatch);
	rec.hdr.size = 12;
	EXPECT_EQ(decode_record(bytes_of(rec)).error, DecodeError::SizeMismatch);
	rec = make_record();
	rec.hdr.type = 99;
	EXPECT_EQ(decode_record(bytes_of(rec)).error, DecodeError::UnknownType);
	EXPECT_FALSE(decode_record({}).sample);
}

mxw_summary_record make_summary()
{
	mxw_summary_record rec{};
	rec.hdr.type = MXW_RECORD_SUMMARY;
	rec.hdr.size = sizeof(rec);
	rec.hdr.timestamp_ns = 2'000'000'000;
	rec.tgid = 4242;
	rec.tid = 4250;
	rec.cgroup_id = 77;
	rec.process_start_ns = 987654321;
	rec.first_ns = 1'950'000'000;
	rec.mxcsr = 0x9FC0 | (1u << 13);
	rec.flags = MXW_SAMPLE_F_LAST;
	rec.x87_cw = 0x037F;
	rec.deferrals = 3;
	rec.counts = {{10, 20, 30, 40}, 70, 88, 66, 95, 90, 2};
	std::memcpy(rec.comm, "xmrig", 6);
	return rec;
}

TEST(RecordDecode, DecodesSummaryCounts)
{
	const auto rec = make_summary();
	const auto decoded = decode_record({reinterpret_cast<const std::byte *>(&rec), sizeof(rec)});
	ASSERT_TRUE(decoded.sample);
	const Sample &s = *decoded.sample;
	EXPECT_EQ(s.timestamp_ns, 2'000'000'000u);
	EXPECT_EQ(s.tid, 4250u);
	EXPECT_EQ(s.mode(), RoundingMode::Down);
	EXPECT_EQ(s.flags, static_cast<std::uint32_t>(MXW_SAMPLE_F_LAST));
	EXPECT_EQ(s.comm, "xmrig");
	ASSERT_TRUE(s.summary);
	EXPECT_EQ(s.summary->first_ns, 1'950'000'000u);
	EXPECT_EQ(s.summary->deferrals, 3u);
	const ModeCounts &c = s.summary->counts;
	EXPECT_EQ(c.by_mode, (std::array<std::uint64_t, 4>{10, 20, 30, 40}));
	EXPECT_EQ(c.transitions, 70u);
	EXPECT_EQ(c.after_non_default, 88u);
	EXPECT_EQ(c.changed_after_non_default, 66u);
	EXPECT_EQ(c.records, 95u);
	EXPECT_EQ(c.ftz_daz, 90u);
	EXPECT_EQ(c.x87_agrees, 2u);
	EXPECT_FALSE(decode_record(bytes_of(make_record())).sample->summary);
}

TEST(RecordDecode, RejectsASummaryCutShortOrSizedAsASample)
{
	auto rec = make_summary();
	const auto *bytes = reinterpret_cast<const std::byte *>(&rec);
	EXPECT_EQ(decode_record({bytes, sizeof(rec) - 1}).error, DecodeError::SizeMismatch);
	EXPECT_EQ(decode_record({bytes, sizeof(mxw_sample_record)}).error, DecodeError::SizeMismatch);
	rec.hdr.size = sizeof(mxw_sample_record);
	EXPECT_EQ(decode_record({bytes, sizeof(rec)}).error, DecodeError::SizeMismatch);
}

TEST(RoundingModeBits, FollowsMxcsrBits13And14)
{
	EXPECT_EQ(rounding_mode(0x1F80), RoundingMode::Nearest);
	EXPECT_EQ(rounding_mode(0x1F80 | 1u << 13), RoundingMode::Down);
	EXPECT_EQ(rounding_mode(0x1F80 | 2u << 13), RoundingMode::Up);
	EXPECT_EQ(rounding_mode(0x9FC0 | 3u << 13), RoundingMode::TowardZero);
	EXPECT_FALSE(has_ftz_daz(0x1F80));
	EXPECT_FALSE(has_ftz_daz(0x9F80)); // FTZ alone
	EXPECT_TRUE(has_ftz_daz(0x9FC0));
}

} // namespace
} // namespace mxwatch
