// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/cgroup_path.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace mxwatch {
namespace {

constexpr std::size_t kContainerIdLength = 64;

bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool is_container_id(std::string_view s)
{
	return s.size() == kContainerIdLength && std::all_of(s.begin(), s.end(), is_lower_hex);
}

// A pod UID is a UUID (8-4-4-4-12, with '-' or, in systemd slice names, '_'),
// or for static pods the 32 hex digits of the manifest hash.
bool is_pod_uid(std::string_view s)
{
	if (s.size() == 32)
		return std::all_of(s.begin(), s.end(), is_lower_hex);
	if (s.size() != 36)
		return false;
	for (std::size_t i = 0; i < s.size(); i++) {
		const bool separator = i == 8 || i == 13 || i == 18 || i == 23;
		if (separator ? (s[i] != '-' && s[i] != '_') : !is_lower_hex(s[i]))
			return false;
	}
	return true;
}

// systemd escapes '-' in unit names, so the kubelet writes the UID with '_'.
std::string pod_uid_with_dashes(std::string_view s)
{
	std::string uid(s);
	std::replace(uid.begin(), uid.end(), '_', '-');
	return uid;
}

std::string_view strip_suffix(std::string_view s, std::string_view suffix)
{
	if (s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix)
		s.remove_suffix(suffix.size());
	return s;
}

// "<prefix>-<id>[.scope]": the prefix names the runtime. conmon's own cgroups
// ("crio-conmon-<id>", "libpod-conmon-<id>") hold the monitor, not the container,
// and are deliberately absent.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kScopePrefixes{{
    {"docker", "docker"},
    {"cri-containerd", "containerd"},
    {"crio", "cri-o"},
    {"libpod", "podman"},
    {"nerdctl", "containerd"},
}};

// A bare id names its runtime only through its parent directory (cgroupfs driver).
std::optional<std::string> runtime_of_parent(std::string_view parent)
{
	if (parent == "docker" || parent == "moby")
		return "docker";
	if (parent == "libpod_parent")
		return "podman";
	return std::nullopt; // e.g. kubepods/<qos>/pod<uid>/<id>: containerd and docker look alike
}

struct SegmentMatch {
	std::optional<std::string> pod_uid;
	std::optional<std::string> id;
	std::optional<std::string> runtime;
};

SegmentMatch match_segment(std::string_view segment, std::string_view parent)
{
	SegmentMatch match;
	if (segment.starts_with("pod") && is_pod_uid(segment.substr(3))) {
		match.pod_uid = pod_uid_with_dashes(segment.substr(3)); // cgroupfs: pod<uid>
		return match;
	}
	if (segment.ends_with(".slice")) { // systemd: kubepods-<qos>-pod<uid>.slice
		const std::string_view stem = strip_suffix(segment, ".slice");
		const auto pos = stem.rfind("-pod");
		if (pos != std::string_view::npos && is_pod_uid(stem.substr(pos + 4)))
			match.pod_uid = pod_uid_with_dashes(stem.substr(pos + 4));
		return match;
	}
	if (is_container_id(segment)) {
		match.id = std::string(segment);
		match.runtime = runtime_of_parent(parent);
		return match;
	}
	const std::string_view stem = strip_suffix(segment, ".scope");
	const auto dash = stem.rfind('-');
	if (dash == std::string_view::npos || !is_container_id(stem.substr(dash + 1)))
		return match;
	const std::string_view prefix = stem.substr(0, dash);
	for (const auto &[name, runtime] : kScopePrefixes)
		if (prefix == name) {
			match.id = std::string(stem.substr(dash + 1));
			match.runtime = std::string(runtime);
		}
	return match;
}

int specificity(const ContainerInfo &info)
{
	return (info.id ? 2 : 0) + (info.pod_uid ? 1 : 0);
}

} // namespace

std::optional<ContainerInfo> parse_cgroup_path(std::string_view path)
{
	ContainerInfo info;
	std::string_view parent;
	while (!path.empty()) {
		const auto slash = path.find('/');
		const std::string_view segment = path.substr(0, slash);
		path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
		if (segment.empty())
			continue;
		// The deepest match wins: a container nested in another (kind, docker in a
		// pod) is the one the process runs in.
		SegmentMatch match = match_segment(segment, parent);
		if (match.pod_uid)
			info.pod_uid = std::move(match.pod_uid);
		if (match.id) {
			info.id = std::move(match.id);
			info.runtime = std::move(match.runtime);
		}
		parent = segment;
	}
	if (!info.id && !info.pod_uid)
		return std::nullopt;
	return info;
}

std::optional<ContainerInfo> parse_proc_cgroup(std::string_view content)
{
	std::optional<ContainerInfo> best;
	std::size_t best_depth = 0;
	while (!content.empty()) {
		const auto newline = content.find('\n');
		std::string_view line = content.substr(0, newline);
		content = newline == std::string_view::npos ? std::string_view{} : content.substr(newline + 1);
		// "ID:CONTROLLERS:PATH"; the path itself may contain ':'.
		const auto first = line.find(':');
		const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
		if (second == std::string_view::npos)
			continue;
		const std::string_view path = line.substr(second + 1);
		auto found = parse_cgroup_path(path);
		if (!found)
			continue;
		const std::size_t depth = static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
		if (!best || specificity(*found) > specificity(*best) ||
		    (specificity(*found) == specificity(*best) && depth > best_depth)) {
			best = std::move(found);
			best_depth = depth;
		}
	}
	return best;
}

} // namespace mxwatch
