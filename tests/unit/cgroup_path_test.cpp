// SPDX-License-Identifier: GPL-2.0-only
// The cgroup-path parser over the shapes runtimes really write, one row each.
#include "mxwatch/enrich/cgroup_path.hpp"

#include <gtest/gtest.h>

namespace mxwatch {
namespace {

const std::string kId = "3f4ad5d2e5c1b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d";
const std::string kOuter = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kPod = "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97";
const std::string kPodSystemd = "4a0f8c2e_7b1d_4e55_9c3a_2f6d8e1b0a97"; // as the kubelet names slices
const std::string kStaticPod = "6d9b1f0c2a3e4d5f6a7b8c9d0e1f2a3b";      // mirror pods: manifest hash

struct Case {
	const char *shape;
	std::string path;
	std::optional<std::string> id;
	std::optional<std::string> runtime;
	std::optional<std::string> pod;
};

std::vector<Case> cases()
{
	const auto none = std::nullopt;
	return {
	    // Docker
	    {"docker, cgroupfs driver (v1 and v2)", "/docker/" + kId, kId, "docker", none},
	    {"docker, systemd driver", "/system.slice/docker-" + kId + ".scope", kId, "docker", none},
	    {"docker rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" + kId + ".scope",
	     kId, "docker", none},
	    {"docker in docker", "/docker/" + kOuter + "/docker/" + kId, kId, "docker", none},
	    {"docker, the daemon itself", "/system.slice/docker.service", none, none, none},
	    // containerd under Kubernetes
	    {"containerd, systemd cgroups, besteffort (v2)",
	     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPodSystemd +
	         ".slice/cri-containerd-" + kId + ".scope",
	     kId, "containerd", kPod},
	    {"containerd, systemd cgroups, burstable (v1 cpu)",
	     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodSystemd +
	         ".slice/cri-containerd-" + kId + ".scope",
	     kId, "containerd", kPod},
	    {"containerd, systemd cgroups, guaranteed",
	     "/kubepods.slice/kubepods-pod" + kPodSystemd + ".slice/cri-containerd-" + kId + ".scope", kId,
	     "containerd", kPod},
	    {"containerd, cgroupfs, besteffort", "/kubepods/besteffort/pod" + kPod + "/" + kId, kId, none, kPod},
	    {"containerd, cgroupfs, guaranteed", "/kubepods/pod" + kPod + "/" + kId, kId, none, kPod},
	    {"static pod (manifest hash as UID)", "/kubepods/burstable/pod" + kStaticPod + "/" + kId, kId, none,
	     kStaticPod},
	    {"containerd without Kubernetes (nerdctl)", "/system.slice/nerdctl-" + kId + ".scope", kId, "containerd",
	     none},
	    {"kind: containerd pods inside a docker node",
	     "/system.slice/docker-" + kOuter +
	         ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	         "kubelet-kubepods-besteffort-pod" +
	         kPodSystemd + ".slice/cri-containerd-" + kId + ".scope",
	     kId, "containerd", kPod},
	    {"dockershim, systemd cgroups",
	     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodSystemd + ".slice/docker-" + kId +
	         ".scope",
	     kId, "docker", kPod},
	    {"inside a cgroup namespace", "/../../kubepods/burstable/pod" + kPod + "/" + kId, kId, none, kPod},
	    // CRI-O
	    {"cri-o, systemd cgroups",
	     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodSystemd + ".slice/crio-" + kId +
	         ".scope",
	     kId, "cri-o", kPod},
	    {"cri-o, cgroupfs", "/kubepods/burstable/pod" + kPod + "/crio-" + kId, kId, "cri-o", kPod},
	    {"cri-o's conmon is not the container",
	     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodSystemd + ".slice/crio-conmon-" +
	         kId + ".scope",
	     none, none, kPod},
	    // Podman
	    {"podman rootful, systemd", "/machine.slice/libpod-" + kId + ".scope", kId, "podman", none},
	    {"podman rootless, v2 with a container sub-cgroup",
	     "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope/container", kId,
	     "podman", none},
	    {"podman, cgroupfs", "/libpod_parent/libpod-" + kId, kId, "podman", none},
	    {"podman's conmon is not the container", "/machine.slice/libpod-conmon-" + kId + ".scope", none, none,
	     none},
	    // Not containers, and near misses
	    {"a login session", "/user.slice/user-1000.slice/session-2.scope", none, none, none},
	    {"the root", "/", none, none, none},
	    {"empty", "", none, none, none},
	    {"63 hex digits", "/docker/" + kId.substr(1), none, none, none},
	    {"upper-case hex", "/docker/3F4AD5D2E5C1B8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F708192A3B4C5D", none, none,
	     none},
	    {"unknown scope prefix", "/system.slice/foo-" + kId + ".scope", none, none, none},
	    {"not a pod UID", "/kubepods/besteffort/podnot-a-uid/" + kId, kId, none, none},
	    {"UID with a misplaced separator", "/kubepods/besteffort/pod4a0f8c2e7-b1d-4e55-9c3a-2f6d8e1b0a97", none,
	     none, none},
	};
}

TEST(CgroupPath, RealWorldShapes)
{
	for (const Case &c : cases()) {
		SCOPED_TRACE(std::string(c.shape) + ": " + c.path);
		const auto found = parse_cgroup_path(c.path);
		if (!c.id && !c.pod) {
			EXPECT_FALSE(found.has_value());
			continue;
		}
		ASSERT_TRUE(found.has_value());
		EXPECT_EQ(found->id, c.id);
		EXPECT_EQ(found->runtime, c.runtime);
		EXPECT_EQ(found->pod_uid, c.pod);
	}
}

TEST(CgroupPath, ProcFileTakesTheMostSpecificHierarchy)
{
	// A hybrid host: the kubelet's v1 cpu path names the container, the named
	// systemd hierarchy only the pod, the unified hierarchy nothing.
	const std::string file = "12:cpu,cpuacct:/kubepods/besteffort/pod" + kPod + "/" + kId +
	                         "\n"
	                         "1:name=systemd:/kubepods/besteffort/pod" +
	                         kPod +
	                         "\n"
	                         "0::/\n";
	const auto found = parse_proc_cgroup(file);
	ASSERT_TRUE(found.has_value());
	EXPECT_EQ(found->id, kId);
	EXPECT_EQ(found->pod_uid, kPod);

	// A container alone beats a pod alone, whichever comes first.
	const auto mixed = parse_proc_cgroup("3:memory:/kubepods/pod" + kPod + "\n2:cpu:/docker/" + kId + "\n");
	ASSERT_TRUE(mixed.has_value());
	EXPECT_EQ(mixed->id, kId);
	EXPECT_EQ(mixed->runtime, "docker");
	EXPECT_FALSE(mixed->pod_uid.has_value());
}

TEST(CgroupPath, ProcFileToleratesJunk)
{
	EXPECT_FALSE(parse_proc_cgroup("").has_value());
	EXPECT_FALSE(parse_proc_cgroup("garbage\n:\n::\n0::/\n").has_value());
	// cgroup names may contain ':'; only the first two separate fields.
	const auto colon = parse_proc_cgroup("0::/odd:name/docker/" + kId);
	ASSERT_TRUE(colon.has_value());
	EXPECT_EQ(colon->id, kId);
	// No trailing newline, a NUL in the middle: still no read past the end.
	const std::string with_nul = std::string("0::/docker/") + '\0' + kId;
	EXPECT_NO_THROW(parse_proc_cgroup(with_nul));
}

} // namespace
} // namespace mxwatch
