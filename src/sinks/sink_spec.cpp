// SPDX-License-Identifier: GPL-2.0-only
// --sink values: which sink, and where.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/sinks/http_post.hpp"

#include <charconv>
#include <fmt/format.h>

namespace mxwatch {
namespace {

constexpr std::string_view kDefaultSyslogSocket = "/dev/log";
constexpr std::string_view kDefaultSyslogPort = "514";

bool valid_port(std::string_view port)
{
	unsigned value = 0;
	const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
	return ec == std::errc{} && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

SinkSpecResult error(std::string_view text, std::string_view why)
{
	return {std::nullopt, fmt::format("--sink {}: {}", text, why)};
}

// "HOST:PORT", "HOST" (the default port), "[V6]:PORT" or "[V6]"; an empty
// default: the port is required.
SinkSpecResult parse_host_port(std::string_view text, std::string_view rest, SinkSpec spec,
                               std::string_view default_port = kDefaultSyslogPort)
{
	std::string_view host = rest, port = default_port;
	if (rest.starts_with('[')) {
		const auto close = rest.find(']');
		if (close == std::string_view::npos)
			return error(text, "missing ']' after the IPv6 address");
		host = rest.substr(1, close - 1);
		const std::string_view after = rest.substr(close + 1);
		if (!after.empty()) {
			if (!after.starts_with(':'))
				return error(text, "expected ':PORT' after ']'");
			port = after.substr(1);
		}
	} else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
		if (rest.find(':') != colon)
			return error(text, fmt::format("write IPv6 addresses in brackets, e.g. [::1]:{}",
			                               default_port.empty() ? "2514" : default_port));
		host = rest.substr(0, colon);
		port = rest.substr(colon + 1);
	}
	if (host.empty())
		return error(text, "no host");
	if (port.empty() && default_port.empty())
		return error(text, "no port (expected HOST:PORT, e.g. loghost:2514 or [::1]:2514)");
	if (!valid_port(port))
		return error(text, "the port must be a number from 1 to 65535");
	spec.host = std::string(host);
	spec.port = std::string(port);
	return {spec, {}};
}

} // namespace

SinkSpecResult parse_sink_spec(std::string_view text)
{
	SinkSpec spec;
	if (text == "stdout") {
		spec.kind = SinkSpec::Kind::Stdout;
		return {spec, {}};
	}
	if (text == "journald") {
		spec.kind = SinkSpec::Kind::Journald;
		return {spec, {}};
	}
	if (text.starts_with("file:")) {
		spec.kind = SinkSpec::Kind::File;
		spec.path = std::string(text.substr(5));
		if (spec.path.empty())
			return error(text, "no file name after 'file:'");
		return {spec, {}};
	}
	if (text == "syslog" || text.starts_with("syslog:")) {
		spec.kind = SinkSpec::Kind::Syslog;
		const std::string_view rest = text == "syslog" ? "unix:" : text.substr(7);
		if (rest.starts_with("unix:")) {
			spec.transport = SyslogTransport::Unix;
			spec.path = std::string(rest.size() > 5 ? rest.substr(5) : kDefaultSyslogSocket);
			return {spec, {}};
		}
		if (rest.starts_with("udp:") || rest.starts_with("tcp:")) {
			spec.transport = rest.starts_with("udp:") ? SyslogTransport::Udp : SyslogTransport::Tcp;
			return parse_host_port(text, rest.substr(4), spec);
		}
		return error(text, "expected syslog, syslog:unix:PATH, syslog:udp:HOST:PORT or syslog:tcp:HOST:PORT");
	}
	if (text.starts_with("relp:")) {
		spec.kind = SinkSpec::Kind::Relp;
		return parse_host_port(text, text.substr(5), spec, "");
	}
	for (const auto &[prefix, kind] :
	     {std::pair{std::string_view("http:"), SinkSpec::Kind::Http},
	      std::pair{std::string_view("alertmanager:"), SinkSpec::Kind::Alertmanager}}) {
		if (!text.starts_with(prefix))
			continue;
		spec.kind = kind;
		spec.url = std::string(text.substr(prefix.size()));
		if (spec.url.empty())
			return error(text, fmt::format("no URL after '{}'", prefix));
		std::string why;
		if (!parse_http_url(spec.url, why))
			return error(text, why);
		return {spec, {}};
	}
	return error(text, "expected stdout, file:PATH, syslog[:unix:PATH|:udp:HOST:PORT|:tcp:HOST:PORT], "
	                   "relp:HOST:PORT, journald, http:URL or alertmanager:URL");
}

std::unique_ptr<AlertSink> make_sink(const SinkSpec &spec, const SinkOptions &options)
{
	switch (spec.kind) {
	case SinkSpec::Kind::Stdout:
		return make_stdout_sink();
	case SinkSpec::Kind::File:
		return make_file_sink(spec.path);
	case SinkSpec::Kind::Syslog:
		return make_syslog_sink(spec, options.syslog_facility);
	case SinkSpec::Kind::Relp:
		return make_relp_sink(spec, options.syslog_facility);
	case SinkSpec::Kind::Journald:
		return make_journald_sink();
	case SinkSpec::Kind::Http:
		return make_http_sink(spec.url, options.http);
	case SinkSpec::Kind::Alertmanager:
		return make_alertmanager_sink(spec.url, options.http);
	}
	return make_stdout_sink();
}

std::unique_ptr<AlertSink> make_sink(const SinkSpec &spec, int syslog_facility)
{
	SinkOptions options;
	options.syslog_facility = syslog_facility;
	return make_sink(spec, options);
}

} // namespace mxwatch
