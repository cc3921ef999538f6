// SPDX-License-Identifier: GPL-2.0-only
// Processes allowed to use RandomX: a Monero node verifying blocks computes
// RandomX hashes too, and so does a pool's or a developer's test rig. They are
// still judged (and shown by `check`), but never alerted on or acted against.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mxwatch {

struct AllowlistConfig {
	std::vector<std::string> executables; // exact paths, e.g. /usr/bin/monerod
	std::vector<std::string> sha256;      // hex digests of executables (case-insensitive)
	std::vector<std::string> containers;  // container ids, full or a prefix of at least 12 characters
	std::vector<std::string> users;       // user names or numeric uids
	// Container images, NAME or NAME:TAG, globs (fnmatch): "docker.io/monero/monerod:*",
	// "*/monerod". Without a tag any tag matches. Needs the runtime's answer.
	std::vector<std::string> images;
	std::vector<std::string> namespaces; // Kubernetes namespaces, globs
};

// What is known about a process when it is judged.
struct AllowlistSubject {
	std::optional<std::string> executable;
	std::optional<std::string> sha256;
	std::optional<std::string> container_id;
	std::optional<std::string> user_name;
	std::optional<std::uint32_t> uid;
	std::optional<std::string> image_name, image_tag;
	std::optional<std::string> pod_namespace;
};

class Allowlist {
public:
	Allowlist() = default;
	// Throws std::invalid_argument naming a malformed entry.
	explicit Allowlist(AllowlistConfig config);

	bool empty() const;
	bool has_digests() const { return !config_.sha256.empty(); }
	// Why the subject is allowed ("executable /usr/bin/monerod"), or nothing.
	std::optional<std::string> match(const AllowlistSubject &subject) const;

private:
	AllowlistConfig config_;
};

} // namespace mxwatch
