// SPDX-License-Identifier: GPL-2.0-only
// A container's OCI runtime bundle (config.json) in its runtime's state
// directory: where containerd's CRI plugin or CRI-O does not answer, the
// container, image and pod names from the bundle's annotations.
//
// The state directory is the runtime's, but what is in config.json comes from
// the pod's owner: the container id must be hex before it becomes a path, no
// component below the configured root may be a symbolic link, and the file
// must be a regular file of at most kMaxOciConfigBytes.
#pragma once

#include "mxwatch/enrich/container_runtime.hpp"

#include <cstddef>
#include <string>

namespace mxwatch
{

inline constexpr std::size_t kMaxOciConfigBytes = 1 << 20;

enum class BundleLayout {
	Containerd, // ROOT/<namespace>/<id>/config.json (io.containerd.runtime.v2.task)
	Crio,       // ROOT/<id>/userdata/config.json (overlay-containers)
};

class OciBundles
{
public:
	OciBundles(BundleLayout layout, std::string root) : layout_(layout), root_(std::move(root)) {}
	const std::string &root() const { return root_; }
	// Whether the state directory is there now (a stat).
	bool present() const;
	// Found: what the annotations name. NotFound: no bundle for this id, or one
	// that names nothing (another runtime's). Failed: unreadable, a symbolic
	// link, not a regular file, too large, not JSON.
	RuntimeAnswer read(const std::string &container_id) const;

private:
	BundleLayout layout_;
	std::string root_;
};

} // namespace mxwatch
