// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/decide/decision.hpp"

namespace mxwatch {
namespace {

AllowlistSubject allowlist_subject(const ProcessInfo &info)
{
	AllowlistSubject subject;
	subject.executable = info.executable;
	subject.user_name = info.user_name;
	subject.uid = info.uid;
	subject.sha256 = info.sha256;
	if (info.container) {
		subject.container_id = info.container->id;
		if (const auto &m = info.container->metadata) {
			subject.image_name = m->image_name;
			subject.image_tag = m->image_tag;
			subject.pod_namespace = m->pod_namespace;
		}
	}
	return subject;
}

} // namespace

Decider::Decider(const AllowlistConfig &allowlist, ResponseAction action, Responder respond)
    : allowlist_(allowlist), action_(action), respond_(std::move(respond))
{
}

void Decider::reconfigure(const AllowlistConfig &allowlist)
{
	allowlist_ = Allowlist(allowlist); // may throw: nothing changed yet
}

std::optional<std::string> Decider::allowed(const ProcessInfo &info) const
{
	return allowlist_.empty() ? std::nullopt : allowlist_.match(allowlist_subject(info));
}

Decision Decider::decide(bool first, const ProcessInfo &info, const ResponseTarget &target)
{
	Decision decision;
	decision.allowed = target.allowed ? target.allowed : allowed(info);
	// apply_response() checks the allowlist itself: an allowlisted process is
	// skipped even if this function changes.
	if (first && respond_) {
		ResponseTarget checked = target;
		checked.allowed = decision.allowed;
		decision.response = respond_(action_, checked);
	}
	return decision;
}

} // namespace mxwatch
