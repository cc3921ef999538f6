// SPDX-License-Identifier: GPL-2.0-only
// What a container runtime says about one container: its name, image and
// labels, and the pod it belongs to. The cgroup path gives only ids
// (cgroup_path.hpp); this is looked up asynchronously (container_resolver.hpp).
//
// Decoding is pure: the runtime's answer is treated as hostile (a container's
// owner chooses its name and labels), bounded and never trusted to be well formed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxwatch
{

// Bounds on what one container contributes to an alert.
inline constexpr std::size_t kMaxContainerLabels = 32;
inline constexpr std::size_t kMaxLabelKeyBytes = 128;
inline constexpr std::size_t kMaxLabelValueBytes = 256;
inline constexpr std::size_t kMaxContainerStringBytes = 512; // names, images, digests
inline constexpr std::size_t kMaxImageDigests = 8;

struct ContainerMetadata {
	std::optional<std::string> name;        // without Docker's leading '/'
	std::optional<std::string> image_name;  // "docker.io/library/nginx", "localhost/mxw-test"
	std::optional<std::string> image_tag;   // "1.25"
	std::optional<std::string> image_id;    // the runtime's image id, "sha256:..."
	std::vector<std::string> image_digests; // repository digests, "sha256:..." (ECS container.image.hash.all)
	std::vector<std::pair<std::string, std::string>> labels; // sorted by key, at most kMaxContainerLabels
	bool labels_truncated = false;
	// The pod: Kubernetes labels (io.kubernetes.pod.*) or a Podman pod.
	std::optional<std::string> orchestrator; // "kubernetes", "podman"
	std::optional<std::string> pod_name;
	std::optional<std::string> pod_namespace;
	std::optional<std::string> pod_uid;
	bool operator==(const ContainerMetadata &) const = default;
};

struct ImageReference {
	std::string name;
	std::optional<std::string> tag;
	std::optional<std::string> digest; // "sha256:..." after '@'
};

// "registry:5000/ns/name:tag@sha256:...": the tag is after the last ':' that
// follows the last '/'. Nothing for an empty reference.
std::optional<ImageReference> parse_image_reference(std::string_view reference);

// GET /containers/{id}/json of the Docker Engine API (Podman's compatible API
// answers alike). Nothing when the body is not a JSON object.
std::optional<ContainerMetadata> decode_docker_container(std::string_view body);

// GET /images/{id}/json: adds its RepoDigests (the part after '@') to `metadata`.
// False when the body is not a JSON object.
bool decode_docker_image(std::string_view body, ContainerMetadata &metadata);

// GET /libpod/pods/{id}/json of Podman's own API: the pod's name. Nothing
// when the body is not a JSON object with a string Name.
std::optional<std::string> decode_podman_pod_name(std::string_view body);

// An OCI runtime bundle's config.json, as containerd's CRI plugin and CRI-O
// write it: the container, image and pod from its annotations
// (io.kubernetes.cri.* for containerd, io.kubernetes.cri-o.* and the kubelet's
// io.kubernetes.pod.* for CRI-O). Nothing when the body is not a JSON object;
// empty metadata when it names none of them (a bundle another runtime made).
std::optional<ContainerMetadata> decode_oci_config(std::string_view body);

} // namespace mxwatch
