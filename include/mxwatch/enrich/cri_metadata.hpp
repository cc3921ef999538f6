// SPDX-License-Identifier: GPL-2.0-only
// What containerd and CRI-O answer through the Kubernetes CRI (proto/cri_subset.proto),
// decoded into ContainerMetadata (container_metadata.hpp). The answers are taken
// as serialised protobuf, as they come off the wire, so the decoding is pure and
// fuzzed (fuzz/cri_reply_fuzzer.cpp); the client is CriRuntime (container_runtime.hpp).
//
// Like the Docker API's JSON, the bytes are hostile: a container's name, labels and
// annotations are chosen by whoever creates it. Every string is repaired to valid
// UTF-8 and bounded as the Docker decoding bounds it.
#pragma once

#include "mxwatch/enrich/container_metadata.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace mxwatch
{

struct CriContainer {
	ContainerMetadata metadata;
	std::optional<std::string> sandbox_id; // the pod sandbox (verbose info's "sandboxID"), to ask PodSandboxStatus
};

// A ContainerStatusResponse (asked with verbose = true). Nothing when the bytes
// are not one, or it has no status.
std::optional<CriContainer> decode_cri_container_status(std::string_view wire);

// A PodSandboxStatusResponse: the pod's name, namespace and UID as the runtime
// recorded them replace what the container's labels said. False when the bytes
// are not one, or it names no pod.
bool decode_cri_pod_sandbox_status(std::string_view wire, ContainerMetadata &metadata);

struct CriVersion {
	std::string runtime_name;        // "containerd", "cri-o"
	std::string runtime_version;     // "1.6.20~ds1"
	std::string runtime_api_version; // "v1"
};

// A VersionResponse. Nothing when the bytes are not one or name no runtime.
std::optional<CriVersion> decode_cri_version(std::string_view wire);

} // namespace mxwatch
