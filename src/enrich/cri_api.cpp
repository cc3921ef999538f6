// SPDX-License-Identifier: GPL-2.0-only
// The Kubernetes CRI over a unix socket (containerd, CRI-O), with Debian's grpc++
// and the stubs generated from proto/cri_subset.proto.
#include "cri_decode.hpp"

#include "mxwatch/enrich/container_runtime.hpp"
#include "mxwatch/enrich/oci_bundle.hpp"

#include "cri_subset.grpc.pb.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fmt/format.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <mutex>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

namespace mxwatch
{
namespace
{

// gRPC's own log lines would go to stderr around ours; its failures reach us as statuses.
void quiet_grpc()
{
	static std::once_flag once;
	std::call_once(once, [] { gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR); });
}

std::string describe(const char *call, const grpc::Status &status)
{
	std::string message = status.error_message();
	if (message.size() > 200)
		message.resize(200);
	return fmt::format("CRI {}: {} ({})", call, message.empty() ? "no message" : message,
	                   static_cast<int>(status.error_code()));
}

} // namespace

struct CriRuntime::Connection {
	std::shared_ptr<grpc::Channel> channel;
	std::unique_ptr<runtime::v1::RuntimeService::Stub> stub;
	bool version_asked = false;
};

CriRuntime::CriRuntime(std::string name, std::string socket_path, RuntimeLimits limits)
    : CriRuntime(std::move(name), std::move(socket_path), limits, nullptr)
{
}

CriRuntime::CriRuntime(std::string name, std::string socket_path, RuntimeLimits limits,
                       std::unique_ptr<OciBundles> bundles)
    : name_(std::move(name)), socket_path_(std::move(socket_path)), limits_(limits), bundles_(std::move(bundles))
{
}

CriRuntime::~CriRuntime() = default;

bool CriRuntime::available() const
{
	struct stat st {
	};
	return (::stat(socket_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) || (bundles_ && bundles_->present());
}

std::optional<RuntimeAnswer> CriRuntime::inspect_bundle(const std::string &container_id)
{
	if (!bundles_)
		return std::nullopt;
	return bundles_->read(container_id);
}

std::string CriRuntime::bundle_endpoint() const
{
	return bundles_ ? bundles_->root() : std::string{};
}

RuntimeAnswer CriRuntime::inspect(const std::string &container_id)
{
	RuntimeAnswer answer;
	if (!lower_hex_id(container_id)) {
		answer.error = "container id is not lowercase hex";
		return answer;
	}
	struct stat st {
	};
	if (::stat(socket_path_.c_str(), &st) != 0) {
		answer.error = fmt::format("no socket at {} ({})", socket_path_, std::strerror(errno));
		connection_.reset();
		return answer;
	}
	if (!S_ISSOCK(st.st_mode)) {
		answer.error = fmt::format("{} is not a socket", socket_path_);
		return answer;
	}
	const auto deadline = std::chrono::system_clock::now() + limits_.connect_timeout + limits_.request_timeout;
	if (!connection_) {
		quiet_grpc();
		grpc::ChannelArguments arguments;
		arguments.SetMaxReceiveMessageSize(
		    static_cast<int>(std::min<std::size_t>(limits_.max_body_bytes, INT_MAX)));
		arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
		// A runtime restarted while we wait is reconnected to soon, not after gRPC's
		// default backoff. The minimum is also each connection attempt's timeout
		// (to the runtime's HTTP/2 SETTINGS): the connect timeout.
		arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
		arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(limits_.connect_timeout.count()));
		arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
		auto connection = std::make_unique<Connection>();
		connection->channel =
		    grpc::CreateCustomChannel("unix://" + socket_path_, grpc::InsecureChannelCredentials(), arguments);
		connection->stub = runtime::v1::RuntimeService::NewStub(connection->channel);
		connection_ = std::move(connection);
	}
	auto fail = [&](std::string error) {
		connection_.reset(); // the next lookup starts from a fresh connection
		answer.kind = RuntimeAnswer::Kind::Failed;
		answer.error = std::move(error);
		return answer;
	};
	auto &stub = *connection_->stub;

	// Is it a CRI runtime at all (containerd without its CRI plugin is not)?
	if (!connection_->version_asked) {
		grpc::ClientContext context;
		context.set_deadline(deadline);
		runtime::v1::VersionRequest request;
		request.set_version("v1");
		runtime::v1::VersionResponse response;
		const grpc::Status status = stub.Version(&context, request, &response);
		if (!status.ok())
			return fail(describe("Version", status));
		const auto version = cri::decode(response);
		if (!version)
			return fail("CRI Version answered no runtime name");
		spdlog::debug("container runtime {} ({}): {} {}, CRI {}", name_, endpoint(), version->runtime_name,
		              version->runtime_version, version->runtime_api_version);
		connection_->version_asked = true;
	}

	runtime::v1::ContainerStatusResponse container;
	{
		grpc::ClientContext context;
		context.set_deadline(deadline);
		runtime::v1::ContainerStatusRequest request;
		request.set_container_id(container_id);
		request.set_verbose(true);
		const grpc::Status status = stub.ContainerStatus(&context, request, &container);
		if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
			answer.kind = RuntimeAnswer::Kind::NotFound;
			return answer;
		}
		if (!status.ok())
			return fail(describe("ContainerStatus", status));
	}
	auto decoded = cri::decode(container);
	if (!decoded)
		return fail("CRI ContainerStatus answered no container status");

	// Best effort from here: the container's own answer is what matters.
	if (decoded->sandbox_id) {
		grpc::ClientContext context;
		context.set_deadline(deadline);
		runtime::v1::PodSandboxStatusRequest request;
		request.set_pod_sandbox_id(*decoded->sandbox_id);
		runtime::v1::PodSandboxStatusResponse pod;
		if (const grpc::Status status = stub.PodSandboxStatus(&context, request, &pod); status.ok())
			cri::decode(pod, decoded->metadata);
		else
			spdlog::debug("container runtime {}: {}", name_, describe("PodSandboxStatus", status));
	}
	answer.kind = RuntimeAnswer::Kind::Found;
	answer.metadata = std::move(decoded->metadata);
	return answer;
}

} // namespace mxwatch
