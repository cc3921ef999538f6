// SPDX-License-Identifier: GPL-2.0-only
// UTF-8 as RFC 3629 defines it (no overlongs, no surrogates, nothing above
// U+10FFFF), for the text hostile processes control: names, command lines,
// paths. Pure: no I/O, no allocation beyond the returned strings.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

// The character at the start of `s` (not empty): its length in bytes and its code
// point, or, when it is not well-formed, the length of the maximal invalid subpart
// (Unicode's "one replacement per maximal subpart") and no code point.
struct Utf8Char {
	std::size_t length = 1;
	std::optional<char32_t> code_point;
};
Utf8Char decode_utf8(std::string_view s);

// C0 controls, DEL and C1 controls.
constexpr bool is_control(char32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
}

// Whether all of `s` is well-formed UTF-8 (controls included).
bool is_valid_utf8(std::string_view s);

// Invalid UTF-8 sequences (overlong, surrogates, truncated, > U+10FFFF) become U+FFFD.
std::string valid_utf8(std::string_view raw);
// valid_utf8, and every control character (C0, DEL, C1) becomes U+FFFD too.
std::string printable_utf8(std::string_view raw);

// For a terminal: printable ASCII (but '\') and valid non-control UTF-8 are kept,
// every other byte becomes \xNN, so a name can neither move the cursor nor pass
// for another one.
std::string terminal_safe(std::string_view raw);

// Valid UTF-8 cut to at most `max` bytes without splitting a character.
std::string_view truncate_utf8(std::string_view s, std::size_t max);

} // namespace mxwatch
