// SPDX-License-Identifier: GPL-2.0-only
// The CRI (containerd, CRI-O): decoding real protobuf answers built with the
// generated messages, and CriRuntime against real gRPC peers on unix sockets: a
// server of proto/cri_subset.proto's RuntimeService answering like containerd,
// one without the CRI service, one that never answers, and sockets that hang up
// or speak garbage. The real containerd is tests/integration/containerd_cri_test.cpp.
#include "mxwatch/enrich/container_resolver.hpp"
#include "mxwatch/enrich/cri_metadata.hpp"

#include "cri_subset.grpc.pb.h"

#include <atomic>
#include <filesystem>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace mxwatch
{
namespace
{

const std::string kId = "7d1e0c9b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d";
const std::string kSandbox = "c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
const std::string kImageId = "sha256:aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";
const std::string kDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kPodUid = "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97";

void add(google::protobuf::RepeatedPtrField<runtime::v1::BytesEntry> *entries, const std::string &key,
         const std::string &value)
{
	auto *entry = entries->Add();
	entry->set_key(key);
	entry->set_value(value);
}

// Shaped like containerd 1.6's answer about a container the kubelet started.
runtime::v1::ContainerStatusResponse containerd_status()
{
	runtime::v1::ContainerStatusResponse response;
	auto *status = response.mutable_status();
	status->set_id(kId);
	status->mutable_metadata()->set_name("miner");
	status->mutable_image()->set_image("registry.example:5000/team/web:1.25");
	status->set_image_ref("registry.example:5000/team/web@" + kDigest);
	add(status->mutable_labels(), "io.kubernetes.pod.name", "web-5d9");
	add(status->mutable_labels(), "io.kubernetes.pod.namespace", "shop");
	add(status->mutable_labels(), "io.kubernetes.pod.uid", kPodUid);
	add(status->mutable_labels(), "io.kubernetes.container.name", "miner");
	add(status->mutable_annotations(), "io.kubernetes.container.hash", "5c0b1e2a");
	add(response.mutable_info(), "info",
	    nlohmann::json{{"sandboxID", kSandbox}, {"pid", 4242}, {"runtimeType", "io.containerd.runc.v2"}}.dump());
	return response;
}

runtime::v1::PodSandboxStatusResponse sandbox_status()
{
	runtime::v1::PodSandboxStatusResponse response;
	auto *pod = response.mutable_status()->mutable_metadata();
	pod->set_name("web-5d9");
	pod->set_namespace_("shop");
	pod->set_uid(kPodUid);
	response.mutable_status()->set_id(kSandbox);
	return response;
}

std::string wire(const google::protobuf::Message &message)
{
	return message.SerializeAsString();
}

TEST(CriDecode, ContainerStatusGivesNameImageLabelsPodAndSandbox)
{
	const auto c = decode_cri_container_status(wire(containerd_status()));
	ASSERT_TRUE(c);
	const ContainerMetadata &m = c->metadata;
	EXPECT_EQ(m.name, "miner");
	EXPECT_EQ(m.image_name, "registry.example:5000/team/web");
	EXPECT_EQ(m.image_tag, "1.25");
	EXPECT_EQ(m.image_digests, std::vector<std::string>{kDigest});
	EXPECT_EQ(m.orchestrator, "kubernetes");
	EXPECT_EQ(m.pod_name, "web-5d9");
	EXPECT_EQ(m.pod_namespace, "shop");
	EXPECT_EQ(m.pod_uid, kPodUid);
	EXPECT_EQ(c->sandbox_id, kSandbox);
	ASSERT_EQ(m.labels.size(), 4u);
	EXPECT_EQ(m.labels[0].first, "io.kubernetes.container.name") << "sorted by key";
	EXPECT_FALSE(m.labels_truncated);
}

TEST(CriDecode, AnImageWithoutTagOrDigestIsItsId)
{
	// A locally imported image: containerd names it by its id, and image_ref is that id too.
	auto response = containerd_status();
	response.mutable_status()->mutable_image()->set_image(kImageId);
	response.mutable_status()->mutable_image()->set_user_specified_image("localhost/mxw-test:1");
	response.mutable_status()->set_image_ref(kImageId);
	const auto c = decode_cri_container_status(wire(response));
	ASSERT_TRUE(c);
	EXPECT_EQ(c->metadata.image_id, kImageId);
	EXPECT_EQ(c->metadata.image_name, "localhost/mxw-test");
	EXPECT_EQ(c->metadata.image_tag, "1");
	EXPECT_TRUE(c->metadata.image_digests.empty());
}

TEST(CriDecode, PodFromAnnotationsAndTheSandboxWins)
{
	auto response = containerd_status();
	response.mutable_status()->clear_labels();
	add(response.mutable_status()->mutable_annotations(), "io.kubernetes.pod.name", "from-annotation");
	auto c = decode_cri_container_status(wire(response));
	ASSERT_TRUE(c);
	EXPECT_EQ(c->metadata.pod_name, "from-annotation");
	EXPECT_FALSE(c->metadata.pod_namespace);
	ASSERT_TRUE(decode_cri_pod_sandbox_status(wire(sandbox_status()), c->metadata));
	EXPECT_EQ(c->metadata.pod_name, "web-5d9");
	EXPECT_EQ(c->metadata.pod_namespace, "shop");
	EXPECT_EQ(c->metadata.pod_uid, kPodUid);

	ContainerMetadata m;
	EXPECT_FALSE(decode_cri_pod_sandbox_status(wire(runtime::v1::PodSandboxStatusResponse{}), m));
	EXPECT_FALSE(m.orchestrator);
}

TEST(CriDecode, GarbageAndEmptyAnswersGiveNothing)
{
	EXPECT_FALSE(decode_cri_container_status("\xff\xff\xff\xff garbage"));
	EXPECT_FALSE(decode_cri_container_status("")) << "no status";
	EXPECT_FALSE(decode_cri_container_status(wire(runtime::v1::ContainerStatusResponse{})));
	ContainerMetadata m;
	EXPECT_FALSE(decode_cri_pod_sandbox_status("\x0a\x05\x0a", m));
	EXPECT_FALSE(decode_cri_version("\x12\xff"));
	runtime::v1::VersionResponse version;
	version.set_runtime_name("containerd");
	version.set_runtime_version("1.6.20");
	version.set_runtime_api_version("v1");
	const auto v = decode_cri_version(wire(version));
	ASSERT_TRUE(v);
	EXPECT_EQ(v->runtime_name, "containerd");
	EXPECT_EQ(v->runtime_api_version, "v1");

	// A sandbox id that is not a runtime's hex id is not asked about.
	auto response = containerd_status();
	response.clear_info();
	add(response.mutable_info(), "info", R"({"sandboxID": "../../etc"})");
	EXPECT_FALSE(decode_cri_container_status(wire(response))->sandbox_id);
	response.clear_info();
	add(response.mutable_info(), "info", "{not json");
	EXPECT_FALSE(decode_cri_container_status(wire(response))->sandbox_id);
}

TEST(CriDecode, StringsAreRepairedAndBounded)
{
	auto response = containerd_status();
	auto *status = response.mutable_status();
	status->mutable_metadata()->set_name("bad\xff\xfe" + std::string(5000, 'n'));
	for (int i = 0; i < 100; i++)
		add(status->mutable_labels(), fmt::format("k{:03}", i) + std::string(300, 'k'), std::string(1000, 'v'));
	const auto c = decode_cri_container_status(wire(response));
	ASSERT_TRUE(c);
	const ContainerMetadata &m = c->metadata;
	ASSERT_TRUE(m.name);
	EXPECT_LE(m.name->size(), kMaxContainerStringBytes);
	EXPECT_EQ(m.name->substr(0, 3), "bad");
	EXPECT_EQ(m.name->substr(3, 3), "\xef\xbf\xbd") << "U+FFFD for the invalid bytes";
	EXPECT_EQ(m.labels.size(), kMaxContainerLabels);
	EXPECT_TRUE(m.labels_truncated);
	for (const auto &[key, value] : m.labels) {
		EXPECT_LE(key.size(), kMaxLabelKeyBytes);
		EXPECT_LE(value.size(), kMaxLabelValueBytes);
	}
}

// A unix socket in a fresh directory, removed with it.
struct SocketDir {
	std::filesystem::path dir;
	SocketDir()
	{
		char name[] = "/tmp/mxw-cri-XXXXXX";
		dir = ::mkdtemp(name);
	}
	~SocketDir() { std::filesystem::remove_all(dir); }
	std::string path(const char *name) const { return (dir / name).string(); }
};

// A CRI runtime that knows one container and its pod, as containerd answers;
// with `hang`, every call waits until the server stops.
class CriPeer final : public runtime::v1::RuntimeService::Service
{
public:
	explicit CriPeer(const std::string &path, bool hang = false) : hang_(hang)
	{
		grpc::ServerBuilder builder;
		builder.AddListeningPort("unix://" + path, grpc::InsecureServerCredentials());
		builder.RegisterService(this);
		server_ = builder.BuildAndStart();
		if (!server_)
			throw std::runtime_error("gRPC server on " + path + " did not start");
	}
	~CriPeer() override
	{
		stopping_ = true;
		server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
	}
	grpc::Status Version(grpc::ServerContext *context, const runtime::v1::VersionRequest *,
	                     runtime::v1::VersionResponse *response) override
	{
		if (hang_)
			return wait(context);
		response->set_runtime_name("containerd");
		response->set_runtime_version("1.6.20~ds1");
		response->set_runtime_api_version("v1");
		return grpc::Status::OK;
	}
	grpc::Status ContainerStatus(grpc::ServerContext *, const runtime::v1::ContainerStatusRequest *request,
	                             runtime::v1::ContainerStatusResponse *response) override
	{
		if (!request->verbose())
			return {grpc::StatusCode::INVALID_ARGUMENT, "mxwatch asks verbose"};
		if (request->container_id() != kId)
			return {grpc::StatusCode::NOT_FOUND, "container not found"};
		*response = containerd_status();
		// The pod's identity comes from the sandbox: the container's labels lack it here.
		response->mutable_status()->clear_labels();
		return grpc::Status::OK;
	}
	grpc::Status PodSandboxStatus(grpc::ServerContext *, const runtime::v1::PodSandboxStatusRequest *request,
	                              runtime::v1::PodSandboxStatusResponse *response) override
	{
		sandbox_asks++;
		if (request->pod_sandbox_id() != kSandbox)
			return {grpc::StatusCode::NOT_FOUND, "sandbox not found"};
		*response = sandbox_status();
		return grpc::Status::OK;
	}
	std::atomic<int> sandbox_asks{0};

private:
	grpc::Status wait(grpc::ServerContext *context)
	{
		while (!stopping_ && !context->IsCancelled())
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		return {grpc::StatusCode::UNAVAILABLE, "stopping"};
	}
	bool hang_;
	std::atomic<bool> stopping_{false};
	std::unique_ptr<grpc::Server> server_;
};

// A gRPC server whose every CRI method answers UNIMPLEMENTED (the generated
// service's defaults), as containerd does with its CRI plugin disabled.
class GrpcWithoutCri
{
public:
	explicit GrpcWithoutCri(const std::string &path)
	{
		grpc::ServerBuilder builder;
		builder.AddListeningPort("unix://" + path, grpc::InsecureServerCredentials());
		builder.RegisterService(&service_);
		server_ = builder.BuildAndStart();
		if (!server_)
			throw std::runtime_error("gRPC server on " + path + " did not start");
	}
	~GrpcWithoutCri() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

private:
	runtime::v1::RuntimeService::Service service_;
	std::unique_ptr<grpc::Server> server_;
};

// Accepts, then holds the connection silent, hangs up, or answers garbage.
class RawPeer
{
public:
	enum class Behaviour { Hang, CloseEarly, Garbage };
	RawPeer(const std::string &path, Behaviour behaviour) : behaviour_(behaviour)
	{
		fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_un address{};
		address.sun_family = AF_UNIX;
		std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
		EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
		EXPECT_EQ(::listen(fd_, 16), 0);
		thread_ = std::thread([this] { serve(); });
	}
	~RawPeer()
	{
		::shutdown(fd_, SHUT_RDWR);
		thread_.join();
		for (int fd : held_)
			::close(fd);
		::close(fd_);
	}

private:
	void serve()
	{
		for (;;) {
			const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
			if (client < 0)
				return;
			if (behaviour_ == Behaviour::Hang) {
				held_.push_back(client);
				continue;
			}
			if (behaviour_ == Behaviour::Garbage) {
				char buffer[512];
				(void)!::read(client, buffer, sizeof buffer);
				const char junk[] = "HTTP/1.1 200 OK\r\n\r\n\xff\xfe\x00\x01 not http/2";
				(void)!::write(client, junk, sizeof junk - 1);
			}
			::close(client);
		}
	}
	Behaviour behaviour_;
	int fd_ = -1;
	std::vector<int> held_;
	std::thread thread_;
};

const auto kGenerous = std::chrono::seconds(20); // functional bound, not a timing assert

RuntimeLimits short_limits()
{
	RuntimeLimits limits;
	limits.connect_timeout = std::chrono::milliseconds(200);
	limits.request_timeout = std::chrono::milliseconds(300);
	return limits;
}

TEST(CriRuntime, AsksContainerThenSandbox)
{
	SocketDir dir;
	CriPeer peer(dir.path("containerd.sock"));
	CriRuntime runtime("containerd", dir.path("containerd.sock"), short_limits());
	const RuntimeAnswer answer = runtime.inspect(kId);
	ASSERT_EQ(answer.kind, RuntimeAnswer::Kind::Found) << answer.error;
	ASSERT_TRUE(answer.metadata);
	EXPECT_EQ(answer.metadata->name, "miner");
	EXPECT_EQ(answer.metadata->pod_name, "web-5d9");
	EXPECT_EQ(answer.metadata->pod_namespace, "shop");
	EXPECT_EQ(answer.metadata->pod_uid, kPodUid);
	EXPECT_EQ(answer.metadata->image_digests, std::vector<std::string>{kDigest});
	EXPECT_EQ(peer.sandbox_asks, 1);
	EXPECT_EQ(runtime.inspect(std::string(64, 'e')).kind, RuntimeAnswer::Kind::NotFound);
	EXPECT_EQ(runtime.inspect("../x").kind, RuntimeAnswer::Kind::Failed);
}

TEST(CriRuntime, APodsContainerOfAnUnnamedRuntimeGoesToTheCriRuntimeThatIsThere)
{
	// kubepods/besteffort/pod<uid>/<id> (cgroupfs) does not say containerd or CRI-O.
	SocketDir dir;
	CriPeer peer(dir.path("crio.sock"));
	std::vector<std::unique_ptr<ContainerRuntime>> runtimes;
	runtimes.push_back(std::make_unique<CriRuntime>("containerd", dir.path("absent.sock"), short_limits()));
	runtimes.push_back(std::make_unique<CriRuntime>("cri-o", dir.path("crio.sock"), short_limits()));
	runtimes.push_back(std::make_unique<DockerApiRuntime>("podman", dir.path("crio.sock"), short_limits()));
	ContainerResolver resolver(std::move(runtimes));
	const auto lookup = resolver.request(kId, "");
	ASSERT_TRUE(lookup);
	EXPECT_EQ(lookup->runtime(), "cri-o");
	const auto m = lookup->wait_until(std::chrono::steady_clock::now() + kGenerous);
	ASSERT_TRUE(m);
	EXPECT_EQ(m->pod_name, "web-5d9");
	const auto stats = resolver.stats();
	for (const auto &runtime : stats.runtimes)
		EXPECT_EQ(runtime.failed, 0u) << runtime.runtime;
}

struct BadCriCase {
	const char *name;
	enum { Absent, NoCri, HangingServer, Hang, CloseEarly, Garbage } kind;
};

class BadCriRuntime : public ::testing::TestWithParam<BadCriCase>
{
};

TEST_P(BadCriRuntime, FailsWithinItsDeadlineAndSaysWhy)
{
	SocketDir dir;
	const std::string socket = dir.path("containerd.sock");
	std::optional<CriPeer> hanging;
	std::optional<GrpcWithoutCri> without;
	std::optional<RawPeer> raw;
	switch (GetParam().kind) {
	case BadCriCase::Absent:
		break;
	case BadCriCase::NoCri:
		without.emplace(socket);
		break;
	case BadCriCase::HangingServer:
		hanging.emplace(socket, true);
		break;
	case BadCriCase::Hang:
		raw.emplace(socket, RawPeer::Behaviour::Hang);
		break;
	case BadCriCase::CloseEarly:
		raw.emplace(socket, RawPeer::Behaviour::CloseEarly);
		break;
	case BadCriCase::Garbage:
		raw.emplace(socket, RawPeer::Behaviour::Garbage);
		break;
	}
	std::vector<std::unique_ptr<ContainerRuntime>> runtimes;
	runtimes.push_back(std::make_unique<CriRuntime>("containerd", socket, short_limits()));
	ContainerResolver resolver(std::move(runtimes));
	std::vector<std::shared_ptr<const ContainerLookup>> lookups;
	for (int i = 0; i < 3; i++)
		lookups.push_back(resolver.request(fmt::format("{:064x}", i + 1), "containerd"));
	for (const auto &lookup : lookups) {
		EXPECT_FALSE(lookup->wait_until(std::chrono::steady_clock::now() + kGenerous));
		EXPECT_TRUE(lookup->settled());
	}
	const auto stats = resolver.stats();
	ASSERT_EQ(stats.runtimes.size(), 1u);
	EXPECT_EQ(stats.runtimes[0].failed, 3u);
	EXPECT_FALSE(stats.runtimes[0].last_error.empty());
	EXPECT_EQ(stats.runtimes[0].last_error.find('\n'), std::string::npos) << "one line";
}

INSTANTIATE_TEST_SUITE_P(Peers, BadCriRuntime,
                         ::testing::Values(BadCriCase{"Absent", BadCriCase::Absent},
                                           BadCriCase{"GrpcWithoutCri", BadCriCase::NoCri},
                                           BadCriCase{"ServerNeverAnswers", BadCriCase::HangingServer},
                                           BadCriCase{"SocketHangs", BadCriCase::Hang},
                                           BadCriCase{"ClosesEarly", BadCriCase::CloseEarly},
                                           BadCriCase{"Garbage", BadCriCase::Garbage}),
                         [](const auto &info) { return std::string(info.param.name); });

} // namespace
} // namespace mxwatch
