// SPDX-License-Identifier: GPL-2.0-only
// util/proc_stat: /proc/PID/stat with names chosen to break parsers, both
// synthetic lines and real processes that named themselves so.
#include "mxwatch/util/proc_stat.hpp"

#include <csignal>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace mxwatch {
namespace {

// A stat line as the kernel writes it (52 fields): field N holds 1000 + N, but
// for the pid, the name and the state.
std::string stat_line(std::string_view comm, std::uint32_t pid = 4242, char state = 'S', int fields = 52)
{
	std::string line = fmt::format("{} ({}) {}", pid, comm, state);
	for (int n = 4; n <= fields; n++)
		line += fmt::format(" {}", 1000 + n);
	return line + "\n";
}

void expect_fields(const ProcStat &s)
{
	EXPECT_EQ(s.ppid, 1004u);
	EXPECT_EQ(s.utime, 1014u);
	EXPECT_EQ(s.stime, 1015u);
	EXPECT_EQ(s.num_threads, 1020);
	EXPECT_EQ(s.starttime, 1022u);
	EXPECT_EQ(s.vsize, 1023u);
	EXPECT_EQ(s.rss, 1024);
}

TEST(ProcStat, EachFieldComesFromItsPosition)
{
	const auto s = parse_proc_stat(stat_line("mxwatch"));
	ASSERT_TRUE(s);
	EXPECT_EQ(s->pid, 4242u);
	EXPECT_EQ(s->comm, "mxwatch");
	EXPECT_EQ(s->state, 'S');
	expect_fields(*s);
}

TEST(ProcStat, HostileNamesDoNotShiftTheFields)
{
	const std::vector<std::string> names = {
	    "",
	    "a b",
	    ")",
	    "(",
	    "))",
	    ") R 1 2 3 (",
	    "x) Z 7 (y",
	    "   ",
	    "new\nline",
	    "(sd-pam)",
	    "1 (2) 3",
	    std::string("nul\0byte", 8),
	    "\xff\xfe invalid",
	    "kworker/0:1-events_unbound+a)", // 29 bytes: kernel threads' names may be up to 64
	};
	for (const auto &name : names) {
		const auto s = parse_proc_stat(stat_line(name));
		ASSERT_TRUE(s) << name;
		EXPECT_EQ(s->comm, name);
		EXPECT_EQ(s->state, 'S') << name;
		expect_fields(*s);
	}
}

TEST(ProcStat, ALineCutShortIsRefusedBeforeStarttimeAndPartialAfter)
{
	for (int fields = 2; fields < 22; fields++)
		EXPECT_FALSE(parse_proc_stat(stat_line("x", 1, 'S', fields))) << fields;
	const auto upto22 = parse_proc_stat(stat_line("x", 1, 'S', 22));
	ASSERT_TRUE(upto22);
	EXPECT_EQ(upto22->starttime, 1022u);
	EXPECT_FALSE(upto22->vsize);
	EXPECT_FALSE(upto22->rss);
	const auto upto23 = parse_proc_stat(stat_line("x", 1, 'S', 23));
	ASSERT_TRUE(upto23);
	EXPECT_EQ(upto23->vsize, 1023u);
	EXPECT_FALSE(upto23->rss);
}

TEST(ProcStat, MalformedLinesAreRefusedNotThrown)
{
	EXPECT_FALSE(parse_proc_stat(""));
	EXPECT_FALSE(parse_proc_stat("\n"));
	EXPECT_FALSE(parse_proc_stat("no paren at all"));
	EXPECT_FALSE(parse_proc_stat("1 (x S 1 2"));                                   // no closing parenthesis
	EXPECT_FALSE(parse_proc_stat(") 1 (x"));                                       // closing before opening
	EXPECT_FALSE(parse_proc_stat(stat_line("x").substr(5)));                       // no pid
	EXPECT_FALSE(parse_proc_stat("-1" + stat_line("x").substr(4)));                // negative pid
	EXPECT_FALSE(parse_proc_stat("99999999999" + stat_line("x").substr(4)));       // pid out of range
	EXPECT_FALSE(parse_proc_stat("4242(x)" + stat_line("x").substr(10)));          // no space before '('
	EXPECT_FALSE(parse_proc_stat(stat_line("x", 1, 'S', 52).replace(6, 1, "SS"))); // state of two letters

	// A used field that is not a number, or out of its type's range.
	std::string line = stat_line("x");
	const auto replace_field = [&](int field, std::string_view with) {
		std::string out = line;
		const std::string old = fmt::format(" {} ", 1000 + field);
		out.replace(out.find(old), old.size(), fmt::format(" {} ", with));
		return out;
	};
	EXPECT_FALSE(parse_proc_stat(replace_field(4, "-1")));
	EXPECT_FALSE(parse_proc_stat(replace_field(4, "4294967296")));
	EXPECT_FALSE(parse_proc_stat(replace_field(14, "12x")));
	EXPECT_FALSE(parse_proc_stat(replace_field(22, "18446744073709551616")));
	EXPECT_TRUE(parse_proc_stat(replace_field(22, "18446744073709551615")));
	EXPECT_TRUE(parse_proc_stat(replace_field(8, "-1"))); // tpgid: not used, and -1 is what the kernel writes

	// Longer than any stat line can be: refused, not cut.
	EXPECT_FALSE(parse_proc_stat(stat_line(std::string(kMaxProcStatBytes, 'a'))));
}

TEST(ProcStat, ReadsThisProcess)
{
	const auto s = read_proc_stat_file("/proc/self/stat");
	ASSERT_TRUE(s);
	EXPECT_EQ(s->pid, static_cast<std::uint32_t>(getpid()));
	EXPECT_EQ(s->ppid, static_cast<std::uint32_t>(getppid()));
	EXPECT_EQ(s->state, 'R');
	EXPECT_GE(s->num_threads, 1);
	EXPECT_GT(s->starttime, 0u);
	EXPECT_GT(s->vsize.value_or(0), 0u);
	EXPECT_GT(s->rss.value_or(0), 0);
	const auto by_pid = read_proc_stat(static_cast<std::uint32_t>(getpid()));
	ASSERT_TRUE(by_pid);
	EXPECT_EQ(by_pid->starttime, s->starttime);
	EXPECT_FALSE(read_proc_stat(static_cast<std::uint32_t>(getpid()), "/nonexistent"));
}

// A real process names itself to confuse parsers; the kernel's line for it
// still parses to its true parent and start.
TEST(ProcStat, ReadsARealProcessWithAHostileName)
{
	for (const std::string name : {"x) Z 1 (y", "a\nb) R 2", ")))))))))))))))", "( ( ("}) {
		int ready[2];
		ASSERT_EQ(pipe(ready), 0);
		const pid_t child = fork();
		ASSERT_GE(child, 0);
		if (child == 0) {
			prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
			(void)!write(ready[1], "x", 1);
			pause();
			_exit(0);
		}
		close(ready[1]);
		char byte;
		ASSERT_EQ(read(ready[0], &byte, 1), 1);
		close(ready[0]);
		const auto s = read_proc_stat(static_cast<std::uint32_t>(child));
		kill(child, SIGKILL);
		waitpid(child, nullptr, 0);
		ASSERT_TRUE(s) << name;
		EXPECT_EQ(s->comm, name.substr(0, 15)); // TASK_COMM_LEN - 1
		EXPECT_EQ(s->pid, static_cast<std::uint32_t>(child));
		EXPECT_EQ(s->ppid, static_cast<std::uint32_t>(getpid()));
		EXPECT_EQ(s->num_threads, 1);
		const auto self = read_proc_stat_file("/proc/self/stat");
		ASSERT_TRUE(self);
		EXPECT_GE(s->starttime, self->starttime); // the child started after us
	}
}

} // namespace
} // namespace mxwatch
