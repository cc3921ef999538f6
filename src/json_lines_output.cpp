// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alert_output.hpp"

#include <spdlog/spdlog.h>

namespace mxwatch {

JsonLinesOutput::JsonLinesOutput(HostIdentity host) : host_(std::move(host)) {}

void JsonLinesOutput::publish(const AlertEvent &event)
{
	const std::string line =
		to_json_line(make_ecs_alert(event.detection, event.process, host_, event.window_ns, event.when));
	for (auto &sink : sinks_)
		if (!sink->write(line))
			spdlog::warn("sink {} dropped an alert", sink->name());
}

void JsonLinesOutput::reopen()
{
	for (auto &sink : sinks_)
		sink->reopen();
}

} // namespace mxwatch
