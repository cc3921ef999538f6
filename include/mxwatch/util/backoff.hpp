// SPDX-License-Identifier: GPL-2.0-only
// Exponential backoff with jitter: how long to wait before the next attempt
// after each failure in a row. The n-th wait is drawn from
// [ceiling(n) * (1 - jitter), ceiling(n)], where ceiling(n) = initial * 2^(n-1),
// at most `max`. The random part keeps a fleet of daemons (one per node) from
// reconnecting in lock-step when a central receiver comes back.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace mxwatch
{

struct BackoffPolicy {
	std::chrono::milliseconds initial{500};
	std::chrono::milliseconds max{30'000};
	double jitter = 0.5; // the share of each wait that is random, 0..1
};

class Backoff
{
public:
	explicit Backoff(BackoffPolicy policy = {}, std::uint64_t seed = std::random_device{}())
	    : policy_(policy), random_(seed)
	{
		policy_.jitter = std::clamp(policy_.jitter, 0.0, 1.0);
		policy_.initial = std::max(policy_.initial, std::chrono::milliseconds(1));
		policy_.max = std::max(policy_.max, policy_.initial);
	}

	// The longest wait after `failures` failures in a row (1 or more).
	static std::chrono::milliseconds ceiling(const BackoffPolicy &policy, unsigned failures)
	{
		const auto initial = std::max(policy.initial, std::chrono::milliseconds(1));
		const auto max = std::max(policy.max, initial);
		auto wait = initial;
		for (unsigned i = 1; i < failures && wait < max; i++)
			wait *= 2;
		return std::min(wait, max);
	}

	// One more failure: the wait before the next attempt.
	std::chrono::milliseconds next()
	{
		failures_++;
		const auto top = ceiling(policy_, failures_);
		const double share = std::uniform_real_distribution<double>(0.0, policy_.jitter)(random_);
		return std::chrono::milliseconds(
		    static_cast<std::int64_t>(static_cast<double>(top.count()) * (1.0 - share)));
	}

	// A success: the next failure waits `initial` again.
	void reset() { failures_ = 0; }
	unsigned failures() const { return failures_; }
	const BackoffPolicy &policy() const { return policy_; }

private:
	BackoffPolicy policy_;
	std::mt19937_64 random_;
	unsigned failures_ = 0;
};

} // namespace mxwatch
