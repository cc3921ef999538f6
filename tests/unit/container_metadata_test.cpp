// SPDX-License-Identifier: GPL-2.0-only
// Container metadata: decoding the Docker/Podman API's answers, and the
// resolver against real peers on unix sockets: one that answers like the
// Docker Engine API (cpp-httplib's server), and the bad ones a runtime can be
// (absent, hanging, hanging up, answering garbage). The real Podman is in
// tests/integration/container_runtime_test.cpp.
#include "mxwatch/alerts/alert.hpp"
#include "mxwatch/alerts/alert_format.hpp"
#include "mxwatch/decide/allowlist.hpp"
#include "mxwatch/enrich/container_resolver.hpp"

#include "alert_samples.hpp"

#include <atomic>
#include <filesystem>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace mxwatch
{
namespace
{

const std::string kId = "3f4ad5d2e5c1b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d";
const std::string kImageId = "sha256:aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";
const std::string kDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// Shaped like `docker inspect` of a container kubelet started through cri-dockerd.
std::string docker_container_json()
{
	nlohmann::json doc = {
	    {"Id", kId},
	    {"Name", "/k8s_miner_web-5d9_shop_4a0f8c2e_0"},
	    {"Image", kImageId},
	    {"Config",
	     {{"Image", "registry.example:5000/team/web:1.25"},
	      {"Labels",
	       {{"io.kubernetes.pod.name", "web-5d9"},
	        {"io.kubernetes.pod.namespace", "shop"},
	        {"io.kubernetes.pod.uid", "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97"},
	        {"app", "web"}}}}},
	};
	return doc.dump();
}

TEST(ImageReference, SplitsNameTagAndDigest)
{
	auto r = parse_image_reference("registry.example:5000/team/web:1.25@" + kDigest);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->name, "registry.example:5000/team/web");
	EXPECT_EQ(r->tag, "1.25");
	EXPECT_EQ(r->digest, kDigest);
	r = parse_image_reference("registry.example:5000/team/web");
	ASSERT_TRUE(r);
	EXPECT_EQ(r->name, "registry.example:5000/team/web");
	EXPECT_FALSE(r->tag);
	EXPECT_FALSE(parse_image_reference(""));
	EXPECT_FALSE(parse_image_reference(":tag"));
}

TEST(DockerContainerJson, GivesNameImageLabelsAndPod)
{
	const auto m = decode_docker_container(docker_container_json());
	ASSERT_TRUE(m);
	EXPECT_EQ(m->name, "k8s_miner_web-5d9_shop_4a0f8c2e_0");
	EXPECT_EQ(m->image_name, "registry.example:5000/team/web");
	EXPECT_EQ(m->image_tag, "1.25");
	EXPECT_EQ(m->image_id, kImageId);
	EXPECT_EQ(m->orchestrator, "kubernetes");
	EXPECT_EQ(m->pod_name, "web-5d9");
	EXPECT_EQ(m->pod_namespace, "shop");
	EXPECT_EQ(m->pod_uid, "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97");
	ASSERT_EQ(m->labels.size(), 4u);
	EXPECT_EQ(m->labels.front().first, "app"); // sorted

	ContainerMetadata with_digest = *m;
	EXPECT_TRUE(decode_docker_image(
	    nlohmann::json{{"RepoDigests", {"registry.example:5000/team/web@" + kDigest, "junk", 7}}}.dump(),
	    with_digest));
	EXPECT_EQ(with_digest.image_digests, std::vector<std::string>{kDigest});
}

TEST(DockerContainerJson, GarbageAndWrongTypesGiveNothingOrAreSkipped)
{
	for (const std::string body : {"", "not json", "[1,2]", "\"str\"", "{\"Name\":", "\x80\xff"})
		EXPECT_FALSE(decode_docker_container(body)) << body;
	const auto m = decode_docker_container(R"({"Name": 5, "Config": {"Image": [], "Labels": {"a": 1, "": "x"}}})");
	ASSERT_TRUE(m);
	EXPECT_EQ(*m, ContainerMetadata{});
}

TEST(DockerContainerJson, LabelsAndStringsAreBounded)
{
	nlohmann::json labels = nlohmann::json::object();
	for (int i = 0; i < 100; i++)
		labels[fmt::format("label-{:03d}", i)] = std::string(10000, 'v');
	const auto m = decode_docker_container(
	    nlohmann::json{{"Name", std::string(100000, 'n')}, {"Config", {{"Labels", labels}}}}.dump());
	ASSERT_TRUE(m);
	EXPECT_EQ(m->labels.size(), kMaxContainerLabels);
	EXPECT_TRUE(m->labels_truncated);
	EXPECT_LE(m->labels.front().second.size(), kMaxLabelValueBytes);
	EXPECT_LE(m->name->size(), kMaxContainerStringBytes);
}

// A unix socket in a fresh directory, removed with it.
struct SocketDir {
	std::filesystem::path dir;
	SocketDir()
	{
		char name[] = "/tmp/mxw-sock-XXXXXX";
		dir = ::mkdtemp(name);
	}
	~SocketDir() { std::filesystem::remove_all(dir); }
	std::string path(const char *name) const { return (dir / name).string(); }
};

// A runtime that misbehaves: accepts connections, then does `behaviour`.
class BadPeer
{
public:
	enum class Behaviour { Hang, CloseEarly, Garbage, GarbageHttp };
	BadPeer(const std::string &path, Behaviour behaviour) : behaviour_(behaviour)
	{
		fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_un address{};
		address.sun_family = AF_UNIX;
		std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
		EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
		EXPECT_EQ(::listen(fd_, 16), 0);
		thread_ = std::thread([this] { serve(); });
	}
	~BadPeer()
	{
		stop_ = true;
		::shutdown(fd_, SHUT_RDWR);
		thread_.join();
		for (int fd : held_)
			::close(fd);
		::close(fd_);
	}

private:
	void serve()
	{
		while (!stop_) {
			const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
			if (client < 0)
				return;
			char request[4096];
			switch (behaviour_) {
			case Behaviour::Hang:
				held_.push_back(client); // never answers, never closes
				continue;
			case Behaviour::CloseEarly:
				break;
			case Behaviour::Garbage: {
				(void)!::read(client, request, sizeof request);
				const char junk[] = "\x16\x03\x01 this is not HTTP\r\n\r\n\xff\xfe";
				(void)!::write(client, junk, sizeof junk - 1);
				break;
			}
			case Behaviour::GarbageHttp: {
				(void)!::read(client, request, sizeof request);
				const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				                          "Content-Length: 9\r\nConnection: close\r\n\r\n{{{{[[[[\xff";
				(void)!::write(client, reply.data(), reply.size());
				break;
			}
			}
			::close(client);
		}
	}

	Behaviour behaviour_;
	int fd_ = -1;
	std::atomic<bool> stop_{false};
	std::vector<int> held_;
	std::thread thread_;
};

// The Docker Engine API's two endpoints mxwatch asks, served by cpp-httplib on a unix socket.
class DockerLikePeer
{
public:
	explicit DockerLikePeer(const std::string &path)
	{
		server_.set_address_family(AF_UNIX);
		server_.Get(R"(/containers/([0-9a-f]+)/json)",
		            [](const httplib::Request &request, httplib::Response &response) {
			            if (request.matches[1] == kId)
				            response.set_content(docker_container_json(), "application/json");
			            else
				            response.status = 404;
		            });
		server_.Get(R"(/images/([0-9a-f]+)/json)", [](const httplib::Request &, httplib::Response &response) {
			response.set_content(
			    nlohmann::json{{"RepoDigests", {"registry.example:5000/team/web@" + kDigest}}}.dump(),
			    "application/json");
		});
		thread_ = std::thread([this, path] { server_.listen(path.c_str(), 80); });
		while (!server_.is_running())
			std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
	~DockerLikePeer()
	{
		server_.stop();
		thread_.join();
	}

private:
	httplib::Server server_;
	std::thread thread_;
};

// Captures what is logged at warning and above.
class CapturedLog
{
public:
	CapturedLog()
	{
		previous_ = spdlog::default_logger();
		auto logger =
		    std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
		logger->set_level(spdlog::level::warn);
		spdlog::set_default_logger(logger);
	}
	~CapturedLog() { spdlog::set_default_logger(previous_); }
	std::string text() const { return out_.str(); }

private:
	std::ostringstream out_;
	std::shared_ptr<spdlog::logger> previous_;
};

const auto kGenerous = std::chrono::seconds(20); // functional bound, not a timing assert

RuntimeLimits short_limits()
{
	RuntimeLimits limits;
	limits.connect_timeout = std::chrono::milliseconds(200);
	limits.request_timeout = std::chrono::milliseconds(300);
	return limits;
}

std::unique_ptr<ContainerResolver> resolver_for(const std::string &socket)
{
	std::vector<std::unique_ptr<ContainerRuntime>> runtimes;
	runtimes.push_back(std::make_unique<DockerApiRuntime>("docker", socket, short_limits()));
	return std::make_unique<ContainerResolver>(std::move(runtimes));
}

std::string other_id(int i)
{
	return fmt::format("{:064x}", i + 1);
}

TEST(ContainerResolver, AnswersFromADockerApiPeerAndCaches)
{
	SocketDir dir;
	DockerLikePeer peer(dir.path("docker.sock"));
	auto resolver = resolver_for(dir.path("docker.sock"));
	EXPECT_FALSE(resolver->request(kId, "containerd")) << "no runtime serves containerd here";
	auto lookup = resolver->request(kId, "docker");
	ASSERT_TRUE(lookup);
	const auto m = lookup->wait_until(std::chrono::steady_clock::now() + kGenerous);
	ASSERT_TRUE(lookup->settled());
	ASSERT_TRUE(m);
	EXPECT_EQ(m->pod_name, "web-5d9");
	EXPECT_EQ(m->image_digests, std::vector<std::string>{kDigest});
	EXPECT_EQ(resolver->request(kId, "docker"), lookup) << "cached";

	auto gone = resolver->request(other_id(1), "docker");
	EXPECT_FALSE(gone->wait_until(std::chrono::steady_clock::now() + kGenerous));
	EXPECT_TRUE(gone->settled());
	const auto stats = resolver->stats();
	ASSERT_EQ(stats.runtimes.size(), 1u);
	EXPECT_EQ(stats.runtimes[0].found, 1u);
	EXPECT_EQ(stats.runtimes[0].not_found, 1u);
	EXPECT_EQ(stats.runtimes[0].failed, 0u);
}

struct BadRuntimeCase {
	const char *name;
	std::optional<BadPeer::Behaviour> behaviour; // nothing: no socket at all
};

class BadRuntime : public ::testing::TestWithParam<BadRuntimeCase>
{
};

TEST_P(BadRuntime, LookupsSettleEmptyAreCountedAndWarnedOnce)
{
	SocketDir dir;
	const std::string socket = dir.path("docker.sock");
	std::optional<BadPeer> peer;
	if (GetParam().behaviour)
		peer.emplace(socket, *GetParam().behaviour);
	CapturedLog log;
	auto resolver = resolver_for(socket);
	std::vector<std::shared_ptr<const ContainerLookup>> lookups;
	for (int i = 0; i < 3; i++)
		lookups.push_back(resolver->request(other_id(i), "docker"));
	for (const auto &lookup : lookups) {
		EXPECT_FALSE(lookup->wait_until(std::chrono::steady_clock::now() + kGenerous));
		EXPECT_TRUE(lookup->settled());
	}
	const auto stats = resolver->stats();
	EXPECT_EQ(stats.runtimes.at(0).failed, 3u);
	EXPECT_FALSE(stats.runtimes.at(0).last_error.empty());
	const std::string text = log.text();
	const auto first = text.find("container runtime docker");
	ASSERT_NE(first, std::string::npos) << text;
	EXPECT_EQ(text.find("container runtime docker", first + 1), std::string::npos) << "warned once: " << text;
	EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
	// A failure is not cached: the next process of the container asks again.
	EXPECT_NE(resolver->request(other_id(0), "docker"), lookups[0]);
}

INSTANTIATE_TEST_SUITE_P(Peers, BadRuntime,
                         ::testing::Values(BadRuntimeCase{"Absent", std::nullopt},
                                           BadRuntimeCase{"Hangs", BadPeer::Behaviour::Hang},
                                           BadRuntimeCase{"ClosesEarly", BadPeer::Behaviour::CloseEarly},
                                           BadRuntimeCase{"Garbage", BadPeer::Behaviour::Garbage},
                                           BadRuntimeCase{"GarbageJson", BadPeer::Behaviour::GarbageHttp}),
                         [](const auto &info) { return std::string(info.param.name); });

TEST(ContainerResolver, AFullQueueSettlesAtOnceAndIsCounted)
{
	SocketDir dir;
	BadPeer peer(dir.path("docker.sock"), BadPeer::Behaviour::Hang);
	std::vector<std::unique_ptr<ContainerRuntime>> runtimes;
	// The lookup in flight must outlast the ten requests on a loaded machine: with
	// 300 ms it once timed out in between and the thread took the next one off the queue.
	RuntimeLimits limits = short_limits();
	limits.request_timeout = std::chrono::seconds(2);
	runtimes.push_back(std::make_unique<DockerApiRuntime>("docker", dir.path("docker.sock"), limits));
	ResolverSettings settings;
	settings.queue_capacity = 2;
	ContainerResolver resolver(std::move(runtimes), settings);
	std::vector<std::shared_ptr<const ContainerLookup>> lookups;
	for (int i = 0; i < 10; i++)
		lookups.push_back(resolver.request(other_id(i), "docker"));
	// At most one in flight and two queued: the rest were dropped, settled empty at once.
	EXPECT_GE(resolver.stats().queue_drops, 7u);
	EXPECT_TRUE(lookups.back()->settled());
	EXPECT_FALSE(lookups.back()->get());
}

Alert alert_with_metadata(AlertFormat)
{
	ProcessInfo info = test::enriched_process();
	info.container = ContainerInfo{kId, "docker", std::nullopt};
	info.container->metadata = decode_docker_container(docker_container_json());
	info.container->metadata->image_digests = {kDigest};
	return make_alert(test::sample_detection("xmrig"), info, test::sample_host(), 30'000'000'000,
	                  std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)));
}

TEST(ContainerAlert, EcsCarriesNamesImageAndPod)
{
	const auto doc = to_ecs(alert_with_metadata(AlertFormat::Ecs));
	EXPECT_EQ(doc["container"]["id"], kId);
	EXPECT_EQ(doc["container"]["runtime"], "docker");
	EXPECT_EQ(doc["container"]["name"], "k8s_miner_web-5d9_shop_4a0f8c2e_0");
	EXPECT_EQ(doc["container"]["image"]["name"], "registry.example:5000/team/web");
	EXPECT_EQ(doc["container"]["image"]["tag"], "1.25");
	EXPECT_EQ(doc["container"]["image"]["hash"]["all"], nlohmann::json{kDigest});
	EXPECT_EQ(doc["container"]["labels"]["app"], "web");
	EXPECT_EQ(doc["orchestrator"]["type"], "kubernetes");
	EXPECT_EQ(doc["orchestrator"]["namespace"], "shop");
	EXPECT_EQ(doc["orchestrator"]["resource"]["name"], "web-5d9");
	EXPECT_EQ(doc["orchestrator"]["resource"]["type"], "pod");
	EXPECT_EQ(doc["orchestrator"]["resource"]["id"], "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97");
	EXPECT_FALSE(doc["orchestrator"].contains("cluster")) << "no --cluster-name";
	Alert in_cluster = alert_with_metadata(AlertFormat::Ecs);
	in_cluster.host.cluster = "prod-eu";
	EXPECT_EQ(to_ecs(in_cluster)["orchestrator"]["cluster"]["name"], "prod-eu");
	in_cluster.process.container->metadata.reset(); // no pod known: no orchestrator at all
	EXPECT_FALSE(to_ecs(in_cluster).contains("orchestrator"));
}

TEST(ContainerAlert, OcsfCarriesTheContainerObject)
{
	const auto doc = to_ocsf(alert_with_metadata(AlertFormat::Ocsf));
	const auto &c = doc["evidences"][0]["process"]["container"];
	EXPECT_EQ(c["uid"], kId);
	EXPECT_EQ(c["name"], "k8s_miner_web-5d9_shop_4a0f8c2e_0");
	EXPECT_EQ(c["image"]["name"], "registry.example:5000/team/web");
	EXPECT_EQ(c["image"]["tag"], "1.25");
	EXPECT_EQ(c["image"]["uid"], kDigest);
	EXPECT_EQ(c["pod_uuid"], "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97");
	EXPECT_EQ(doc["unmapped"]["mxwatch"]["orchestrator"]["namespace"], "shop");
	EXPECT_EQ(doc["unmapped"]["mxwatch"]["orchestrator"]["pod_name"], "web-5d9");
}

TEST(ContainerAlert, WithoutTheRuntimesAnswerOnlyTheCgroupFieldsAppear)
{
	Alert alert = alert_with_metadata(AlertFormat::Ecs);
	alert.process.container->metadata.reset();
	const auto doc = to_ecs(alert);
	EXPECT_EQ(doc["container"]["id"], kId);
	EXPECT_FALSE(doc["container"].contains("name"));
	EXPECT_FALSE(doc["container"].contains("image"));
	EXPECT_FALSE(doc.contains("orchestrator"));
}

TEST(ContainerAllowlist, ImagesByGlobAndNamespaces)
{
	AllowlistSubject subject;
	subject.image_name = "registry.example:5000/team/monerod";
	subject.image_tag = "0.18";
	subject.pod_namespace = "monero";
	EXPECT_EQ(Allowlist({.images = {"*/monerod"}}).match(subject), "image */monerod");
	EXPECT_EQ(Allowlist({.images = {"*/monerod:0.*"}}).match(subject), "image */monerod:0.*");
	EXPECT_FALSE(Allowlist({.images = {"*/monerod:1.*"}}).match(subject));
	EXPECT_FALSE(Allowlist({.images = {"monerod"}}).match(subject));
	EXPECT_EQ(Allowlist({.images = {"registry.example:5000/team/monerod"}}).match(subject),
	          "image registry.example:5000/team/monerod");
	EXPECT_EQ(Allowlist({.namespaces = {"mon*"}}).match(subject), "namespace mon*");
	EXPECT_FALSE(Allowlist({.namespaces = {"default"}}).match(subject));
	EXPECT_FALSE(Allowlist({.images = {"*"}}).match(AllowlistSubject{})) << "no image known: no match";
	EXPECT_THROW(Allowlist({.images = {"name@sha256:00"}}), std::invalid_argument);
	EXPECT_THROW(Allowlist({.namespaces = {""}}), std::invalid_argument);
}

} // namespace
} // namespace mxwatch
