// SPDX-License-Identifier: GPL-2.0-only
// util/clock, util/fd, util/capabilities and util/kernel_version against what
// the kernel says through other doors (/proc, clock_gettime, fcntl).
#include "mxwatch/util/capabilities.hpp"
#include "mxwatch/util/clock.hpp"
#include "mxwatch/util/fd.hpp"
#include "mxwatch/util/kernel_version.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <unistd.h>

namespace mxwatch {
namespace {

std::uint64_t raw_clock(clockid_t clock)
{
	timespec ts{};
	clock_gettime(clock, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

TEST(Clock, ReadsTheClocksSampleTimestampsAndProcUse)
{
	const std::uint64_t before = raw_clock(CLOCK_MONOTONIC);
	const std::uint64_t now = monotonic_ns();
	const std::uint64_t after = raw_clock(CLOCK_MONOTONIC);
	EXPECT_LE(before, now);
	EXPECT_LE(now, after);
	// CLOCK_BOOTTIME counts what CLOCK_MONOTONIC does, and suspended time besides.
	const std::uint64_t mono = monotonic_ns();
	EXPECT_GE(boottime_ns(), mono);
	EXPECT_EQ(clock_ns(static_cast<clockid_t>(-1000)), 0u); // no such clock
	const double mono_s = monotonic_s();
	EXPECT_LE(ns_to_seconds(after), mono_s);
}

TEST(Clock, UnixNowIsTheSystemClock)
{
	using std::chrono::duration;
	using std::chrono::system_clock;
	const double before = duration<double>(system_clock::now().time_since_epoch()).count();
	const double now = unix_now();
	const double after = duration<double>(system_clock::now().time_since_epoch()).count();
	EXPECT_LE(before, now);
	EXPECT_LE(now, after);
}

TEST(Clock, TimespecConversionsRoundTrip)
{
	for (std::uint64_t ns : {0ull, 1ull, 999'999'999ull, 1'000'000'000ull, 1'234'567'890'123ull}) {
		const timespec ts = to_timespec(ns);
		EXPECT_GE(ts.tv_nsec, 0);
		EXPECT_LT(ts.tv_nsec, 1'000'000'000);
		EXPECT_EQ(to_ns(ts), ns);
	}
	EXPECT_EQ(to_timespec(2'500'000'000ull).tv_sec, 2);
	EXPECT_EQ(to_timespec(2'500'000'000ull).tv_nsec, 500'000'000);
	EXPECT_DOUBLE_EQ(ns_to_seconds(1'500'000'000ull), 1.5);
}

bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

TEST(UniqueFd, ClosesExactlyOnceAndMovesOwnership)
{
	int raw = -1;
	{
		UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
		ASSERT_TRUE(fd);
		raw = fd.get();
		EXPECT_TRUE(is_open(raw));

		UniqueFd moved(std::move(fd));
		EXPECT_FALSE(fd); // NOLINT(bugprone-use-after-move): a moved-from owner holds nothing
		EXPECT_EQ(moved.get(), raw);

		UniqueFd assigned;
		assigned = std::move(moved);
		EXPECT_EQ(assigned.get(), raw);
		auto &self = assigned;
		assigned = std::move(self); // self-move keeps the descriptor
		EXPECT_EQ(assigned.get(), raw);
		EXPECT_TRUE(is_open(raw));
	}
	EXPECT_FALSE(is_open(raw));

	UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
	const int released = fd.release();
	EXPECT_FALSE(fd);
	EXPECT_TRUE(is_open(released));
	fd.reset(released);
	EXPECT_EQ(fd.get(), released);
	fd.reset();
	EXPECT_FALSE(is_open(released));
	EXPECT_FALSE(UniqueFd(-1));
}

TEST(ReadBounded, ReadsProcFilesWhoseSizeIsZeroAndStopsAtTheLimit)
{
	const auto stat = read_bounded("/proc/self/stat", 1 << 16);
	ASSERT_TRUE(stat);
	EXPECT_EQ(stat->substr(0, stat->find(' ')), std::to_string(getpid()));
	const auto cut = read_bounded("/proc/self/stat", 3);
	ASSERT_TRUE(cut);
	EXPECT_EQ(*cut, stat->substr(0, 3));
	EXPECT_EQ(read_bounded("/proc/self/stat", 0), std::string());
	EXPECT_FALSE(read_bounded("/nonexistent/file", 10));
}

// The effective set as the kernel reports it in /proc/thread-self/status.
std::uint64_t cap_eff_from_proc()
{
	std::ifstream status("/proc/thread-self/status");
	for (std::string line; std::getline(status, line);)
		if (line.starts_with("CapEff:"))
			return std::stoull(line.substr(7), nullptr, 16);
	ADD_FAILURE() << "no CapEff line";
	return 0;
}

TEST(Capabilities, EffectiveSetIsWhatTheKernelReports)
{
	const std::uint64_t expected = cap_eff_from_proc();
	for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++)
		EXPECT_EQ(has_effective_capability(cap), ((expected >> cap) & 1) != 0) << "capability " << cap;
	const CapState state = thread_capabilities();
	ASSERT_TRUE(state);
	EXPECT_EQ(has_capability(state.get(), CAP_KILL, CAP_EFFECTIVE), ((expected >> CAP_KILL) & 1) != 0);
	EXPECT_FALSE(has_capability(nullptr, CAP_KILL, CAP_EFFECTIVE));
	EXPECT_EQ(capabilities_text(nullptr), "?");
	// libcap's text: "=" for none, "=ep" for all, names otherwise.
	const std::string text = current_capabilities();
	EXPECT_EQ(text, capabilities_text(state.get()));
	if (expected == 0)
		EXPECT_EQ(text, "=");
}

TEST(KernelVersion, ParsesReleasesAsDistributionsWriteThem)
{
	EXPECT_EQ(parse_kernel_release("6.1.0-57-amd64"), (KernelVersion{6, 1, 0}));
	EXPECT_EQ(parse_kernel_release("5.10.226-1"), (KernelVersion{5, 10, 226}));
	EXPECT_EQ(parse_kernel_release("6.18.44-fc-v782"), (KernelVersion{6, 18, 44}));
	EXPECT_EQ(parse_kernel_release("6.5-rc1"), (KernelVersion{6, 5, 0}));
	EXPECT_EQ(parse_kernel_release("4.18.0-553.el8_10.x86_64"), (KernelVersion{4, 18, 0}));
	EXPECT_EQ(parse_kernel_release("6.12"), (KernelVersion{6, 12, 0}));
	EXPECT_FALSE(parse_kernel_release(""));
	EXPECT_FALSE(parse_kernel_release("6"));
	EXPECT_FALSE(parse_kernel_release("6."));
	EXPECT_FALSE(parse_kernel_release("v6.1"));
	EXPECT_FALSE(parse_kernel_release("99999999999.1"));
	EXPECT_LT((KernelVersion{5, 10, 0}), (KernelVersion{6, 1, 0}));
	EXPECT_LT((KernelVersion{6, 4, 99}), (KernelVersion{6, 5}));
	EXPECT_GE((KernelVersion{6, 5, 0}), (KernelVersion{6, 5}));
}

TEST(KernelVersion, TheRunningKernelIsProcsOsrelease)
{
	std::ifstream osrelease("/proc/sys/kernel/osrelease");
	std::string release;
	ASSERT_TRUE(std::getline(osrelease, release));
	EXPECT_EQ(kernel_release(), release);
	EXPECT_EQ(running_kernel_version(), parse_kernel_release(release));
	EXPECT_TRUE(running_kernel_version()); // every Linux release starts MAJOR.MINOR
}

} // namespace
} // namespace mxwatch
