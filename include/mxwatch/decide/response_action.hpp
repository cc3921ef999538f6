// SPDX-License-Identifier: GPL-2.0-only
// The optional response to a miner (`--action stop|kill`): a signal to the
// process's whole thread group, sent once, when the process is first judged a
// miner. Never to an allowlisted process, never to a process that merely reuses
// the miner's PID: the signal goes through a pidfd opened before the start time
// is checked, so the process checked is the process signalled.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

enum class ResponseAction { None, Stop, Kill };
std::optional<ResponseAction> response_action_from_string(std::string_view name); // "none", "stop", "kill"
std::string_view to_string(ResponseAction action);
int signal_of(ResponseAction action); // SIGSTOP, SIGKILL, 0 for None

// Sending a signal to another user's process needs CAP_KILL (root has it): keep
// it when privileges are dropped if this is true.
bool needs_kill_capability(ResponseAction action);

enum class ResponseResult { Applied, Failed, Skipped };
std::string_view to_string(ResponseResult result); // "applied", "failed", "skipped"

// What happened, recorded in the alert.
struct ResponseOutcome {
	ResponseAction action = ResponseAction::None;
	ResponseResult result = ResponseResult::Skipped;
	std::string reason; // why it failed or was skipped; empty when applied

	// "applied", "failed: <reason>", "skipped: <reason>".
	std::string describe() const;
	bool operator==(const ResponseOutcome &) const = default;
};

// The process an alert is about, as the pipeline knows it.
struct ResponseTarget {
	std::uint32_t pid = 0;                   // thread group id
	std::uint64_t kernel_start_ns = 0;       // the detector's key: the kernel's start_time (CLOCK_MONOTONIC)
	std::optional<std::uint64_t> start_ticks; // /proc/PID/stat starttime read when its first sample arrived
	std::optional<std::string> allowed;       // why the allowlist lets it be, or nothing
};

// Applies `action` to the target: skipped for allowlisted processes (checked
// here, whatever the caller did), failed with a reason when the process is gone,
// its PID now belongs to another process, or the signal was refused. Nothing for
// ResponseAction::None. Never throws.
std::optional<ResponseOutcome> apply_response(ResponseAction action, const ResponseTarget &target);

// Whether /proc's start time (clock ticks of CLOCK_BOOTTIME) can belong to a
// process the kernel says started at kernel_start_ns (CLOCK_MONOTONIC): the
// two clocks differ by the time the host was suspended, at most
// `boottime_minus_monotonic_ns` (now), at least 0. Exposed for tests.
bool start_ticks_fit(std::uint64_t start_ticks, std::uint64_t kernel_start_ns, std::uint64_t boottime_minus_monotonic_ns,
                     long ticks_per_s);

} // namespace mxwatch
