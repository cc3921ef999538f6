// SPDX-License-Identifier: GPL-2.0-only
// The Docker Engine API (and Podman's compatible API) over a unix socket, with
// cpp-httplib. One connection per request: lookups are rare (one per container
// that showed the signal) and a fresh connection cannot inherit a stuck one.
#include "mxwatch/enrich/container_runtime.hpp"
#include "mxwatch/enrich/oci_bundle.hpp"
#include "mxwatch/util/sigpipe.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <httplib.h>
#include <sys/stat.h>

namespace mxwatch
{
namespace
{

// "sha256:abc" -> "abc": what the image endpoints accept as an id.
std::string bare_id(const std::string &image_id)
{
	const auto colon = image_id.find(':');
	return colon == std::string::npos ? image_id : image_id.substr(colon + 1);
}

} // namespace

DockerApiRuntime::DockerApiRuntime(std::string name, std::string socket_path, RuntimeLimits limits)
    : name_(std::move(name)), socket_path_(std::move(socket_path)), limits_(limits)
{
}

bool DockerApiRuntime::available() const
{
	struct stat st {
	};
	return ::stat(socket_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

DockerApiRuntime::Response DockerApiRuntime::get(const std::string &path) const
{
	Response response;
	struct stat st {
	};
	if (::stat(socket_path_.c_str(), &st) != 0) {
		response.error = fmt::format("no socket at {} ({})", socket_path_, std::strerror(errno));
		return response;
	}
	if (!S_ISSOCK(st.st_mode)) {
		response.error = fmt::format("{} is not a socket", socket_path_);
		return response;
	}
	// A runtime that closes the connection early must fail this lookup only.
	ignore_sigpipe();
	httplib::Client client(socket_path_);
	client.set_address_family(AF_UNIX);
	client.set_keep_alive(false);
	client.set_connection_timeout(limits_.connect_timeout);
	client.set_read_timeout(limits_.request_timeout);
	client.set_write_timeout(limits_.request_timeout);
	const auto deadline = std::chrono::steady_clock::now() + limits_.connect_timeout + limits_.request_timeout;
	bool too_big = false, too_slow = false;
	const httplib::Headers headers = {{"Host", "localhost"}};
	auto result = client.Get(
	    path, headers,
	    [&](const httplib::Response &r) {
		    response.status = r.status;
		    return true;
	    },
	    [&](const char *data, std::size_t size) {
		    if (response.body.size() + size > limits_.max_body_bytes) {
			    too_big = true;
			    return false;
		    }
		    if (std::chrono::steady_clock::now() > deadline) {
			    too_slow = true;
			    return false;
		    }
		    response.body.append(data, size);
		    return true;
	    });
	if (too_big)
		response.error = fmt::format("answer to GET {} larger than {} bytes", path, limits_.max_body_bytes);
	else if (too_slow)
		response.error = fmt::format("answer to GET {} took longer than {} ms", path,
		                             (limits_.connect_timeout + limits_.request_timeout).count());
	else if (!result)
		response.error = fmt::format("GET {}: {}", path, httplib::to_string(result.error()));
	if (!response.error.empty())
		response.status = 0;
	return response;
}

RuntimeAnswer DockerApiRuntime::inspect(const std::string &container_id)
{
	RuntimeAnswer answer;
	if (!lower_hex_id(container_id)) { // it goes into a URL path
		answer.error = "container id is not lowercase hex";
		return answer;
	}
	const Response container = get("/containers/" + container_id + "/json");
	if (!container.error.empty()) {
		answer.error = container.error;
		return answer;
	}
	if (container.status == 404) {
		answer.kind = RuntimeAnswer::Kind::NotFound;
		return answer;
	}
	if (container.status != 200) {
		answer.error = fmt::format("GET /containers/{{id}}/json answered HTTP {}", container.status);
		return answer;
	}
	auto metadata = decode_docker_container(container.body);
	if (!metadata) {
		answer.error = "GET /containers/{id}/json answered something that is not a JSON object";
		return answer;
	}
	// Best effort from here: the container's own answer is what matters.
	if (name_ == "podman") {
		const Response libpod = get("/v4.0.0/libpod/containers/" + container_id + "/json");
		if (libpod.status == 200)
			if (auto more = decode_docker_container(libpod.body)) {
				for (auto &digest : more->image_digests)
					if (std::find(metadata->image_digests.begin(), metadata->image_digests.end(),
					              digest) == metadata->image_digests.end())
						metadata->image_digests.push_back(std::move(digest));
				if (more->pod_uid && !metadata->pod_uid) {
					metadata->orchestrator = more->orchestrator;
					metadata->pod_uid = more->pod_uid;
				}
			}
		if (metadata->orchestrator == "podman" && metadata->pod_uid && lower_hex_id(*metadata->pod_uid)) {
			const Response pod = get("/v4.0.0/libpod/pods/" + *metadata->pod_uid + "/json");
			if (pod.status == 200)
				metadata->pod_name = decode_podman_pod_name(pod.body);
		}
	}
	if (metadata->image_id && lower_hex_id(bare_id(*metadata->image_id))) {
		const Response image = get("/images/" + bare_id(*metadata->image_id) + "/json");
		if (image.status == 200)
			decode_docker_image(image.body, *metadata);
	}
	answer.kind = RuntimeAnswer::Kind::Found;
	answer.metadata = std::move(metadata);
	return answer;
}

std::vector<std::unique_ptr<ContainerRuntime>> make_runtimes(const RuntimeSockets &sockets)
{
	std::vector<std::unique_ptr<ContainerRuntime>> runtimes;
	if (!sockets.enabled)
		return runtimes;
	// In this order: a pod's container whose cgroup path does not name its
	// runtime goes to the first runs_pods() one whose socket is there.
	const auto bundles = [](BundleLayout layout, const std::string &root) {
		return root.empty() ? nullptr : std::make_unique<OciBundles>(layout, root);
	};
	if (!sockets.containerd.empty())
		runtimes.push_back(std::make_unique<CriRuntime>("containerd", sockets.containerd, sockets.limits,
		                                                bundles(BundleLayout::Containerd, sockets.containerd_bundles)));
	if (!sockets.crio.empty())
		runtimes.push_back(std::make_unique<CriRuntime>("cri-o", sockets.crio, sockets.limits,
		                                                bundles(BundleLayout::Crio, sockets.crio_bundles)));
	if (!sockets.docker.empty())
		runtimes.push_back(std::make_unique<DockerApiRuntime>("docker", sockets.docker, sockets.limits));
	if (!sockets.podman.empty())
		runtimes.push_back(std::make_unique<DockerApiRuntime>("podman", sockets.podman, sockets.limits));
	return runtimes;
}

} // namespace mxwatch
