// SPDX-License-Identifier: GPL-2.0-only
// Command-line options of the detector and the allowlist (docs/detection.md).
#include "mxwatch/cli/cli.hpp"

namespace mxwatch {

void add_detection_options(CLI::App &app, DetectionOptions &options)
{
	const char *group = "Detection";
	app.add_option("--false-alarm", options.false_alarm,
		       "Sensitivity: the probability that a benign thread's evidence crosses a test's threshold")
		->check(CLI::Range(1e-15, 0.1))
		->capture_default_str()
		->group(group);
	app.add_option("--window", options.window_s, "Seconds of evidence the detector keeps")
		->check(CLI::Range(5.0, 3600.0))
		->capture_default_str()
		->group(group);
	app.add_option("--ongoing-interval", options.ongoing_interval_s,
		       "Seconds between `ongoing` updates for a process still mining")
		->check(CLI::Range(1.0, 86400.0))
		->capture_default_str()
		->group(group);
	app.add_option("--sustained-churn", options.sustained_churn_s,
		       "Seconds of rounding churn set like fesetround(), without RandomX-sized memory, before a "
		       "lower-severity alert")
		->check(CLI::Range(10.0, 86400.0))
		->capture_default_str()
		->group(group);
	app.add_option("--allow-exe", options.allowlist.executables,
		       "Never alert on this executable (absolute path; repeatable), e.g. /usr/bin/monerod")
		->group(group);
	app.add_option("--allow-sha256", options.allowlist.sha256, "Never alert on an executable with this digest")
		->group(group);
	app.add_option("--allow-container", options.allowlist.containers,
		       "Never alert inside this container (id or 12+ digit prefix)")
		->group(group);
	app.add_option("--allow-image", options.allowlist.images,
		       "Never alert inside a container of this image: NAME or NAME:TAG, globs allowed "
		       "(e.g. '*/monerod:*'; needs the runtime's answer, see --container-lookups)")
		->type_name("NAME[:TAG]")
		->group(group);
	app.add_option("--allow-namespace", options.allowlist.namespaces,
		       "Never alert inside a pod of this Kubernetes namespace (glob)")
		->group(group);
	app.add_option("--allow-user", options.allowlist.users, "Never alert on processes of this user (name or uid)")
		->group(group);
	app.add_option("--action", options.action,
		       "Response to a new miner (run, check): none, stop (SIGSTOP) or kill (SIGKILL) its process; "
		       "never to allowlisted processes")
		->check(CLI::IsMember({"none", "stop", "kill"}))
		->capture_default_str()
		->group(group);
}

void DetectionOptions::apply(PipelineOptions &options) const
{
	options.detector.false_alarm = false_alarm;
	options.detector.window_ns = static_cast<std::uint64_t>(window_s * 1e9);
	options.detector.ongoing_interval_ns = static_cast<std::uint64_t>(ongoing_interval_s * 1e9);
	options.detector.sustained_churn_ns = static_cast<std::uint64_t>(sustained_churn_s * 1e9);
	options.allowlist = allowlist;
	options.action = response_action_from_string(action).value_or(ResponseAction::None);
}

} // namespace mxwatch
