// SPDX-License-Identifier: GPL-2.0-only
#include "scratch_image.hpp"

#include "harness.hpp"

#include <cstdio>
#include <ctime>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace mxwatch::test
{

namespace fs = std::filesystem;

CommandOutput run_command(const std::vector<std::string> &argv, const fs::path &log, std::chrono::seconds timeout)
{
	const fs::path out = log.string() + ".out";
	Child child(argv, {.stdout_path = out.string(), .stderr_path = log.string()});
	CommandOutput o;
	o.status = child.wait(timeout).value_or(-1000);
	o.out = read_text(out);
	while (!o.out.empty() && (o.out.back() == '\n' || o.out.back() == ' '))
		o.out.pop_back();
	return o;
}

fs::path scratch_layer(const std::string &binary, const fs::path &dir)
{
	const std::string stem = fs::path(binary).filename();
	const fs::path rootfs = dir / ("rootfs-" + stem), log = dir / ("scratch-" + stem + ".err");
	fs::create_directories(rootfs);
	fs::copy_file(binary, rootfs / stem, fs::copy_options::overwrite_existing);
	const CommandOutput ldd = run_command({"/usr/bin/ldd", binary}, log);
	if (ldd.status != 0)
		throw std::runtime_error("ldd " + binary + ": " + read_text(log));
	std::istringstream lines(ldd.out);
	for (std::string line; std::getline(lines, line);) {
		std::smatch m;
		if (!std::regex_search(line, m, std::regex(R"((/[^ ]+) \(0x)")))
			continue;
		const fs::path library = m[1].str();
		fs::create_directories(rootfs / library.relative_path().parent_path());
		fs::copy_file(fs::canonical(library), rootfs / library.relative_path(), fs::copy_options::skip_existing);
	}
	const fs::path layer = dir / (stem + ".tar");
	const CommandOutput tar = run_command({"/bin/tar", "-C", rootfs.string(), "-cf", layer.string(), "."}, log);
	if (tar.status != 0)
		throw std::runtime_error("tar of " + rootfs.string() + ": " + read_text(log));
	return layer;
}

double unix_seconds_of(const std::string &rfc3339)
{
	std::tm tm{};
	int millis = 0;
	std::sscanf(rfc3339.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	            &tm.tm_min, &tm.tm_sec, &millis);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return static_cast<double>(timegm(&tm)) + millis / 1000.0;
}

double unix_now()
{
	return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace mxwatch::test
