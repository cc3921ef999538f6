// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/detect/detector.hpp"
#include "mxwatch/recording/sample_file.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace mxwatch {
namespace {

constexpr const char *kHeader = R"({"format":"mxwatch-samples","version":1})";

Sample make_sample(std::string comm, std::uint32_t mxcsr = 0x9FC0 | 2u << 13)
{
	Sample s;
	s.timestamp_ns = 1'234'567'890'123;
	s.tgid = 4242;
	s.tid = 4243;
	s.process_start_ns = 99'000'000;
	s.cgroup_id = 7777;
	s.mxcsr = mxcsr;
	s.x87_cw = 0x037F;
	s.flags = 2;
	s.default_skipped = 17;
	s.comm = std::move(comm);
	return s;
}

void expect_same(const Sample &a, const Sample &b)
{
	EXPECT_EQ(a.timestamp_ns, b.timestamp_ns);
	EXPECT_EQ(a.tgid, b.tgid);
	EXPECT_EQ(a.tid, b.tid);
	EXPECT_EQ(a.process_start_ns, b.process_start_ns);
	EXPECT_EQ(a.cgroup_id, b.cgroup_id);
	EXPECT_EQ(a.mxcsr, b.mxcsr);
	EXPECT_EQ(a.x87_cw, b.x87_cw);
	EXPECT_EQ(a.flags, b.flags);
	EXPECT_EQ(a.default_skipped, b.default_skipped);
	EXPECT_EQ(a.comm, b.comm);
}

// Reads `text` to the end; returns the samples and leaves the reader's verdict in `error`.
std::vector<Sample> read_all(const std::string &text, std::optional<SampleFileError> &error)
{
	std::istringstream in(text);
	SampleReader reader(in, "replay.jsonl");
	std::vector<Sample> samples;
	Sample s;
	while (reader.next(s))
		samples.push_back(s);
	error = reader.error();
	return samples;
}

TEST(SampleFile, RoundTripsEverySampleFieldAndHostileNames)
{
	std::vector<Sample> samples;
	for (std::string comm : {std::string("xmrig"), std::string(), std::string("x\"m\nr\x01ig\\\t\x7f", 12),
				 std::string("na\xC3\xAFve \xE2\x82\xAC"),           // valid UTF-8
				 std::string("x\"m\nr\x01ig\xff\xfe\x80", 11),       // invalid UTF-8
				 std::string("\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80"), // overlong, surrogate, > U+10FFFF
				 std::string("a\0b", 3), std::string("trunc\xE2\x82")})
		samples.push_back(make_sample(comm));
	Sample extreme = make_sample("max");
	extreme.timestamp_ns = extreme.process_start_ns = extreme.cgroup_id = std::numeric_limits<std::uint64_t>::max();
	extreme.tgid = extreme.tid = extreme.mxcsr = extreme.flags = extreme.default_skipped =
		std::numeric_limits<std::uint32_t>::max();
	extreme.x87_cw = std::numeric_limits<std::uint16_t>::max();
	samples.push_back(extreme);
	samples.push_back(Sample{}); // all zero, default MXCSR

	std::ostringstream out;
	SampleWriter writer(out);
	SampleFileHeader header;
	header.recorded_at = "2027-01-15T08:00:00.000Z";
	header.monotonic_ns = 1'000'000'000;
	header.host = "node-\xff";
	header.kernel = "6.1.0-18-amd64";
	header.fpu_layout = "fpstate";
	header.attach = "tp_btf";
	header.sampling_floor_hz = 100;
	header.mxwatch = "0.1.0 (abc)";
	writer.write_header(header);
	for (const auto &s : samples)
		ASSERT_NO_THROW(writer.write(s));
	EXPECT_EQ(writer.samples_written(), samples.size());

	// One line per record, each a valid JSON object (nlohmann checks UTF-8 strictly).
	std::istringstream lines(out.str());
	std::string line;
	std::size_t count = 0;
	while (std::getline(lines, line)) {
		count++;
		EXPECT_TRUE(nlohmann::json::parse(line).is_object()) << line;
	}
	EXPECT_EQ(count, samples.size() + 1);

	std::istringstream in(out.str());
	SampleReader reader(in, "rt.jsonl");
	ASSERT_TRUE(reader.read_header());
	EXPECT_EQ(reader.header().recorded_at, header.recorded_at);
	EXPECT_EQ(reader.header().monotonic_ns, header.monotonic_ns);
	EXPECT_EQ(reader.header().host, "node-\xEF\xBF\xBD"); // replaced, not thrown on
	EXPECT_EQ(reader.header().kernel, header.kernel);
	EXPECT_EQ(reader.header().fpu_layout, header.fpu_layout);
	EXPECT_EQ(reader.header().attach, header.attach);
	EXPECT_EQ(reader.header().sampling_floor_hz, header.sampling_floor_hz);
	EXPECT_EQ(reader.header().mxwatch, header.mxwatch);
	Sample back;
	for (const auto &s : samples) {
		ASSERT_TRUE(reader.next(back)) << reader.error()->message();
		expect_same(back, s);
	}
	EXPECT_FALSE(reader.next(back));
	EXPECT_FALSE(reader.error());
}

TEST(SampleFile, WritesTheCompactDocumentedShape)
{
	std::ostringstream out;
	SampleWriter writer(out);
	writer.write(make_sample("xmrig"));
	writer.write(make_sample(std::string("\xff\x01", 2)));
	EXPECT_EQ(out.str(), R"({"t":1234567890123,"tgid":4242,"tid":4243,"start":99000000,"cgroup":7777,)"
			     R"("mxcsr":57280,"x87":895,"flags":2,"skipped":17,"comm":"xmrig"})"
			     "\n"
			     R"({"t":1234567890123,"tgid":4242,"tid":4243,"start":99000000,"cgroup":7777,)"
			     R"("mxcsr":57280,"x87":895,"flags":2,"skipped":17,"comm_hex":"ff01"})"
			     "\n");
}

TEST(SampleFile, AnyJsonSpellingReadsLikeTheWritersOwn)
{
	// Other key order, spaces, escapes, unknown keys, CRLF, blank lines, no final newline:
	// these miss the fast path and must give exactly what the canonical line gives.
	const std::string text = std::string(kHeader) + "\r\n\n" +
				 R"({"t":1234567890123,"tgid":4242,"tid":4243,"start":99000000,"cgroup":7777,)"
				 R"("mxcsr":57280,"x87":895,"flags":2,"skipped":17,"comm":"xmrig"})" "\n"
				 R"({ "comm" : "\u0078mrig", "skipped":17, "flags":2, "x87":895, "mxcsr":57280,)"
				 R"( "cgroup":7777, "start":99000000, "tid":4243, "tgid":4242, "t":1234567890123,)"
				 R"( "new":[1] })" "\r\n"
				 "   \t\n"
				 R"({"t":1234567890123,"tgid":4242,"tid":4243,"start":99000000,"cgroup":7777,)"
				 R"("mxcsr":57280,"x87":895,"flags":2,"skipped":17,"comm_hex":"786d726967"})";
	std::optional<SampleFileError> error;
	const auto samples = read_all(text, error);
	ASSERT_FALSE(error) << error->message();
	ASSERT_EQ(samples.size(), 3u);
	for (const auto &s : samples)
		expect_same(s, make_sample("xmrig"));
}

TEST(SampleFile, NumbersOfEveryLengthReadAlikeOnBothPaths)
{
	// The fast path reads up to 8 digits at a time: every length, in a field near
	// the end of the line (fewer than 8 bytes left) and in one far from it, in
	// the writer's shape and respelled (the full parser), accepted or refused alike.
	for (std::size_t digits = 1; digits <= 21; digits++) {
		for (const char lead : {'1', '9', '0'}) {
			std::string number(digits, '7');
			number[0] = lead;
			number[digits - 1] = '3';
			const std::string h = R"({"format":"mxwatch-samples","version":2})" "\n";
			const std::string line = R"({"t":)" + number + R"(,"tgid":2,"tid":2,"start":3,"cgroup":4,"mxcsr":16256,)"
						 R"("x87":895,"flags":0,"skipped":0,"comm":"n","summary":{"first":)" + number +
						 R"(,"deferrals":0,"modes":[1,)" + number + R"(,0,0],"transitions":1,)"
						 R"("after_non_default":1,"changed_after_non_default":1,"records":3,"ftz_daz":0,)"
						 R"("x87_agrees":)" + number + "}}";
			// Respelled: a space where it keeps the column of a JSON error the same.
			const std::string respelled = line + " ";
			std::optional<SampleFileError> fast_error, full_error;
			const auto fast = read_all(h + line, fast_error);
			const auto full = read_all(h + respelled, full_error);
			ASSERT_EQ(fast_error.has_value(), full_error.has_value()) << line;
			if (fast_error) {
				EXPECT_EQ(fast_error->reason, full_error->reason) << line;
				continue;
			}
			ASSERT_EQ(fast.size(), 1u);
			ASSERT_EQ(full.size(), 1u);
			EXPECT_EQ(fast[0].timestamp_ns, std::stoull(number)) << line;
			EXPECT_EQ(fast[0].timestamp_ns, full[0].timestamp_ns) << line;
			EXPECT_EQ(*fast[0].summary, *full[0].summary) << line;
		}
	}
}

struct Malformed {
	std::string text;
	std::uint64_t line;
	std::string reason;
};

TEST(SampleFile, MalformedInputNamesTheLineAndTheProblem)
{
	const std::string ok = R"({"t":1,"tgid":2,"tid":2,"start":3,"cgroup":4,"mxcsr":8064,"x87":895,"flags":0,)"
			       R"("skipped":0,"comm":"a"})";
	const std::string h = std::string(kHeader) + "\n";
	auto with = [&](const std::string &key, const std::string &value) {
		auto doc = nlohmann::json::parse(ok);
		doc.erase(key);
		std::string line = doc.dump();
		if (!value.empty())
			line.insert(line.size() - 1, ",\"" + key + "\":" + value);
		return line;
	};
	auto comm_hex = [&](const std::string &value) {
		std::string line = with("comm", "");
		return line.insert(line.size() - 1, ",\"comm_hex\":" + value);
	};
	const std::vector<Malformed> cases = {
		{"", 1, "empty file: no \"mxwatch-samples\" header line"},
		{"\n  \n\r\n", 3, "empty file"},
		{ok + "\n", 1, "no header line: the file starts with a sample"},
		{R"({"format":"other","version":1})", 1, "not a sample file: no \"format\":\"mxwatch-samples\""},
		{"{\"version\":1}\n", 1, "not a sample file"},
		{R"({"format":"mxwatch-samples","version":3})", 1,
		 "unsupported format version 3 (this mxwatch reads versions 1 to 2)"},
		{R"({"format":"mxwatch-samples","version":1})" "\n" + ok.substr(0, ok.size() - 1) + R"(,"summary":{}})", 2,
		 "a \"summary\" line in a version 1 file"},
		{R"({"format":"mxwatch-samples","version":0})", 1,
		 "unsupported format version 0 (this mxwatch reads versions 1 to 2)"},
		{std::string(kHeader) + "\n" + R"({"process":{"tgid":"7","start":1}})", 2,
		 "field \"tgid\" is not an unsigned 32-bit integer"},
		{std::string(kHeader) + "\n" + R"({"process":[1]})", 2, "field \"process\" is not an object"},
		{std::string(kHeader) + "\n" + R"({"process":{"tgid":7,"start":1,"args":[1]}})", 2,
		 "field \"args\" is not an array of strings"},
		{std::string(kHeader) + "\n" + R"({"process":{"tgid":7,"start":1,"exe_hex":"zz"}})", 2,
		 "field \"exe_hex\" is not a string of hex digit pairs"},
		{R"({"format":"mxwatch-samples","version":"1"})", 1,
		 "field \"version\" is not an unsigned 64-bit integer"},
		{R"({"format":"mxwatch-samples"})", 1, "missing field \"version\""},
		{R"({"format":"mxwatch-samples","version":1,"recorded_at":"yesterday"})", 1,
		 "field \"recorded_at\" is not an RFC 3339 time"},
		{R"({"format":"mxwatch-samples","version":1,"host":7})", 1, "field \"host\" is not a string"},
		{h + ok + "\n" + ok + "\n{\"t\":1,", 4, "invalid JSON at column"},
		{h + ok + "\n\n" + with("mxcsr", "") + "\n", 4, "missing field \"mxcsr\""},
		{h + with("mxcsr", "4294967296"), 2, "field \"mxcsr\" is not an unsigned 32-bit integer"},
		{h + with("mxcsr", "-1"), 2, "field \"mxcsr\" is not an unsigned 32-bit integer"},
		{h + with("mxcsr", "1.5"), 2, "field \"mxcsr\" is not an unsigned 32-bit integer"},
		{h + with("mxcsr", "1e3"), 2, "field \"mxcsr\" is not an unsigned 32-bit integer"},
		{h + with("mxcsr", "\"8064\""), 2, "field \"mxcsr\" is not an unsigned 32-bit integer"},
		{h + with("mxcsr", "null"), 2, "field \"mxcsr\" is not an unsigned 32-bit integer"},
		{h + with("tid", "01"), 2, "invalid JSON at column"},
		{h + with("t", "18446744073709551616"), 2, "field \"t\" is not an unsigned 64-bit integer"},
		{h + with("cgroup", "true"), 2, "field \"cgroup\" is not an unsigned 64-bit integer"},
		{h + with("cgroup", "1e999"), 2, "invalid JSON: a number is out of range"},
		{R"({"format":"mxwatch-samples","version":1,"x":-1e999})", 1, "invalid JSON: a number is out of range"},
		{h + with("comm", "5"), 2, "field \"comm\" is not a string"},
		{h + with("comm", ""), 2, "missing field \"comm\""},
		{h + with("comm", "") + "x", 2, "invalid JSON at column"},
		{h + comm_hex("\"abc\""), 2, "field \"comm_hex\" is not a string of hex digit pairs"},
		{h + comm_hex("\"6g\""), 2, "field \"comm_hex\" is not a string of hex digit pairs"},
		{h + comm_hex("[97]"), 2, "field \"comm_hex\" is not a string of hex digit pairs"},
		{h + with("x87", "65536"), 2, "field \"x87\" is not an unsigned 16-bit integer"},
		{h + with("x87", ""), 2, "missing field \"x87\""},
		{h + with("comm_hex", "\"61\""), 2, "both \"comm\" and \"comm_hex\" are present"},
		{h + "[1,2]\n", 2, "not a JSON object"},
		{h + "null", 2, "not a JSON object"},
		{h + ok + "\n" + std::string(70'000, 'x') + "\n" + ok, 3, "line longer than 65536 bytes"},
		{h + std::string(65'537, ' ') + "\n", 2, "line longer than 65536 bytes"},
		{h + std::string(30'000, '[') + std::string(30'000, ']'), 2, "not a JSON object"},
		{h + std::string(65'000, '{'), 2, "invalid JSON at column"},
		{h + std::string("{\"t\":1,\0\"x\":1}", 15), 2, "invalid JSON at column"},
		{h + "{\"t\":1,\"comm\":\"\xff\"}", 2, "invalid JSON at column"},
		{h + "{\"t\":1,\"comm\":\"\x1b[31m", 2, "invalid JSON at column"},
		{h + "{\"t\":\x1b[31m}", 2, "invalid JSON at column"},
	};
	for (const auto &c : cases) {
		std::optional<SampleFileError> error;
		read_all(c.text, error);
		const std::string shown = c.text.substr(0, 120);
		ASSERT_TRUE(error) << shown;
		EXPECT_EQ(error->file, "replay.jsonl");
		EXPECT_EQ(error->line, c.line) << shown << "\n" << error->message();
		EXPECT_EQ(error->reason.rfind(c.reason, 0), 0u) << shown << "\n" << error->message();
		EXPECT_LT(error->reason.size(), 300u) << error->reason;
		// Reasons reach terminals: they never quote the file's own bytes.
		EXPECT_TRUE(std::all_of(error->reason.begin(), error->reason.end(),
					[](char ch) { return ch >= 0x20 && ch < 0x7f; }))
			<< error->reason;
	}
}

Sample make_summary()
{
	Sample s = make_sample("noise", kMxcsrDefault | 2u << 13);
	SampleSummary summary;
	summary.first_ns = 1'234'000'000'000;
	summary.deferrals = 4;
	summary.counts.by_mode = {5, 0, 900, 0};
	summary.counts.transitions = 10;
	summary.counts.after_non_default = 903;
	summary.counts.changed_after_non_default = 5;
	summary.counts.records = 905;
	summary.counts.x87_agrees = 900;
	s.summary = summary;
	s.default_skipped = 0;
	return s;
}

TEST(SampleFile, SummariesRoundTripInVersion2)
{
	std::ostringstream out;
	SampleWriter writer(out);
	writer.write_header({});
	const Sample raw = make_sample("raw");
	const Sample summary = make_summary();
	writer.write(summary);
	writer.write(raw); // the reader's Sample is reused: a raw line after a summary has none
	writer.write(summary);
	EXPECT_NE(out.str().find(R"("version":2)"), std::string::npos);
	EXPECT_NE(out.str().find(R"("summary":{"first":1234000000000,"deferrals":4,"modes":[5,0,900,0],)"),
		  std::string::npos)
		<< out.str();
	std::optional<SampleFileError> error;
	const auto back = read_all(out.str(), error);
	ASSERT_FALSE(error) << error->message();
	ASSERT_EQ(back.size(), 3u);
	for (const auto &s : back)
		expect_same(s, s.summary ? summary : raw);
	ASSERT_TRUE(back[0].summary && back[2].summary);
	EXPECT_FALSE(back[1].summary);
	EXPECT_EQ(*back[0].summary, *summary.summary);
}

TEST(SampleFile, SummaryLinesReadAlikeInTheWritersShapeAndInAnyOther)
{
	// The writer's exact bytes take the fast path; respelled, the full parser: the same sample.
	std::ostringstream out;
	SampleWriter writer(out);
	writer.write_header({});
	const Sample summary = make_summary();
	writer.write(summary);
	std::string text = out.str();
	auto respelled = nlohmann::json::parse(text.substr(text.find('\n') + 1));
	respelled["summary"]["unknown"] = true;
	text += respelled.dump() + "\n"; // keys sorted, "cgroup" first: not the writer's shape
	std::optional<SampleFileError> error;
	const auto back = read_all(text, error);
	ASSERT_FALSE(error) << error->message();
	ASSERT_EQ(back.size(), 2u);
	for (const auto &s : back) {
		expect_same(s, summary);
		ASSERT_TRUE(s.summary);
		EXPECT_EQ(*s.summary, *summary.summary);
		EXPECT_EQ(s.samples(), 905u) << "a summary stands for its counted samples";
	}
	EXPECT_EQ(make_sample("raw").samples(), 18u) << "a record, and the 17 default samples folded into it";

	// The writer's own summary line under a version 1 header: refused, as any other spelling is.
	const std::string line = out.str().substr(out.str().find('\n') + 1);
	read_all(std::string(kHeader) + "\n" + line, error);
	ASSERT_TRUE(error);
	EXPECT_EQ(error->reason, "a \"summary\" line in a version 1 file");
}

TEST(SampleFile, MalformedSummariesAreRefused)
{
	const std::string h = R"({"format":"mxwatch-samples","version":2})" "\n";
	const std::string line = R"({"t":1,"tgid":2,"tid":2,"start":3,"cgroup":4,"mxcsr":16256,"x87":895,"flags":0,)"
				 R"("skipped":0,"comm":"n","summary":)";
	const std::string good = R"({"first":1,"deferrals":0,"modes":[1,2,0,0],"transitions":1,"after_non_default":1,)"
				 R"("changed_after_non_default":1,"records":3,"ftz_daz":0,"x87_agrees":2})";
	std::optional<SampleFileError> error;
	ASSERT_EQ(read_all(h + line + good + "}", error).size(), 1u);
	ASSERT_FALSE(error) << error->message();
	const std::vector<std::pair<std::string, std::string>> cases = {
		{"[]", "field \"summary\" is not an object"},
		{R"({"modes":[1,2,3]})", "field \"summary.modes\" is not an array of 4 counts"},
		{R"({"modes":[1,2,3,-4]})", "field \"summary.modes\" holds something other"},
		{R"({"modes":[1,2,3,4294967296]})", "field \"summary.modes\" holds something other"},
		{R"({"modes":[1,2,0,0],"first":1})", "in \"summary\": missing field \"deferrals\""},
		{std::string(good).replace(good.find("\"records\":3"), 11, "\"records\":x"), "invalid JSON"},
		{std::string(good).replace(good.find("\"x87_agrees\":2"), 14, "\"x87_agrees\":3"),
		 "field \"summary\" has inconsistent counts"},
	};
	for (const auto &[summary, reason] : cases) {
		read_all(h + line + summary + "}", error);
		ASSERT_TRUE(error) << summary;
		EXPECT_EQ(error->reason.rfind(reason, 0), 0u) << summary << "\n" << error->message();
	}
}

TEST(SampleFile, FootprintLinesRoundTripInTheirPlaceInTheStream)
{
	std::ostringstream out;
	SampleWriter writer(out);
	writer.write_header(SampleFileHeader{});
	writer.write(make_sample("a"));
	const Footprint written{274726912, 268439552, 2097152, {{4242, 12}, {4243, 993}}};
	writer.write_footprint(4242, 99'000'000, 1'234'567'890'999, written);
	writer.write(make_sample("b"));
	EXPECT_NE(out.str().find(R"({"footprint":{"tgid":4242,"start":99000000,"t":1234567890999,"resident":274726912,)"
				 R"("largest":268439552,"huge":2097152,"threads":[[4242,12],[4243,993]]}})"),
		  std::string::npos)
		<< out.str();

	std::istringstream in(out.str());
	SampleReader reader(in, "fp.jsonl");
	std::vector<std::string> order;
	std::optional<Footprint> read;
	reader.on_footprint([&](std::uint32_t pid, std::uint64_t start, std::uint64_t t, Footprint f) {
		EXPECT_EQ(pid, 4242u);
		EXPECT_EQ(start, 99'000'000u);
		EXPECT_EQ(t, 1'234'567'890'999u);
		read = std::move(f);
		order.push_back("footprint");
	});
	Sample s;
	while (reader.next(s))
		order.push_back(s.comm);
	EXPECT_FALSE(reader.error()) << reader.error()->message();
	EXPECT_EQ(order, (std::vector<std::string>{"a", "footprint", "b"}));
	ASSERT_TRUE(read);
	EXPECT_EQ(*read, written);

	// Hostile or broken footprint lines: one clear message, never a crash.
	for (const auto &[line, message] : std::vector<std::pair<std::string, std::string>>{
		     {R"({"footprint":[1]})", "field \"footprint\" is not an object"},
		     {R"({"footprint":{"tgid":1,"start":1,"t":1,"resident":-1,"largest":0}})",
		      "field \"resident\" is not an unsigned 64-bit integer"},
		     {R"({"footprint":{"tgid":1,"start":1,"t":1,"resident":0,"largest":0,"threads":[[1,1001]]}})",
		      "field \"threads\" holds an entry that is not a [tid, permille] pair"},
		     {R"({"footprint":{"tgid":1,"start":1,"t":1,"resident":0,"largest":0,"threads":7}})",
		      "field \"threads\" is not an array"},
		     {R"({"footprint":{"tgid":1,"start":1,"resident":0,"largest":0}})", "missing field \"t\""}}) {
		std::optional<SampleFileError> error;
		read_all(std::string(R"({"format":"mxwatch-samples","version":2})") + "\n" + line + "\n", error);
		ASSERT_TRUE(error) << line;
		EXPECT_EQ(error->line, 2u);
		EXPECT_TRUE(error->reason.starts_with(message)) << error->reason;
	}
	// Footprint lines came with version 2.
	std::optional<SampleFileError> error;
	read_all(std::string(kHeader) + "\n" + R"({"footprint":{"tgid":1,"start":1,"t":1,"resident":0,"largest":0}})" + "\n",
		 error);
	ASSERT_TRUE(error);
	EXPECT_EQ(error->reason, "a \"footprint\" line in a version 1 file");
}

TEST(SampleFile, ErrorMessageIsFileLineReason)
{
	std::optional<SampleFileError> error;
	read_all(std::string(kHeader) + "\n{\"t\":1}\n", error);
	ASSERT_TRUE(error);
	EXPECT_EQ(error->message(), "replay.jsonl:2: missing field \"tgid\"");
}

TEST(SampleFile, TheLongestAcceptedLineIsTheCap)
{
	Sample s = make_sample("");
	std::ostringstream probe;
	SampleWriter(probe).write(s);
	const std::size_t overhead = probe.str().size() - 1; // without the newline
	for (std::size_t length : {kMaxSampleLineBytes, kMaxSampleLineBytes + 1}) {
		s.comm.assign(length - overhead, 'c');
		std::ostringstream out;
		SampleWriter writer(out);
		writer.write_header({});
		writer.write(s);
		std::optional<SampleFileError> error;
		const auto samples = read_all(out.str(), error);
		EXPECT_EQ(samples.size(), length == kMaxSampleLineBytes ? 1u : 0u) << length;
		EXPECT_EQ(error.has_value(), length != kMaxSampleLineBytes) << length;
	}
}

TEST(SampleFile, HeaderWithoutSamplesIsAnEmptyRecording)
{
	std::optional<SampleFileError> error;
	EXPECT_TRUE(read_all(std::string(kHeader) + "\n", error).empty());
	EXPECT_FALSE(error);
}

TEST(SampleFile, ParsesRfc3339)
{
	using std::chrono::system_clock;
	const auto at = [](std::int64_t ms) { return system_clock::time_point(std::chrono::milliseconds(ms)); };
	EXPECT_EQ(parse_rfc3339("2027-01-15T08:00:00.000Z"), at(1'800'000'000'000));
	EXPECT_EQ(parse_rfc3339("2027-01-15T08:00:00Z"), at(1'800'000'000'000));
	EXPECT_EQ(parse_rfc3339("2027-01-15T09:30:00.25+01:30"), at(1'800'000'000'250));
	EXPECT_EQ(parse_rfc3339("2027-01-15t07:59:59.123456789z"),
		  at(1'799'999'999'123) + std::chrono::nanoseconds(456'789));
	for (const char *bad : {"", "2027-01-15", "2027-01-15T08:00:00", "2027-02-30T08:00:00Z", "2027-01-15T24:00:00Z",
				"2027-01-15T08:00:00.Z", "2027-01-15T08:00:00Zjunk", "2027-1-15T08:00:00Z"})
		EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

TEST(SampleFile, SampleWallTimeCountsFromTheMonotonicOrigin)
{
	SampleFileHeader header;
	header.recorded_at = "2027-01-15T08:00:00.000Z";
	const auto base = *parse_rfc3339(header.recorded_at);
	EXPECT_EQ(sample_wall_time(header, 5'000'000'000, 7'500'000'000), base + std::chrono::milliseconds(2500));
	header.monotonic_ns = 4'000'000'000;
	EXPECT_EQ(sample_wall_time(header, 5'000'000'000, 7'500'000'000), base + std::chrono::milliseconds(3500));
	EXPECT_EQ(sample_wall_time(header, 5'000'000'000, 3'000'000'000), base - std::chrono::milliseconds(1000));
	header.recorded_at.clear();
	EXPECT_FALSE(sample_wall_time(header, 5'000'000'000, 7'500'000'000));
}

// The recorded fixtures (tests/fixtures/README.md): real workloads on a real kernel.
std::filesystem::path fixture(const char *name)
{
	return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures" / name;
}

struct Replayed {
	std::set<std::uint32_t> tgids;
	std::uint64_t samples = 0;
	std::vector<Detection> detections;
	std::uint64_t footprints = 0;
};

Replayed replay_fixture(const char *name)
{
	std::ifstream file(fixture(name), std::ios::binary);
	EXPECT_TRUE(file) << fixture(name);
	SampleReader reader(file, name);
	Detector detector;
	Replayed result;
	// Footprint lines corroborate where they stand in the stream, as in replay.
	reader.on_footprint([&](std::uint32_t pid, std::uint64_t start, std::uint64_t t, Footprint f) {
		result.footprints++;
		if (auto detection = detector.corroborate({pid, start}, f, t))
			result.detections.push_back(*detection);
	});
	Sample s;
	while (reader.next(s)) {
		result.samples++;
		result.tgids.insert(s.tgid);
		if (auto detection = detector.observe(s))
			result.detections.push_back(*detection);
	}
	EXPECT_FALSE(reader.error()) << reader.error()->message();
	EXPECT_EQ(reader.header().fpu_layout, "fpstate");
	return result;
}

TEST(SampleFileFixtures, RandomxWorkloadsAreDetected)
{
	for (const char *name : {"randomx-jit.jsonl", "randomx-interpreter.jsonl", "cfround-no-ftz.jsonl"}) {
		const Replayed r = replay_fixture(name);
		ASSERT_EQ(r.tgids.size(), 1u) << name << ": fixtures hold one workload";
		ASSERT_FALSE(r.detections.empty()) << name << " (" << r.samples << " samples)";
		EXPECT_EQ(r.detections[0].verdict.kind, VerdictKind::Miner) << name;
		for (const auto &detection : r.detections)
			EXPECT_EQ(detection.key.tgid, *r.tgids.begin()) << name;
	}
}

TEST(SampleFileFixtures, EvasiveVariantsAreDetectedByTheRuleThatMustCatchThem)
{
	// The x87 word loaded like fesetround() with the light-mode cache's 256 MiB (FTZ/DAZ set;
	// clear with the sticky flags kept): only the recorded footprint makes them miners.
	for (const auto &[name, rule] : std::vector<std::pair<const char *, DecisionRule>>{
		     {"evasive-x87-256mib.jsonl", DecisionRule::ChurnFootprint},
		     {"evasive-x87-sticky-noftz.jsonl", DecisionRule::ChurnFootprint},
		     {"v2-like.jsonl", DecisionRule::ChurnMxcsrOnly}}) {
		const Replayed r = replay_fixture(name);
		ASSERT_EQ(r.tgids.size(), 1u) << name << ": fixtures hold one workload";
		ASSERT_FALSE(r.detections.empty()) << name << " (" << r.samples << " samples)";
		EXPECT_EQ(r.detections[0].verdict.kind, VerdictKind::Miner) << name;
		EXPECT_EQ(r.detections[0].verdict.rule, rule) << name << ": " << r.detections[0].verdict.reason;
		if (rule == DecisionRule::ChurnFootprint)
			EXPECT_GT(r.footprints, 0u) << name;
	}
}

TEST(SampleFileFixtures, BenignRoundingIsNotDetected)
{
	for (const char *name : {"interval-boost.jsonl", "fixed-mode-up.jsonl", "fenv-cycle-random.jsonl"}) {
		const Replayed r = replay_fixture(name);
		EXPECT_EQ(r.tgids.size(), 1u) << name;
		EXPECT_GT(r.samples, 0u) << name;
		EXPECT_TRUE(r.detections.empty()) << name;
	}
}

} // namespace
} // namespace mxwatch
