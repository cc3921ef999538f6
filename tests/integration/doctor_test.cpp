// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch doctor`: every check passes on a supported host with the built-in
// synthetic miner; without privileges it fails clearly, with exit status 2.
#include "harness.hpp"

#include <filesystem>
#include <sstream>

namespace mxwatch::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string &text)
{
	std::vector<std::string> lines;
	std::istringstream in(text);
	for (std::string line; std::getline(in, line);)
		lines.push_back(line);
	return lines;
}

bool has_line(const std::string &text, const std::string &prefix)
{
	for (const auto &line : lines_of(text))
		if (line.rfind(prefix, 0) == 0)
			return true;
	return false;
}

TEST(Doctor, EveryCheckPassesAndTheSyntheticMinerIsAlertedOn)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	Child doctor({mxwatch_binary(), "doctor"}, {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err")});
	const auto status = doctor.wait(120s);
	const std::string out = read_text(tmp.path("out"));
	SCOPED_TRACE(out + read_text(tmp.path("err")));
	ASSERT_EQ(status, 0);
	EXPECT_EQ(out.find("FAIL"), std::string::npos);
	for (const char *line : {"PASS  kernel", "PASS  BTF", "PASS  tracepoint", "PASS  privileges", "PASS  response", "PASS  attach",
				 "PASS  ring buffer", "PASS  sampling floor", "PASS  struct fpu", "PASS  self-test",
				 "PASS  rounding modes", "PASS  evidence"})
		EXPECT_TRUE(has_line(out, line)) << line;
	EXPECT_NE(out.find("/sys/kernel/btf/vmlinux present"), std::string::npos);
	EXPECT_NE(out.find("seen in 4 of 4 modes"), std::string::npos);
	// The child runs as nobody and holds a connection: read with run's capabilities.
	EXPECT_NE(out.find("sockets (connected to tcp 127.0.0.1:"), std::string::npos);
	EXPECT_NE(out.find("as uid 65534 with cap_"), std::string::npos);
	// The synthetic miner is gone once the doctor is.
	for (const auto &entry : std::filesystem::directory_iterator("/proc")) {
		const std::string comm = read_text(entry.path() / "comm");
		EXPECT_NE(comm, "mxw-selftest\n") << entry.path();
	}
}

TEST(Doctor, JsonDocumentForMachines)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	Child doctor({mxwatch_binary(), "doctor", "--json"},
		     {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err")});
	const auto status = doctor.wait(120s);
	const std::string out = read_text(tmp.path("out"));
	SCOPED_TRACE(out + read_text(tmp.path("err")));
	ASSERT_EQ(status, 0);
	ASSERT_EQ(lines_of(out).size(), 1u);
	const auto doc = nlohmann::json::parse(out);
	EXPECT_EQ(doc["ok"], true);
	ASSERT_TRUE(doc["checks"].is_array());
	for (const auto &check : doc["checks"]) {
		EXPECT_EQ(check["ok"], true) << check.dump();
		EXPECT_FALSE(check.contains("fix")) << check.dump();
	}
	EXPECT_EQ(doc["self_test"]["alerted"], true);
	EXPECT_EQ(doc["self_test"]["all_modes"], true);
	EXPECT_GT(doc["self_test"]["samples"].get<int>(), 0);
	EXPECT_GT(doc["self_test"]["seconds_to_alert"].get<double>(), 0);
	EXPECT_LT(doc["self_test"]["seconds_to_alert"].get<double>(), 30);
	EXPECT_TRUE(doc["evidence"]["problems"].empty()) << doc["evidence"].dump();
	EXPECT_EQ(doc["evidence"]["found"].size(), 4u) << doc["evidence"].dump();
}

TEST(Doctor, EvidenceFailsWithoutTheCapabilitiesToReadOtherUsersProcesses)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	// Root, able to attach, but without what reading a nobody process's /proc needs.
	Child doctor({"/usr/bin/setpriv", "--bounding-set", "-sys_ptrace,-dac_read_search", "--inh-caps",
		      "-sys_ptrace,-dac_read_search", mxwatch_binary(), "doctor"},
		     {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err")});
	const auto status = doctor.wait(120s);
	const std::string out = read_text(tmp.path("out"));
	SCOPED_TRACE(out + read_text(tmp.path("err")));
	EXPECT_EQ(status, 2);
	EXPECT_TRUE(has_line(out, "PASS  self-test"));
	EXPECT_TRUE(has_line(out, "FAIL  evidence"));
	EXPECT_NE(out.find("executable hash: /proc/PID/exe unreadable"), std::string::npos);
	EXPECT_NE(out.find("as uid 65534 with no capabilities"), std::string::npos);
	EXPECT_NE(out.find("fix: mxwatch needs cap_sys_ptrace"), std::string::npos);
}

TEST(Doctor, UnprivilegedUserGetsFailLinesWithFixesAndExit2)
{
	MXW_REQUIRE_PRIVILEGED(); // needs root to become someone else
	TempDir tmp;
	std::filesystem::permissions(tmp.path(""), std::filesystem::perms::all);
	Child doctor({mxwatch_binary(), "doctor"},
		     {.run_as_uid = 65534, .stdout_path = tmp.path("out"), .stderr_path = tmp.path("err")});
	const auto status = doctor.wait(60s);
	const std::string out = read_text(tmp.path("out"));
	SCOPED_TRACE(out + read_text(tmp.path("err")));
	ASSERT_EQ(status, 2);
	EXPECT_TRUE(has_line(out, "PASS  BTF"));
	EXPECT_TRUE(has_line(out, "FAIL  privileges"));
	EXPECT_TRUE(has_line(out, "FAIL  self-test"));
	for (const auto &line : lines_of(out))
		if (line.rfind("FAIL", 0) == 0)
			EXPECT_NE(line.find(" — fix: "), std::string::npos) << line;
	EXPECT_NE(out.find("CAP_BPF"), std::string::npos);
	EXPECT_TRUE(read_text(tmp.path("err")).empty());
}

} // namespace
} // namespace mxwatch::test
