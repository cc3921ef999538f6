// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/service/config_file.hpp"

#include <regex>
#include <sstream>

namespace mxwatch {

std::string ConfigFileFormat::to_config(const CLI::App *app, bool default_also, bool write_description,
					std::string prefix) const
{
	std::string text = CLI::ConfigTOML::to_config(app, default_also, write_description, prefix);
	for (const CLI::Option *option : app->get_options()) {
		if (option->get_expected_max() <= 1 || !option->get_configurable() || option->count() > 0)
			continue;
		const std::string line = "\n" + prefix + option->get_single_name() + "=\"\"\n";
		if (auto at = text.find(line); at != std::string::npos)
			text.replace(at, line.size(), "\n" + prefix + option->get_single_name() + "=[]\n");
	}
	return text;
}

std::vector<CLI::ConfigItem> ConfigFileFormat::from_config(std::istream &input) const
{
	// `key = []` sets a list to nothing, which is what leaving it out does.
	static const std::regex empty_list(R"(^\s*[A-Za-z0-9_.-]+\s*=\s*\[\s*\]\s*(#.*)?$)");
	std::ostringstream kept;
	for (std::string line; std::getline(input, line);)
		kept << (std::regex_match(line, empty_list) ? "" : line) << '\n';
	std::istringstream filtered(kept.str());
	return CLI::ConfigTOML::from_config(filtered);
}

} // namespace mxwatch
