// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/detect/sample.hpp"

namespace mxwatch {

std::string_view to_string(RoundingMode mode)
{
	switch (mode) {
	case RoundingMode::Nearest:
		return "nearest";
	case RoundingMode::Down:
		return "down";
	case RoundingMode::Up:
		return "up";
	case RoundingMode::TowardZero:
		return "toward-zero";
	}
	return "invalid";
}

} // namespace mxwatch
