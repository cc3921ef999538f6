// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <stdexcept>
#include <string>

namespace mxwatch {

// A start-up failure the operator must fix: `what()` is one sentence saying what
// is missing and how to fix it. main() prints it and exits with status 2.
class SetupError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

} // namespace mxwatch
