// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/decide/allowlist.hpp"

#include <algorithm>
#include <cctype>
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
}

bool Allowlist::empty() const
{
	return config_.executables.empty() && config_.sha256.empty() && config_.containers.empty() &&
	       config_.users.empty();
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
	return std::nullopt;
}

} // namespace mxwatch
