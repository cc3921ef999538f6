// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/decide/response_action.hpp"

#include "mxwatch/enrich/process_liveness.hpp"
#include "mxwatch/util/clock.hpp"
#include "mxwatch/util/fd.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mxwatch {
namespace {

// glibc wraps these only from 2.36 on (<sys/pidfd.h>); the raw system calls
// work with any libc on Linux 5.3 or newer.
int pidfd_open(pid_t pid)
{
	return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int pidfd_send_signal(int pidfd, int signo)
{
	return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}

ResponseOutcome failed(ResponseAction action, std::string reason)
{
	return {action, ResponseResult::Failed, std::move(reason)};
}

std::string errno_reason(const char *call, int error)
{
	if (error == ESRCH)
		return "the process had already exited";
	if (error == EPERM)
		return fmt::format("{}: not permitted (signalling another user's process needs CAP_KILL)", call);
	return fmt::format("{}: {}", call, std::strerror(error));
}

} // namespace

std::optional<ResponseAction> response_action_from_string(std::string_view name)
{
	if (name == "none")
		return ResponseAction::None;
	if (name == "stop")
		return ResponseAction::Stop;
	if (name == "kill")
		return ResponseAction::Kill;
	return std::nullopt;
}

std::string_view to_string(ResponseAction action)
{
	switch (action) {
	case ResponseAction::None:
		return "none";
	case ResponseAction::Stop:
		return "stop";
	case ResponseAction::Kill:
		return "kill";
	}
	return "none";
}

int signal_of(ResponseAction action)
{
	switch (action) {
	case ResponseAction::None:
		return 0;
	case ResponseAction::Stop:
		return SIGSTOP;
	case ResponseAction::Kill:
		return SIGKILL;
	}
	return 0;
}

bool needs_kill_capability(ResponseAction action)
{
	return action != ResponseAction::None;
}

std::string_view to_string(ResponseResult result)
{
	switch (result) {
	case ResponseResult::Applied:
		return "applied";
	case ResponseResult::Failed:
		return "failed";
	case ResponseResult::Skipped:
		return "skipped";
	}
	return "failed";
}

std::string ResponseOutcome::describe() const
{
	if (reason.empty())
		return std::string(to_string(result));
	return fmt::format("{}: {}", to_string(result), reason);
}

bool start_ticks_fit(std::uint64_t start_ticks, std::uint64_t kernel_start_ns, std::uint64_t boottime_minus_monotonic_ns,
                     long ticks_per_s)
{
	if (ticks_per_s <= 0)
		return false;
	const std::uint64_t tick_ns = 1'000'000'000ull / static_cast<std::uint64_t>(ticks_per_s);
	const std::uint64_t boottime_ns = start_ticks * tick_ns; // rounded down to a tick
	const std::uint64_t slack_ns = tick_ns + 50'000'000;      // and the offset was read a moment ago
	return boottime_ns + slack_ns >= kernel_start_ns &&
	       boottime_ns <= kernel_start_ns + boottime_minus_monotonic_ns + slack_ns;
}

std::optional<ResponseOutcome> apply_response(ResponseAction action, const ResponseTarget &target)
{
	if (action == ResponseAction::None)
		return std::nullopt;
	if (target.allowed)
		return ResponseOutcome{action, ResponseResult::Skipped, "allowlisted (" + *target.allowed + ")"};
	const auto pid = static_cast<pid_t>(target.pid);
	if (pid <= 1 || pid == getpid())
		return failed(action, fmt::format("refusing to signal pid {}", target.pid));
	if (!target.start_ticks)
		return failed(action, "the process's start time is unknown, so PID reuse cannot be ruled out");

	// Open first, check second: if the start time still matches once the pidfd
	// is held, the pidfd refers to the process the detector judged, and a signal
	// through it cannot reach a later process that reuses the PID.
	const UniqueFd pidfd(pidfd_open(pid));
	if (!pidfd)
		return failed(action, errno_reason("pidfd_open", errno));
	const auto now_ticks = read_start_ticks(target.pid);
	if (!now_ticks)
		return failed(action, "the process had already exited");
	if (*now_ticks != *target.start_ticks)
		return failed(action, "the PID now belongs to another process (start time differs)");
	if (target.kernel_start_ns != 0 &&
	    !start_ticks_fit(*now_ticks, target.kernel_start_ns,
	                     boottime_ns() - monotonic_ns(), sysconf(_SC_CLK_TCK)))
		return failed(action, "the process's start time does not match the detector's (PID reused?)");
	if (pidfd_send_signal(pidfd.get(), signal_of(action)) != 0)
		return failed(action, errno_reason("pidfd_send_signal", errno));
	return ResponseOutcome{action, ResponseResult::Applied, {}};
}

} // namespace mxwatch
