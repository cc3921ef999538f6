// SPDX-License-Identifier: GPL-2.0-only
// util/utf8: the one UTF-8 validator behind alerts, recordings and the check table.
#include "mxwatch/util/utf8.hpp"

#include <gtest/gtest.h>
#include <vector>

namespace mxwatch {
namespace {

// An encoder of our own (RFC 3629 §3), to check the decoder against.
std::string encode(char32_t cp)
{
	std::string out;
	if (cp < 0x80) {
		out += static_cast<char>(cp);
	} else if (cp < 0x800) {
		out += static_cast<char>(0xC0 | (cp >> 6));
		out += static_cast<char>(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out += static_cast<char>(0xE0 | (cp >> 12));
		out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
		out += static_cast<char>(0x80 | (cp & 0x3F));
	} else {
		out += static_cast<char>(0xF0 | (cp >> 18));
		out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
		out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
		out += static_cast<char>(0x80 | (cp & 0x3F));
	}
	return out;
}

TEST(Utf8, EveryScalarValueDecodesToItselfAndSurrogatesDoNot)
{
	for (std::uint32_t u = 0; u <= 0x10FFFF; u++) {
		const auto cp = static_cast<char32_t>(u);
		const std::string bytes = encode(cp);
		const Utf8Char c = decode_utf8(bytes);
		const bool surrogate = u >= 0xD800 && u <= 0xDFFF;
		if (surrogate) {
			ASSERT_FALSE(c.code_point) << std::hex << u;
			ASSERT_FALSE(is_valid_utf8(bytes)) << std::hex << u;
			continue;
		}
		ASSERT_EQ(c.length, bytes.size()) << std::hex << u;
		ASSERT_TRUE(c.code_point) << std::hex << u;
		ASSERT_EQ(static_cast<std::uint32_t>(*c.code_point), u);
		ASSERT_TRUE(is_valid_utf8(bytes)) << std::hex << u;
		ASSERT_EQ(valid_utf8(bytes), bytes) << std::hex << u;
		ASSERT_EQ(printable_utf8(bytes) == bytes, !is_control(cp)) << std::hex << u;
	}
}

TEST(Utf8, IsValidRefusesOverlongTruncatedAndOutOfRange)
{
	EXPECT_TRUE(is_valid_utf8(""));
	EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
	EXPECT_TRUE(is_valid_utf8(std::string("nul\0and\ncontrols\x7F", 17))); // valid, if not printable
	EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));                               // overlong '/'
	EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));                           // overlong, three bytes
	EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));                       // overlong, four bytes
	EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));                       // above U+10FFFF
	EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));                       // no such lead byte
	EXPECT_FALSE(is_valid_utf8("ok\xE2\x82"));                             // cut short at the end
	EXPECT_FALSE(is_valid_utf8("\x80"));                                   // lone continuation
	EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(Utf8, EachInvalidSequenceBecomesOneReplacement)
{
	const std::string r = "\xEF\xBF\xBD";
	struct Case {
		std::string in, valid, printable;
	};
	const std::vector<Case> cases = {
	    {"plain", "plain", "plain"},
	    {"caf\xC3\xA9 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xF0\x9F\x98\x80"},
	    {"a\xC0\xAF"
	     "b",
	     "a" + r + r + "b", "a" + r + r + "b"},             // overlong '/'
	    {"\xED\xA0\x80", r + r + r, r + r + r},             // UTF-16 surrogate
	    {"\xF4\x90\x80\x80", r + r + r + r, r + r + r + r}, // above U+10FFFF
	    {"\xE2\x82"
	     "x",
	     r + "x", r + "x"}, // truncated: one replacement
	    {"\xE2\x82", r, r}, // truncated at the end
	    {"\xFF", r, r},
	    {"a\nb\x7F"
	     "c\xC2\x85",
	     "a\nb\x7F"
	     "c\xC2\x85",
	     "a" + r + "b" + r + "c" + r}, // C0, DEL, C1
	    {std::string("nul\0in", 6), std::string("nul\0in", 6), "nul" + r + "in"},
	};
	for (const auto &c : cases) {
		EXPECT_EQ(valid_utf8(c.in), c.valid) << c.in;
		EXPECT_EQ(printable_utf8(c.in), c.printable) << c.in;
	}
}

TEST(TerminalSafe, EscapesControlBytesAndInvalidUtf8)
{
	EXPECT_EQ(terminal_safe("xmrig"), "xmrig");
	EXPECT_EQ(terminal_safe("a\x1b[2Jb"), "a\\x1b[2Jb");
	EXPECT_EQ(terminal_safe("new\nline\r"), "new\\x0aline\\x0d");
	EXPECT_EQ(terminal_safe("\xff\xc3"), "\\xff\\xc3");
	EXPECT_EQ(terminal_safe("back\\slash"), "back\\x5cslash");
	EXPECT_EQ(terminal_safe("caf\xc3\xa9"), "caf\xc3\xa9");      // valid UTF-8 is kept
	EXPECT_EQ(terminal_safe("\xc2\x9b"), "\\xc2\\x9b");          // C1 CSI is not
	EXPECT_EQ(terminal_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // surrogate
	EXPECT_EQ(terminal_safe("\xe0\x80\xaf"), "\\xe0\\x80\\xaf"); // overlong
}

TEST(TerminalSafe, KeepsEveryPrintableCharacterAndEscapesEveryOtherByte)
{
	EXPECT_EQ(terminal_safe(""), "");
	EXPECT_EQ(terminal_safe("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
	EXPECT_EQ(terminal_safe("\xE2\x82x"), "\\xe2\\x82x"); // truncated: each byte on its own
	EXPECT_EQ(terminal_safe(std::string("a\0b", 3)), "a\\x00b");
	EXPECT_EQ(terminal_safe("\x7F"), "\\x7f");
	// Whatever the input, the output is printable ASCII or printable UTF-8.
	std::string all;
	for (int b = 0; b < 256; b++)
		all += static_cast<char>(b);
	const std::string out = terminal_safe(all + all);
	EXPECT_EQ(printable_utf8(out), out);
}

TEST(Utf8Truncate, NeverSplitsACharacter)
{
	const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"; // 1 + 2 + 3 + 4 bytes
	EXPECT_EQ(truncate_utf8(text, 100), text);
	EXPECT_EQ(truncate_utf8(text, text.size()), text);
	const std::vector<std::string> expected = {"",
	                                           "a",
	                                           "a",
	                                           "a\xC3\xA9",
	                                           "a\xC3\xA9",
	                                           "a\xC3\xA9",
	                                           "a\xC3\xA9\xE2\x82\xAC",
	                                           "a\xC3\xA9\xE2\x82\xAC",
	                                           "a\xC3\xA9\xE2\x82\xAC",
	                                           "a\xC3\xA9\xE2\x82\xAC"};
	for (std::size_t max = 0; max < expected.size(); max++) {
		EXPECT_EQ(truncate_utf8(text, max), expected[max]) << max;
		EXPECT_TRUE(is_valid_utf8(truncate_utf8(text, max))) << max;
	}
}

} // namespace
} // namespace mxwatch
