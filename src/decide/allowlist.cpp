// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/decide/allowlist.hpp"

#include <algorithm>
#include <cctype>
#include <fnmatch.h>
#include <stdexcept>

namespace mxwatch {
namespace {

std::string lower(std::string s)
{
	std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
	return s;
}

bool all_hex(const std::string &s)
{
	return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

bool glob_match(const std::string &pattern, const std::string &text)
{
	return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

// "name:tag" splits at the last ':' after the last '/' (a registry may have a port).
std::pair<std::string, std::optional<std::string>> split_image(const std::string &pattern)
{
	const auto slash = pattern.rfind('/');
	const auto colon = pattern.rfind(':');
	if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
		return {pattern.substr(0, colon), pattern.substr(colon + 1)};
	return {pattern, std::nullopt};
}

bool image_matches(const std::string &pattern, const AllowlistSubject &subject)
{
	if (!subject.image_name)
		return false;
	const auto [name, tag] = split_image(pattern);
	if (!glob_match(name, *subject.image_name))
		return false;
	return !tag || glob_match(*tag, subject.image_tag.value_or(""));
}

} // namespace

Allowlist::Allowlist(AllowlistConfig config) : config_(std::move(config))
{
	for (const auto &path : config_.executables)
		if (path.empty() || path.front() != '/')
			throw std::invalid_argument("allowlisted executable '" + path + "' is not an absolute path");
	for (auto &digest : config_.sha256) {
		digest = lower(digest);
		if (digest.size() != 64 || !all_hex(digest))
			throw std::invalid_argument("allowlisted sha256 '" + digest + "' is not 64 hex digits");
	}
	for (auto &id : config_.containers) {
		id = lower(id);
		if (id.size() < 12 || !all_hex(id))
			throw std::invalid_argument("allowlisted container id '" + id +
						    "' must be at least 12 hex digits");
	}
	for (const auto &user : config_.users)
		if (user.empty())
			throw std::invalid_argument("allowlisted user is empty");
	for (const auto &image : config_.images)
		if (image.empty() || split_image(image).first.empty() || image.find('@') != std::string::npos)
			throw std::invalid_argument("allowlisted image '" + image + "' is not NAME or NAME:TAG");
	for (const auto &ns : config_.namespaces)
		if (ns.empty())
			throw std::invalid_argument("allowlisted namespace is empty");
}

bool Allowlist::empty() const
{
	return config_.executables.empty() && config_.sha256.empty() && config_.containers.empty() &&
	       config_.users.empty() && config_.images.empty() && config_.namespaces.empty();
}

std::optional<std::string> Allowlist::match(const AllowlistSubject &subject) const
{
	if (subject.executable)
		for (const auto &path : config_.executables)
			if (*subject.executable == path)
				return "executable " + path;
	if (subject.sha256)
		for (const auto &digest : config_.sha256)
			if (lower(*subject.sha256) == digest)
				return "sha256 " + digest;
	if (subject.container_id)
		for (const auto &id : config_.containers)
			if (lower(*subject.container_id).rfind(id, 0) == 0)
				return "container " + id;
	for (const auto &user : config_.users) {
		if (subject.user_name && *subject.user_name == user)
			return "user " + user;
		if (subject.uid && std::to_string(*subject.uid) == user)
			return "uid " + user;
	}
	for (const auto &image : config_.images)
		if (image_matches(image, subject))
			return "image " + image;
	if (subject.pod_namespace)
		for (const auto &ns : config_.namespaces)
			if (glob_match(ns, *subject.pod_namespace))
				return "namespace " + ns;
	return std::nullopt;
}

} // namespace mxwatch
