// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/container_metadata.hpp"

#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace mxwatch
{
namespace
{

using json = nlohmann::json;

// A JSON body as an object, or nothing: never throws, whatever the bytes.
std::optional<json> parse_object(std::string_view body)
{
	json document = json::parse(body, nullptr, false);
	if (document.is_discarded() || !document.is_object())
		return std::nullopt;
	return document;
}

// A member that is a non-empty string, cut to `max` bytes (on a UTF-8 boundary).
std::optional<std::string> string_member(const json &object, const char *key,
                                         std::size_t max = kMaxContainerStringBytes)
{
	const auto it = object.find(key);
	if (it == object.end() || !it->is_string())
		return std::nullopt;
	const auto &value = it->get_ref<const std::string &>();
	if (value.empty())
		return std::nullopt;
	return std::string(truncate_utf8(value, max));
}

const json *object_member(const json &object, const char *key)
{
	const auto it = object.find(key);
	return it != object.end() && it->is_object() ? &*it : nullptr;
}

bool is_digest(std::string_view s)
{
	const auto colon = s.find(':');
	return colon != std::string_view::npos && colon > 0 && colon + 1 < s.size() && s.size() <= 160;
}

std::optional<std::string> label(const ContainerMetadata &m, std::string_view key)
{
	for (const auto &[k, v] : m.labels)
		if (k == key)
			return v;
	return std::nullopt;
}

void add_digest(ContainerMetadata &m, std::string digest)
{
	if (!is_digest(digest) || m.image_digests.size() >= kMaxImageDigests)
		return;
	if (std::find(m.image_digests.begin(), m.image_digests.end(), digest) == m.image_digests.end())
		m.image_digests.push_back(std::move(digest));
}

// An object's string members as labels, bounded and sorted by key.
void take_labels(ContainerMetadata &m, const json &labels)
{
	for (const auto &[key, value] : labels.items()) {
		if (!value.is_string() || key.empty())
			continue;
		if (m.labels.size() >= kMaxContainerLabels) {
			m.labels_truncated = true;
			break;
		}
		m.labels.emplace_back(truncate_utf8(key, kMaxLabelKeyBytes),
		                      truncate_utf8(value.get_ref<const std::string &>(), kMaxLabelValueBytes));
	}
	std::sort(m.labels.begin(), m.labels.end());
}

} // namespace

std::optional<ImageReference> parse_image_reference(std::string_view reference)
{
	if (reference.empty() || reference.size() > kMaxContainerStringBytes)
		return std::nullopt;
	ImageReference out;
	if (const auto at = reference.find('@'); at != std::string_view::npos) {
		if (is_digest(reference.substr(at + 1)))
			out.digest = std::string(reference.substr(at + 1));
		reference = reference.substr(0, at);
	}
	const auto slash = reference.rfind('/');
	const auto colon = reference.rfind(':');
	if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
		if (colon + 1 < reference.size())
			out.tag = std::string(reference.substr(colon + 1));
		reference = reference.substr(0, colon);
	}
	if (reference.empty())
		return std::nullopt;
	out.name = std::string(reference);
	return out;
}

namespace
{

// The image a reference names: name, tag, and the digest after '@'.
void take_reference(ContainerMetadata &m, const std::string &reference)
{
	if (auto image = parse_image_reference(reference)) {
		m.image_name = std::move(image->name);
		m.image_tag = std::move(image->tag);
		if (image->digest)
			add_digest(m, std::move(*image->digest));
	}
}

} // namespace

std::optional<ContainerMetadata> decode_docker_container(std::string_view body)
{
	const auto document = parse_object(body);
	if (!document)
		return std::nullopt;
	ContainerMetadata m;
	if (auto name = string_member(*document, "Name")) {
		if (name->front() == '/')
			name->erase(0, 1);
		if (!name->empty())
			m.name = std::move(*name);
	}
	m.image_id = string_member(*document, "Image");
	if (m.image_id && !is_digest(*m.image_id)) // Podman's compat API has the bare hex id
		m.image_id = "sha256:" + *m.image_id;
	if (const json *config = object_member(*document, "Config")) {
		// Config.Image: the reference the container was started from.
		if (auto reference = string_member(*config, "Image"))
			take_reference(m, *reference);
		if (const json *labels = object_member(*config, "Labels"))
			take_labels(m, *labels);
	}
	// Podman's libpod API: the image digest and the pod id.
	if (auto digest = string_member(*document, "ImageDigest"))
		add_digest(m, std::move(*digest));
	if (auto pod = string_member(*document, "Pod")) {
		m.orchestrator = "podman";
		m.pod_uid = std::move(pod);
	}
	// Kubernetes through a Docker-API runtime (cri-dockerd) labels its containers.
	if (auto pod_name = label(m, "io.kubernetes.pod.name")) {
		m.orchestrator = "kubernetes";
		m.pod_name = std::move(pod_name);
		m.pod_namespace = label(m, "io.kubernetes.pod.namespace");
		m.pod_uid = label(m, "io.kubernetes.pod.uid");
	}
	return m;
}

bool decode_docker_image(std::string_view body, ContainerMetadata &metadata)
{
	const auto document = parse_object(body);
	if (!document)
		return false;
	if (const auto it = document->find("RepoDigests"); it != document->end() && it->is_array())
		for (const auto &entry : *it)
			if (entry.is_string())
				if (auto image = parse_image_reference(entry.get_ref<const std::string &>()))
					if (image->digest)
						add_digest(metadata, std::move(*image->digest));
	if (auto digest = string_member(*document, "Digest")) // Podman's libpod image inspect
		add_digest(metadata, std::move(*digest));
	return true;
}

std::optional<ContainerMetadata> decode_oci_config(std::string_view body)
{
	const auto document = parse_object(body);
	if (!document)
		return std::nullopt;
	ContainerMetadata m;
	const json *annotations = object_member(*document, "annotations");
	if (!annotations)
		return m;
	const auto annotation = [&](const char *key, std::size_t max = kMaxContainerStringBytes) {
		return string_member(*annotations, key, max);
	};
	// CRI-O keeps the container's labels (the kubelet's io.kubernetes.* among
	// them) as one JSON object in a string.
	// Bounded by the file (kMaxOciConfigBytes), then by the label bounds below.
	if (auto labels_text = annotation("io.kubernetes.cri-o.Labels", std::size_t{1} << 20))
		if (const auto labels = parse_object(*labels_text))
			take_labels(m, *labels);
	const auto first = [&](std::initializer_list<const char *> annotation_keys, std::string_view label_key,
	                       std::size_t max = kMaxLabelValueBytes) -> std::optional<std::string> {
		for (const char *key : annotation_keys)
			if (auto value = annotation(key, max))
				return value;
		return label_key.empty() ? std::nullopt : label(m, label_key);
	};
	const bool sandbox = annotation("io.kubernetes.cri.container-type") == "sandbox" ||
	                     annotation("io.kubernetes.cri-o.ContainerType") == "sandbox";
	if (!sandbox)
		m.name = first({"io.kubernetes.cri.container-name", "io.kubernetes.container.name"},
		               "io.kubernetes.container.name", kMaxContainerStringBytes);
	if (auto reference =
	        first({"io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName"}, {}, kMaxContainerStringBytes))
		take_reference(m, *reference);
	// CRI-O's resolved image: "sha256:<hex>", bare hex, or "name@sha256:<hex>".
	if (auto ref = annotation("io.kubernetes.cri-o.ImageRef")) {
		auto image = parse_image_reference(*ref);
		if (image && image->digest)
			add_digest(m, std::move(*image->digest));
		else if (is_digest(*ref))
			m.image_id = std::move(ref);
		else if (ref->size() == 64 && ref->find_first_not_of("0123456789abcdef") == std::string::npos)
			m.image_id = "sha256:" + *ref;
	}
	m.pod_name = first({"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"}, "io.kubernetes.pod.name");
	m.pod_namespace = first({"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"},
	                        "io.kubernetes.pod.namespace");
	m.pod_uid = first({"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"}, "io.kubernetes.pod.uid");
	if (m.pod_name || m.pod_namespace || m.pod_uid)
		m.orchestrator = "kubernetes";
	return m;
}

std::optional<std::string> decode_podman_pod_name(std::string_view body)
{
	const auto document = parse_object(body);
	return document ? string_member(*document, "Name") : std::nullopt;
}

} // namespace mxwatch
