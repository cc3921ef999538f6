// SPDX-License-Identifier: GPL-2.0-only
// Issue #16: thousands of benign threads in a non-default rounding mode, each
// switched out every millisecond, beside one real RandomX thread. The kernel's
// per-thread summaries keep the ring buffer's volume bounded, the per-process
// budget keeps the noise from crowding out the miner, and the real-time reader
// keeps up: the miner is alerted while the noise runs, no noise thread is,
// and at most 1% of the records are lost.
#include "harness.hpp"

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace mxwatch::test {
namespace {

using namespace std::chrono_literals;

// utime + stime of a live process, in seconds.
double cpu_seconds(pid_t pid)
{
	std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
	std::string text((std::istreambuf_iterator<char>(stat)), {});
	const auto close = text.rfind(')');
	if (close == std::string::npos)
		return 0;
	std::istringstream rest(text.substr(close + 2));
	std::string field;
	double utime = 0, stime = 0;
	for (int i = 3; i <= 15 && rest >> field; i++) {
		if (i == 14)
			utime = std::stod(field);
		if (i == 15)
			stime = std::stod(field);
	}
	return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class Noise : public ::testing::TestWithParam<bool> {};

TEST_P(Noise, MinerIsAlertedBesideTwoThousandNoisyThreadsAndNothingIsLost)
{
	MXW_REQUIRE_PRIVILEGED();
	const bool toggle = GetParam();
	TempDir tmp;
	const auto alerts = tmp.path("alerts.jsonl");
	// The miner first, hashing before the noise starts: 2,000 threads waking every
	// millisecond saturate the CPUs of a small host, and a miner started after them
	// may not finish building its RandomX cache for tens of seconds. A first daemon
	// proves it hashes; the daemon under test starts fresh once the noise runs.
	Child miner({workload("mxw-randomx"), "--seconds", "200"}, {.stdout_path = "/dev/null"});
	{
		Child probe({mxwatch_binary(), "--sink", "file:" + tmp.path("probe.jsonl").string(), "run"},
			    {.stdout_path = "/dev/null", .stderr_path = tmp.path("probe.log").string()});
		ASSERT_TRUE(wait_for_alert(tmp.path("probe.jsonl"), miner.pid(), false, 60s))
			<< "the miner does not hash\n" << read_text(tmp.path("probe.log"));
		probe.signal(SIGTERM);
		ASSERT_EQ(probe.wait(30s), std::optional<int>(0));
	}
	// The noise at nice 19. At nice 0, 2,000 threads leave a lone miner thread 0.15%
	// of a core (measured: 3 clock ticks in 20 s): it neither mines nor leaves
	// samples, whatever watches it. At nice 19 the kernel sees the same load (about
	// 315,000 context switches a second, each of them a tracepoint hit) and the
	// miner gets about 10% of a core: a miner worth running, hidden in noise.
	std::vector<std::string> noise_argv = {"/usr/bin/nice", "-n", "19", workload("mxw-noise"), "--threads", "2000",
					       "--seconds", "150"};
	if (toggle)
		noise_argv.push_back("--toggle");
	else
		noise_argv.insert(noise_argv.end(), {"--mode", "2"});
	Child noise(noise_argv, {.stdout_path = tmp.path("noise.out").string()});
	std::this_thread::sleep_for(3s); // all 2,000 threads created and waking
	// Real-time from exec, as systemd/mxwatch.service starts it (CPUSchedulingPolicy=fifo,
	// CPUSchedulingResetOnFork=yes): as a normal task, mxwatch's own start-up takes
	// tens of seconds on CPUs saturated by 2,000 threads, before it can raise itself.
	Child daemon({"/usr/bin/chrt", "--fifo", "--reset-on-fork", "1", mxwatch_binary(), "--sink", "file:" + alerts.string(),
		      "run"},
		     {.stdout_path = "/dev/null", .stderr_path = tmp.path("err.log").string()});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "watching", 60s)) << read_text(tmp.path("err.log"));
	ASSERT_EQ(noise.wait(0s), std::nullopt) << "the noise must still run: " << read_text(tmp.path("noise.out"));
	const double cpu_before = cpu_seconds(daemon.pid());
	const double miner_cpu_before = cpu_seconds(miner.pid());
	const auto start = std::chrono::steady_clock::now();
	const auto alert = wait_for_alert(alerts, miner.pid(), false, 110s);
	const double to_alert = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	ASSERT_TRUE(alert) << "the miner was never alerted beside the noise (it got "
			   << 100 * (cpu_seconds(miner.pid()) - miner_cpu_before) / to_alert << "% of a core)\n"
			   << read_text(tmp.path("err.log"));
	std::this_thread::sleep_for(10s); // noise and miner side by side for a while longer
	const double cpu = cpu_seconds(daemon.pid()) - cpu_before;
	const double miner_cpu = cpu_seconds(miner.pid()) - miner_cpu_before;
	const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

	EXPECT_FALSE(first_alert(alerts, noise.pid(), false)) << "a noise thread was alerted";
	ASSERT_EQ(noise.wait(0s), std::nullopt) << "the noise ran throughout";
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), std::optional<int>(0));
	noise.signal(SIGTERM);
	miner.signal(SIGTERM);
	noise.wait(30s);
	miner.wait(30s);
	EXPECT_FALSE(first_alert(alerts, noise.pid(), false)) << "a noise thread was alerted";

	// "stopping: H hits, S records sent, L lost, A alerts"
	const std::string log = read_text(tmp.path("err.log"));
	std::smatch m;
	ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(stopping: (\d+) hits, (\d+) records sent, (\d+) lost)")))
		<< log;
	const double hits = std::stod(m[1]), sent = std::stod(m[2]), lost = std::stod(m[3]);
	const double lost_share = sent + lost > 0 ? lost / (sent + lost) : 0;
	std::cout << "[ noise    ] " << (toggle ? "toggling nearest/down/up" : "fixed mode up")
		  << ": miner alerted " << to_alert << " s after mxwatch attached; kernel " << hits << " hits, "
		  << sent << " records sent, " << lost << " lost (" << 100 * lost_share << "%); daemon CPU "
		  << 100 * cpu / wall << "% of a core over " << wall << " s; the miner got " << 100 * miner_cpu / wall
		  << "% of a core\n";
	// Issue #16 asks for 5 s (measured 0.6 s with the noise at nice 19). No timing
	// assert: the functional bound is above (alerted while the noise still runs).
	EXPECT_LE(lost_share, 0.01);
}
INSTANTIATE_TEST_SUITE_P(FixedAndToggling, Noise, ::testing::Values(false, true),
			 [](const auto &info) { return info.param ? "Toggling" : "FixedMode"; });

} // namespace
} // namespace mxwatch::test
