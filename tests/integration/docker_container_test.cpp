// SPDX-License-Identifier: GPL-2.0-only
// Container metadata from a real Docker Engine: Debian's dockerd started by the
// test with a state of its own (data root, exec root and API socket in a
// temporary directory; its own managed containerd; runc with cgroupfs, since
// this host's cgroups are hybrid; vfs storage; no bridge, no iptables), running
// real RandomX in an image imported here from scratch (`docker import`). The
// alert names the container, its image and tag; an imported image has no
// registry digest, and none is made up.
#include "harness.hpp"
#include "peers.hpp"
#include "scratch_image.hpp"

#include <csignal>
#include <iostream>
#include <unistd.h>

namespace mxwatch::test
{
namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::optional<std::string> docker_unavailable()
{
	for (const char *tool : {"/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/containerd", "/usr/sbin/runc"})
		if (access(tool, X_OK) != 0)
			return std::string(tool) + " is not installed (scripts/install-deps.sh installs docker.io)";
	return std::nullopt;
}

// A dockerd of the test's own.
class PrivateDocker
{
public:
	explicit PrivateDocker(const fs::path &dir) : dir_(dir)
	{
		fs::create_directories(dir_ / "log");
		daemon_ = std::make_unique<Child>(
		    std::vector<std::string>{"/usr/sbin/dockerd",
		                             "--host", "unix://" + socket(),
		                             "--data-root", (dir_ / "data").string(),
		                             "--exec-root", (dir_ / "exec").string(),
		                             "--pidfile", (dir_ / "dockerd.pid").string(),
		                             "--storage-driver", "vfs",
		                             "--exec-opt", "native.cgroupdriver=cgroupfs",
		                             "--bridge", "none",
		                             "--iptables=false",
		                             "--ip-masq=false",
		                             // Without CAP_SYS_RESOURCE dockerd cannot lower its own oom score.
		                             "--oom-score-adjust", "0",
		                             "--default-ulimit", "nofile=1024:1024",
		                             "--default-ulimit", "nproc=1000:1000"},
		    SpawnOptions{.stdout_path = (dir_ / "log/dockerd.out").string(),
		                 .stderr_path = (dir_ / "log/dockerd.err").string()});
		const bool up = wait_until([&] { return docker({"version"}).status == 0; }, 60s);
		if (!up)
			throw std::runtime_error("dockerd did not answer: " + read_text(dir_ / "log/dockerd.err"));
	}
	~PrivateDocker()
	{
		for (const auto &name : containers_)
			docker({"rm", "--force", name});
		daemon_->signal(SIGTERM);
		if (!daemon_->wait(30s))
			daemon_->signal(SIGKILL);
		// The cgroups runc made for its containers (cgroupfs: /docker/<id>), when empty.
		for (const auto &mount : cgroup_mounts()) {
			for (const auto &id : ids_)
				::rmdir((mount / "docker" / id).c_str());
			::rmdir((mount / "docker").c_str());
		}
	}

	std::string socket() const { return (dir_ / "docker.sock").string(); }
	std::string log() const { return read_text(dir_ / "log/dockerd.err"); }

	CommandOutput docker(const std::vector<std::string> &args)
	{
		std::vector<std::string> argv = {"/usr/bin/docker", "--host", "unix://" + socket()};
		argv.insert(argv.end(), args.begin(), args.end());
		return run_command(argv, dir_ / "log" / (std::to_string(++commands_) + ".err"));
	}
	std::string command_log() const { return read_text(dir_ / "log" / (std::to_string(commands_) + ".err")); }

	void import_image(const std::string &binary, const std::string &reference)
	{
		const fs::path layer = scratch_layer(binary, dir_);
		const CommandOutput import = docker(
		    {"import", "--change", "ENTRYPOINT [\"/" + fs::path(binary).filename().string() + "\"]", layer.string(),
		     reference});
		ASSERT_EQ(import.status, 0) << command_log() << log();
	}

	std::string run_detached(const std::string &name, const std::vector<std::string> &image_and_args)
	{
		std::vector<std::string> args = {"run", "--detach", "--name", name, "--network", "none"};
		args.insert(args.end(), image_and_args.begin(), image_and_args.end());
		containers_.push_back(name);
		const CommandOutput run = docker(args);
		EXPECT_EQ(run.status, 0) << command_log() << log();
		if (run.out.find_first_not_of("0123456789abcdef") == std::string::npos)
			ids_.push_back(run.out);
		return run.out;
	}

private:
	fs::path dir_;
	std::unique_ptr<Child> daemon_;
	std::vector<std::string> containers_, ids_;
	int commands_ = 0;
};

class DockerContainer : public ::testing::TestWithParam<std::string>
{
};

TEST_P(DockerContainer, AlertNamesContainerImageAndTag)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(docker_unavailable());
	const bool ocsf = GetParam() == "ocsf";
	TempDir tmp;
	PrivateDocker docker(tmp.path("docker"));
	const std::string image = "localhost/mxw-randomx";
	const std::string tag = "docker-" + std::to_string(getpid());
	docker.import_image(workload("mxw-randomx"), image + ":" + tag);
	if (HasFatalFailure())
		return;

	Child daemon({mxwatch_binary(), "--format", GetParam(), "--sink", "file:" + tmp.path("alerts.jsonl").string(),
	              "--docker-socket", docker.socket(), "--podman-socket", tmp.path("no-podman.sock").string(),
	              "--containerd-socket", tmp.path("no-containerd.sock").string(), "--containerd-bundles", "",
	              "run"},
	             {.stdout_path = tmp.path("out").string(), .stderr_path = tmp.path("err.log").string()});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));

	const std::string name = "mxw-miner-" + std::to_string(getpid());
	const std::string id = docker.run_detached(name, {image + ":" + tag, "--seconds", "90"});
	ASSERT_EQ(id.size(), 64u) << id;
	const CommandOutput pid = docker.docker({"inspect", "--format", "{{.State.Pid}}", id});
	ASSERT_EQ(pid.status, 0) << docker.command_log();
	const int miner = std::stoi(pid.out);
	const std::string cgroup = read_text("/proc/" + std::to_string(miner) + "/cgroup");
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner, ocsf, 90s, true);
	docker.docker({"stop", "--time", "0", id});
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(alert.has_value()) << "cgroup: " << cgroup << read_text(tmp.path("err.log"))
	                               << read_text(tmp.path("alerts.jsonl"));
	std::cout << "docker alert (" << GetParam() << "): " << alert->dump() << "\n";
	SCOPED_TRACE(alert->dump(2));
	if (!ocsf) {
		const auto &c = (*alert)["container"];
		EXPECT_EQ(c["id"], id);
		EXPECT_EQ(c["runtime"], "docker");
		EXPECT_EQ(c["name"], name);
		EXPECT_EQ(c["image"]["name"], image);
		EXPECT_EQ(c["image"]["tag"], tag);
		// `docker import` makes an image no registry has seen: no repository digest.
		EXPECT_FALSE(c["image"].contains("hash")) << c.dump();
		EXPECT_EQ((*alert)["process"]["name"], "mxw-randomx");
	} else {
		const auto &c = (*alert)["evidences"][0]["process"]["container"];
		EXPECT_EQ(c["uid"], id);
		EXPECT_EQ(c["runtime"], "docker");
		EXPECT_EQ(c["name"], name);
		EXPECT_EQ(c["image"]["name"], image);
		EXPECT_EQ(c["image"]["tag"], tag);
	}
	EXPECT_EQ(read_text(tmp.path("err.log")).find("container runtime docker"), std::string::npos)
	    << "no failure warned: " << read_text(tmp.path("err.log"));
}

INSTANTIATE_TEST_SUITE_P(Formats, DockerContainer, ::testing::Values("ecs", "ocsf"),
                         [](const auto &info) { return info.param; });

} // namespace
} // namespace mxwatch::test
