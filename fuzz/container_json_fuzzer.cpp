// SPDX-License-Identifier: GPL-2.0-only
// The container runtime's answers (Docker Engine / Podman API JSON) on
// arbitrary bytes: a container's owner picks its name, image reference and
// labels, and a runtime socket can answer anything.
#include "mxwatch/enrich/container_metadata.hpp"

#include <cstdlib>
#include <string_view>

namespace
{

void check_string(const std::optional<std::string> &s, std::size_t max)
{
	if (s && (s->empty() || s->size() > max))
		std::abort();
}

void check(const mxwatch::ContainerMetadata &m)
{
	using namespace mxwatch;
	if (m.labels.size() > kMaxContainerLabels || m.image_digests.size() > kMaxImageDigests)
		std::abort();
	for (const auto &[key, value] : m.labels)
		if (key.empty() || key.size() > kMaxLabelKeyBytes || value.size() > kMaxLabelValueBytes)
			std::abort();
	for (const auto &digest : m.image_digests)
		if (digest.find(':') == std::string::npos)
			std::abort();
	check_string(m.name, kMaxContainerStringBytes);
	check_string(m.image_name, kMaxContainerStringBytes);
	check_string(m.image_tag, kMaxContainerStringBytes);
	check_string(m.pod_name, kMaxLabelValueBytes);
	check_string(m.pod_namespace, kMaxLabelValueBytes);
	if (m.pod_name && !m.orchestrator)
		std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string text(reinterpret_cast<const char *>(data), size); // exact size: ASan sees overreads
	if (auto m = mxwatch::decode_docker_container(text)) {
		check(*m);
		mxwatch::decode_docker_image(text, *m);
		check(*m);
	}
	mxwatch::ContainerMetadata empty;
	mxwatch::decode_docker_image(text, empty);
	check(empty);
	(void)mxwatch::decode_podman_pod_name(text);
	if (auto m = mxwatch::decode_oci_config(text)) // a bundle's config.json
		check(*m);
	if (auto ref = mxwatch::parse_image_reference(text))
		if (ref->name.empty() || ref->name.size() > text.size())
			std::abort();
	return 0;
}
