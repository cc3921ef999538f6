// SPDX-License-Identifier: GPL-2.0-only
// The command-line (and config-file) options that say where alerts go and in
// which format, and the AlertOutput built from them.
#pragma once

#include "mxwatch/sinks/alert_output.hpp"

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

namespace mxwatch {

struct OutputOptions {
	std::vector<std::string> sinks; // --sink, any number; none means stdout
	std::string format = "ecs";
	std::string syslog_facility = "daemon";
	std::size_t queue_size = 1024;
	std::vector<std::string> yara_rules; // --yara-rules, beside the shipped rules
	bool no_yara = false;                // --no-yara: executables are not scanned
	// The http: and alertmanager: sinks.
	std::string http_format = "json"; // or "ndjson"
	std::string http_token_file;
	std::string http_basic_auth_file;
	std::string http_ca_file;
	double http_timeout_s = 5;
	double alertmanager_resend_s = 60;
	// Not an option of its own: the detector's --ongoing-interval, copied after parsing.
	double ongoing_interval_s = 300;
};

// The sinks' settings from the options (after parsing: values are valid).
SinkOptions sink_options(const OutputOptions &options);

// Registers --sink, --format, --syslog-facility, --alert-queue-size and the
// --http-* and --alertmanager-* options on `app`
// (so a config file can set them too). Values are checked at parse time.
void add_output_options(CLI::App &app, OutputOptions &options);

// The shipped YARA rules plus --yara-rules, or null with --no-yara. Throws
// SetupError ("--yara-rules: FILE:LINE: message") when a file does not compile.
std::shared_ptr<MinerIdentifier> make_miner_identifier(const OutputOptions &options);

// The queued output with one sink per --sink. Throws SetupError naming the sink
// that cannot work (a file that cannot be opened).
// `hasher` is the enrich stage's executable-hash cache (ProcessDirectory::hasher()).
std::unique_ptr<QueuedOutput> make_output(const OutputOptions &options, HostIdentity host,
					  std::shared_ptr<ExecutableHasher> hasher);
// Makes every sink once and discards it, so that what cannot work (an unreadable
// token file, a file that cannot be opened) is a SetupError before anything is attached.
void check_output(const OutputOptions &options);
// The same sinks written in the caller's thread, every alert, nothing dropped:
// for batch commands (`replay`).
std::unique_ptr<JsonLinesOutput> make_batch_output(const OutputOptions &options, HostIdentity host,
						   std::shared_ptr<ExecutableHasher> hasher = nullptr);

// "stdout, syslog:udp:127.0.0.1:514 (ecs)": for the start-up log line.
std::string describe_output(const OutputOptions &options);

} // namespace mxwatch
