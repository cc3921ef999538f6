// SPDX-License-Identifier: GPL-2.0-only
// Detections and processes the alert tests share: an ordinary miner in a
// Kubernetes pod, and one whose every name is hostile.
#pragma once

#include "mxwatch/alerts/alert.hpp"
#include "mxwatch/alerts/alert_format.hpp"

#include <chrono>
#include <string>

namespace mxwatch::test {

inline const std::string kContainerId = "3f4ad5d2e5c1b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d";
inline const std::string kPodUid = "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97";
inline const std::string kSha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// Every kind of trouble a process can put in its names: quotes, backslashes,
// ']' (syslog SD), newlines, NUL, other control characters, DEL, C1 controls
// and invalid UTF-8, plus valid non-ASCII that must survive.
inline const std::string kHostile =
    std::string("m\"i]n\\e\nr\r\t\x01\x1b[2J\x7f\xc2\x85\xff\xfe\x80 \xc3\xa9") + std::string(1, '\0') + "end";

inline Detection sample_detection(std::string comm)
{
	Detection d;
	d.stage = AlertStage::First;
	d.key = {4242, 99};
	d.comm = std::move(comm);
	d.timestamp_ns = 12'000'000'000;
	d.first_seen_ns = 10'000'000'000;
	d.window_counts.by_mode = {10, 11, 12, 13};
	d.window_counts.transitions = 30;
	d.window_counts.records = 46;
	d.window_counts.ftz_daz = 46;
	d.threads = {4242, 4243};
	d.verdict.kind = VerdictKind::Miner;
	d.verdict.score = 0.87;
	d.verdict.rule = DecisionRule::ChurnMxcsrOnly;
	d.verdict.reason = "all 4 rounding modes";
	return d;
}

inline HostIdentity sample_host()
{
	return {"node-1", "abc", "85d222adf0b34e83bb3b0e81535295b3"};
}

inline ProcessInfo enriched_process()
{
	ProcessInfo info;
	info.pid = 4242;
	info.executable = "/usr/bin/xmrig";
	info.args = {"xmrig", "--threads", "2"};
	info.uid = 1000;
	info.user_name = "alice";
	info.parent_pid = 1;
	info.parent_executable = "/usr/bin/containerd-shim-runc-v2";
	info.start_time = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000 - 60));
	info.sha256 = kSha256;
	info.container = ContainerInfo{kContainerId, "containerd", kPodUid};
	return info;
}

inline ProcessInfo hostile_process()
{
	ProcessInfo info = enriched_process();
	info.executable = "/tmp/" + kHostile + " (deleted)";
	info.args = {kHostile, "--pool=" + kHostile, ""};
	info.user_name = kHostile;
	info.parent_executable = kHostile;
	return info;
}

inline Alert sample_alert(const Detection &detection, const ProcessInfo &process)
{
	const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
	return make_alert(detection, process, sample_host(), 60'000'000'000, when);
}

} // namespace mxwatch::test
