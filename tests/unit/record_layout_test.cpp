// SPDX-License-Identifier: GPL-2.0-only
// The kernel reads the wire records as clang laid them out for the BPF target
// (recorded in the object's BTF); user space reads them as the C++ compiler lays
// them out. The two views must agree member by member.
#include "mxwatch_event.h"

#include <bpf/btf.h>
#include <cstddef>
#include <gtest/gtest.h>
#include <map>
#include <string>

namespace {

struct BtfLayout {
	std::size_t size = 0;
	std::map<std::string, std::size_t> offsets; // bytes
};

class RecordLayout : public ::testing::Test {
protected:
	void SetUp() override
	{
		btf_ = btf__parse(MXWATCH_BPF_OBJECT, nullptr);
		ASSERT_NE(btf_, nullptr) << "cannot read BTF from " << MXWATCH_BPF_OBJECT;
	}
	void TearDown() override { btf__free(btf_); }

	BtfLayout layout_of(const char *name)
	{
		BtfLayout layout;
		const int id = btf__find_by_name_kind(btf_, name, BTF_KIND_STRUCT);
		EXPECT_GT(id, 0) << name << " is not in the BPF object's BTF";
		if (id <= 0)
			return layout;
		const btf_type *type = btf__type_by_id(btf_, id);
		layout.size = type->size;
		const btf_member *member = btf_members(type);
		for (int i = 0; i < btf_vlen(type); i++, member++)
			layout.offsets[btf__name_by_offset(btf_, member->name_off)] = btf_member_bit_offset(type, i) / 8;
		return layout;
	}

	btf *btf_ = nullptr;
};

#define EXPECT_MEMBER(layout, type, member) \
	EXPECT_EQ((layout).offsets.at(#member), offsetof(type, member)) << #type "." #member

TEST_F(RecordLayout, HeaderAgreesBetweenKernelAndUserSpace)
{
	const auto layout = layout_of("mxw_record_header");
	EXPECT_EQ(layout.size, sizeof(mxw_record_header));
	ASSERT_EQ(layout.offsets.size(), 4u);
	EXPECT_MEMBER(layout, mxw_record_header, type);
	EXPECT_MEMBER(layout, mxw_record_header, size);
	EXPECT_MEMBER(layout, mxw_record_header, cpu);
	EXPECT_MEMBER(layout, mxw_record_header, timestamp_ns);
}

TEST_F(RecordLayout, SampleRecordAgreesBetweenKernelAndUserSpace)
{
	const auto layout = layout_of("mxw_sample_record");
	EXPECT_EQ(layout.size, sizeof(mxw_sample_record));
	ASSERT_EQ(layout.offsets.size(), 11u) << "a member was added: list it here";
	EXPECT_MEMBER(layout, mxw_sample_record, hdr);
	EXPECT_MEMBER(layout, mxw_sample_record, tgid);
	EXPECT_MEMBER(layout, mxw_sample_record, tid);
	EXPECT_MEMBER(layout, mxw_sample_record, cgroup_id);
	EXPECT_MEMBER(layout, mxw_sample_record, mxcsr);
	EXPECT_MEMBER(layout, mxw_sample_record, flags);
	EXPECT_MEMBER(layout, mxw_sample_record, default_skipped);
	EXPECT_MEMBER(layout, mxw_sample_record, x87_cw);
	EXPECT_MEMBER(layout, mxw_sample_record, reserved);
	EXPECT_MEMBER(layout, mxw_sample_record, process_start_ns);
	EXPECT_MEMBER(layout, mxw_sample_record, comm);
}

TEST_F(RecordLayout, SummaryRecordAgreesBetweenKernelAndUserSpace)
{
	const auto layout = layout_of("mxw_summary_record");
	EXPECT_EQ(layout.size, sizeof(mxw_summary_record));
	EXPECT_EQ(sizeof(mxw_summary_record) % 8, 0u) << "explicit padding: the record ends on an 8-byte boundary";
	ASSERT_EQ(layout.offsets.size(), 13u) << "a member was added: list it here";
	EXPECT_MEMBER(layout, mxw_summary_record, hdr);
	EXPECT_MEMBER(layout, mxw_summary_record, tgid);
	EXPECT_MEMBER(layout, mxw_summary_record, tid);
	EXPECT_MEMBER(layout, mxw_summary_record, cgroup_id);
	EXPECT_MEMBER(layout, mxw_summary_record, process_start_ns);
	EXPECT_MEMBER(layout, mxw_summary_record, first_ns);
	EXPECT_MEMBER(layout, mxw_summary_record, mxcsr);
	EXPECT_MEMBER(layout, mxw_summary_record, flags);
	EXPECT_MEMBER(layout, mxw_summary_record, x87_cw);
	EXPECT_MEMBER(layout, mxw_summary_record, reserved);
	EXPECT_MEMBER(layout, mxw_summary_record, deferrals);
	EXPECT_MEMBER(layout, mxw_summary_record, counts);
	EXPECT_MEMBER(layout, mxw_summary_record, comm);

	const auto counts = layout_of("mxw_counts");
	EXPECT_EQ(counts.size, sizeof(mxw_counts));
	ASSERT_EQ(counts.offsets.size(), 7u) << "a member was added: list it here";
	EXPECT_MEMBER(counts, mxw_counts, by_mode);
	EXPECT_MEMBER(counts, mxw_counts, transitions);
	EXPECT_MEMBER(counts, mxw_counts, after_non_default);
	EXPECT_MEMBER(counts, mxw_counts, changed_after_non_default);
	EXPECT_MEMBER(counts, mxw_counts, records);
	EXPECT_MEMBER(counts, mxw_counts, ftz_daz);
	EXPECT_MEMBER(counts, mxw_counts, x87_agrees);
}

} // namespace
