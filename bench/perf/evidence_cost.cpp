// SPDX-License-Identifier: GPL-2.0-only
// mxw-evidence-cost PID [ROUNDS]: what gathering an alert's evidence costs for
// one live process, step by step, as the pipeline and the output do it:
// the footprint and the sockets (poll thread, every first and ongoing alert),
// the executable's SHA-256 and its YARA scan (output thread, once per
// executable: cached afterwards, so measured uncached here). Prints one line per
// step, "step median_us p95_us", and the total of the medians.
#include "mxwatch/enrich/miner_identity.hpp"
#include "mxwatch/enrich/process_directory.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

double percentile(std::vector<double> v, double p)
{
	std::sort(v.begin(), v.end());
	return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// Runs `step` `rounds` times; false when it did not work once.
bool measure(const char *name, int rounds, double &total, const std::function<bool()> &step)
{
	std::vector<double> us;
	for (int i = 0; i < rounds; i++) {
		const auto t0 = std::chrono::steady_clock::now();
		if (!step()) {
			std::fprintf(stderr, "mxw-evidence-cost: %s failed\n", name);
			return false;
		}
		us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
	}
	const double median = percentile(us, 0.5);
	std::printf("%-12s %10.1f %10.1f\n", name, median, percentile(us, 0.95));
	total += median;
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "usage: mxw-evidence-cost PID [ROUNDS]\n");
		return 2;
	}
	const auto pid = static_cast<std::uint32_t>(std::strtoul(argv[1], nullptr, 10));
	const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 50;
	mxwatch::ProcDirectory directory;
	const mxwatch::ProcessFacts facts = directory.first_seen(pid, 0);
	if (!facts.start_ticks) {
		std::fprintf(stderr, "mxw-evidence-cost: no process %u\n", pid);
		return 2;
	}
	const auto identifier = mxwatch::MinerIdentifier::load({});
	std::printf("%-12s %10s %10s\n", "step", "median_us", "p95_us");
	double total = 0;
	bool ok = measure("footprint", rounds, total, [&] { return directory.footprint(pid, facts).has_value(); });
	ok = ok && measure("sockets", rounds, total, [&] { return directory.sockets(pid, facts).has_value(); });
	ok = ok && measure("sha256", rounds, total, [&] {
		mxwatch::ExecutableHasher hasher; // a new cache each round: the first alert's cost
		return facts.info.executable_file && hasher.sha256(*facts.info.executable_file).has_value();
	});
	ok = ok && measure("yara", rounds, total, [&] {
		const std::string exe = "/proc/" + std::to_string(pid) + "/exe";
		const int fd = open(exe.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		const bool scanned = identifier->scan_fd(fd).has_value();
		close(fd);
		return scanned;
	});
	if (!ok)
		return 1;
	std::printf("%-12s %10.1f\n", "total", total);
	return 0;
}
