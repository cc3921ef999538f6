// SPDX-License-Identifier: GPL-2.0-only
// The real BPF program in this kernel, real workloads, `mxwatch check` as an operator runs it.
#include "harness.hpp"

namespace mxwatch::test {
namespace {

[[maybe_unused]] std::string describe(const CheckRun &run)
{
	return "exit " + std::to_string(run.exit_status) + "\nstderr:\n" + run.stderr_text +
	       "\ndocument:\n" + run.document.dump(2);
}

TEST(Detection, SyntheticCfroundWorkloadIsReportedAsMiner)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-cfround"), "--seconds", "10"}}, 14);
	ASSERT_EQ(run.exit_status, 1) << describe(run);
	const auto *proc = run.process(run.workload_pids.at(0));
	ASSERT_NE(proc, nullptr) << describe(run);
	EXPECT_EQ((*proc)["verdict"], "miner") << describe(run);
	EXPECT_EQ((*proc)["name"], "mxw-cfround");
	for (int mode = 0; mode < 4; mode++)
		EXPECT_GT((*proc)["samples_by_mode"][mode].get<int>(), 0) << "mode " << mode << "\n" << describe(run);
	EXPECT_EQ(run.document["sampler"]["fpu_layout"], "fpstate"); // this host runs 6.18
	EXPECT_EQ(run.document["sampler"]["attach"], "tp_btf");
	EXPECT_GT(run.document["sampler"]["hits"].get<long>(), run.document["sampler"]["sent"].get<long>());
}

TEST(Detection, RealRandomxLightModeJitIsReportedAsMiner)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-randomx"), "--seconds", "14"}}, 18);
	ASSERT_EQ(run.exit_status, 1) << describe(run);
	const auto *proc = run.process(run.workload_pids.at(0));
	ASSERT_NE(proc, nullptr) << describe(run);
	EXPECT_EQ((*proc)["verdict"], "miner") << describe(run);
	// Inside the RandomX VM MXCSR carries FTZ and DAZ: most samples should show them.
	EXPECT_GT((*proc)["ftz_daz_share"].get<double>(), 0.5) << describe(run);
}

TEST(Detection, RealRandomxInterpreterIsReportedAsMiner)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-randomx"), "--seconds", "14", "--interpreter"}}, 18);
	ASSERT_EQ(run.exit_status, 1) << describe(run);
	const auto *proc = run.process(run.workload_pids.at(0));
	ASSERT_NE(proc, nullptr) << describe(run);
	EXPECT_EQ((*proc)["verdict"], "miner") << describe(run);
}

TEST(Detection, BenignRoundingUsersAreSeenButNotReported)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with(
		{
			{workload("mxw-fixed-mode"), "--mode", "2", "--seconds", "10"},
			{workload("mxw-fixed-mode"), "--mode", "3", "--seconds", "10"},
			{workload("mxw-interval"), "--seconds", "10"},
			{workload("mxw-fp-work"), "--seconds", "10"},
		},
		14);
	ASSERT_EQ(run.exit_status, 0) << describe(run);
	EXPECT_EQ(run.document["miners"], 0) << describe(run);
	// The rounding users must have been observed (otherwise this test proves nothing)...
	for (int i = 0; i < 3; i++) {
		const auto *proc = run.process(run.workload_pids.at(i));
		ASSERT_NE(proc, nullptr) << "workload " << i << " was never sampled\n" << describe(run);
		EXPECT_NE((*proc)["verdict"], "miner") << describe(run);
	}
	// ...and the default-mode program never sent a record at all.
	EXPECT_EQ(run.process(run.workload_pids.at(3)), nullptr) << describe(run);
}

TEST(Detection, RawTracepointFallbackDetectsToo)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-cfround"), "--seconds", "8"}}, 11, {"--attach", "raw_tp"});
	ASSERT_EQ(run.exit_status, 1) << describe(run);
	EXPECT_EQ(run.document["sampler"]["attach"], "raw_tp");
	const auto *proc = run.process(run.workload_pids.at(0));
	ASSERT_NE(proc, nullptr) << describe(run);
	EXPECT_EQ((*proc)["verdict"], "miner");
}

} // namespace
} // namespace mxwatch::test

namespace mxwatch::test {
namespace {

TEST(Allowlist, AllowlistedExecutableIsJudgedButNotCountedAsAMiner)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-cfround"), "--seconds", "8"}}, 11,
					{"--allow-exe", workload("mxw-cfround")});
	ASSERT_EQ(run.exit_status, 0) << describe(run);
	EXPECT_EQ(run.document["miners"], 0);
	const auto *proc = run.process(run.workload_pids.at(0));
	ASSERT_NE(proc, nullptr) << describe(run);
	EXPECT_EQ((*proc)["verdict"], "miner") << describe(run);
	EXPECT_EQ((*proc)["allowlisted"], "executable " + workload("mxw-cfround")) << describe(run);
}

TEST(Detection, FesetroundTestProgramCyclingAllFourModesIsNotAMiner)
{
	MXW_REQUIRE_PRIVILEGED();
	const auto run = run_check_with({{workload("mxw-fenv-cycle"), "--seconds", "8", "--block-us", "1000"},
					 {workload("mxw-fenv-cycle"), "--seconds", "8", "--block-us", "100000"}},
					11);
	ASSERT_EQ(run.exit_status, 0) << describe(run);
	for (int i = 0; i < 2; i++) {
		const auto *proc = run.process(run.workload_pids.at(i));
		ASSERT_NE(proc, nullptr) << describe(run); // seen in all four modes...
		EXPECT_EQ((*proc)["verdict"], "suspicious") << describe(run); // ...but not a miner
	}
}

} // namespace
} // namespace mxwatch::test
