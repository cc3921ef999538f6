// SPDX-License-Identifier: GPL-2.0-only
// The OCI bundle fallback: config.json annotations as containerd's CRI plugin
// and CRI-O write them, read from a state directory laid out as each runtime
// lays it out, hostile files refused and counted, and the resolver answering
// from the bundle when the runtime's socket does not. The real containerd's
// bundles are read in tests/integration/containerd_cri_test.cpp.
#include "mxwatch/enrich/container_resolver.hpp"
#include "mxwatch/enrich/oci_bundle.hpp"

#include "captured_log.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

namespace mxwatch
{
namespace
{

namespace fs = std::filesystem;
using test::CapturedLog;

const std::string kId = "9b2c4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809";
const std::string kPodUid = "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97";
const std::string kDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// The annotations containerd 1.6's CRI plugin puts in a container's config.json.
std::string containerd_config(const std::string &type = "container")
{
	return nlohmann::json{{"ociVersion", "1.0.2-dev"},
	                      {"process", {{"args", {"/mxw-randomx"}}}},
	                      {"annotations",
	                       {{"io.kubernetes.cri.container-type", type},
	                        {"io.kubernetes.cri.container-name", "miner"},
	                        {"io.kubernetes.cri.image-name", "registry.example:5000/team/web:1.25"},
	                        {"io.kubernetes.cri.sandbox-id", std::string(64, 'a')},
	                        {"io.kubernetes.cri.sandbox-name", "web-5d9"},
	                        {"io.kubernetes.cri.sandbox-namespace", "shop"},
	                        {"io.kubernetes.cri.sandbox-uid", kPodUid}}}}
	    .dump();
}

// CRI-O's: its own annotations, and the container's labels as one JSON string.
std::string crio_config()
{
	const nlohmann::json labels = {{"io.kubernetes.container.name", "miner"},
	                               {"io.kubernetes.pod.name", "web-5d9"},
	                               {"io.kubernetes.pod.namespace", "shop"},
	                               {"io.kubernetes.pod.uid", kPodUid},
	                               {"app", "web"}};
	return nlohmann::json{{"annotations",
	                       {{"io.kubernetes.cri-o.ContainerType", "container"},
	                        {"io.kubernetes.cri-o.ImageName", "quay.io/team/web:1.25"},
	                        {"io.kubernetes.cri-o.ImageRef", "quay.io/team/web@" + kDigest},
	                        {"io.kubernetes.cri-o.Labels", labels.dump()},
	                        {"io.container.manager", "cri-o"}}}}
	    .dump();
}

TEST(OciConfig, ContainerdAnnotationsGiveContainerImageAndPod)
{
	const auto m = decode_oci_config(containerd_config());
	ASSERT_TRUE(m);
	EXPECT_EQ(m->name, "miner");
	EXPECT_EQ(m->image_name, "registry.example:5000/team/web");
	EXPECT_EQ(m->image_tag, "1.25");
	EXPECT_EQ(m->orchestrator, "kubernetes");
	EXPECT_EQ(m->pod_name, "web-5d9");
	EXPECT_EQ(m->pod_namespace, "shop");
	EXPECT_EQ(m->pod_uid, kPodUid);
	EXPECT_TRUE(m->labels.empty());
}

TEST(OciConfig, APodSandboxHasThePodButNoContainerName)
{
	const auto m = decode_oci_config(containerd_config("sandbox"));
	ASSERT_TRUE(m);
	EXPECT_FALSE(m->name);
	EXPECT_EQ(m->pod_name, "web-5d9");
}

TEST(OciConfig, CrioAnnotationsAndLabelsGiveContainerImageDigestAndPod)
{
	const auto m = decode_oci_config(crio_config());
	ASSERT_TRUE(m);
	EXPECT_EQ(m->name, "miner");
	EXPECT_EQ(m->image_name, "quay.io/team/web");
	EXPECT_EQ(m->image_tag, "1.25");
	EXPECT_EQ(m->image_digests, std::vector<std::string>{kDigest});
	EXPECT_EQ(m->pod_name, "web-5d9");
	EXPECT_EQ(m->pod_namespace, "shop");
	EXPECT_EQ(m->pod_uid, kPodUid);
	ASSERT_EQ(m->labels.size(), 5u);
	EXPECT_EQ(m->labels[0].first, "app");
}

TEST(OciConfig, GarbageWrongTypesAndOtherRuntimesBundlesGiveNothing)
{
	EXPECT_FALSE(decode_oci_config(""));
	EXPECT_FALSE(decode_oci_config("[1,2]"));
	EXPECT_FALSE(decode_oci_config("{\"annotations\": "));
	// Another runtime's bundle (Docker's, under containerd's moby namespace): no annotations of ours.
	const auto other = decode_oci_config(R"({"ociVersion":"1.0.2","annotations":{"org.example":"x"}})");
	ASSERT_TRUE(other);
	EXPECT_EQ(*other, ContainerMetadata{});
	const auto wrong = decode_oci_config(
	    R"({"annotations":{"io.kubernetes.cri.container-name":7,"io.kubernetes.cri.sandbox-name":["x"],
	        "io.kubernetes.cri-o.Labels":"not json","io.kubernetes.cri.image-name":""}})");
	ASSERT_TRUE(wrong);
	EXPECT_EQ(*wrong, ContainerMetadata{});
}

TEST(OciConfig, HostileStringsAreRepairedAndBounded)
{
	nlohmann::json labels;
	for (int i = 0; i < 100; i++)
		labels["k" + std::to_string(i)] = std::string(1000, 'v');
	const std::string config = nlohmann::json{{"annotations",
	                                           {{"io.kubernetes.cri.container-name", std::string(5000, 'n')},
	                                            {"io.kubernetes.cri-o.Labels", labels.dump()}}}}
	                               .dump();
	const auto m = decode_oci_config(config);
	ASSERT_TRUE(m);
	EXPECT_EQ(m->name->size(), kMaxContainerStringBytes);
	EXPECT_EQ(m->labels.size(), kMaxContainerLabels);
	EXPECT_TRUE(m->labels_truncated);
	for (const auto &[key, value] : m->labels)
		EXPECT_LE(value.size(), kMaxLabelValueBytes);
	// Invalid UTF-8 inside a JSON string is refused by the parser: nothing, no crash.
	EXPECT_FALSE(decode_oci_config("{\"annotations\":{\"io.kubernetes.cri.container-name\":\"\xff\xfe\"}}"));
}

struct StateDir {
	fs::path dir;
	StateDir()
	{
		char name[] = "/tmp/mxw-bundles-XXXXXX";
		dir = ::mkdtemp(name);
	}
	~StateDir() { fs::remove_all(dir); }
	fs::path write(const fs::path &relative, const std::string &text) const
	{
		fs::create_directories((dir / relative).parent_path());
		std::ofstream(dir / relative) << text;
		return dir / relative;
	}
};

TEST(OciBundles, ContainerdBundlesAreFoundInAnyNamespace)
{
	StateDir state;
	state.write("moby/" + std::string(64, 'e') + "/config.json", "{}");
	state.write("k8s.io/" + std::string(64, 'f') + "/config.json", containerd_config());
	state.write("default/" + kId + "/config.json", containerd_config());
	const OciBundles bundles(BundleLayout::Containerd, state.dir.string());
	EXPECT_TRUE(bundles.present());
	const RuntimeAnswer answer = bundles.read(kId);
	ASSERT_EQ(answer.kind, RuntimeAnswer::Kind::Found) << answer.error;
	EXPECT_EQ(answer.metadata->pod_name, "web-5d9");
	EXPECT_EQ(bundles.read(std::string(64, 'e')).kind, RuntimeAnswer::Kind::NotFound) << "names nothing";
	EXPECT_EQ(bundles.read(std::string(64, 'b')).kind, RuntimeAnswer::Kind::NotFound) << "no bundle";
	EXPECT_EQ(OciBundles(BundleLayout::Containerd, (state.dir / "absent").string()).read(kId).kind,
	          RuntimeAnswer::Kind::NotFound);
	EXPECT_FALSE(OciBundles(BundleLayout::Containerd, (state.dir / "absent").string()).present());
}

TEST(OciBundles, CrioBundlesAreUnderUserdata)
{
	StateDir state;
	state.write(kId + "/userdata/config.json", crio_config());
	const RuntimeAnswer answer = OciBundles(BundleLayout::Crio, state.dir.string()).read(kId);
	ASSERT_EQ(answer.kind, RuntimeAnswer::Kind::Found) << answer.error;
	EXPECT_EQ(answer.metadata->name, "miner");
	EXPECT_EQ(answer.metadata->image_digests, std::vector<std::string>{kDigest});
}

TEST(OciBundles, HostileBundlesAreRefusedWithAReason)
{
	StateDir state;
	const OciBundles bundles(BundleLayout::Containerd, state.dir.string());
	const fs::path secret = state.write("secret.json", containerd_config());
	// config.json a symbolic link (to a file the pod's owner would like read).
	const std::string link_id(64, '1');
	fs::create_directories(state.dir / "k8s.io" / link_id);
	fs::create_symlink(secret, state.dir / "k8s.io" / link_id / "config.json");
	RuntimeAnswer answer = bundles.read(link_id);
	EXPECT_EQ(answer.kind, RuntimeAnswer::Kind::Failed);
	EXPECT_NE(answer.error.find("symbolic link"), std::string::npos) << answer.error;
	// The bundle directory a symbolic link.
	const std::string dir_link_id(64, '2');
	fs::create_directory_symlink(state.dir / "k8s.io" / link_id, state.dir / "k8s.io" / dir_link_id);
	EXPECT_EQ(bundles.read(dir_link_id).kind, RuntimeAnswer::Kind::Failed);
	// Not a regular file: a FIFO must not block the resolver.
	const std::string fifo_id(64, '3');
	fs::create_directories(state.dir / "k8s.io" / fifo_id);
	ASSERT_EQ(::mkfifo((state.dir / "k8s.io" / fifo_id / "config.json").c_str(), 0600), 0);
	answer = bundles.read(fifo_id);
	EXPECT_EQ(answer.kind, RuntimeAnswer::Kind::Failed);
	EXPECT_NE(answer.error.find("not a regular file"), std::string::npos) << answer.error;
	// Too large.
	const std::string big_id(64, '4');
	state.write("k8s.io/" + big_id + "/config.json", std::string(kMaxOciConfigBytes + 1, ' '));
	answer = bundles.read(big_id);
	EXPECT_EQ(answer.kind, RuntimeAnswer::Kind::Failed);
	EXPECT_NE(answer.error.find("larger than"), std::string::npos) << answer.error;
	// Not JSON.
	const std::string garbage_id(64, '5');
	state.write("k8s.io/" + garbage_id + "/config.json", "\x01\x02 not json");
	EXPECT_EQ(bundles.read(garbage_id).kind, RuntimeAnswer::Kind::Failed);
	// An id that is not hex never becomes a path.
	state.write("k8s.io/../k8s.io/" + kId + "/config.json", containerd_config());
	answer = bundles.read("../k8s.io/" + kId);
	EXPECT_EQ(answer.kind, RuntimeAnswer::Kind::Failed);
	EXPECT_NE(answer.error.find("hex"), std::string::npos) << answer.error;
	EXPECT_EQ(bundles.read("").kind, RuntimeAnswer::Kind::Failed);
}

TEST(ContainerResolver, WhereTheCriSocketIsAbsentTheBundleAnswersAndBothAreCounted)
{
	StateDir state;
	state.write("k8s.io/" + kId + "/config.json", containerd_config());
	state.write("k8s.io/" + std::string(64, '6') + "/config.json", "not json");
	CapturedLog log;
	std::vector<std::unique_ptr<ContainerRuntime>> runtimes;
	runtimes.push_back(std::make_unique<CriRuntime>(
	    "containerd", (state.dir / "absent.sock").string(), RuntimeLimits{}, // absent: fails at connect
	    std::make_unique<OciBundles>(BundleLayout::Containerd, state.dir.string())));
	ContainerResolver resolver(std::move(runtimes));
	// A pod's container from the cgroupfs driver's path (no runtime named): the
	// runtime's socket is absent, its bundles are there, so it is asked.
	const auto lookup = resolver.request(kId, "");
	ASSERT_TRUE(lookup);
	const auto m = lookup->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(20));
	ASSERT_TRUE(m);
	EXPECT_EQ(m->name, "miner");
	EXPECT_EQ(m->pod_namespace, "shop");
	EXPECT_EQ(resolver.request(kId, ""), lookup) << "an answer from the bundle is cached";
	const auto bad = resolver.request(std::string(64, '6'), "containerd");
	EXPECT_FALSE(bad->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(20)));
	const auto stats = resolver.stats();
	ASSERT_EQ(stats.runtimes.size(), 1u);
	EXPECT_EQ(stats.runtimes[0].failed, 2u) << "the CRI failures are still counted";
	EXPECT_EQ(stats.runtimes[0].bundle_found, 1u);
	EXPECT_EQ(stats.runtimes[0].bundle_failed, 1u);
	EXPECT_EQ(log.matching("container runtime containerd (").size(), 1u);
	EXPECT_EQ(log.matching("OCI bundle could not be read").size(), 1u);
	EXPECT_EQ(log.matching("but those in its OCI bundles").size(), 1u);
}

} // namespace
} // namespace mxwatch
