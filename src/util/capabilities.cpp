// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/capabilities.hpp"

namespace mxwatch {

CapState thread_capabilities()
{
	return CapState(cap_get_proc());
}

bool has_capability(cap_t state, cap_value_t cap, cap_flag_t flag)
{
	cap_flag_value_t value = CAP_CLEAR;
	return state && cap_get_flag(state, cap, flag, &value) == 0 && value == CAP_SET;
}

bool has_effective_capability(cap_value_t cap)
{
	const CapState current = thread_capabilities();
	return has_capability(current.get(), cap, CAP_EFFECTIVE);
}

std::string capabilities_text(cap_t state)
{
	char *text = state ? cap_to_text(state, nullptr) : nullptr;
	if (!text)
		return "?";
	std::string result(text);
	cap_free(text);
	return result;
}

std::string current_capabilities()
{
	const CapState current = thread_capabilities();
	return capabilities_text(current.get());
}

} // namespace mxwatch
