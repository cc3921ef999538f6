// SPDX-License-Identifier: GPL-2.0-only
// The cgroup-path parser on arbitrary /proc/PID/cgroup contents: any process
// names its cgroups (in a container it may create them), so the input is hostile.
#include "mxwatch/enrich/cgroup_path.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace {

bool lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// What every answer must look like, whatever the input.
void check(const std::optional<mxwatch::ContainerInfo> &info)
{
	if (!info)
		return;
	if (!info->id && !info->pod_uid)
		std::abort();
	if (info->id && (info->id->size() != 64 || !std::all_of(info->id->begin(), info->id->end(), lower_hex)))
		std::abort();
	if (info->pod_uid) {
		const std::string &uid = *info->pod_uid;
		if ((uid.size() != 32 && uid.size() != 36) || uid.find('_') != std::string::npos)
			std::abort();
	}
	if (info->runtime && !info->id)
		std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string text(reinterpret_cast<const char *>(data), size); // exact size: ASan sees overreads
	check(mxwatch::parse_cgroup_path(text));
	check(mxwatch::parse_proc_cgroup(text));
	return 0;
}
