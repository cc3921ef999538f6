// SPDX-License-Identifier: GPL-2.0-only
// The decide stage: whether an alert event about a process goes out (the
// allowlist) and what is done to the process (--action), once per process on
// its first alert.
#pragma once

#include "mxwatch/decide/allowlist.hpp"
#include "mxwatch/decide/response_action.hpp"
#include "mxwatch/enrich/process_info.hpp"

#include <functional>
#include <optional>
#include <string>

namespace mxwatch {

// Applies a response; apply_response() live, something that only records in tests.
using Responder = std::function<std::optional<ResponseOutcome>(ResponseAction, const ResponseTarget &)>;

struct Decision {
	std::optional<std::string> allowed;      // why the allowlist lets the process be
	std::optional<ResponseOutcome> response; // the action taken, on first alerts
	bool publish() const { return !allowed; }
};

class Decider {
public:
	// Throws std::invalid_argument naming a malformed allowlist entry.
	Decider(const AllowlistConfig &allowlist, ResponseAction action, Responder respond);

	// A reload: the new allowlist applies to what comes next; the action stays
	// (CAP_KILL is kept only when one was configured at start).
	void reconfigure(const AllowlistConfig &allowlist);

	// At first sight, and for every known process after a reload.
	std::optional<std::string> allowed(const ProcessInfo &info) const;
	bool needs_digest() const { return allowlist_.has_digests(); }

	// For an alert event. `first` is the process's first alert: only then is
	// the response applied, and only then may a sha256 entry need the digest
	// (`info` is completed by the caller before, see needs_digest()).
	Decision decide(bool first, const ProcessInfo &info, const ResponseTarget &target);

private:
	Allowlist allowlist_;
	ResponseAction action_;
	Responder respond_;
};

} // namespace mxwatch
