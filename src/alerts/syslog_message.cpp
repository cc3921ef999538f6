// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/syslog_message.hpp"

#include "mxwatch/util/utf8.hpp"

#include <array>
#include <fmt/format.h>

namespace mxwatch {
namespace {

// HOSTNAME is PRINTUSASCII (33-126), 1 to 255 characters, or "-".
std::string header_hostname(std::string_view name)
{
	std::string out;
	for (char c : name.substr(0, 255))
		out += (c >= 33 && c <= 126) ? c : '_';
	return out.empty() ? "-" : out;
}

constexpr std::array<std::string_view, 24> kFacilities = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

} // namespace

std::optional<int> syslog_facility_from_string(std::string_view name)
{
	for (std::size_t i = 0; i < kFacilities.size(); i++)
		if (kFacilities[i] == name)
			return static_cast<int>(i);
	return std::nullopt;
}

std::string escape_sd_value(std::string_view value, std::size_t max_bytes)
{
	// The RFC allows control characters in PARAM-VALUE, but receivers rewrite or
	// choke on them; the document in MSG keeps the exact value, JSON-escaped.
	const std::string clean = printable_utf8(value);
	std::string out;
	for (char c : truncate_utf8(clean, max_bytes)) {
		if (c == '"' || c == '\\' || c == ']')
			out += '\\';
		out += c;
	}
	return out;
}

std::string rfc5424_message(const RenderedAlert &alert, int facility, std::uint32_t procid, std::size_t max_bytes)
{
	const int pri = facility * 8 + syslog_severity(alert.severity);
	std::string message = fmt::format("<{}>1 {} {} mxwatch {} {} ", pri, rfc3339(alert.time),
	                                  header_hostname(alert.host_name), procid, alert_action(alert.stage));
	if (alert.fields.empty()) {
		message += '-';
	} else {
		message += '[';
		message += kSyslogSdId;
		for (const auto &[name, value] : alert.fields)
			message += fmt::format(" {}=\"{}\"", name, escape_sd_value(value));
		message += ']';
	}
	const std::size_t room = max_bytes > message.size() + 1 ? max_bytes - message.size() - 1 : 0;
	const std::string_view body =
	    alert.document.size() <= room ? std::string_view(alert.document) : truncate_utf8(alert.message, room);
	if (!body.empty()) {
		message += ' ';
		message += body;
	}
	return message;
}

} // namespace mxwatch
