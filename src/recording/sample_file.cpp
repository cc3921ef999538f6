// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/recording/sample_file.hpp"

#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <unistd.h>
#include <cstring>
#include <fmt/format.h>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>

namespace mxwatch {
namespace {

using nlohmann::json;

// Appends `s` (valid UTF-8) as the inside of a JSON string.
void append_json_escaped(std::string &out, std::string_view s)
{
	for (const char ch : s) {
		const auto c = static_cast<unsigned char>(ch);
		switch (c) {
		case '"':
			out += "\\\"";
			break;
		case '\\':
			out += "\\\\";
			break;
		case '\n':
			out += "\\n";
			break;
		case '\r':
			out += "\\r";
			break;
		case '\t':
			out += "\\t";
			break;
		default:
			if (c < 0x20)
				fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
			else
				out.push_back(ch);
		}
	}
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

// Counts a kernel summary can have: no more changes than samples after a
// non-default one, no more x87 agreements than non-default samples, ...
bool consistent(const ModeCounts &c)
{
	return c.changed_after_non_default <= c.after_non_default && c.ftz_daz <= c.records &&
	       c.x87_agrees <= c.non_default() && c.after_non_default <= c.total();
}

// A summary's counts as the line spells them (32-bit each), before they go
// into ModeCounts; both parsers read them into this.
struct SummaryCounts {
	std::uint32_t transitions = 0, after = 0, changed = 0, records = 0, ftz_daz = 0, x87 = 0;

	void into(ModeCounts &c) const
	{
		c.transitions = transitions;
		c.after_non_default = after;
		c.changed_after_non_default = changed;
		c.records = records;
		c.ftz_daz = ftz_daz;
		c.x87_agrees = x87;
	}
};

// The fast path: the exact bytes SampleWriter emits for a printable-ASCII comm,
// parsed without building a JSON document. It declines (returns false) at the
// first difference; the full parser then decides, so both paths accept and
// reject the same lines and only the full parser has to explain errors.
class CanonicalLine {
public:
	explicit CanonicalLine(std::string_view line) : p_(line.data()), end_(line.data() + line.size()) {}

	// A sample line, with its summary (version 2) when it has one.
	bool parse(Sample &s, std::uint64_t version)
	{
		if (!(literal("{\"t\":") && number(s.timestamp_ns) && literal(",\"tgid\":") && number(s.tgid) &&
		      literal(",\"tid\":") && number(s.tid) && literal(",\"start\":") && number(s.process_start_ns) &&
		      literal(",\"cgroup\":") && number(s.cgroup_id) && literal(",\"mxcsr\":") && number(s.mxcsr) &&
		      literal(",\"x87\":") && number(s.x87_cw) && literal(",\"flags\":") && number(s.flags) &&
		      literal(",\"skipped\":") && number(s.default_skipped) && literal(",\"comm\":\"") &&
		      plain_string(s.comm)))
			return false;
		if (end_ - p_ == 1 && *p_ == '}') {
			s.summary.reset();
			return true;
		}
		return version >= 2 && summary(s.summary.emplace());
	}

private:
	template <std::size_t N> [[gnu::always_inline]] bool literal(const char (&text)[N])
	{
		constexpr std::size_t n = N - 1;
		if (static_cast<std::size_t>(end_ - p_) < n)
			return false;
		if constexpr (n >= 8) {
			// 8 bytes at a time, the last 8 overlapping: no call to memcmp.
			std::uint64_t differ = 0;
			for (std::size_t i = 0; i + 8 < n; i += 8)
				differ |= load8(p_ + i) ^ load8(text + i);
			if ((differ | (load8(p_ + n - 8) ^ load8(text + n - 8))) != 0)
				return false;
		} else if (std::memcmp(p_, text, n) != 0) {
			return false;
		}
		p_ += n;
		return true;
	}

	template <typename T> [[gnu::always_inline]] bool number(T &out)
	{
		// 19 digits never overflow 64 bits: no check per digit. A longer number
		// (or one too large for T) is declined, and the full parser decides.
		const char *start = p_;
		std::uint64_t value = 0;
		std::size_t digits = 0;
		if constexpr (std::endian::native == std::endian::little) {
			// Up to 8 digits per step (SWAR) while 8 bytes of the line remain.
			while (end_ - p_ >= 8) {
				const std::uint64_t chunk = load8(p_);
				const std::size_t k = leading_digits(chunk);
				if (digits + k > 19)
					return false;
				if (k)
					value = value * kPowersOf10[k] + eight_digits((chunk - 0x3030303030303030) << (64 - 8 * k));
				digits += k;
				p_ += k;
				if (k < 8)
					break;
			}
		}
		for (; p_ != end_ && static_cast<unsigned char>(*p_ - '0') < 10; digits++) {
			if (digits == 19)
				return false;
			value = value * 10 + static_cast<unsigned>(*p_++ - '0');
		}
		if (digits == 0 || (*start == '0' && digits > 1)) // JSON has no leading zeros
			return false;
		if (value > std::numeric_limits<T>::max())
			return false;
		out = static_cast<T>(value);
		return true;
	}

	[[gnu::always_inline]] static std::uint64_t load8(const char *p)
	{
		std::uint64_t v;
		std::memcpy(&v, p, 8);
		return v;
	}

	// How many of the 8 bytes (in memory order, little-endian) are ASCII digits
	// before the first that is not one. A byte above 0xF9 carries into the next
	// one's test, which only ever follows a non-digit: the count is exact.
	[[gnu::always_inline]] static std::size_t leading_digits(std::uint64_t chunk)
	{
		constexpr std::uint64_t kHigh = 0xF0F0F0F0F0F0F0F0, kZeros = 0x3030303030303030;
		const std::uint64_t other = ((chunk & kHigh) ^ kZeros) | (((chunk + 0x0606060606060606) & kHigh) ^ kZeros);
		return other ? static_cast<std::size_t>(std::countr_zero(other)) / 8 : 8;
	}

	// Eight digit values 0-9, the first in the lowest byte: their decimal number.
	[[gnu::always_inline]] static std::uint64_t eight_digits(std::uint64_t v)
	{
		constexpr std::uint64_t kMask = 0x000000FF000000FF;
		v = v * 10 + (v >> 8); // pairs of digits
		return (((v & kMask) * 0x000F424000000064) + (((v >> 16) & kMask) * 0x0000271000000001)) >> 32;
	}

	static constexpr std::array<std::uint64_t, 9> kPowersOf10{1,	  10,	   100,	     1000,     10000,
								  100000, 1000000, 10000000, 100000000};

	bool plain_string(std::string &out)
	{
		const char *start = p_;
		while (p_ != end_ && *p_ != '"') {
			const auto c = static_cast<unsigned char>(*p_);
			if (c < 0x20 || c >= 0x7F || c == '\\')
				return false;
			p_++;
		}
		if (p_ == end_)
			return false;
		out.assign(start, p_);
		p_++; // the closing quote
		return true;
	}

	// What SampleWriter writes after the comm: ,"summary":{...}} to the end of the line.
	bool summary(SampleSummary &y)
	{
		ModeCounts &c = y.counts;
		std::array<std::uint32_t, kRoundingModes> modes{};
		SummaryCounts n;
		if (!(literal(",\"summary\":{\"first\":") && number(y.first_ns) && literal(",\"deferrals\":") &&
		      number(y.deferrals) && literal(",\"modes\":[") && number(modes[0]) && literal(",") &&
		      number(modes[1]) && literal(",") && number(modes[2]) && literal(",") && number(modes[3]) &&
		      literal("],\"transitions\":") && number(n.transitions) && literal(",\"after_non_default\":") &&
		      number(n.after) && literal(",\"changed_after_non_default\":") && number(n.changed) &&
		      literal(",\"records\":") && number(n.records) && literal(",\"ftz_daz\":") && number(n.ftz_daz) &&
		      literal(",\"x87_agrees\":") && number(n.x87) && literal("}}") && p_ == end_))
			return false;
		for (int m = 0; m < kRoundingModes; m++)
			c.by_mode[m] = modes[m];
		n.into(c);
		return consistent(c); // else the full parser explains why not
	}

	const char *p_;
	const char *end_;
};

template <typename T> std::optional<std::string> get_unsigned(const json &doc, const char *key, T &out)
{
	const auto it = doc.find(key);
	if (it == doc.end())
		return fmt::format("missing field \"{}\"", key);
	if (!it->is_number_unsigned() || it->get<std::uint64_t>() > std::numeric_limits<T>::max())
		return fmt::format("field \"{}\" is not an unsigned {}-bit integer", key, 8 * sizeof(T));
	out = static_cast<T>(it->get<std::uint64_t>());
	return std::nullopt;
}

std::optional<std::string> get_comm(const json &doc, std::string &out)
{
	const auto text = doc.find("comm");
	const auto hex = doc.find("comm_hex");
	if (text != doc.end() && hex != doc.end())
		return "both \"comm\" and \"comm_hex\" are present";
	if (text != doc.end()) {
		if (!text->is_string())
			return "field \"comm\" is not a string";
		out = text->get_ref<const std::string &>();
		return std::nullopt;
	}
	if (hex == doc.end())
		return "missing field \"comm\"";
	const std::string *digits = hex->is_string() ? &hex->get_ref<const std::string &>() : nullptr;
	if (!digits || digits->size() % 2 != 0 ||
	    !std::all_of(digits->begin(), digits->end(), [](char c) { return hex_value(c) >= 0; }))
		return "field \"comm_hex\" is not a string of hex digit pairs";
	out.clear();
	for (std::size_t i = 0; i < digits->size(); i += 2)
		out.push_back(static_cast<char>(hex_value((*digits)[i]) * 16 + hex_value((*digits)[i + 1])));
	return std::nullopt;
}

std::optional<std::string> get_string(const json &doc, const char *key, std::string &out)
{
	const auto it = doc.find(key);
	if (it == doc.end())
		return std::nullopt; // informational fields may be absent
	if (!it->is_string())
		return fmt::format("field \"{}\" is not a string", key);
	out = it->get_ref<const std::string &>();
	return std::nullopt;
}

// Parses one line into a JSON object, or says why it is not one.
std::optional<std::string> parse_object(std::string_view line, json &doc)
{
	try {
		doc = json::parse(line.begin(), line.end());
	} catch (const json::parse_error &e) {
		// what() is "[json.exception.parse_error.101] parse error at line 1, column 7:
		// <fixed text>; last read: '<the token>'". Keep from "column" to the token:
		// the token is the file's own bytes, maybe long, maybe terminal escapes.
		std::string_view what = e.what();
		if (const auto column = what.find("column "); column != std::string_view::npos)
			what.remove_prefix(column);
		what = what.substr(0, what.find("; last read"));
		return fmt::format("invalid JSON at {}", what.substr(0, 200));
	} catch (const json::exception &e) {
		// out_of_range.406, a number like 1e999; its message quotes the number.
		return e.id == 406 ? "invalid JSON: a number is out of range" : "invalid JSON";
	}
	if (!doc.is_object())
		return "not a JSON object";
	return std::nullopt;
}

// A summary's counts (format version 2): "summary":{"first":..,"deferrals":..,
// "modes":[n0,n1,n2,n3],"transitions":..,"after_non_default":..,
// "changed_after_non_default":..,"records":..,"ftz_daz":..,"x87_agrees":..}.
std::optional<std::string> parse_summary(const json &doc, SampleSummary &out)
{
	if (!doc.is_object())
		return "field \"summary\" is not an object";
	const auto modes = doc.find("modes");
	if (modes == doc.end() || !modes->is_array() || modes->size() != kRoundingModes)
		return "field \"summary.modes\" is not an array of 4 counts";
	for (int m = 0; m < kRoundingModes; m++) {
		const json &n = (*modes)[static_cast<std::size_t>(m)];
		if (!n.is_number_unsigned() || n.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
			return "field \"summary.modes\" holds something other than unsigned 32-bit counts";
		out.counts.by_mode[m] = n.get<std::uint64_t>();
	}
	ModeCounts &c = out.counts;
	SummaryCounts n;
	for (auto error : {get_unsigned(doc, "first", out.first_ns), get_unsigned(doc, "deferrals", out.deferrals),
			   get_unsigned(doc, "transitions", n.transitions), get_unsigned(doc, "after_non_default", n.after),
			   get_unsigned(doc, "changed_after_non_default", n.changed), get_unsigned(doc, "records", n.records),
			   get_unsigned(doc, "ftz_daz", n.ftz_daz), get_unsigned(doc, "x87_agrees", n.x87)})
		if (error)
			return fmt::format("in \"summary\": {}", *error);
	n.into(c);
	if (!consistent(c))
		return "field \"summary\" has inconsistent counts";
	return std::nullopt;
}

std::optional<std::string> parse_sample(std::string_view line, Sample &s, std::uint64_t version)
{
	json doc;
	if (auto error = parse_object(line, doc))
		return error;
	if (const auto summary = doc.find("summary"); summary != doc.end()) {
		if (version < 2)
			return "a \"summary\" line in a version 1 file";
		if (auto error = parse_summary(*summary, s.summary.emplace()))
			return error;
	}
	for (auto error : {get_unsigned(doc, "t", s.timestamp_ns), get_unsigned(doc, "tgid", s.tgid),
			   get_unsigned(doc, "tid", s.tid), get_unsigned(doc, "start", s.process_start_ns),
			   get_unsigned(doc, "cgroup", s.cgroup_id), get_unsigned(doc, "mxcsr", s.mxcsr),
			   get_unsigned(doc, "x87", s.x87_cw), get_unsigned(doc, "flags", s.flags),
			   get_unsigned(doc, "skipped", s.default_skipped), get_comm(doc, s.comm)})
		if (error)
			return error;
	return std::nullopt;
}

std::optional<std::string> parse_header(std::string_view line, SampleFileHeader &header)
{
	json doc;
	if (auto error = parse_object(line, doc))
		return error;
	const auto format = doc.find("format");
	if (format == doc.end() || *format != kSampleFormat)
		return doc.contains("t") ? "no header line: the file starts with a sample"
					 : fmt::format("not a sample file: no \"format\":\"{}\"", kSampleFormat);
	std::uint64_t version = 0;
	if (auto error = get_unsigned(doc, "version", version))
		return error;
	if (version < kOldestSampleFormatVersion || version > kSampleFormatVersion)
		return fmt::format("unsupported format version {} (this mxwatch reads versions {} to {})", version,
				   kOldestSampleFormatVersion, kSampleFormatVersion);
	header.version = version;
	for (auto error : {get_string(doc, "recorded_at", header.recorded_at), get_string(doc, "host", header.host),
			   get_string(doc, "kernel", header.kernel), get_string(doc, "fpu_layout", header.fpu_layout),
			   get_string(doc, "attach", header.attach), get_string(doc, "mxwatch", header.mxwatch)})
		if (error)
			return error;
	if (!header.recorded_at.empty() && !parse_rfc3339(header.recorded_at))
		return "field \"recorded_at\" is not an RFC 3339 time";
	for (auto [key, field] : {std::pair{"monotonic_ns", &header.monotonic_ns},
				  std::pair{"sampling_floor_hz", &header.sampling_floor_hz}}) {
		std::uint64_t value = 0;
		if (!doc.contains(key))
			continue;
		if (auto error = get_unsigned(doc, key, value))
			return error;
		*field = value;
	}
	return std::nullopt;
}

// A string that must round-trip exactly (the executable path keys group
// evidence): as text when it is valid UTF-8, else as hex under KEY_hex.
void put_exact(nlohmann::ordered_json &doc, const char *key, const std::string &value)
{
	if (is_valid_utf8(value)) {
		doc[key] = value;
		return;
	}
	std::string hex;
	for (const char c : value)
		fmt::format_to(std::back_inserter(hex), "{:02x}", static_cast<unsigned char>(c));
	doc[std::string(key) + "_hex"] = hex;
}

std::optional<std::string> get_exact(const json &doc, const char *key, std::optional<std::string> &out)
{
	const auto text = doc.find(key);
	const auto hex = doc.find(std::string(key) + "_hex");
	if (text != doc.end() && hex != doc.end())
		return fmt::format("both \"{}\" and \"{}_hex\" are present", key, key);
	if (text != doc.end()) {
		if (!text->is_string())
			return fmt::format("field \"{}\" is not a string", key);
		out = text->get<std::string>();
	} else if (hex != doc.end()) {
		const std::string *digits = hex->is_string() ? &hex->get_ref<const std::string &>() : nullptr;
		if (!digits || digits->size() % 2 != 0 ||
		    !std::all_of(digits->begin(), digits->end(), [](char c) { return hex_value(c) >= 0; }))
			return fmt::format("field \"{}_hex\" is not a string of hex digit pairs", key);
		std::string bytes;
		for (std::size_t i = 0; i < digits->size(); i += 2)
			bytes.push_back(static_cast<char>(hex_value((*digits)[i]) * 16 + hex_value((*digits)[i + 1])));
		out = std::move(bytes);
	}
	return std::nullopt;
}

template <typename T> std::optional<std::string> get_optional_unsigned(const json &doc, const char *key, std::optional<T> &out)
{
	if (!doc.contains(key))
		return std::nullopt;
	T value{};
	if (auto error = get_unsigned(doc, key, value))
		return error;
	out = value;
	return std::nullopt;
}

std::optional<std::string> get_optional_string(const json &doc, const char *key, std::optional<std::string> &out)
{
	const auto it = doc.find(key);
	if (it == doc.end())
		return std::nullopt;
	if (!it->is_string())
		return fmt::format("field \"{}\" is not a string", key);
	out = it->get<std::string>();
	return std::nullopt;
}

struct RecordedProcess {
	std::uint32_t pid = 0;
	std::uint64_t start_ns = 0;
	ProcessInfo info;
};

// {"process":{"tgid":..,"start":..,"exe":..,...}}; every field but tgid and start may be absent.
std::optional<std::string> parse_process(const json &line, RecordedProcess &out)
{
	const json &p = line["process"];
	if (!p.is_object())
		return "field \"process\" is not an object";
	ProcessInfo &info = out.info;
	std::optional<std::uint64_t> started_ns;
	std::optional<std::string> container_id, runtime, pod_uid;
	for (auto error : {get_unsigned(p, "tgid", out.pid), get_unsigned(p, "start", out.start_ns),
			   get_exact(p, "exe", info.executable), get_optional_unsigned(p, "uid", info.uid),
			   get_optional_string(p, "user", info.user_name), get_optional_unsigned(p, "ppid", info.parent_pid),
			   get_exact(p, "parent_exe", info.parent_executable), get_optional_string(p, "sha256", info.sha256),
			   get_optional_unsigned(p, "started_ns", started_ns), get_optional_string(p, "container", container_id),
			   get_optional_string(p, "runtime", runtime), get_optional_string(p, "pod_uid", pod_uid)})
		if (error)
			return error;
	info.pid = out.pid;
	if (const auto args = p.find("args"); args != p.end()) {
		if (!args->is_array() || !std::all_of(args->begin(), args->end(), [](const json &a) { return a.is_string(); }))
			return "field \"args\" is not an array of strings";
		for (const auto &arg : *args)
			info.args.push_back(arg.get<std::string>());
	}
	if (started_ns) // wall time in ns since the epoch, in range until 2262
		info.start_time = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
			std::chrono::nanoseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(*started_ns, INT64_MAX)))));
	if (container_id || runtime || pod_uid)
		info.container = ContainerInfo{container_id, runtime, pod_uid};
	return std::nullopt;
}

// {"footprint":{"tgid":..,"start":..,"t":..,"resident":..,"largest":..,"threads":[[tid,permille],..]}}
std::optional<std::string> parse_footprint(const json &line, std::uint32_t &pid, std::uint64_t &start_ns,
					   std::uint64_t &t_ns, Footprint &out)
{
	const json &f = line["footprint"];
	if (!f.is_object())
		return "field \"footprint\" is not an object";
	for (auto error : {get_unsigned(f, "tgid", pid), get_unsigned(f, "start", start_ns), get_unsigned(f, "t", t_ns),
			   get_unsigned(f, "resident", out.resident_bytes), get_unsigned(f, "largest", out.largest_mapping_bytes)})
		if (error)
			return error;
	if (f.contains("huge"))
		if (auto error = get_unsigned(f, "huge", out.huge_page_bytes))
			return error;
	const auto threads = f.find("threads");
	if (threads == f.end())
		return std::nullopt;
	if (!threads->is_array() || threads->size() > kMaxFootprintThreads)
		return fmt::format("field \"threads\" is not an array of at most {} [tid, permille] pairs",
				   kMaxFootprintThreads);
	for (const auto &pair : *threads) {
		if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() || !pair[1].is_number_unsigned() ||
		    pair[0].get<std::uint64_t>() > UINT32_MAX || pair[1].get<std::uint64_t>() > 1000)
			return "field \"threads\" holds an entry that is not a [tid, permille] pair";
		out.threads.push_back({static_cast<std::uint32_t>(pair[0].get<std::uint64_t>()),
				       static_cast<std::uint32_t>(pair[1].get<std::uint64_t>())});
	}
	return std::nullopt;
}

bool blank(std::string_view line)
{
	if (!line.empty() && line.front() == '{') [[likely]] // every line but a blank one, or a broken one
		return false;
	return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

} // namespace

void SampleWriter::write_header(const SampleFileHeader &header)
{
	// Keys in this order, format first: `head -1 FILE` reads like the docs.
	nlohmann::ordered_json doc = {{"format", kSampleFormat}, {"version", kSampleFormatVersion}};
	doc["recorded_at"] = header.recorded_at;
	if (header.monotonic_ns)
		doc["monotonic_ns"] = *header.monotonic_ns;
	doc["host"] = header.host;
	doc["kernel"] = header.kernel;
	doc["fpu_layout"] = header.fpu_layout;
	doc["attach"] = header.attach;
	if (header.sampling_floor_hz)
		doc["sampling_floor_hz"] = *header.sampling_floor_hz;
	doc["mxwatch"] = header.mxwatch;
	// Host names are not ours to trust either: replace invalid UTF-8, never throw.
	out_ << doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

void SampleWriter::header_before_line()
{
	if (deferred_header_) {
		write_header(deferred_header_());
		deferred_header_ = nullptr;
	}
}

void SampleWriter::finish()
{
	header_before_line();
}

void SampleWriter::write(const Sample &s)
{
	if (deferred_header_) [[unlikely]]
		header_before_line();
	line_.clear();
	fmt::format_to(std::back_inserter(line_),
		       R"({{"t":{},"tgid":{},"tid":{},"start":{},"cgroup":{},"mxcsr":{},"x87":{},"flags":{},)"
		       R"("skipped":{},)",
		       s.timestamp_ns, s.tgid, s.tid, s.process_start_ns, s.cgroup_id, s.mxcsr, s.x87_cw, s.flags,
		       s.default_skipped);
	// comm is whatever bytes the process put there. JSON strings cannot carry
	// invalid UTF-8, so such a name goes out as hex instead: it round-trips exactly.
	// is_valid_utf8 applies RFC 3629 as nlohmann's parser does, so what goes out
	// as a string is what the reader accepts.
	if (is_valid_utf8(s.comm)) {
		line_ += "\"comm\":\"";
		append_json_escaped(line_, s.comm);
	} else {
		line_ += "\"comm_hex\":\"";
		for (const char c : s.comm)
			fmt::format_to(std::back_inserter(line_), "{:02x}", static_cast<unsigned char>(c));
	}
	line_ += '"';
	if (s.summary) {
		const SampleSummary &y = *s.summary;
		const ModeCounts &c = y.counts;
		fmt::format_to(std::back_inserter(line_),
			       R"(,"summary":{{"first":{},"deferrals":{},"modes":[{},{},{},{}],"transitions":{},)"
			       R"("after_non_default":{},"changed_after_non_default":{},"records":{},"ftz_daz":{},)"
			       R"("x87_agrees":{}}})",
			       y.first_ns, y.deferrals, c.by_mode[0], c.by_mode[1], c.by_mode[2], c.by_mode[3],
			       c.transitions, c.after_non_default, c.changed_after_non_default, c.records, c.ftz_daz,
			       c.x87_agrees);
	}
	line_ += "}\n";
	out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
	written_++;
}

void SampleWriter::write_process(std::uint32_t pid, std::uint64_t start_ns, const ProcessInfo &info)
{
	header_before_line();
	nlohmann::ordered_json p = {{"tgid", pid}, {"start", start_ns}};
	if (info.executable)
		put_exact(p, "exe", *info.executable);
	if (!info.args.empty())
		p["args"] = info.args;
	if (info.uid)
		p["uid"] = *info.uid;
	if (info.user_name)
		p["user"] = *info.user_name;
	if (info.parent_pid)
		p["ppid"] = *info.parent_pid;
	if (info.parent_executable)
		put_exact(p, "parent_exe", *info.parent_executable);
	if (info.start_time)
		p["started_ns"] = std::chrono::duration_cast<std::chrono::nanoseconds>(info.start_time->time_since_epoch()).count();
	if (info.sha256)
		p["sha256"] = *info.sha256;
	if (info.container) {
		if (info.container->id)
			p["container"] = *info.container->id;
		if (info.container->runtime)
			p["runtime"] = *info.container->runtime;
		if (info.container->pod_uid)
			p["pod_uid"] = *info.container->pod_uid;
	}
	const nlohmann::ordered_json line = {{"process", std::move(p)}};
	// Arguments are whoever started the process's bytes: replace invalid UTF-8, never throw.
	out_ << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

void SampleWriter::write_footprint(std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns,
				   const Footprint &footprint)
{
	header_before_line();
	line_.clear();
	fmt::format_to(std::back_inserter(line_),
		       R"({{"footprint":{{"tgid":{},"start":{},"t":{},"resident":{},"largest":{},"huge":{},"threads":[)",
		       pid, start_ns, t_ns, footprint.resident_bytes, footprint.largest_mapping_bytes, footprint.huge_page_bytes);
	for (std::size_t i = 0; i < footprint.threads.size() && i < kMaxFootprintThreads; i++)
		fmt::format_to(std::back_inserter(line_), "{}[{},{}]", i ? "," : "", footprint.threads[i].tid,
			       std::min<std::uint32_t>(footprint.threads[i].busy_permille, 1000));
	line_ += "]}}\n";
	out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
}

std::string SampleFileError::message() const
{
	return fmt::format("{}:{}: {}", file, line, reason);
}

SampleReader::SampleReader(std::istream &in, std::string name)
    : SampleReader(
	      [&in](char *buffer, std::size_t size) -> std::ptrdiff_t {
		      in.read(buffer, static_cast<std::streamsize>(size));
		      return in.bad() ? -1 : static_cast<std::ptrdiff_t>(in.gcount());
	      },
	      std::move(name))
{
}

SampleReader::SampleReader(int fd, std::string name)
    : SampleReader(
	      [fd](char *buffer, std::size_t size) -> std::ptrdiff_t {
		      // Whatever is there: a pipe from `record -o -` is replayed as it comes.
		      for (;;) {
			      const ssize_t n = ::read(fd, buffer, size);
			      if (n >= 0 || errno != EINTR)
				      return n;
		      }
	      },
	      std::move(name))
{
}

SampleReader::SampleReader(ReadFunction read, std::string name)
    : read_(std::move(read)), name_(std::move(name)), storage_(new char[kBufferBytes]), buffer_(storage_.get())
{
}

SampleReader::SampleReader(std::string_view contents, std::string name)
    : name_(std::move(name)), buffer_(contents.data()), end_(contents.size()), eof_(true)
{
}

SampleReader::~SampleReader() = default;

bool SampleReader::fail(std::string reason)
{
	error_ = SampleFileError{name_, std::max<std::uint64_t>(line_, 1), std::move(reason)};
	return false;
}

SampleReader::LineStatus SampleReader::next_line(std::string_view &line)
{
	for (;;) {
		const char *begin = buffer_ + begin_;
		const std::size_t available = end_ - begin_;
		if (const auto *newline = static_cast<const char *>(std::memchr(begin, '\n', available))) {
			line_++;
			line = std::string_view(begin, static_cast<std::size_t>(newline - begin));
			begin_ += line.size() + 1;
			if (line.size() > kMaxSampleLineBytes) {
				fail(fmt::format("line longer than {} bytes", kMaxSampleLineBytes));
				return LineStatus::Failed;
			}
			if (!blank(line))
				return LineStatus::Line;
			continue;
		}
		// No newline in what is buffered: a line longer than allowed fails now,
		// without reading the rest of it.
		if (available > kMaxSampleLineBytes) {
			line_++;
			fail(fmt::format("line longer than {} bytes", kMaxSampleLineBytes));
			return LineStatus::Failed;
		}
		if (eof_) {
			if (available == 0)
				return LineStatus::End;
			line_++; // the last line, without its newline
			line = std::string_view(begin, available);
			begin_ = end_;
			if (blank(line))
				return LineStatus::End;
			return LineStatus::Line;
		}
		std::memmove(storage_.get(), begin, available);
		begin_ = 0;
		end_ = available;
		const std::ptrdiff_t n = read_(storage_.get() + end_, kBufferBytes - end_);
		if (n < 0) {
			fail("read error");
			return LineStatus::Failed;
		}
		if (n == 0)
			eof_ = true;
		end_ += static_cast<std::size_t>(n);
	}
}

bool SampleReader::read_header()
{
	if (header_read_)
		return !error_;
	header_read_ = true;
	std::string_view line;
	switch (next_line(line)) {
	case LineStatus::Failed:
		return false;
	case LineStatus::End:
		return fail(fmt::format("empty file: no \"{}\" header line", kSampleFormat));
	case LineStatus::Line:
		break;
	}
	if (auto error = parse_header(line, header_))
		return fail(std::move(*error));
	return true;
}

bool SampleReader::next(Sample &sample)
{
	if (error_ || !read_header())
		return false;
	for (;;) {
		std::string_view line;
		if (next_line(line) != LineStatus::Line)
			return false;
		if (CanonicalLine(line).parse(sample, header_.version)) [[likely]]
			return true;
		switch (parse_other(line, sample)) {
		case OtherLine::Sample:
			return true;
		case OtherLine::Failed:
			return false;
		case OtherLine::Skipped:
			break;
		}
	}
}

// Out of line: its JSON documents would make every call of next() set up their room.
[[gnu::noinline]] SampleReader::OtherLine SampleReader::parse_other(std::string_view line, Sample &sample)
{
	sample.summary.reset();
	if (line.starts_with("{\"process\":")) {
		json doc;
		RecordedProcess process;
		if (auto error = parse_object(line, doc))
			return fail(std::move(*error)), OtherLine::Failed;
		if (auto error = parse_process(doc, process))
			return fail(std::move(*error)), OtherLine::Failed;
		if (on_process_)
			on_process_(process.pid, process.start_ns, std::move(process.info));
		return OtherLine::Skipped;
	}
	if (line.starts_with("{\"footprint\":")) {
		json doc;
		std::uint32_t pid = 0;
		std::uint64_t start_ns = 0, t_ns = 0;
		Footprint footprint;
		if (header_.version < 2)
			return fail("a \"footprint\" line in a version 1 file"), OtherLine::Failed;
		if (auto error = parse_object(line, doc))
			return fail(std::move(*error)), OtherLine::Failed;
		if (auto error = parse_footprint(doc, pid, start_ns, t_ns, footprint))
			return fail(std::move(*error)), OtherLine::Failed;
		if (on_footprint_)
			on_footprint_(pid, start_ns, t_ns, std::move(footprint));
		return OtherLine::Skipped;
	}
	if (auto error = parse_sample(line, sample, header_.version))
		return fail(std::move(*error)), OtherLine::Failed;
	return OtherLine::Sample;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text)
{
	std::size_t i = 0;
	auto digits = [&](std::size_t n, int &out) {
		out = 0;
		for (std::size_t k = 0; k < n; k++, i++) {
			if (i >= text.size() || text[i] < '0' || text[i] > '9')
				return false;
			out = out * 10 + (text[i] - '0');
		}
		return true;
	};
	auto expect = [&](std::string_view any_of) {
		return i < text.size() && any_of.find(text[i++]) != std::string_view::npos;
	};
	int year, month, day, hour, minute, second;
	if (!digits(4, year) || !expect("-") || !digits(2, month) || !expect("-") || !digits(2, day) ||
	    !expect("Tt ") || !digits(2, hour) || !expect(":") || !digits(2, minute) || !expect(":") ||
	    !digits(2, second))
		return std::nullopt;
	std::chrono::nanoseconds fraction{0};
	if (i < text.size() && text[i] == '.') {
		i++;
		const std::size_t start = i;
		std::int64_t scale = 100'000'000;
		for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++, scale /= 10)
			fraction += std::chrono::nanoseconds((text[i] - '0') * scale);
		if (i == start)
			return std::nullopt;
	}
	std::chrono::minutes offset{0};
	if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
		i++;
	} else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
		const bool east = text[i++] == '+';
		int oh, om;
		if (!digits(2, oh) || !expect(":") || !digits(2, om) || oh > 23 || om > 59)
			return std::nullopt;
		offset = std::chrono::minutes((east ? 1 : -1) * (oh * 60 + om));
	} else {
		return std::nullopt;
	}
	const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month(month),
					       std::chrono::day(day)};
	// system_clock counts nanoseconds in 64 bits: it ends in 2262.
	if (i != text.size() || !date.ok() || year < 1970 || year > 2200 || hour > 23 || minute > 59 ||
	    second > 60)
		return std::nullopt;
	const auto utc = std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
			 std::chrono::seconds(second) - offset + fraction;
	return std::chrono::time_point_cast<std::chrono::system_clock::duration>(utc);
}

std::optional<std::chrono::system_clock::time_point> sample_wall_time(const SampleFileHeader &header,
									std::uint64_t first_timestamp_ns,
									std::uint64_t timestamp_ns)
{
	const auto start = parse_rfc3339(header.recorded_at);
	if (!start)
		return std::nullopt;
	const std::uint64_t origin = header.monotonic_ns.value_or(first_timestamp_ns);
	// Unsigned difference read as signed: a sample a little before the origin stays close to it.
	const auto offset = std::chrono::nanoseconds(static_cast<std::int64_t>(timestamp_ns - origin));
	return *start + std::chrono::duration_cast<std::chrono::system_clock::duration>(offset);
}

} // namespace mxwatch
