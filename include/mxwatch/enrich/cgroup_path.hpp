// SPDX-License-Identifier: GPL-2.0-only
// Which container and Kubernetes pod a process runs in, read from its cgroup
// path. Runtimes name their cgroups in a handful of well-known shapes (docker,
// containerd, cri-o, podman; cgroupfs or systemd driver; cgroup v1 or v2); the
// shapes are listed in docs/alerts.md and tested in tests/unit/cgroup_path_test.cpp.
//
// Pure: no I/O. The input is whatever a process made of its cgroup names, so it
// is treated as hostile: never read past, never trusted to be well formed.
#pragma once

#include "mxwatch/enrich/container_metadata.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

struct ContainerInfo {
	std::optional<std::string> id;      // 64 hex digits, as the runtime prints it
	std::optional<std::string> runtime; // "docker", "containerd", "cri-o", "podman"
	std::optional<std::string> pod_uid; // Kubernetes pod UID, with dashes (never systemd's underscores)
	// What the runtime says (names, image, pod), once looked up: never from the
	// cgroup path itself (container_resolver.hpp).
	std::optional<ContainerMetadata> metadata;
	bool operator==(const ContainerInfo &) const = default;
};

// One cgroup path ("/kubepods.slice/.../cri-containerd-<id>.scope"). Nothing when
// the path names neither a container nor a pod.
std::optional<ContainerInfo> parse_cgroup_path(std::string_view path);

// The whole of /proc/PID/cgroup ("ID:CONTROLLERS:PATH" lines, v1 and v2 mixed):
// the most specific answer across all hierarchies (container and pod over
// container alone over pod alone; the deeper path on a tie).
std::optional<ContainerInfo> parse_proc_cgroup(std::string_view content);

} // namespace mxwatch
