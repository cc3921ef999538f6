// SPDX-License-Identifier: GPL-2.0-only
// Helpers for the privileged integration tests: real child processes, their
// output in files, and the skip rule (skip without root or BTF, never under CI=true).
#pragma once

#include <chrono>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace mxwatch::test {

// Why this host cannot run privileged tests, or nothing.
std::optional<std::string> privileged_tests_unavailable();

#define MXW_REQUIRE_PRIVILEGED()                                                                  \
	do {                                                                                      \
		if (auto why = ::mxwatch::test::privileged_tests_unavailable()) {                  \
			if (::mxwatch::test::running_in_ci())                                     \
				FAIL() << "privileged test cannot run under CI=true: " << *why;   \
			GTEST_SKIP() << "skipped: " << *why;                                      \
		}                                                                                 \
	} while (0)

bool running_in_ci();

std::string workload(const std::string &name); // path of a built workload
std::string mxwatch_binary();

struct SpawnOptions {
	std::optional<uid_t> run_as_uid; // drop to this uid/gid before exec
	std::optional<std::string> stdout_path;
	std::optional<std::string> stderr_path;
};

// A child process that is killed and reaped if the test forgets it.
class Child {
public:
	Child(const std::vector<std::string> &argv, const SpawnOptions &options = {});
	~Child();
	Child(const Child &) = delete;
	Child &operator=(const Child &) = delete;

	pid_t pid() const { return pid_; }
	void signal(int signo) const;
	// Exit status, or -signal; nullopt when it did not end within the timeout.
	std::optional<int> wait(std::chrono::milliseconds timeout);

private:
	pid_t pid_ = -1;
	bool reaped_ = false;
};

// A temporary directory removed at the end of the test.
class TempDir {
public:
	TempDir();
	~TempDir();
	std::filesystem::path path(const std::string &name) const { return dir_ / name; }

private:
	std::filesystem::path dir_;
};

std::string read_text(const std::filesystem::path &path);
// Every non-empty line of a JSON-lines file, parsed (throws on a line that is not JSON).
std::vector<nlohmann::json> json_lines(const std::filesystem::path &path);
// A free loopback port of this socket type (SOCK_STREAM, SOCK_DGRAM). It could be
// taken again before the peer binds it; on a test machine that is not worth more code.
int free_port(int type = SOCK_STREAM);

// Polls `pred` every 20 ms until it holds; false on timeout.
template <typename Pred> bool wait_until(Pred pred, std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (!pred()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return true;
}

// Polls the file until it contains `text`; false on timeout.
bool wait_for_text(const std::filesystem::path &path, const std::string &text, std::chrono::milliseconds timeout);

// The first alert (not an update) about `pid` in a file of ECS or OCSF JSON
// lines. strict: every line must be valid JSON (nlohmann's exception otherwise);
// else a line still being written is skipped.
std::optional<nlohmann::json> first_alert(const std::filesystem::path &path, int pid, bool ocsf,
					  bool strict = false);
// Polls first_alert() until it finds one or the timeout passes.
std::optional<nlohmann::json> wait_for_alert(const std::filesystem::path &path, int pid, bool ocsf,
					     std::chrono::seconds timeout, bool strict = false);

// The mount points of the cgroup v1 controllers and of cgroup2 (hybrid or not).
std::vector<std::filesystem::path> cgroup_mounts();

// Names of loaded BPF programs (as the kernel reports them, at most 15 characters).
std::vector<std::string> loaded_bpf_program_names();

// The value of one sample line (`name{labels} value`) of a Prometheus text
// exposition, or nothing when the series is absent.
std::optional<double> metric_value(const std::string &exposition, const std::string &series);
// GET http://ADDRESS/metrics ("HOST:PORT") and the value of one series, or
// nothing when the scrape fails or lacks the series.
std::optional<double> scrape_metric(const std::string &address, const std::string &series);
// "HOST:PORT" from mxwatch's `metrics on http://HOST:PORT/metrics` log line
// (what --metrics-address 127.0.0.1:0 bound), or nothing.
std::optional<std::string> logged_metrics_address(const std::string &log);

// Runs `mxwatch check --json` with `extra` arguments while `workloads` run.
// The workloads start once mxwatch has attached.
struct CheckRun {
	int exit_status = -1;
	nlohmann::json document;
	std::string stderr_text;
	std::vector<pid_t> workload_pids;
	// The process entry for this pid, or null.
	const nlohmann::json *process(pid_t pid) const;
};
CheckRun run_check_with(const std::vector<std::vector<std::string>> &workloads, double duration_s,
			const std::vector<std::string> &extra = {});

} // namespace mxwatch::test
