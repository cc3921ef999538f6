// SPDX-License-Identifier: GPL-2.0-only
// A strict RFC 5424 parser, written from the ABNF of §6 for the tests and the
// fuzzer: whatever mxwatch sends must pass it, and the SD-PARAM values it
// returns are unescaped so they can be compared with what went in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxwatch::test {

struct SdElement {
	std::string id;
	std::vector<std::pair<std::string, std::string>> params; // unescaped values
};

struct SyslogMessage {
	int pri = 0;
	std::string timestamp, hostname, app_name, procid, msgid;
	std::vector<SdElement> sd;
	std::string msg;

	const std::string *param(std::string_view name) const
	{
		for (const auto &element : sd)
			for (const auto &[key, value] : element.params)
				if (key == name)
					return &value;
		return nullptr;
	}
};

inline bool is_utf8(std::string_view s)
{
	for (std::size_t i = 0; i < s.size();) {
		const auto b = static_cast<unsigned char>(s[i]);
		std::size_t n = b < 0x80                   ? 1
		                : (b >= 0xC2 && b <= 0xDF) ? 2
		                : (b >= 0xE0 && b <= 0xEF) ? 3
		                : (b >= 0xF0 && b <= 0xF4) ? 4
		                                           : 0;
		if (n == 0 || i + n > s.size())
			return false;
		for (std::size_t k = 1; k < n; k++)
			if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
				return false;
		const auto b1 = static_cast<unsigned char>(n > 1 ? s[i + 1] : 0);
		if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) || (b == 0xF0 && b1 < 0x90) ||
		    (b == 0xF4 && b1 > 0x8F))
			return false;
		i += n;
	}
	return true;
}

class Rfc5424Parser {
public:
	explicit Rfc5424Parser(std::string_view text) : s_(text) {}

	std::optional<SyslogMessage> parse()
	{
		SyslogMessage m;
		if (!eat('<'))
			return fail("PRI must start with '<'");
		std::string digits = take_while([](char c) { return c >= '0' && c <= '9'; }, 3);
		if (digits.empty() || (digits.size() > 1 && digits[0] == '0') || !eat('>'))
			return fail("bad PRI");
		m.pri = std::stoi(digits);
		if (m.pri > 191)
			return fail("PRI above 191");
		if (!eat('1') || !eat(' '))
			return fail("VERSION must be 1");
		if (!field(m.timestamp, 64) || !valid_timestamp(m.timestamp))
			return fail("bad TIMESTAMP");
		if (!eat(' ') || !field(m.hostname, 255) || !eat(' ') || !field(m.app_name, 48) || !eat(' ') ||
		    !field(m.procid, 128) || !eat(' ') || !field(m.msgid, 32) || !eat(' '))
			return fail("bad header field");
		if (eat('-')) {
			// NILVALUE: no structured data
		} else {
			while (peek() == '[') {
				SdElement element;
				if (!sd_element(element))
					return std::nullopt;
				m.sd.push_back(std::move(element));
			}
			if (m.sd.empty())
				return fail("STRUCTURED-DATA must be '-' or elements");
		}
		if (pos_ == s_.size())
			return m;
		if (!eat(' '))
			return fail("MSG must follow one space");
		m.msg = std::string(s_.substr(pos_));
		if (m.msg.starts_with("\xEF\xBB\xBF") && !is_utf8(m.msg))
			return fail("MSG-UTF8 is not UTF-8");
		return m;
	}

	const std::string &error() const { return error_; }

private:
	static bool printusascii(char c) { return c >= 33 && c <= 126; }

	std::nullopt_t fail(std::string why)
	{
		error_ = why + " at byte " + std::to_string(pos_);
		return std::nullopt;
	}

	char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
	bool eat(char c)
	{
		if (peek() != c || pos_ >= s_.size())
			return false;
		pos_++;
		return true;
	}

	template <typename Pred> std::string take_while(Pred pred, std::size_t max)
	{
		std::string out;
		while (pos_ < s_.size() && out.size() < max && pred(s_[pos_]))
			out += s_[pos_++];
		return out;
	}

	// A header field: 1..max PRINTUSASCII, or "-".
	bool field(std::string &out, std::size_t max)
	{
		out = take_while(printusascii, max + 1);
		return !out.empty() && out.size() <= max;
	}

	static bool valid_timestamp(const std::string &t)
	{
		if (t == "-")
			return true;
		// YYYY-MM-DDTHH:MM:SS[.1-6 digits](Z|+HH:MM|-HH:MM)
		auto digit = [&](std::size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
		const char *shape = "DDDD-DD-DDTDD:DD:DD";
		std::size_t i = 0;
		for (; shape[i]; i++)
			if (shape[i] == 'D' ? !digit(i) : (i >= t.size() || t[i] != shape[i]))
				return false;
		if (i < t.size() && t[i] == '.') {
			std::size_t n = 0;
			for (i++; digit(i); i++)
				n++;
			if (n < 1 || n > 6)
				return false;
		}
		if (i < t.size() && t[i] == 'Z')
			return i + 1 == t.size();
		return i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && digit(i + 1) && digit(i + 2) &&
		       t[i + 3] == ':' && digit(i + 4) && digit(i + 5);
	}

	bool sd_name(std::string &out)
	{
		out = take_while([](char c) { return printusascii(c) && c != '=' && c != ']' && c != '"'; }, 33);
		return !out.empty() && out.size() <= 32;
	}

	bool sd_element(SdElement &element)
	{
		eat('[');
		if (!sd_name(element.id)) {
			fail("bad SD-ID");
			return false;
		}
		while (eat(' ')) {
			std::string name, value;
			if (!sd_name(name) || !eat('=') || !eat('"')) {
				fail("bad SD-PARAM");
				return false;
			}
			while (true) {
				if (pos_ >= s_.size()) {
					fail("unterminated PARAM-VALUE");
					return false;
				}
				const char c = s_[pos_++];
				if (c == '"')
					break;
				if (c == ']') {
					fail("unescaped ']' in PARAM-VALUE");
					return false;
				}
				if (c == '\\' && pos_ < s_.size() &&
				    (s_[pos_] == '"' || s_[pos_] == '\\' || s_[pos_] == ']')) {
					value += s_[pos_++];
					continue;
				}
				value += c; // any other backslash is a literal one (§6.3.3)
			}
			if (!is_utf8(value)) {
				fail("PARAM-VALUE is not UTF-8");
				return false;
			}
			element.params.emplace_back(std::move(name), std::move(value));
		}
		if (!eat(']')) {
			fail("SD-ELEMENT must end with ']'");
			return false;
		}
		return true;
	}

	std::string_view s_;
	std::size_t pos_ = 0;
	std::string error_;
};

inline std::optional<SyslogMessage> parse_rfc5424(std::string_view text, std::string *error = nullptr)
{
	Rfc5424Parser parser(text);
	auto result = parser.parse();
	if (!result && error)
		*error = parser.error();
	return result;
}

} // namespace mxwatch::test
