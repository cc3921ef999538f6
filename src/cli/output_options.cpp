// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/output_options.hpp"

#include "mxwatch/util/errors.hpp"
#include "mxwatch/alerts/syslog_message.hpp"

#include <fmt/format.h>

namespace mxwatch {
namespace {

std::vector<std::string> sinks_or_default(const OutputOptions &options)
{
	return options.sinks.empty() ? std::vector<std::string>{"stdout"} : options.sinks;
}

} // namespace

void add_output_options(CLI::App &app, OutputOptions &options)
{
	const std::string group = "Alerts (see docs/alerts.md)";
	app.add_option("--sink", options.sinks,
	               "Where alerts go, any number of: stdout, file:PATH, journald, syslog (/dev/log), "
	               "syslog:unix:PATH, syslog:udp:HOST:PORT, syslog:tcp:HOST:PORT, relp:HOST:PORT (RFC 5424 "
	               "over RELP, acknowledged), http:URL (POST, JSON or NDJSON), alertmanager:URL (Alertmanager "
	               "API v2) (default: stdout)")
	    ->group(group)
	    ->check(CLI::Validator(
	        [](std::string &value) {
		        // CLI11 names the option itself: "--sink: bogus: expected ...".
		        std::string error = parse_sink_spec(value).error;
		        return error.starts_with("--sink ") ? error.substr(7) : error;
	        },
	        "SINK", "sink"));
	app.add_option("--format", options.format,
	               "Alert document: ecs (Elastic Common Schema) or ocsf "
	               "(OCSF Detection Finding)")
	    ->group(group)
	    ->check(CLI::IsMember({"ecs", "ocsf"}))
	    ->capture_default_str();
	app.add_option("--syslog-facility", options.syslog_facility,
	               "Facility of syslog alerts (daemon, auth, local0..local7, ...)")
	    ->group(group)
	    ->check(CLI::Validator(
	        [](std::string &value) {
		        return syslog_facility_from_string(value) ? std::string{} : "unknown syslog facility " + value;
	        },
	        "FACILITY", "facility"))
	    ->capture_default_str();
	app.add_option("--yara-rules", options.yara_rules,
		       "YARA rules file naming miners in alerts, besides the shipped ones (repeatable; "
		       "checked at start)")
		->group(group)
		->check(CLI::ExistingFile);
	app.add_flag("--no-yara", options.no_yara, "Do not scan alerted executables with YARA")->group(group);
	app.add_option("--alert-queue-size", options.queue_size,
	               "Alerts each sink may have waiting; beyond that they are dropped and counted")
	    ->group(group)
	    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
	    ->capture_default_str();
	app.add_option("--http-format", options.http_format,
	               "http sinks: json (one alert document per POST) or ndjson (what is queued, up to 100 alerts, "
	               "per POST, one document a line)")
	    ->group(group)
	    ->check(CLI::IsMember({"json", "ndjson"}))
	    ->capture_default_str();
	app.add_option("--http-token-file", options.http_token_file,
	               "http and alertmanager sinks: send the token in this file as 'Authorization: Bearer'")
	    ->group(group);
	app.add_option("--http-basic-auth-file", options.http_basic_auth_file,
	               "http and alertmanager sinks: HTTP basic authentication, USER:PASSWORD on one line of this file")
	    ->group(group);
	app.add_option("--http-ca-file", options.http_ca_file,
	               "https URLs: trust the CA certificates (PEM) in this file instead of the system trust store")
	    ->group(group);
	app.add_option("--http-timeout", options.http_timeout_s,
	               "http and alertmanager sinks: seconds to connect, to send, and to wait for the answer")
	    ->group(group)
	    ->check(CLI::Range(0.1, 300.0))
	    ->capture_default_str();
	app.add_option("--alertmanager-resend", options.alertmanager_resend_s,
	               "alertmanager sinks: seconds between re-sending the active alerts; each sending keeps them "
	               "firing for 4 times this, or --ongoing-interval and this if longer")
	    ->group(group)
	    ->check(CLI::Range(1.0, 3600.0))
	    ->capture_default_str();
}

SinkOptions sink_options(const OutputOptions &options)
{
	SinkOptions sink;
	sink.syslog_facility = syslog_facility_from_string(options.syslog_facility).value_or(kSyslogFacilityDaemon);
	HttpSinkOptions &http = sink.http;
	http.body = options.http_format == "ndjson" ? HttpSinkOptions::Body::Ndjson : HttpSinkOptions::Body::Json;
	http.token_file = options.http_token_file;
	http.basic_auth_file = options.http_basic_auth_file;
	http.ca_file = options.http_ca_file;
	http.timeout = std::chrono::milliseconds(static_cast<long>(options.http_timeout_s * 1000));
	http.resend = std::chrono::milliseconds(static_cast<long>(options.alertmanager_resend_s * 1000));
	http.ongoing_interval = std::chrono::milliseconds(static_cast<long>(options.ongoing_interval_s * 1000));
	http.stale_after = std::chrono::milliseconds(static_cast<long>((2 * options.ongoing_interval_s + 60) * 1000));
	return sink;
}

namespace {

template <typename Output> void add_sinks(Output &output, const OutputOptions &options)
{
	const SinkOptions settings = sink_options(options);
	for (const auto &text : sinks_or_default(options)) {
		const auto parsed = parse_sink_spec(text);
		if (!parsed.spec)
			throw SetupError(parsed.error);
		output.add_sink(make_sink(*parsed.spec, settings));
	}
}

} // namespace

std::shared_ptr<MinerIdentifier> make_miner_identifier(const OutputOptions &options)
{
	if (options.no_yara)
		return nullptr;
	try {
		return MinerIdentifier::load(options.yara_rules);
	} catch (const std::runtime_error &e) {
		throw SetupError(fmt::format("--yara-rules: {}", e.what()));
	}
}

std::unique_ptr<QueuedOutput> make_output(const OutputOptions &options, HostIdentity host,
					  std::shared_ptr<ExecutableHasher> hasher)
{
	OutputSettings settings;
	settings.format = alert_format_from_string(options.format).value_or(AlertFormat::Ecs);
	settings.queue_capacity = options.queue_size;
	settings.hasher = std::move(hasher);
	settings.identifier = make_miner_identifier(options);
	auto output = std::make_unique<QueuedOutput>(std::move(host), settings);
	add_sinks(*output, options);
	return output;
}

void check_output(const OutputOptions &options)
{
	const SinkOptions settings = sink_options(options);
	for (const auto &text : sinks_or_default(options)) {
		const auto parsed = parse_sink_spec(text);
		if (!parsed.spec)
			throw SetupError(parsed.error);
		make_sink(*parsed.spec, settings);
	}
	make_miner_identifier(options); // rules that do not compile: before anything is attached
}

std::unique_ptr<JsonLinesOutput> make_batch_output(const OutputOptions &options, HostIdentity host,
						   std::shared_ptr<ExecutableHasher> hasher)
{
	auto output = std::make_unique<JsonLinesOutput>(
		std::move(host), alert_format_from_string(options.format).value_or(AlertFormat::Ecs), std::move(hasher));
	add_sinks(*output, options);
	return output;
}

std::string describe_output(const OutputOptions &options)
{
	return fmt::format("{} ({})", fmt::join(sinks_or_default(options), ", "), options.format);
}

} // namespace mxwatch
