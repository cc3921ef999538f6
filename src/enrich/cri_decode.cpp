// SPDX-License-Identifier: GPL-2.0-only
#include "cri_decode.hpp"

#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>

namespace mxwatch
{
namespace
{

// Bytes from the wire as bounded valid UTF-8; nothing when empty.
std::optional<std::string> text(const std::string &raw, std::size_t max = kMaxContainerStringBytes)
{
	if (raw.empty())
		return std::nullopt;
	const std::string valid = valid_utf8(raw.size() > 4 * max ? std::string_view(raw).substr(0, 4 * max) : raw);
	std::string out(truncate_utf8(valid, max));
	if (out.empty())
		return std::nullopt;
	return out;
}

const std::string *find_entry(const google::protobuf::RepeatedPtrField<runtime::v1::BytesEntry> &entries,
                              std::string_view key)
{
	// A map on the wire may repeat a key; the last one wins, as protobuf's own maps do.
	const std::string *found = nullptr;
	for (const auto &entry : entries)
		if (entry.key() == key)
			found = &entry.value();
	return found;
}

std::optional<std::string> entry_text(const google::protobuf::RepeatedPtrField<runtime::v1::BytesEntry> &entries,
                                      std::string_view key, std::size_t max = kMaxLabelValueBytes)
{
	const std::string *value = find_entry(entries, key);
	return value ? text(*value, max) : std::nullopt;
}

bool is_digest(std::string_view s)
{
	const auto colon = s.find(':');
	return colon != std::string_view::npos && colon > 0 && colon + 1 < s.size() && s.size() <= 160 &&
	       s.find('/') == std::string_view::npos && s.find('@') == std::string_view::npos;
}

void add_digest(ContainerMetadata &m, const std::string &digest)
{
	if (!is_digest(digest) || m.image_digests.size() >= kMaxImageDigests)
		return;
	if (std::find(m.image_digests.begin(), m.image_digests.end(), digest) == m.image_digests.end())
		m.image_digests.push_back(digest);
}

// "docker.io/library/x:1.0" (a reference) or "sha256:..." (an image id, when the
// runtime knows no tag for it).
void take_image(ContainerMetadata &m, const std::optional<std::string> &image)
{
	if (!image)
		return;
	if (is_digest(*image)) {
		if (!m.image_id)
			m.image_id = *image;
		return;
	}
	if (m.image_name)
		return;
	if (auto reference = parse_image_reference(*image)) {
		m.image_name = std::move(reference->name);
		m.image_tag = std::move(reference->tag);
		if (reference->digest)
			add_digest(m, *reference->digest);
	}
}

// The verbose info's "info" member is a JSON object (containerd's and CRI-O's alike)
// whose "sandboxID" names the pod sandbox.
std::optional<std::string> sandbox_of(const runtime::v1::ContainerStatusResponse &response)
{
	const std::string *info = find_entry(response.info(), "info");
	if (!info)
		return std::nullopt;
	const auto document = nlohmann::json::parse(*info, nullptr, false);
	if (document.is_discarded() || !document.is_object())
		return std::nullopt;
	const auto it = document.find("sandboxID");
	if (it == document.end() || !it->is_string())
		return std::nullopt;
	const auto &id = it->get_ref<const std::string &>();
	// An id goes into the next request: only what a runtime makes (hex, at most 128).
	if (id.empty() || id.size() > 128 ||
	    !std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
		return std::nullopt;
	return id;
}

template <typename Message> bool parse(std::string_view wire, Message &message)
{
	return wire.size() <= static_cast<std::size_t>(INT_MAX) &&
	       message.ParseFromArray(wire.data(), static_cast<int>(wire.size()));
}

} // namespace

namespace cri
{

std::optional<CriContainer> decode(const runtime::v1::ContainerStatusResponse &response)
{
	if (!response.has_status())
		return std::nullopt;
	const auto &status = response.status();
	CriContainer out;
	ContainerMetadata &m = out.metadata;
	if (status.has_metadata())
		m.name = text(status.metadata().name());
	// image.image: what the container runs, as the runtime names it now (its
	// first tag, or its id); user_specified_image: what the kubelet asked for.
	if (status.has_image()) {
		take_image(m, text(status.image().image()));
		take_image(m, text(status.image().user_specified_image()));
	}
	// image_ref: a repository digest ("name@sha256:...") or, without one, the image id.
	if (const auto ref = text(status.image_ref())) {
		if (auto reference = parse_image_reference(*ref); reference && reference->digest)
			add_digest(m, *reference->digest);
		else
			take_image(m, ref);
	}
	if (const auto id = text(status.image_id()); id && is_digest(*id))
		m.image_id = id;
	for (const auto &entry : status.labels()) {
		if (entry.key().empty())
			continue;
		const auto key = text(entry.key(), kMaxLabelKeyBytes);
		if (!key ||
		    std::any_of(m.labels.begin(), m.labels.end(), [&](const auto &l) { return l.first == *key; }))
			continue;
		if (m.labels.size() >= kMaxContainerLabels) {
			m.labels_truncated = true;
			break;
		}
		m.labels.emplace_back(*key, text(entry.value(), kMaxLabelValueBytes).value_or(""));
	}
	std::sort(m.labels.begin(), m.labels.end());
	// The kubelet labels (and annotates) every container with its pod.
	for (const auto *entries : {&status.annotations(), &status.labels()}) {
		if (auto name = entry_text(*entries, "io.kubernetes.pod.name"))
			m.pod_name = std::move(name);
		if (auto ns = entry_text(*entries, "io.kubernetes.pod.namespace"))
			m.pod_namespace = std::move(ns);
		if (auto uid = entry_text(*entries, "io.kubernetes.pod.uid"))
			m.pod_uid = std::move(uid);
	}
	out.sandbox_id = sandbox_of(response);
	if (m.pod_name || m.pod_namespace || m.pod_uid || out.sandbox_id)
		m.orchestrator = "kubernetes";
	return out;
}

bool decode(const runtime::v1::PodSandboxStatusResponse &response, ContainerMetadata &metadata)
{
	if (!response.has_status() || !response.status().has_metadata())
		return false;
	const auto &pod = response.status().metadata();
	auto name = text(pod.name(), kMaxLabelValueBytes);
	auto ns = text(pod.namespace_(), kMaxLabelValueBytes);
	auto uid = text(pod.uid(), kMaxLabelValueBytes);
	if (!name && !ns && !uid)
		return false;
	metadata.orchestrator = "kubernetes";
	if (name)
		metadata.pod_name = std::move(name);
	if (ns)
		metadata.pod_namespace = std::move(ns);
	if (uid)
		metadata.pod_uid = std::move(uid);
	return true;
}

std::optional<CriVersion> decode(const runtime::v1::VersionResponse &response)
{
	auto name = text(response.runtime_name(), 128);
	if (!name)
		return std::nullopt;
	return CriVersion{std::move(*name), text(response.runtime_version(), 128).value_or(""),
	                  text(response.runtime_api_version(), 128).value_or("")};
}

} // namespace cri

std::optional<CriContainer> decode_cri_container_status(std::string_view wire)
{
	runtime::v1::ContainerStatusResponse response;
	return parse(wire, response) ? cri::decode(response) : std::nullopt;
}

bool decode_cri_pod_sandbox_status(std::string_view wire, ContainerMetadata &metadata)
{
	runtime::v1::PodSandboxStatusResponse response;
	return parse(wire, response) && cri::decode(response, metadata);
}

std::optional<CriVersion> decode_cri_version(std::string_view wire)
{
	runtime::v1::VersionResponse response;
	return parse(wire, response) ? cri::decode(response) : std::nullopt;
}

} // namespace mxwatch
