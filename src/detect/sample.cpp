// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/detect/sample.hpp"

#include <array>
#include <algorithm>

namespace mxwatch {

std::string_view to_string(RoundingMode mode)
{
	constexpr std::array<std::string_view, 4> kNames{"nearest", "down", "up", "toward-zero"};
	const auto index = static_cast<std::size_t>(mode);
	return index < kNames.size() ? kNames[index] : "invalid";
}

double ModeCounts::share(RoundingMode mode) const
{
	const auto n = total();
	return n == 0 ? 0.0 : static_cast<double>(by_mode[static_cast<int>(mode)]) / static_cast<double>(n);
}

double ModeCounts::ftz_daz_share() const
{
	return records == 0 ? 0.0 : static_cast<double>(ftz_daz) / static_cast<double>(records);
}

ModeCounts &ModeCounts::operator+=(const ModeCounts &other)
{
	records += other.records;
	for (int m = 0; m < kRoundingModes; m++)
		by_mode[m] += other.by_mode[m];
	transitions += other.transitions;
	after_non_default += other.after_non_default;
	changed_after_non_default += other.changed_after_non_default;
	ftz_daz += other.ftz_daz;
	x87_agrees += other.x87_agrees;
	return *this;
}

} // namespace mxwatch
