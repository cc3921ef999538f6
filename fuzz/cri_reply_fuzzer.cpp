// SPDX-License-Identifier: GPL-2.0-only
// The CRI runtime's answers (containerd, CRI-O: serialised ContainerStatusResponse,
// PodSandboxStatusResponse, VersionResponse) on arbitrary bytes: a container's
// creator picks its name, image and labels, and a socket can answer anything.
#include "mxwatch/enrich/cri_metadata.hpp"
#include "mxwatch/util/utf8.hpp"

#include <cstdlib>
#include <string_view>

namespace
{

void check_string(const std::optional<std::string> &s, std::size_t max)
{
	if (s && (s->empty() || s->size() > max || !mxwatch::is_valid_utf8(*s)))
		std::abort();
}

void check(const mxwatch::ContainerMetadata &m)
{
	using namespace mxwatch;
	if (m.labels.size() > kMaxContainerLabels || m.image_digests.size() > kMaxImageDigests)
		std::abort();
	for (const auto &[key, value] : m.labels)
		if (key.empty() || key.size() > kMaxLabelKeyBytes || value.size() > kMaxLabelValueBytes ||
		    !is_valid_utf8(key) || !is_valid_utf8(value))
			std::abort();
	for (const auto &digest : m.image_digests)
		if (digest.find(':') == std::string::npos || !is_valid_utf8(digest))
			std::abort();
	check_string(m.name, kMaxContainerStringBytes);
	check_string(m.image_name, kMaxContainerStringBytes);
	check_string(m.image_tag, kMaxContainerStringBytes);
	check_string(m.image_id, kMaxContainerStringBytes);
	check_string(m.pod_name, kMaxLabelValueBytes);
	check_string(m.pod_namespace, kMaxLabelValueBytes);
	check_string(m.pod_uid, kMaxLabelValueBytes);
	if ((m.pod_name || m.pod_namespace) && !m.orchestrator)
		std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string wire(reinterpret_cast<const char *>(data), size); // exact size: ASan sees overreads
	if (auto c = mxwatch::decode_cri_container_status(wire)) {
		check(c->metadata);
		if (c->sandbox_id && (c->sandbox_id->empty() || c->sandbox_id->size() > 128))
			std::abort();
		mxwatch::decode_cri_pod_sandbox_status(wire, c->metadata);
		check(c->metadata);
	}
	mxwatch::ContainerMetadata empty;
	mxwatch::decode_cri_pod_sandbox_status(wire, empty);
	check(empty);
	if (auto v = mxwatch::decode_cri_version(wire))
		if (v->runtime_name.empty() || !mxwatch::is_valid_utf8(v->runtime_name))
			std::abort();
	return 0;
}
