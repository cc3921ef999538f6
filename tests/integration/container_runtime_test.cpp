// SPDX-License-Identifier: GPL-2.0-only
// Container metadata from a real container runtime: Debian's Podman running
// real RandomX in an image built here from scratch (the hasher and its shared
// libraries, `podman import`), with its API served by `podman system service`
// on a socket of the test, storage of the test (vfs) and runc with cgroupfs
// (this host's cgroups are hybrid, which crun refuses). Then the same miner in a
// Podman-shaped cgroup while the runtime's socket is absent, hangs, hangs up or
// answers garbage: the alert still goes out on time, without the names.
#include "harness.hpp"
#include "peers.hpp"
#include "scratch_image.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <csignal>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace mxwatch::test
{
namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::optional<std::string> podman_unavailable()
{
	for (const char *tool : {"/usr/bin/podman", "/usr/sbin/runc", "/usr/bin/conmon"})
		if (access(tool, X_OK) != 0)
			return std::string(tool) +
			       " is not installed (scripts/install-deps.sh installs podman and runc)";
	return std::nullopt;
}

// A Podman of the test's own: storage, run state and API socket in `dir`.
class PrivatePodman
{
public:
	explicit PrivatePodman(const fs::path &dir) : dir_(dir)
	{
		fs::create_directories(dir_ / "log");
		service_ = std::make_unique<Child>(
		    with_globals({"system", "service", "--time=0", "unix://" + socket()}),
		    SpawnOptions{.stdout_path = dir_ / "log/service.out", .stderr_path = dir_ / "log/service.err"});
		if (!wait_until([&] { return fs::exists(socket()); }, 30s))
			throw std::runtime_error("podman system service did not create its socket: " +
			                         read_text(dir_ / "log/service.err"));
	}
	~PrivatePodman()
	{
		for (const auto &name : containers_)
			podman({"rm", "--force", "--time", "0", name});
		service_->signal(SIGTERM);
		service_->wait(30s);
	}

	std::string socket() const { return (dir_ / "podman.sock").string(); }

	// A command of this podman; its output, and its stderr in log/<n>.err.
	CommandOutput podman(const std::vector<std::string> &args)
	{
		return run_command(with_globals(args), dir_ / "log" / (std::to_string(++commands_) + ".err"));
	}
	std::string log(int n) const { return read_text(dir_ / "log" / (std::to_string(n) + ".err")); }
	int commands() const { return commands_; }

	// localhost/NAME:TAG from scratch: `binary` and the shared libraries ldd names.
	void import_image(const std::string &binary, const std::string &reference)
	{
		const fs::path layer = scratch_layer(binary, dir_);
		const CommandOutput import =
		    podman({"import", "--change", "ENTRYPOINT [\"/" + fs::path(binary).filename().string() + "\"]",
		            layer.string(), reference});
		ASSERT_EQ(import.status, 0) << log(commands_);
	}

	// `podman run -d`: the container's id.
	std::string run_detached(const std::string &name, const std::vector<std::string> &image_and_args)
	{
		std::vector<std::string> args = {"run",  "--detach", "--name",           name,       "--network",
		                                 "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"};
		args.insert(args.end(), image_and_args.begin(), image_and_args.end());
		containers_.push_back(name);
		const CommandOutput run = podman(args);
		EXPECT_EQ(run.status, 0) << log(commands_);
		return run.out;
	}

	// The podman command line for `args`, with this podman's storage and runtime.
	std::vector<std::string> with_globals(const std::vector<std::string> &args) const
	{
		std::vector<std::string> argv = {"/usr/bin/podman",
		                                 "--root",
		                                 (dir_ / "storage").string(),
		                                 "--runroot",
		                                 (dir_ / "run").string(),
		                                 "--storage-driver",
		                                 "vfs",
		                                 "--runtime",
		                                 "/usr/sbin/runc",
		                                 "--cgroup-manager",
		                                 "cgroupfs",
		                                 "--events-backend",
		                                 "none"};
		argv.insert(argv.end(), args.begin(), args.end());
		return argv;
	}

private:
	fs::path dir_;
	std::unique_ptr<Child> service_;
	std::vector<std::string> containers_;
	int commands_ = 0;
};

class PodmanContainer : public ::testing::TestWithParam<std::string>
{
};

TEST_P(PodmanContainer, AlertNamesContainerImageTagAndDigest)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(podman_unavailable());
	const bool ocsf = GetParam() == "ocsf";
	TempDir tmp;
	PrivatePodman podman(tmp.path("podman"));
	const std::string image = "localhost/mxw-randomx";
	const std::string tag = "test-" + std::to_string(getpid());
	podman.import_image(workload("mxw-randomx"), image + ":" + tag);
	const CommandOutput digest = podman.podman({"image", "inspect", "--format", "{{.Digest}}", image + ":" + tag});
	ASSERT_EQ(digest.status, 0) << podman.log(podman.commands());
	ASSERT_TRUE(digest.out.starts_with("sha256:")) << digest.out;

	Child daemon({mxwatch_binary(), "--format", GetParam(), "--sink", "file:" + tmp.path("alerts.jsonl").string(),
	              "--podman-socket", podman.socket(), "--docker-socket", tmp.path("no-docker.sock").string(),
	              "run"},
	             {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));

	const std::string name = "mxw-miner-" + std::to_string(getpid());
	const std::string id = podman.run_detached(name, {image + ":" + tag, "--seconds", "90"});
	ASSERT_EQ(id.size(), 64u) << id;
	const CommandOutput pid = podman.podman({"inspect", "--format", "{{.State.Pid}}", id});
	ASSERT_EQ(pid.status, 0) << podman.log(podman.commands());
	const int miner = std::stoi(pid.out);
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner, ocsf, 90s, true);
	// The resolver's thread started after the capability drop: it has only what the rest has.
	bool resolver_thread = false;
	for (const auto &task : fs::directory_iterator(fs::path("/proc") / std::to_string(daemon.pid()) / "task")) {
		std::ifstream status(task.path() / "status");
		std::string name, line;
		for (std::string field; std::getline(status, line);) {
			if (line.starts_with("Name:"))
				name = line.substr(line.find_first_not_of(" \t", 5));
			if (line.starts_with("CapEff:") && name == "mxw-containers") {
				resolver_thread = true;
				field = line.substr(line.find_first_not_of(" \t", 7));
				const std::uint64_t allowed =
				    (1ull << CAP_SYS_PTRACE) | (1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_BPF);
				EXPECT_EQ(std::stoull(field, nullptr, 16) & ~allowed, 0u) << "resolver thread CapEff " << field;
			}
		}
	}
	EXPECT_TRUE(resolver_thread) << "no thread named mxw-containers";
	podman.podman({"stop", "--time", "0", id});
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(alert.has_value()) << read_text(tmp.path("err.log")) << read_text(tmp.path("alerts.jsonl"));
	std::cout << "podman alert (" << GetParam() << "): " << alert->dump() << "\n";
	SCOPED_TRACE(alert->dump(2));
	if (!ocsf) {
		const auto &c = (*alert)["container"];
		EXPECT_EQ(c["id"], id);
		EXPECT_EQ(c["runtime"], "podman");
		EXPECT_EQ(c["name"], name);
		EXPECT_EQ(c["image"]["name"], image);
		EXPECT_EQ(c["image"]["tag"], tag);
		EXPECT_EQ(c["image"]["hash"]["all"], nlohmann::json{digest.out});
		EXPECT_EQ((*alert)["process"]["name"], "mxw-randomx");
	} else {
		const auto &c = (*alert)["evidences"][0]["process"]["container"];
		EXPECT_EQ(c["uid"], id);
		EXPECT_EQ(c["runtime"], "podman");
		EXPECT_EQ(c["name"], name);
		EXPECT_EQ(c["image"]["name"], image);
		EXPECT_EQ(c["image"]["tag"], tag);
		EXPECT_EQ(c["image"]["uid"], digest.out);
	}
	EXPECT_EQ(read_text(tmp.path("err.log")).find("container runtime podman"), std::string::npos)
	    << "no failure warned: " << read_text(tmp.path("err.log"));
}

// `check` names the container and its image too.
TEST(PodmanCheck, ReportShowsContainerAndImage)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(podman_unavailable());
	TempDir tmp;
	PrivatePodman podman(tmp.path("podman"));
	const std::string tag = "check-" + std::to_string(getpid());
	podman.import_image(workload("mxw-randomx"), "localhost/mxw-randomx:" + tag);
	const std::string name = "mxw-check-" + std::to_string(getpid());
	const auto run = run_check_with({podman.with_globals({"run", "--rm", "--name", name, "--network", "none", "--ulimit",
							       "nofile=1024:1024", "--ulimit", "nproc=1000:1000",
							       "localhost/mxw-randomx:" + tag, "--seconds", "8"})},
					12, {"--podman-socket", podman.socket()});
	ASSERT_EQ(run.exit_status, 1) << run.stderr_text;
	const nlohmann::json *miner = nullptr;
	for (const auto &entry : run.document["processes"])
		if (entry.contains("container") && entry["container"].value("name", "") == name)
			miner = &entry;
	ASSERT_NE(miner, nullptr) << run.document.dump(2) << run.stderr_text;
	EXPECT_EQ((*miner)["verdict"], "miner");
	EXPECT_EQ((*miner)["container"]["runtime"], "podman");
	EXPECT_EQ((*miner)["container"]["image"], "localhost/mxw-randomx");
	EXPECT_EQ((*miner)["container"]["image_tag"], tag);
}

INSTANTIATE_TEST_SUITE_P(Formats, PodmanContainer, ::testing::Values("ecs", "ocsf"),
                         [](const auto &info) { return info.param; });

// A cgroup named like Podman's with cgroupfs (libpod_parent/libpod-<id>) under
// the host's cgroup2 mount, for a miner that Podman did not start.
class PodmanShapedCgroup
{
public:
	explicit PodmanShapedCgroup(const std::string &id)
	{
		std::ifstream mountinfo("/proc/self/mountinfo");
		for (std::string line; std::getline(mountinfo, line);) {
			if (line.find(" - cgroup2 ") == std::string::npos)
				continue;
			std::istringstream fields(line);
			std::string skip, root, mount_point;
			fields >> skip >> skip >> skip >> root >> mount_point;
			if (root == "/")
				root_ = mount_point;
		}
		if (root_.empty())
			throw std::runtime_error("no cgroup2 mount");
		parent_ = root_ / "libpod_parent";
		fs::create_directories(parent_);
		dir_ = parent_ / ("libpod-" + id);
		fs::create_directory(dir_);
	}
	~PodmanShapedCgroup()
	{
		for (int i = 0; i < 100 && rmdir(dir_.c_str()) != 0 && errno == EBUSY; i++)
			std::this_thread::sleep_for(50ms);
		rmdir(parent_.c_str()); // only if empty: a real Podman's may be in use
	}
	std::vector<std::string> wrap(const std::vector<std::string> &argv) const
	{
		std::vector<std::string> out{"/bin/sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"",
		                             dir_.string()};
		out.insert(out.end(), argv.begin(), argv.end());
		return out;
	}

private:
	fs::path root_, parent_, dir_;
};

// What a runtime socket can do wrong.
enum class Misbehaviour { Absent, Hangs, ClosesEarly, Garbage };

class BadSocket
{
public:
	BadSocket(const std::string &path, Misbehaviour how) : how_(how)
	{
		if (how == Misbehaviour::Absent)
			return;
		fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_un address{};
		address.sun_family = AF_UNIX;
		std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
		if (::bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 || ::listen(fd_, 64) != 0)
			throw std::runtime_error("cannot listen on " + path);
		thread_ = std::thread([this] {
			for (;;) {
				const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
				if (client < 0)
					return;
				accepted_++;
				if (how_ == Misbehaviour::Hangs) {
					held_.push_back(client);
					continue;
				}
				if (how_ == Misbehaviour::Garbage) {
					char request[4096];
					(void)!::read(client, request, sizeof request);
					const std::string reply =
					    "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n\xff{\"Name\":[[[";
					(void)!::write(client, reply.data(), reply.size());
				}
				::close(client);
			}
		});
	}
	~BadSocket()
	{
		if (fd_ < 0)
			return;
		::shutdown(fd_, SHUT_RDWR);
		thread_.join();
		for (int fd : held_)
			::close(fd);
		::close(fd_);
	}
	int accepted() const { return accepted_; }

private:
	Misbehaviour how_;
	int fd_ = -1;
	std::atomic<int> accepted_{0};
	std::vector<int> held_;
	std::thread thread_;
};

struct BadCase {
	const char *name;
	Misbehaviour how;
};

class BadRuntimeSocket : public ::testing::TestWithParam<BadCase>
{
};

TEST_P(BadRuntimeSocket, AlertGoesOutOnTimeWithoutNamesFailureCountedAndWarnedOnce)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	const std::string socket = tmp.path("podman.sock").string();
	BadSocket bad(socket, GetParam().how);
	const std::string id = "badc0ffee0ddf00dbadc0ffee0ddf00dbadc0ffee0ddf00dbadc0ffee0ddf00d";
	const std::string other_id = "0ddf00dbadc0ffee0ddf00dbadc0ffee0ddf00dbadc0ffee0ddf00dbadc0ffee";
	PodmanShapedCgroup cgroup(id), other_cgroup(other_id);
	Child daemon({mxwatch_binary(), "--sink", "file:" + tmp.path("alerts.jsonl").string(), "--podman-socket",
	              socket, "--metrics-address", "127.0.0.1:0", "run"},
	             {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));
	// Miners in two containers: two lookups, one warning.
	Child miner(cgroup.wrap({workload("mxw-randomx"), "--seconds", "60"}), {.stdout_path = "/dev/null"});
	Child second(other_cgroup.wrap({workload("mxw-randomx"), "--seconds", "60"}), {.stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner.pid(), false, 90s, true);
	const double arrived = unix_now();
	const auto other = wait_for_alert(tmp.path("alerts.jsonl"), second.pid(), false, 60s, true);
	ASSERT_TRUE(alert.has_value()) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(other.has_value()) << read_text(tmp.path("err.log"));
	SCOPED_TRACE(alert->dump(2));
	EXPECT_EQ((*alert)["container"]["id"], id);
	EXPECT_EQ((*alert)["container"]["runtime"], "podman");
	EXPECT_FALSE((*alert)["container"].contains("name"));
	EXPECT_FALSE((*alert)["container"].contains("image"));
	// On time: at most the wait (500 ms) plus delivery after the detection; the
	// file is polled every 200 ms. Generous: a shared CI host.
	const double late = arrived - unix_seconds_of((*alert)["@timestamp"].get<std::string>());
	EXPECT_LT(late, 3.0) << "the first alert went out " << late << " s after its detection";

	const auto address = logged_metrics_address(read_text(tmp.path("err.log")));
	ASSERT_TRUE(address) << read_text(tmp.path("err.log"));
	std::optional<double> failures;
	// Hanging lookups fail at their timeout (2.5 s): wait until both are counted.
	wait_until(
	    [&] {
		    failures = scrape_metric(*address, R"(mxwatch_container_lookup_failures_total{runtime="podman"})");
		    return failures && *failures >= 2;
	    },
	    30s);
	EXPECT_EQ(failures, 2.0);
	miner.signal(SIGKILL);
	second.signal(SIGKILL);
	miner.wait(10s);
	second.wait(10s);
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
	const std::string text = read_text(tmp.path("err.log"));
	const auto first = text.find("container runtime podman");
	ASSERT_NE(first, std::string::npos) << text;
	EXPECT_EQ(text.find("container runtime podman", first + 1), std::string::npos) << "warned once:\n" << text;
}

INSTANTIATE_TEST_SUITE_P(Sockets, BadRuntimeSocket,
                         ::testing::Values(BadCase{"Absent", Misbehaviour::Absent},
                                           BadCase{"Hangs", Misbehaviour::Hangs},
                                           BadCase{"ClosesEarly", Misbehaviour::ClosesEarly},
                                           BadCase{"Garbage", Misbehaviour::Garbage}),
                         [](const auto &info) { return std::string(info.param.name); });

} // namespace
} // namespace mxwatch::test
