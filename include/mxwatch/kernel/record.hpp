// SPDX-License-Identifier: GPL-2.0-only
// Decoding of the BPF program's ring-buffer records (bpf/mxwatch_event.h) into Samples.
#pragma once

#include "mxwatch/detect/sample.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

struct mxw_counts; // bpf/mxwatch_event.h

namespace mxwatch {

enum class DecodeError {
	TooShort,
	UnknownType,
	SizeMismatch,
};
std::string_view to_string(DecodeError error);

struct Decoded {
	std::optional<Sample> sample;
	DecodeError error = DecodeError::TooShort; // meaningful when !sample
};

// Decodes one ring-buffer record. Never trusts the record: a short, unknown or
// inconsistent record is reported, not read past its end.
Decoded decode_record(std::span<const std::byte> record);

// The kernel's per-thread counts (a summary record's) as the detector counts them.
ModeCounts mode_counts_of(const mxw_counts &counts);

} // namespace mxwatch
