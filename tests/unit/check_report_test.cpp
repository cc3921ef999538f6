// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/check_report.hpp"

#include <gtest/gtest.h>

namespace mxwatch {
namespace {

CheckResult result_with(VerdictKind kind)
{
	CheckResult result;
	result.duration_s = 10;
	result.attach = "tp_btf";
	result.fpu_layout = "fpstate";
	result.counters.hits = 1000;
	result.counters.sent = 100;
	CheckRow row;
	row.key = {4242, 1};
	row.name = "evil\x1bname";
	row.info.executable = "/tmp/x";
	row.counts.by_mode = {40, 20, 20, 20};
	row.verdict = {.kind = kind, .score = 0.8, .reason = "why"};
	result.rows.push_back(row);
	return result;
}

TEST(CheckReport, TableDrawsOneBarPerModeAndEscapesNames)
{
	const std::string table = render_table(result_with(VerdictKind::Miner), false);
	EXPECT_NE(table.find("4242"), std::string::npos);
	EXPECT_NE(table.find("evil\\x1bname"), std::string::npos);
	EXPECT_EQ(table.find('\x1b'), std::string::npos);
	EXPECT_NE(table.find("############  "), std::string::npos); // 40% of 30 cells
	EXPECT_NE(table.find("toward-zero"), std::string::npos);
	EXPECT_NE(table.find("1 miner found."), std::string::npos);
}

TEST(CheckReport, JsonDocumentCountsMiners)
{
	auto doc = to_json(result_with(VerdictKind::Miner));
	EXPECT_EQ(doc["miners"], 1);
	EXPECT_EQ(doc["processes"][0]["samples_by_mode"], nlohmann::json({40, 20, 20, 20}));
	EXPECT_EQ(doc["sampler"]["fpu_layout"], "fpstate");
	doc = to_json(result_with(VerdictKind::Benign));
	EXPECT_EQ(doc["miners"], 0);
}

} // namespace
} // namespace mxwatch
