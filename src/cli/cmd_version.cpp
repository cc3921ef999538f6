// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/version.hpp"

#include <bpf/libbpf.h>
#include <cstdio>

namespace mxwatch {

void add_version_command(CLI::App &app, CommandAction &action)
{
	CLI::App *cmd = app.add_subcommand("version", "Print version, build and libbpf version");
	cmd->callback([&action] {
		action = [] {
			std::printf("mxwatch %s (%s, built %s)\nlibbpf %s\n", kVersion, kGitRevision, kBuildType,
				    libbpf_version_string());
			return int{kExitClean};
		};
	});
}

} // namespace mxwatch
