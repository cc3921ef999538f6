// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/service/logging.hpp"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <string>

namespace mxwatch {
namespace {

int libbpf_to_spdlog(enum libbpf_print_level level, const char *format, va_list args)
{
	char buffer[1024];
	int n = std::vsnprintf(buffer, sizeof(buffer), format, args);
	if (n < 0)
		return n;
	std::string message(buffer);
	while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
		message.pop_back();
	switch (level) {
	case LIBBPF_WARN:
		spdlog::debug("libbpf: {}", message); // attach fallbacks warn on purpose: shown with -v
		break;
	case LIBBPF_INFO:
		spdlog::debug("libbpf: {}", message);
		break;
	case LIBBPF_DEBUG:
		spdlog::trace("libbpf: {}", message);
		break;
	}
	return n;
}

} // namespace

void setup_logging(int verbosity)
{
	auto logger = spdlog::get("mxwatch");
	if (!logger)
		logger = spdlog::stderr_color_mt("mxwatch");
	logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
	spdlog::set_default_logger(logger);
	spdlog::set_level(verbosity >= 2 ? spdlog::level::trace
			  : verbosity == 1 ? spdlog::level::debug
					   : spdlog::level::info);
	libbpf_set_print(libbpf_to_spdlog);
}

} // namespace mxwatch
