// SPDX-License-Identifier: GPL-2.0-only
// The configuration file (/etc/mxwatch/mxwatch.toml): CLI11's TOML reader and
// writer, with empty lists written and read as `[]` (CLI11 2.1 writes an empty
// list as "" and rejects `[]` for an option that takes values).
#pragma once

#include <CLI/CLI.hpp>

namespace mxwatch {

class ConfigFileFormat : public CLI::ConfigTOML {
public:
	std::string to_config(const CLI::App *app, bool default_also, bool write_description,
			      std::string prefix) const override;
	std::vector<CLI::ConfigItem> from_config(std::istream &input) const override;
};

} // namespace mxwatch
