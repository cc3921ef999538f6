// SPDX-License-Identifier: GPL-2.0-only
// A container runtime's API, asked about one container at a time. Every call
// is bounded (connect, read and total time, body size) and reports failures
// as values: a runtime that is absent, hangs, hangs up or answers garbage
// costs at most the timeout and one counted failure (container_resolver.hpp).
#pragma once

#include "mxwatch/enrich/container_metadata.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxwatch
{

// An id as runtimes print them (container, pod, image ids): lower-case hex, at
// most 128 digits. Checked before an id goes into a URL, a CRI call or a path.
inline bool lower_hex_id(std::string_view id)
{
	return !id.empty() && id.size() <= 128 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

struct RuntimeAnswer {
	enum class Kind { Found, NotFound, Failed };
	Kind kind = Kind::Failed;
	std::optional<ContainerMetadata> metadata; // Found
	std::string error;                         // Failed: one sentence, e.g. "no socket at /run/docker.sock"
};

class ContainerRuntime
{
public:
	virtual ~ContainerRuntime() = default;
	// The runtime the cgroup path names ("docker", "podman", "containerd", "cri-o"):
	// which containers it serves.
	virtual const std::string &name() const = 0;
	// Whether it may run a kubelet's containers: asked about a container whose
	// cgroup path names a pod but not the runtime (cgroupfs driver: kubepods/.../pod<uid>/<id>).
	virtual bool runs_pods() const { return false; }
	// Whether its socket is there now (a stat), to choose among runs_pods() runtimes.
	virtual bool available() const { return true; }
	// Where it is asked, for messages ("unix:///run/docker.sock").
	virtual std::string endpoint() const = 0;
	// Blocking, bounded by the runtime's limits. Called from the resolver's thread only.
	virtual RuntimeAnswer inspect(const std::string &container_id) = 0;
	// Where inspect() failed: the container's OCI bundle, read from the runtime's
	// state directory (oci_bundle.hpp). Nothing when this runtime has none configured.
	virtual std::optional<RuntimeAnswer> inspect_bundle(const std::string &) { return std::nullopt; }
	// Where inspect_bundle() reads, for messages; empty without one.
	virtual std::string bundle_endpoint() const { return {}; }
};

class OciBundles;

struct RuntimeLimits {
	std::chrono::milliseconds connect_timeout{500};
	std::chrono::milliseconds request_timeout{2000}; // each request, from connecting to the last byte
	std::size_t max_body_bytes = 1 << 20;
};

// The Docker Engine API over its unix socket (GET /containers/{id}/json, then
// /images/{image}/json for the repository digests). Podman's API socket serves
// the same; as "podman" it also asks Podman's own API for the image digest and the pod.
class DockerApiRuntime final : public ContainerRuntime
{
public:
	DockerApiRuntime(std::string name, std::string socket_path, RuntimeLimits limits = {});
	const std::string &name() const override { return name_; }
	std::string endpoint() const override { return "unix://" + socket_path_; }
	bool runs_pods() const override { return name_ == "docker"; } // cri-dockerd
	bool available() const override;
	RuntimeAnswer inspect(const std::string &container_id) override;

private:
	struct Response {
		int status = 0;
		std::string body;
		std::string error; // transport failure: no status
	};
	Response get(const std::string &path) const;

	std::string name_;
	std::string socket_path_;
	RuntimeLimits limits_;
};

// The Kubernetes Container Runtime Interface (gRPC, runtime.v1.RuntimeService) over
// a unix socket: containerd's CRI plugin and CRI-O. Version once per connection
// (is it a CRI runtime at all), ContainerStatus (verbose: the pod sandbox id), then
// PodSandboxStatus (the pod's name, namespace and UID). Every call has a deadline
// (connect_timeout + request_timeout for the whole lookup); answers larger than
// max_body_bytes are refused. The channel is kept between lookups and dropped after a failure.
// With `bundles`, a failed lookup falls back to the container's config.json.
class CriRuntime final : public ContainerRuntime
{
public:
	CriRuntime(std::string name, std::string socket_path, RuntimeLimits limits = {});
	CriRuntime(std::string name, std::string socket_path, RuntimeLimits limits, std::unique_ptr<OciBundles> bundles);
	~CriRuntime() override;
	const std::string &name() const override { return name_; }
	std::string endpoint() const override { return "unix://" + socket_path_; }
	bool runs_pods() const override { return true; }
	// Its socket, or its bundles' state directory, is there.
	bool available() const override;
	RuntimeAnswer inspect(const std::string &container_id) override;
	std::optional<RuntimeAnswer> inspect_bundle(const std::string &container_id) override;
	std::string bundle_endpoint() const override;

private:
	struct Connection;
	std::string name_;
	std::string socket_path_;
	RuntimeLimits limits_;
	std::unique_ptr<OciBundles> bundles_;
	std::unique_ptr<Connection> connection_;
};

// Where each runtime's socket is looked for, and whether to ask at all.
struct RuntimeSockets {
	bool enabled = true;                                        // --container-lookups
	std::string containerd = "/run/containerd/containerd.sock"; // --containerd-socket (its CRI plugin)
	std::string crio = "/run/crio/crio.sock";                   // --crio-socket
	// The runtimes' OCI bundles, read where their API does not answer (empty: never read).
	std::string containerd_bundles = "/run/containerd/io.containerd.runtime.v2.task"; // --containerd-bundles
	std::string crio_bundles = "/run/containers/storage/overlay-containers";         // --crio-bundles
	std::string docker = "/run/docker.sock";                    // --docker-socket
	std::string podman = "/run/podman/podman.sock";             // --podman-socket
	RuntimeLimits limits;
};

// The runtimes to ask: every configured one (a socket that is absent now may
// appear later; asking it costs a stat). Empty when lookups are off.
std::vector<std::unique_ptr<ContainerRuntime>> make_runtimes(const RuntimeSockets &sockets);

} // namespace mxwatch
