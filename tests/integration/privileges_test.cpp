// SPDX-License-Identifier: GPL-2.0-only
// Least privilege: after attaching, every thread of the daemon keeps only the
// capabilities enrichment needs, and detection and enrichment still work; and
// mxwatch runs as a non-root user granted only CAP_BPF, CAP_PERFMON and those.
#include "harness.hpp"

#include "mxwatch/kernel/privileges.hpp"

#include <csignal>
#include <fstream>
#include <linux/capability.h>
#include <sstream>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr uid_t kNobody = 65534;

std::uint64_t bit(int cap) { return std::uint64_t{1} << cap; }

// What the daemon may keep: reading other users' /proc/<pid>/exe and
// executables, plus CAP_BPF where this kernel wants it for map reads.
std::uint64_t allowed_after_attach()
{
	std::uint64_t allowed = bit(CAP_SYS_PTRACE) | bit(CAP_DAC_READ_SEARCH);
	if (kernel_needs_cap_bpf_for_map_reads())
		allowed |= bit(CAP_BPF);
	return allowed;
}

std::map<std::string, std::string> status_fields(const fs::path &status)
{
	std::map<std::string, std::string> fields;
	std::ifstream in(status);
	for (std::string line; std::getline(in, line);)
		if (auto colon = line.find(':'); colon != std::string::npos) {
			const auto value = line.find_first_not_of(" \t", colon + 1);
			fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
		}
	return fields;
}

std::uint64_t hex(const std::string &text) { return std::stoull(text, nullptr, 16); }

TEST(Privileges, DaemonThreadsKeepOnlyEnrichmentCapabilitiesAndStillAlert)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	Child daemon({mxwatch_binary(), "run", "--sink", "file:" + tmp.path("alerts.json").string()},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "watching", 60s)) << read_text(tmp.path("err.log"));
	EXPECT_NE(read_text(tmp.path("err.log")).find("capabilities: attached, now keeping only"), std::string::npos);

	// Every thread: the main one, the sampling floor's wakers, the sinks'.
	const std::uint64_t allowed = allowed_after_attach();
	int threads = 0;
	for (const auto &task : fs::directory_iterator(fs::path("/proc") / std::to_string(daemon.pid()) / "task")) {
		auto status = status_fields(task.path() / "status");
		threads++;
		SCOPED_TRACE(status["Name"] + " " + task.path().filename().string());
		for (const char *set : {"CapEff", "CapPrm", "CapInh", "CapAmb"})
			EXPECT_EQ(hex(status[set]) & ~allowed, 0u) << set << " " << status[set];
		EXPECT_EQ(status["NoNewPrivs"], "1");
	}
	EXPECT_GE(threads, 3); // main, wakers, sink queue
	const auto main_thread = status_fields(fs::path("/proc") / std::to_string(daemon.pid()) / "status");
	EXPECT_EQ(hex(main_thread.at("CapEff")), allowed) << "root keeps exactly the enrichment set";
	EXPECT_EQ(hex(main_thread.at("CapBnd")) & ~allowed, 0u) << main_thread.at("CapBnd");

	// Detection and enrichment still work, for a miner of another user: its
	// /proc/<pid>/exe is behind a ptrace-read check the daemon passes only with
	// CAP_SYS_PTRACE.
	const std::string randomx = workload("mxw-randomx");
	Child miner({randomx, "--seconds", "40"}, {.run_as_uid = kNobody, .stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(tmp.path("alerts.json"), miner.pid(), false, 60s);
	ASSERT_TRUE(alert) << read_text(tmp.path("err.log"));
	EXPECT_EQ((*alert)["process"]["executable"], randomx);
	EXPECT_EQ((*alert)["user"]["id"], std::to_string(kNobody));
	miner.signal(SIGKILL);
	daemon.signal(SIGTERM);
	EXPECT_EQ(daemon.wait(60s), 0);
}

TEST(Privileges, NonRootUserWithBpfPerfmonAndEnrichmentCapabilitiesDetects)
{
	MXW_REQUIRE_PRIVILEGED(); // root is needed to hand the capabilities over
	TempDir tmp;
	fs::permissions(tmp.path(""), fs::perms::all); // the unprivileged checker writes here
	const std::string caps = "-all,+bpf,+perfmon,+sys_ptrace,+dac_read_search";
	Child checker({"/usr/bin/setpriv", "--reuid=" + std::to_string(kNobody), "--regid=" + std::to_string(kNobody),
		       "--clear-groups", "--inh-caps=" + caps, "--ambient-caps=" + caps, "--", mxwatch_binary(), "check",
		       "--json", "--duration", "20"},
		      {.stdout_path = tmp.path("out.json"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "capabilities: attached", 60s)) << read_text(tmp.path("err.log"));
	Child miner({workload("mxw-randomx"), "--seconds", "16"}, {.run_as_uid = kNobody, .stdout_path = "/dev/null"});
	const auto status = checker.wait(180s);
	const std::string log = read_text(tmp.path("err.log"));
	ASSERT_TRUE(status) << log;
	EXPECT_EQ(*status, 1) << log; // a miner found
	const auto doc = nlohmann::json::parse(read_text(tmp.path("out.json")), nullptr, false);
	ASSERT_FALSE(doc.is_discarded()) << log;
	bool found = false;
	for (const auto &p : doc["processes"])
		if (p["pid"] == miner.pid()) {
			found = true;
			EXPECT_EQ(p["verdict"], "miner") << doc.dump();
		}
	EXPECT_TRUE(found) << doc.dump();
	// It never was root, and it still dropped what it did not need after attaching.
	EXPECT_NE(log.find("(was \"cap_dac_read_search,cap_sys_ptrace,cap_perfmon,cap_bpf=eip\")"), std::string::npos)
		<< log;
}

} // namespace
} // namespace mxwatch::test
