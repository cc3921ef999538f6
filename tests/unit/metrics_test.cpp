// SPDX-License-Identifier: GPL-2.0-only
// The Prometheus exposition text and the listen address parser. (A live scrape
// through promtool is in tests/integration/service_test.cpp.)
#include "mxwatch/service/metrics.hpp"
#include "mxwatch/version.hpp"

#include <gtest/gtest.h>
#include <regex>
#include <cstdio>
#include <set>
#include <sstream>

namespace mxwatch {
namespace {

MetricsSnapshot sample_snapshot()
{
	MetricsSnapshot s;
	s.kernel.hits = 123456;
	s.kernel.sent = 789;
	s.kernel.lost = 2;
	s.kernel.followed_threads = 17;
	s.attach_type = "tp_btf";
	s.fpu_layout = "fpstate";
	s.detections = {3, 5, 1};
	s.tracked_processes = 4;
	s.tracked_threads = 9;
	s.sinks = {{"stdout", 8, 0, 0}, {"file:/var/log/a \"b\"\\c\nd", 6, 1, 2}};
	s.containers.runtimes = {{"docker", 4, 1, 0, ""}, {"podman", 0, 0, 3, "no socket at /run/podman/podman.sock"}};
	s.containers.cached = 5;
	s.container_waits = 2;
	s.container_wait_timeouts = 1;
	return s;
}

TEST(Metrics, EveryFamilyHasHelpTypeAndSamples)
{
	const std::string text = render_metrics(sample_snapshot(), read_process_stats());
	std::istringstream lines(text);
	std::set<std::string> helped, typed, sampled;
	static const std::regex sample_line(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$)");
	for (std::string line; std::getline(lines, line);) {
		std::smatch m;
		if (line.starts_with("# HELP "))
			helped.insert(line.substr(7, line.find(' ', 7) - 7));
		else if (line.starts_with("# TYPE "))
			typed.insert(line.substr(7, line.find(' ', 7) - 7));
		else if (std::regex_match(line, m, sample_line))
			sampled.insert(m[1]);
		else
			ADD_FAILURE() << "not an exposition line: " << line;
	}
	EXPECT_EQ(helped, typed);
	EXPECT_EQ(sampled, typed);
	for (const auto &name : typed)
		EXPECT_TRUE(name.starts_with("mxwatch_") || name.starts_with("process_")) << name;
}

TEST(Metrics, CountersCarryTheSnapshotValues)
{
	const std::string text = render_metrics(sample_snapshot(), read_process_stats());
	EXPECT_NE(text.find("\nmxwatch_tracepoint_hits_total 123456\n"), std::string::npos) << text;
	EXPECT_NE(text.find("\nmxwatch_kernel_records_lost_total 2\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_detections_total{kind=\"alert\"} 3\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_detections_total{kind=\"ongoing\"} 5\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_tracked_threads 9\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_kernel_followed_threads 17\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_container_lookups_total{runtime=\"docker\",result=\"found\"} 4\n"),
		  std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_container_lookup_failures_total{runtime=\"podman\"} 3\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_container_waits_total{result=\"timeout\"} 1\n"), std::string::npos);
	EXPECT_NE(text.find("\nmxwatch_container_waits_total{result=\"answered\"} 1\n"), std::string::npos);
	EXPECT_NE(text.find("mxwatch_attach_info{attach=\"tp_btf\",fpu_layout=\"fpstate\"} 1"), std::string::npos);
}

// The revision is taken at build time: a binary rebuilt after a commit must not
// go on naming the commit it was first configured at.
TEST(Metrics, BuildInfoNamesTheRevisionThatWasBuilt)
{
	std::string described;
	if (FILE *git = popen("git -C '" MXWATCH_SOURCE_DIR "' describe --always --dirty 2>/dev/null", "r")) {
		char buffer[256];
		while (std::fgets(buffer, sizeof(buffer), git))
			described += buffer;
		if (pclose(git) != 0)
			described.clear();
	}
	while (!described.empty() && described.back() == '\n')
		described.pop_back();
	if (described.empty())
		GTEST_SKIP() << "skipped: " << MXWATCH_SOURCE_DIR << " is not a git checkout (or git is missing)";
	EXPECT_EQ(std::string(kGitRevision), described)
		<< "rebuild: the binary was built from another revision than the tree";
	const std::string text = render_metrics(sample_snapshot(), read_process_stats());
	EXPECT_NE(text.find("revision=\"" + described + "\""), std::string::npos) << text;
}

TEST(Metrics, HostileSinkNamesAreEscapedInLabels)
{
	const std::string text = render_metrics(sample_snapshot(), read_process_stats());
	EXPECT_NE(text.find(R"(mxwatch_sink_alerts_dropped_total{sink="file:/var/log/a \"b\"\\c\nd"} 2)"),
		  std::string::npos)
		<< text;
}

TEST(Metrics, ProcessStatsAreThisProcess)
{
	const auto stats = read_process_stats();
	EXPECT_GT(stats.resident_bytes, 0u);
	EXPECT_GE(stats.virtual_bytes, stats.resident_bytes);
	EXPECT_GT(stats.open_fds, 2u);
	EXPECT_GT(stats.max_fds, stats.open_fds);
	EXPECT_GT(stats.start_unix, 1.6e9);
}

TEST(Metrics, ListenAddresses)
{
	std::string error;
	auto v4 = parse_listen_address("127.0.0.1:9469", error);
	ASSERT_TRUE(v4);
	EXPECT_EQ(v4->host, "127.0.0.1");
	EXPECT_EQ(v4->port, 9469);
	auto v6 = parse_listen_address("[::1]:0", error);
	ASSERT_TRUE(v6);
	EXPECT_EQ(v6->host, "::1");
	EXPECT_EQ(v6->port, 0);
	for (const char *bad : {"", "9469", "::1:9469", "[::1]9469", "host:", ":9469", "host:65536", "host:12a",
				"host:999999999999999999999"}) {
		error.clear();
		EXPECT_FALSE(parse_listen_address(bad, error)) << bad;
		EXPECT_FALSE(error.empty()) << bad;
	}
}

} // namespace
} // namespace mxwatch
