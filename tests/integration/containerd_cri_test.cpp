// SPDX-License-Identifier: GPL-2.0-only
// Container and pod metadata from a real containerd through its CRI plugin:
// Debian's containerd started by the test with a configuration of its own (root,
// state and socket in a temporary directory, runc with cgroupfs: this host's
// cgroups are hybrid; the native snapshotter; no CNI), images built here from
// scratch and imported with `ctr -n k8s.io images import` (the pause image is
// sleep(1) and its libraries), and a pod created as the kubelet would, through
// the CRI (host network, cgroup parent kubepods/besteffort/pod<uid>), running
// real RandomX. The alert names the pod, its namespace, the container and its image.
#include "harness.hpp"
#include "peers.hpp"
#include "scratch_image.hpp"

#include "cri_lifecycle.pb.h"
#include "cri_subset.grpc.pb.h"

#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <mutex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <fstream>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <sys/mount.h>
#include <unistd.h>

namespace mxwatch::test
{
namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::optional<std::string> containerd_unavailable()
{
	for (const char *tool : {"/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2",
	                         "/usr/sbin/runc", "/usr/bin/podman"})
		if (access(tool, X_OK) != 0)
			return std::string(tool) +
			       " is not installed (scripts/install-deps.sh installs containerd, runc and podman)";
	return std::nullopt;
}

std::string random_uuid()
{
	std::random_device random;
	std::uniform_int_distribution<int> hex(0, 15);
	std::string uuid;
	for (int i = 0; i < 36; i++)
		uuid += (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : "0123456789abcdef"[hex(random)];
	uuid[14] = '4';
	return uuid;
}

// A containerd of the test's own, with its CRI plugin.
class PrivateContainerd
{
public:
	explicit PrivateContainerd(const fs::path &dir) : dir_(dir)
	{
		fs::create_directories(dir_ / "log");
		fs::create_directories(dir_ / "cni");
		fs::create_directories(dir_ / "pods");
		std::ofstream(dir_ / "config.toml") << config();
		daemon_ = std::make_unique<Child>(
		    std::vector<std::string>{"/usr/bin/containerd", "--config", (dir_ / "config.toml").string()},
		    SpawnOptions{.stdout_path = (dir_ / "log/containerd.out").string(),
		                 .stderr_path = (dir_ / "log/containerd.err").string()});
		channel_ = grpc::CreateChannel("unix://" + socket(), grpc::InsecureChannelCredentials());
		stub_ = runtime::v1::RuntimeService::NewStub(channel_);
		// Up when its CRI answers.
		const bool up = wait_until(
		    [&] {
			    grpc::ClientContext context;
			    context.set_deadline(std::chrono::system_clock::now() + 1s);
			    runtime::v1::VersionRequest request;
			    runtime::v1::VersionResponse response;
			    return stub_->Version(&context, request, &response).ok();
		    },
		    30s);
		if (!up)
			throw std::runtime_error("containerd's CRI did not answer: " +
			                         read_text(dir_ / "log/containerd.err"));
	}

	~PrivateContainerd()
	{
		for (const auto &id : containers_) {
			runtime::v1::StopContainerRequest stop;
			stop.set_container_id(id);
			call("StopContainer", stop);
			runtime::v1::RemoveContainerRequest remove;
			remove.set_container_id(id);
			call("RemoveContainer", remove);
		}
		for (const auto &id : pods_) {
			runtime::v1::StopPodSandboxRequest stop;
			stop.set_pod_sandbox_id(id);
			call("StopPodSandbox", stop);
			runtime::v1::RemovePodSandboxRequest remove;
			remove.set_pod_sandbox_id(id);
			call("RemovePodSandbox", remove);
		}
		daemon_->signal(SIGTERM);
		if (!daemon_->wait(30s))
			daemon_->signal(SIGKILL);
		// Whatever of ours outlived that: shims (their command line names our
		// socket) and the containers' processes, by pid, until none is left.
		wait_until(
		    [&] {
			    bool left = false;
			    for (const auto &entry : fs::directory_iterator("/proc")) {
				    const std::string name = entry.path().filename();
				    if (name.find_first_not_of("0123456789") != std::string::npos)
					    continue;
				    std::string cmdline = read_text(entry.path() / "cmdline");
				    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
				    if (cmdline.find(dir_.string()) != std::string::npos) {
					    ::kill(std::stoi(name), SIGKILL);
					    left = true;
				    }
			    }
			    return !left;
		    },
		    10s);
		for (const pid_t pid : processes_)
			::kill(pid, SIGKILL);
		// Mounts under our directory (rootfs, shm), deepest first.
		std::vector<std::string> mounts;
		std::ifstream mountinfo("/proc/self/mountinfo");
		for (std::string line; std::getline(mountinfo, line);) {
			std::istringstream fields(line);
			std::string skip, mount_point;
			fields >> skip >> skip >> skip >> skip >> mount_point;
			if (mount_point.starts_with(dir_.string()))
				mounts.push_back(mount_point);
		}
		std::sort(mounts.rbegin(), mounts.rend());
		for (const auto &mount_point : mounts)
			::umount2(mount_point.c_str(), MNT_DETACH);
		// containerd 1.6's shims put their sockets in /run/containerd/s whatever the
		// configuration: removed when empty (never a host containerd's own).
		::rmdir("/run/containerd/s");
		::rmdir("/run/containerd");
		// The pods' cgroups runc made (kubepods/besteffort/pod<uid>), when empty.
		for (const auto &cgroup : cgroups_)
			for (const auto &mount : cgroup_mounts())
				for (fs::path p = cgroup; !p.empty() && p != "/"; p = p.parent_path())
					if (::rmdir((mount / p.relative_path()).c_str()) != 0)
						break;
	}

	std::string socket() const { return (dir_ / "containerd.sock").string(); }
	// Where the runc shim keeps each container's OCI bundle (NAMESPACE/ID/config.json).
	std::string bundles() const { return (dir_ / "state/io.containerd.runtime.v2.task").string(); }
	std::string log() const { return read_text(dir_ / "log/containerd.err"); }
	runtime::v1::RuntimeService::Stub &stub() { return *stub_; }

	// localhost/NAME:TAG from scratch: `binary` and the shared libraries ldd names,
	// built with podman (storage of the test) and imported into containerd's k8s.io namespace.
	void import_image(const std::string &binary, const std::vector<std::string> &entrypoint,
	                  const std::string &reference)
	{
		const fs::path layer = scratch_layer(binary, dir_), archive = dir_ / (fs::path(binary).filename().string() + "-image.tar");
		CommandOutput o;
		std::string entry = "ENTRYPOINT [";
		for (std::size_t i = 0; i < entrypoint.size(); i++)
			entry += (i ? ",\"" : "\"") + entrypoint[i] + "\"";
		entry += "]";
		const std::vector<std::string> podman = {"/usr/bin/podman",
		                                         "--root",
		                                         (dir_ / "podman/storage").string(),
		                                         "--runroot",
		                                         (dir_ / "podman/run").string(),
		                                         "--storage-driver",
		                                         "vfs",
		                                         "--events-backend",
		                                         "none"};
		auto with = [&](std::vector<std::string> args) {
			args.insert(args.begin(), podman.begin(), podman.end());
			return args;
		};
		o = run_command(with({"import", "--change", entry, layer.string(), reference}),
		                dir_ / "log/import.err");
		ASSERT_EQ(o.status, 0) << read_text(dir_ / "log/import.err");
		o = run_command(with({"save", "--format", "docker-archive", "-o", archive.string(), reference}),
		                dir_ / "log/save.err");
		ASSERT_EQ(o.status, 0) << read_text(dir_ / "log/save.err");
		o = run_command({"/usr/bin/ctr", "--address", socket(), "--namespace", "k8s.io", "images", "import",
		                 archive.string()},
		                dir_ / "log/ctr.err");
		ASSERT_EQ(o.status, 0) << read_text(dir_ / "log/ctr.err") << o.out;
	}

	// A pod as the kubelet makes one with hostNetwork: true.
	std::string run_pod(const runtime::v1::PodSandboxConfig &config)
	{
		runtime::v1::RunPodSandboxRequest request;
		*request.mutable_config() = config;
		runtime::v1::RunPodSandboxResponse response;
		cgroups_.push_back(config.linux().cgroup_parent()); // runc makes it even when the pod fails
		const grpc::Status status = call("RunPodSandbox", request, &response, 60s);
		EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << log();
		if (status.ok())
			pods_.push_back(response.pod_sandbox_id());
		return response.pod_sandbox_id();
	}

	std::string create_container(const std::string &pod, const runtime::v1::ContainerConfig &config,
	                             const runtime::v1::PodSandboxConfig &pod_config)
	{
		runtime::v1::CreateContainerRequest request;
		request.set_pod_sandbox_id(pod);
		*request.mutable_config() = config;
		*request.mutable_sandbox_config() = pod_config;
		runtime::v1::CreateContainerResponse response;
		const grpc::Status status = call("CreateContainer", request, &response, 60s);
		EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << log();
		if (status.ok())
			containers_.push_back(response.container_id());
		return response.container_id();
	}

	// Starts it; its process's pid on the host (from ContainerStatus's verbose info).
	int start_container(const std::string &id)
	{
		runtime::v1::StartContainerRequest start;
		start.set_container_id(id);
		const grpc::Status started = call("StartContainer", start, nullptr, 60s);
		EXPECT_TRUE(started.ok()) << started.error_message() << "\n" << log();
		if (!started.ok())
			return -1;
		grpc::ClientContext context;
		context.set_deadline(std::chrono::system_clock::now() + 10s);
		runtime::v1::ContainerStatusRequest request;
		request.set_container_id(id);
		request.set_verbose(true);
		runtime::v1::ContainerStatusResponse response;
		const grpc::Status status = stub_->ContainerStatus(&context, request, &response);
		EXPECT_TRUE(status.ok()) << status.error_message();
		for (const auto &entry : response.info())
			if (entry.key() == "info") {
				const auto info = nlohmann::json::parse(entry.value(), nullptr, false);
				if (info.is_object() && info.contains("pid") && info["pid"].is_number_integer()) {
					processes_.push_back(info["pid"].get<int>());
					return info["pid"].get<int>();
				}
			}
		ADD_FAILURE() << "ContainerStatus gave no pid";
		return -1;
	}

	void stop_container(const std::string &id)
	{
		runtime::v1::StopContainerRequest stop;
		stop.set_container_id(id);
		call("StopContainer", stop);
	}

	void remove_container(const std::string &id)
	{
		stop_container(id);
		runtime::v1::RemoveContainerRequest remove;
		remove.set_container_id(id);
		if (call("RemoveContainer", remove).ok())
			containers_.erase(std::remove(containers_.begin(), containers_.end(), id), containers_.end());
	}

private:
	// A RuntimeService method cri_subset.proto's stub does not have, by name.
	template <typename Request>
	grpc::Status call(const char *method, const Request &request, google::protobuf::Message *response = nullptr,
	                  std::chrono::seconds timeout = 20s)
	{
		grpc::ClientContext context;
		context.set_deadline(std::chrono::system_clock::now() + timeout);
		const std::string path = "/runtime.v1.RuntimeService/" + std::string(method); // outlives the call
		const grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
		runtime::v1::Empty empty;
		google::protobuf::Message *out = response ? response : &empty;
		return grpc::internal::BlockingUnaryCall<google::protobuf::Message, google::protobuf::Message>(
		    channel_.get(), rpc, &context, request, out);
	}

	std::string config() const
	{
		const std::string d = dir_.string();
		return "version = 2\n"
		       "root = \"" +
		       d +
		       "/root\"\n"
		       "state = \"" +
		       d +
		       "/state\"\n"
		       "disabled_plugins = [\"io.containerd.snapshotter.v1.aufs\", "
		       "\"io.containerd.snapshotter.v1.btrfs\", "
		       "\"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.zfs\", "
		       "\"io.containerd.internal.v1.opt\", \"io.containerd.tracing.processor.v1.otlp\"]\n"
		       "[grpc]\n  address = \"" +
		       d +
		       "/containerd.sock\"\n"
		       "[ttrpc]\n  address = \"" +
		       d +
		       "/containerd.sock.ttrpc\"\n"
		       "[debug]\n  address = \"\"\n"
		       "[metrics]\n  address = \"\"\n"
		       "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
		       "  sandbox_image = \"localhost/mxw-pause:1\"\n"
		       // Without CAP_SYS_RESOURCE the pause container's oom_score_adj (-998) is refused:
		       // kept no lower than containerd's own.
		       "  restrict_oom_score_adj = true\n"
		       "  stream_server_address = \"127.0.0.1\"\n"
		       "  stream_server_port = \"0\"\n"
		       "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
		       "    snapshotter = \"native\"\n"
		       "    default_runtime_name = \"runc\"\n"
		       "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
		       "      runtime_type = \"io.containerd.runc.v2\"\n"
		       "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
		       "        BinaryName = \"/usr/sbin/runc\"\n"
		       "        Root = \"" +
		       d +
		       "/runc\"\n"
		       "        SystemdCgroup = false\n"
		       "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
		       "    bin_dir = \"" +
		       d +
		       "/cni\"\n"
		       "    conf_dir = \"" +
		       d + "/cni\"\n";
	}

	fs::path dir_;
	std::unique_ptr<Child> daemon_;
	std::shared_ptr<grpc::Channel> channel_;
	std::unique_ptr<runtime::v1::RuntimeService::Stub> stub_;
	std::vector<std::string> pods_, containers_, cgroups_;
	std::vector<pid_t> processes_;
};

// A pod as the kubelet describes one with hostNetwork: true, and the kubelet's
// labels of a container in it.
struct PodSpec {
	std::string name = "mxw-pod-" + std::to_string(getpid());
	std::string ns = "mxw-test";
	std::string uid = random_uuid();

	runtime::v1::PodSandboxConfig sandbox(const fs::path &log_directory) const
	{
		runtime::v1::PodSandboxConfig pod;
		pod.mutable_metadata()->set_name(name);
		pod.mutable_metadata()->set_namespace_(ns);
		pod.mutable_metadata()->set_uid(uid);
		// No hostname: with the host's network the pod has the host's UTS namespace.
		pod.set_log_directory(log_directory.string());
		(*pod.mutable_labels())["io.kubernetes.pod.name"] = name;
		(*pod.mutable_labels())["io.kubernetes.pod.namespace"] = ns;
		(*pod.mutable_labels())["io.kubernetes.pod.uid"] = uid;
		// The kubelet's cgroupfs layout: the container's cgroup is kubepods/besteffort/pod<uid>/<id>.
		pod.mutable_linux()->set_cgroup_parent("/kubepods/besteffort/pod" + uid);
		pod.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
		    runtime::v1::NODE);
		return pod;
	}

	runtime::v1::ContainerConfig container(const std::string &container_name, const std::string &image,
	                                       int seconds) const
	{
		runtime::v1::ContainerConfig container;
		container.mutable_metadata()->set_name(container_name);
		container.mutable_image()->set_image(image);
		container.add_args("--seconds");
		container.add_args(std::to_string(seconds));
		(*container.mutable_labels())["io.kubernetes.pod.name"] = name;
		(*container.mutable_labels())["io.kubernetes.pod.namespace"] = ns;
		(*container.mutable_labels())["io.kubernetes.pod.uid"] = uid;
		(*container.mutable_labels())["io.kubernetes.container.name"] = container_name;
		container.set_log_path(container_name + ".log");
		container.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
		    runtime::v1::NODE);
		return container;
	}
};

struct PodCase {
	const char *name;
	const char *format;
	bool from_bundle; // the CRI socket absent: the names come from the container's config.json
};

class ContainerdPod : public ::testing::TestWithParam<PodCase>
{
};

TEST_P(ContainerdPod, AlertNamesPodNamespaceContainerAndImage)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(containerd_unavailable());
	const bool ocsf = std::string(GetParam().format) == "ocsf";
	TempDir tmp;
	PrivateContainerd containerd(tmp.path("containerd"));
	containerd.import_image("/bin/sleep", {"/sleep", "infinity"}, "localhost/mxw-pause:1");
	const std::string image = "localhost/mxw-randomx";
	const std::string tag = "cri-" + std::to_string(getpid());
	containerd.import_image(workload("mxw-randomx"), {"/mxw-randomx"}, image + ":" + tag);
	if (HasFatalFailure())
		return;

	const PodSpec spec;
	const std::string &pod_name = spec.name, &pod_namespace = spec.ns, &uid = spec.uid;
	const runtime::v1::PodSandboxConfig pod = spec.sandbox(tmp.path("containerd/pods"));
	const std::string sandbox = containerd.run_pod(pod);
	ASSERT_FALSE(sandbox.empty());
	const std::string id =
	    containerd.create_container(sandbox, spec.container("miner", image + ":" + tag, 90), pod);
	ASSERT_EQ(id.size(), 64u) << id;

	// Only containerd is there to ask: the other runtimes' sockets are absent.
	// From its bundles, its socket is absent too.
	const std::string socket =
	    GetParam().from_bundle ? tmp.path("no-containerd.sock").string() : containerd.socket();
	Child daemon({mxwatch_binary(), "--format", GetParam().format, "--sink",
	              "file:" + tmp.path("alerts.jsonl").string(), "--containerd-socket", socket,
	              "--containerd-bundles", containerd.bundles(), "--crio-socket", tmp.path("no-crio.sock").string(),
	              "--docker-socket", tmp.path("no-docker.sock").string(), "--podman-socket",
	              tmp.path("no-podman.sock").string(), "--cluster-name", "mxw-cluster", "run"},
	             {.stdout_path = tmp.path("out").string(), .stderr_path = tmp.path("err.log").string()});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));

	const int miner = containerd.start_container(id);
	ASSERT_GT(miner, 0);
	const std::string cgroup = read_text("/proc/" + std::to_string(miner) + "/cgroup");
	EXPECT_NE(cgroup.find("/kubepods/besteffort/pod" + uid + "/" + id), std::string::npos) << cgroup;
	const std::string config_json = read_text(fs::path(containerd.bundles()) / "k8s.io" / id / "config.json");
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner, ocsf, 90s, true);
	containerd.stop_container(id);
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(alert.has_value()) << read_text(tmp.path("err.log")) << read_text(tmp.path("alerts.jsonl"));
	std::cout << "containerd alert (" << GetParam().name << "): " << alert->dump() << "\n";
	SCOPED_TRACE(alert->dump(2));
	SCOPED_TRACE("the container's config.json: " + config_json);
	if (!ocsf) {
		const auto &c = (*alert)["container"];
		EXPECT_EQ(c["id"], id);
		EXPECT_EQ(c["runtime"], "containerd");
		EXPECT_EQ(c["name"], "miner");
		EXPECT_EQ(c["image"]["name"], image);
		EXPECT_EQ(c["image"]["tag"], tag);
		const auto &o = (*alert)["orchestrator"];
		EXPECT_EQ(o["namespace"], pod_namespace);
		EXPECT_EQ(o["resource"]["name"], pod_name);
		EXPECT_EQ(o["resource"]["id"], uid);
		EXPECT_EQ(o["resource"]["type"], "pod");
		EXPECT_EQ(o["cluster"]["name"], "mxw-cluster");
		EXPECT_EQ((*alert)["process"]["name"], "mxw-randomx");
	} else {
		const auto &evidence = (*alert)["evidences"][0];
		const auto &c = evidence["process"]["container"];
		EXPECT_EQ(c["uid"], id);
		EXPECT_EQ(c["runtime"], "containerd");
		EXPECT_EQ(c["name"], "miner");
		EXPECT_EQ(c["image"]["name"], image);
		EXPECT_EQ(c["image"]["tag"], tag);
		EXPECT_EQ(c["pod_uuid"], uid);
		const auto &o = (*alert)["unmapped"]["mxwatch"]["orchestrator"];
		EXPECT_EQ(o["namespace"], pod_namespace);
		EXPECT_EQ(o["pod_name"], pod_name);
		EXPECT_EQ(o["cluster"], "mxw-cluster");
	}
	const std::string log = read_text(tmp.path("err.log"));
	if (GetParam().from_bundle) {
		// The CRI's failure is still warned (once) and says where the names came from.
		EXPECT_NE(log.find("container runtime containerd (unix://" + socket + ")"), std::string::npos) << log;
		EXPECT_NE(log.find("but those in its OCI bundles"), std::string::npos) << log;
		EXPECT_EQ(log.find("could not be read"), std::string::npos) << log;
	} else {
		EXPECT_EQ(log.find("container runtime containerd"), std::string::npos) << "no failure warned: " << log;
	}
}

INSTANTIATE_TEST_SUITE_P(Sources, ContainerdPod,
                         ::testing::Values(PodCase{"ecs", "ecs", false}, PodCase{"ocsf", "ocsf", false},
                                           PodCase{"config_json", "ecs", true}),
                         [](const auto &info) { return std::string(info.param.name); });

// `check` shows the pod, its namespace and the image.
TEST(ContainerdCheck, ReportShowsPodNamespaceAndImage)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(containerd_unavailable());
	TempDir tmp;
	PrivateContainerd containerd(tmp.path("containerd"));
	containerd.import_image("/bin/sleep", {"/sleep", "infinity"}, "localhost/mxw-pause:1");
	const std::string image = "localhost/mxw-randomx";
	const std::string tag = "check-" + std::to_string(getpid());
	containerd.import_image(workload("mxw-randomx"), {"/mxw-randomx"}, image + ":" + tag);
	if (HasFatalFailure())
		return;
	const PodSpec spec;
	const runtime::v1::PodSandboxConfig pod = spec.sandbox(tmp.path("containerd/pods"));
	const std::string sandbox = containerd.run_pod(pod);
	ASSERT_FALSE(sandbox.empty());
	const std::string id = containerd.create_container(sandbox, spec.container("miner", image + ":" + tag, 60), pod);
	ASSERT_EQ(id.size(), 64u) << id;

	Child checker({mxwatch_binary(), "--containerd-socket", containerd.socket(), "--crio-socket",
	               tmp.path("no-crio.sock").string(), "--docker-socket", tmp.path("no-docker.sock").string(),
	               "--podman-socket", tmp.path("no-podman.sock").string(), "check", "--json", "--duration", "12"},
	              {.stdout_path = tmp.path("out.json").string(), .stderr_path = tmp.path("err.log").string()});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));
	const int miner = containerd.start_container(id);
	ASSERT_GT(miner, 0);
	const auto status = checker.wait(120s);
	containerd.stop_container(id);
	ASSERT_EQ(status, 1) << read_text(tmp.path("err.log"));
	const auto document = nlohmann::json::parse(read_text(tmp.path("out.json")), nullptr, false);
	const nlohmann::json *entry = nullptr;
	for (const auto &process : document["processes"])
		if (process.value("pid", 0) == miner)
			entry = &process;
	ASSERT_NE(entry, nullptr) << document.dump(2);
	SCOPED_TRACE(entry->dump(2));
	EXPECT_EQ((*entry)["verdict"], "miner");
	const auto &c = (*entry)["container"];
	EXPECT_EQ(c["runtime"], "containerd");
	EXPECT_EQ(c["name"], "miner");
	EXPECT_EQ(c["image"], image);
	EXPECT_EQ(c["image_tag"], tag);
	EXPECT_EQ(c["pod"], spec.name);
	EXPECT_EQ(c["namespace"], spec.ns);
}

// mxwatch's stdout through a FIFO: each line with the time it arrived.
class StdoutLines
{
public:
	explicit StdoutLines(const fs::path &fifo) : fifo_(fifo)
	{
		if (::mkfifo(fifo.c_str(), 0600) != 0)
			throw std::runtime_error("mkfifo " + fifo.string());
		thread_ = std::thread([this] {
			std::ifstream in(fifo_);
			for (std::string line; std::getline(in, line);) {
				const double now =
				    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
				        .count();
				std::lock_guard lock(mutex_);
				lines_.emplace_back(now, std::move(line));
			}
		});
	}
	~StdoutLines()
	{
		{ // unblocks the reader if the writer never came
			const int fd = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0)
				::close(fd);
		}
		thread_.join();
	}
	// The first alert about `container_id`, and when its line arrived.
	std::optional<std::pair<double, nlohmann::json>> first_alert(const std::string &container_id,
	                                                             std::chrono::seconds timeout)
	{
		std::optional<std::pair<double, nlohmann::json>> found;
		wait_until(
		    [&] {
			    std::lock_guard lock(mutex_);
			    for (const auto &[arrived, line] : lines_) {
				    const auto alert = nlohmann::json::parse(line, nullptr, false);
				    if (alert.is_object() && alert.contains("container") &&
				        alert["container"].value("id", "") == container_id &&
				        alert["event"].value("action", "") == "miner-detected") {
					    found.emplace(arrived, alert);
					    return true;
				    }
			    }
			    return false;
		    },
		    timeout);
		return found;
	}

private:
	fs::path fifo_;
	std::mutex mutex_;
	std::vector<std::pair<double, std::string>> lines_;
	std::thread thread_;
};

// A socket that accepts and never answers (the connections are held until the end).
class HangingSocket
{
public:
	explicit HangingSocket(const std::string &path)
	{
		listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_un address{};
		address.sun_family = AF_UNIX;
		std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
		if (::bind(listener_, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
		    ::listen(listener_, 64) != 0)
			throw std::runtime_error("cannot listen on " + path);
		acceptor_ = std::thread([this] {
			for (int fd; (fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;)
				held_.push_back(fd);
		});
	}
	~HangingSocket()
	{
		::shutdown(listener_, SHUT_RDWR);
		acceptor_.join();
		for (const int fd : held_)
			::close(fd);
		::close(listener_);
	}

private:
	int listener_ = -1;
	std::vector<int> held_;
	std::thread acceptor_;
};

// The latency a containerd lookup adds to the first alert, as bench/container_latency.py
// measures it for Podman: from the alert's @timestamp (the detection) to its line on
// mxwatch's stdout, with containerd answering, with lookups off and with a socket that never answers. A benchmark, not
// a test (no timing asserts); run it alone, under the BPF lock:
//   flock /tmp/mxwatch-bpf.lock build/tests/mxwatch_integration_tests \
//     --gtest_also_run_disabled_tests --gtest_filter='ContainerdLatency.*'   (MXW_BENCH_RUNS=10)
TEST(ContainerdLatency, DISABLED_FirstAlert)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(containerd_unavailable());
	const int runs = std::getenv("MXW_BENCH_RUNS") ? std::atoi(std::getenv("MXW_BENCH_RUNS")) : 10;
	TempDir tmp;
	PrivateContainerd containerd(tmp.path("containerd"));
	containerd.import_image("/bin/sleep", {"/sleep", "infinity"}, "localhost/mxw-pause:1");
	const std::string image = "localhost/mxw-randomx:bench";
	containerd.import_image(workload("mxw-randomx"), {"/mxw-randomx"}, image);
	if (HasFatalFailure())
		return;
	const PodSpec spec;
	const auto pod = spec.sandbox(tmp.path("containerd/pods"));
	const std::string sandbox = containerd.run_pod(pod);
	ASSERT_FALSE(sandbox.empty());
	const std::string hanging = tmp.path("hang.sock").string();
	const HangingSocket never_answers(hanging);
	const std::vector<std::pair<std::string, std::vector<std::string>>> modes = {
	    {"answering", {"--containerd-socket", containerd.socket()}},
	    {"off", {"--no-container-lookups"}},
	    {"hanging", {"--containerd-socket", hanging, "--containerd-bundles", ""}},
	    // The socket absent: the names from each container's config.json.
	    {"config_json",
	     {"--containerd-socket", tmp.path("no-containerd.sock").string(), "--containerd-bundles",
	      containerd.bundles()}}};
	std::ostringstream table;
	table << "mode        runs named median_ms p95_ms max_ms\n";
	for (const auto &[mode, options] : modes) {
		StdoutLines out(tmp.path(mode + ".fifo"));
		std::vector<std::string> argv = {mxwatch_binary(),
		                                 "--format",
		                                 "ecs",
		                                 "--sink",
		                                 "stdout",
		                                 "--crio-socket",
		                                 tmp.path("no-crio.sock").string(),
		                                 "--docker-socket",
		                                 tmp.path("no-docker.sock").string(),
		                                 "--podman-socket",
		                                 tmp.path("no-podman.sock").string()};
		argv.insert(argv.end(), options.begin(), options.end());
		argv.push_back("run");
		Child daemon(argv, {.stdout_path = tmp.path(mode + ".fifo").string(),
		                    .stderr_path = tmp.path(mode + ".err").string()});
		ASSERT_TRUE(wait_for_text(tmp.path(mode + ".err"), "attached", 60s))
		    << read_text(tmp.path(mode + ".err"));
		std::vector<double> latencies;
		int named = 0;
		for (int i = 0; i < runs; i++) {
			const std::string name = "bench-" + mode + "-" + std::to_string(i);
			const std::string id =
			    containerd.create_container(sandbox, spec.container(name, image, 60), pod);
			ASSERT_EQ(id.size(), 64u);
			ASSERT_GT(containerd.start_container(id), 0);
			const auto alert = out.first_alert(id, 90s);
			containerd.remove_container(id);
			if (!alert) {
				ADD_FAILURE() << mode << " run " << i << ": no alert within 90 s";
				continue;
			}
			const double latency = alert->first - unix_seconds_of(alert->second["@timestamp"]);
			latencies.push_back(latency);
			named += alert->second["container"].contains("name");
			std::cout << mode << " run " << i << ": " << static_cast<int>(latency * 1000)
			          << " ms, container.name " << alert->second["container"].value("name", "(none)")
			          << "\n";
		}
		daemon.signal(SIGTERM);
		EXPECT_EQ(daemon.wait(30s), 0) << read_text(tmp.path(mode + ".err"));
		std::sort(latencies.begin(), latencies.end());
		if (latencies.empty())
			continue;
		const double median = latencies.size() % 2
		                          ? latencies[latencies.size() / 2]
		                          : (latencies[latencies.size() / 2 - 1] + latencies[latencies.size() / 2]) / 2;
		const double p95 = latencies[std::min(
		    latencies.size() - 1, static_cast<std::size_t>(std::lround(0.95 * (latencies.size() - 1))))];
		table << fmt::format("{:<11} {:>4} {:>5} {:>9.0f} {:>6.0f} {:>6.0f}\n", mode, latencies.size(), named,
		                     median * 1000, p95 * 1000, latencies.back() * 1000);
	}
	std::cout << table.str();
}

} // namespace
} // namespace mxwatch::test
