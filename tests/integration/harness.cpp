// SPDX-License-Identifier: GPL-2.0-only
#include "harness.hpp"

#include <bpf/bpf.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <grp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mxwatch::test {

bool running_in_ci()
{
	const char *ci = std::getenv("CI");
	return ci && std::string(ci) == "true";
}

std::optional<std::string> privileged_tests_unavailable()
{
	if (geteuid() != 0)
		return "needs root to load BPF programs (run the tests with sudo)";
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
	return std::nullopt;
}

std::optional<double> metric_value(const std::string &exposition, const std::string &series)
{
	std::istringstream lines(exposition);
	for (std::string line; std::getline(lines, line);)
		if (line.starts_with(series + " "))
			return std::stod(line.substr(series.size() + 1));
	return std::nullopt;
}

std::optional<double> scrape_metric(const std::string &address, const std::string &series)
{
	httplib::Client client("http://" + address);
	client.set_connection_timeout(5);
	client.set_read_timeout(10);
	const auto response = client.Get("/metrics");
	if (!response || response->status != 200)
		return std::nullopt;
	return metric_value(response->body, series);
}

std::optional<std::string> logged_metrics_address(const std::string &log)
{
	std::smatch m;
	if (!std::regex_search(log, m, std::regex(R"(metrics on http://([^/\s]+)/metrics)")))
		return std::nullopt;
	return m[1].str();
}

std::string workload(const std::string &name)
{
	return std::string(MXW_WORKLOAD_DIR) + "/" + name;
}

std::string mxwatch_binary()
{
	return MXWATCH_BINARY;
}

Child::Child(const std::vector<std::string> &argv, const SpawnOptions &options)
{
	std::vector<char *> args;
	for (const auto &arg : argv)
		args.push_back(const_cast<char *>(arg.c_str()));
	args.push_back(nullptr);

	pid_ = fork();
	if (pid_ < 0)
		throw std::runtime_error("fork failed");
	if (pid_ == 0) {
		auto redirect = [](const std::optional<std::string> &path, int fd) {
			if (!path)
				return;
			int out = open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (out < 0 || dup2(out, fd) < 0)
				_exit(126);
		};
		redirect(options.stdout_path, STDOUT_FILENO);
		redirect(options.stderr_path, STDERR_FILENO);
		if (options.run_as_uid) {
			if (setgroups(0, nullptr) != 0 || setgid(*options.run_as_uid) != 0 ||
			    setuid(*options.run_as_uid) != 0)
				_exit(126);
		}
		execv(args[0], args.data());
		_exit(127);
	}
}

Child::~Child()
{
	if (pid_ > 0 && !reaped_) {
		kill(pid_, SIGKILL);
		waitpid(pid_, nullptr, 0);
	}
}

void Child::signal(int signo) const
{
	if (pid_ > 0 && !reaped_)
		kill(pid_, signo);
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (true) {
		int status = 0;
		pid_t done = waitpid(pid_, &status, WNOHANG);
		if (done == pid_) {
			reaped_ = true;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
		}
		if (std::chrono::steady_clock::now() >= deadline)
			return std::nullopt;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

TempDir::TempDir()
{
	std::string pattern = (std::filesystem::temp_directory_path() / "mxwatch-test-XXXXXX").string();
	if (!mkdtemp(pattern.data()))
		throw std::runtime_error("mkdtemp failed");
	dir_ = pattern;
}

TempDir::~TempDir()
{
	std::error_code ec;
	std::filesystem::remove_all(dir_, ec);
}

std::string read_text(const std::filesystem::path &path)
{
	std::ifstream in(path);
	std::stringstream buffer;
	buffer << in.rdbuf();
	return buffer.str();
}

bool wait_for_text(const std::filesystem::path &path, const std::string &text, std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline) {
		if (read_text(path).find(text) != std::string::npos)
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return false;
}

std::vector<std::filesystem::path> cgroup_mounts()
{
	std::vector<std::filesystem::path> mounts;
	std::ifstream mountinfo("/proc/self/mountinfo");
	for (std::string line; std::getline(mountinfo, line);) {
		if (line.find(" - cgroup ") == std::string::npos && line.find(" - cgroup2 ") == std::string::npos)
			continue;
		std::istringstream fields(line);
		std::string skip, root, mount_point;
		fields >> skip >> skip >> skip >> root >> mount_point;
		if (root == "/")
			mounts.emplace_back(mount_point);
	}
	return mounts;
}

std::vector<std::string> loaded_bpf_program_names()
{
	std::vector<std::string> names;
	__u32 id = 0;
	while (bpf_prog_get_next_id(id, &id) == 0) {
		int fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue;
		bpf_prog_info info{};
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
			names.emplace_back(info.name);
		close(fd);
	}
	return names;
}

const nlohmann::json *CheckRun::process(pid_t pid) const
{
	if (!document.contains("processes"))
		return nullptr;
	for (const auto &entry : document["processes"])
		if (entry.value("pid", -1) == pid)
			return &entry;
	return nullptr;
}

CheckRun run_check_with(const std::vector<std::vector<std::string>> &workloads, double duration_s,
			const std::vector<std::string> &extra)
{
	TempDir tmp;
	std::vector<std::string> argv{mxwatch_binary()};
	argv.insert(argv.end(), extra.begin(), extra.end());
	argv.insert(argv.end(), {"check", "--json", "--duration", std::to_string(duration_s)});
	Child checker(argv, {.stdout_path = tmp.path("out.json"), .stderr_path = tmp.path("err.log")});

	CheckRun run;
	const bool attached = wait_for_text(tmp.path("err.log"), "attached", std::chrono::seconds(60));
	std::vector<std::unique_ptr<Child>> children;
	if (attached)
		for (const auto &w : workloads) {
			children.push_back(std::make_unique<Child>(w, SpawnOptions{.stdout_path = "/dev/null"}));
			run.workload_pids.push_back(children.back()->pid());
		}
	const auto status = checker.wait(std::chrono::milliseconds(static_cast<int>(duration_s * 1000) + 120000));
	for (auto &child : children)
		child->wait(std::chrono::seconds(60));
	run.exit_status = status.value_or(-1000);
	run.stderr_text = read_text(tmp.path("err.log"));
	const std::string out = read_text(tmp.path("out.json"));
	run.document = nlohmann::json::parse(out, nullptr, false);
	return run;
}

std::optional<nlohmann::json> first_alert(const std::filesystem::path &path, int pid, bool ocsf, bool strict)
{
	std::istringstream lines(read_text(path));
	for (std::string line; std::getline(lines, line);) {
		const auto doc = nlohmann::json::parse(line, nullptr, !strict);
		if (doc.is_discarded())
			continue; // a line being written
		const auto &p = ocsf ? doc["evidences"][0]["process"] : doc["process"];
		const bool first = ocsf ? doc["activity_id"] == 1 : doc["event"]["action"] == "miner-detected";
		if (first && p["pid"] == pid)
			return doc;
	}
	return std::nullopt;
}

std::optional<nlohmann::json> wait_for_alert(const std::filesystem::path &path, int pid, bool ocsf,
					     std::chrono::seconds timeout, bool strict)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline) {
		if (auto alert = first_alert(path, pid, ocsf, strict))
			return alert;
		std::this_thread::sleep_for(std::chrono::milliseconds(200));
	}
	return std::nullopt;
}

std::vector<nlohmann::json> json_lines(const std::filesystem::path &path)
{
	std::vector<nlohmann::json> out;
	std::ifstream in(path);
	for (std::string line; std::getline(in, line);)
		if (!line.empty())
			out.push_back(nlohmann::json::parse(line));
	return out;
}

int free_port(int type)
{
	const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
	    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
		throw std::runtime_error("cannot find a free port");
	close(fd);
	return ntohs(addr.sin_port);
}

} // namespace mxwatch::test
