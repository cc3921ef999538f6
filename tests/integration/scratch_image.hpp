// SPDX-License-Identifier: GPL-2.0-only
// Container images built on this machine with no registry: a binary and the
// shared libraries ldd names, from scratch, as one tar layer that Podman,
// containerd (through `podman save`) and Docker import. And the commands that do it.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mxwatch::test
{

struct CommandOutput {
	int status = -1;  // exit status, -signal, or -1000 when it did not end in time
	std::string out;  // stdout, trailing blanks and newlines removed
};
// Runs `argv` to completion (stderr to `log`, stdout to `log`.out).
CommandOutput run_command(const std::vector<std::string> &argv, const std::filesystem::path &log,
                          std::chrono::seconds timeout = std::chrono::seconds(120));

// `binary` at /<its file name> and its shared libraries in DIR/rootfs-<name>,
// packed as DIR/<name>.tar. Throws std::runtime_error saying which step failed.
std::filesystem::path scratch_layer(const std::string &binary, const std::filesystem::path &dir);

// "2026-12-02T14:03:05.123Z" as seconds since the epoch.
double unix_seconds_of(const std::string &rfc3339);
double unix_now();

} // namespace mxwatch::test
