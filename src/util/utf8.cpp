// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/util/utf8.hpp"

#include <fmt/format.h>

namespace mxwatch {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

std::string replace_invalid(std::string_view raw, bool drop_controls)
{
	std::string out;
	out.reserve(raw.size());
	while (!raw.empty()) {
		const auto [length, cp] = decode_utf8(raw);
		if (!cp || (drop_controls && is_control(*cp)))
			out += kReplacement;
		else
			out.append(raw.substr(0, length));
		raw.remove_prefix(length);
	}
	return out;
}

} // namespace

Utf8Char decode_utf8(std::string_view s)
{
	const auto b0 = static_cast<unsigned char>(s[0]);
	if (b0 < 0x80)
		return {1, b0};
	std::size_t length = 0;
	unsigned char low = 0x80, high = 0xBF; // allowed range of the second byte (RFC 3629)
	char32_t cp = 0;
	if (b0 >= 0xC2 && b0 <= 0xDF) {
		length = 2;
		cp = b0 & 0x1F;
	} else if (b0 >= 0xE0 && b0 <= 0xEF) {
		length = 3;
		cp = b0 & 0x0F;
		if (b0 == 0xE0)
			low = 0xA0; // overlong
		if (b0 == 0xED)
			high = 0x9F; // surrogates
	} else if (b0 >= 0xF0 && b0 <= 0xF4) {
		length = 4;
		cp = b0 & 0x07;
		if (b0 == 0xF0)
			low = 0x90; // overlong
		if (b0 == 0xF4)
			high = 0x8F; // above U+10FFFF
	} else {
		return {1, std::nullopt};
	}
	for (std::size_t i = 1; i < length; i++) {
		if (i >= s.size())
			return {i, std::nullopt};
		const auto b = static_cast<unsigned char>(s[i]);
		const unsigned char lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xBF;
		if (b < lo || b > hi)
			return {i, std::nullopt}; // the maximal invalid subpart ends before b
		cp = (cp << 6) | (b & 0x3F);
	}
	return {length, cp};
}

bool is_valid_utf8(std::string_view s)
{
	while (!s.empty()) {
		const auto [length, cp] = decode_utf8(s);
		if (!cp)
			return false;
		s.remove_prefix(length);
	}
	return true;
}

std::string valid_utf8(std::string_view raw)
{
	return replace_invalid(raw, false);
}

std::string printable_utf8(std::string_view raw)
{
	return replace_invalid(raw, true);
}

std::string terminal_safe(std::string_view raw)
{
	std::string out;
	out.reserve(raw.size());
	while (!raw.empty()) {
		const auto c = static_cast<unsigned char>(raw[0]);
		std::size_t keep = 0;
		if (c >= 0x20 && c < 0x7F && c != '\\')
			keep = 1;
		else if (c >= 0x80)
			if (const auto [length, cp] = decode_utf8(raw); cp && !is_control(*cp))
				keep = length;
		if (keep > 0) {
			out.append(raw.substr(0, keep));
			raw.remove_prefix(keep);
		} else {
			// One byte at a time: what follows an invalid lead byte is judged on its own.
			out += fmt::format("\\x{:02x}", c);
			raw.remove_prefix(1);
		}
	}
	return out;
}

std::string_view truncate_utf8(std::string_view s, std::size_t max)
{
	if (s.size() <= max)
		return s;
	std::size_t end = max;
	while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
		end--;
	return s.substr(0, end);
}

} // namespace mxwatch
