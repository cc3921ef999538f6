// SPDX-License-Identifier: GPL-2.0-only
// The alert formatter on arbitrary process names, command lines, paths, user
// names, cgroup paths, evidence and response outcomes: ECS and OCSF must always be one line of
// valid ASCII JSON, the syslog message strict RFC 5424, the journald fields
// acceptable to journald, and nothing may throw.
#include "mxwatch/alerts/alert_format.hpp"
#include "mxwatch/alerts/journal_fields.hpp"
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/util/utf8.hpp"
#include "rfc5424_parser.hpp"

#include <cstdio>
#include <cstdlib>
#include <fuzzer/FuzzedDataProvider.h>

namespace {

using namespace mxwatch;

[[noreturn]] void fail(const char *what, const std::string &detail)
{
	std::fprintf(stderr, "%s\n%s\n", what, detail.c_str());
	std::abort();
}

template <typename T> std::optional<T> maybe(FuzzedDataProvider &in, T value)
{
	return in.ConsumeBool() ? std::optional<T>(value) : std::nullopt;
}

Alert alert_from(FuzzedDataProvider &in)
{
	Detection d;
	d.stage = in.PickValueInArray({AlertStage::First, AlertStage::Ongoing, AlertStage::Resolved});
	d.key = {in.ConsumeIntegral<std::uint32_t>(), in.ConsumeIntegral<std::uint64_t>()};
	d.comm = in.ConsumeRandomLengthString(32);
	d.timestamp_ns = in.ConsumeIntegral<std::uint64_t>();
	d.first_seen_ns = in.ConsumeIntegral<std::uint64_t>();
	for (auto &count : d.window_counts.by_mode)
		count = in.ConsumeIntegral<std::uint32_t>();
	d.window_counts.transitions = in.ConsumeIntegral<std::uint64_t>();
	d.window_counts.ftz_daz = in.ConsumeIntegral<std::uint64_t>();
	for (int i = in.ConsumeIntegralInRange(0, 4); i > 0; i--)
		d.threads.push_back(in.ConsumeIntegral<std::uint32_t>());
	d.verdict.kind = in.PickValueInArray({VerdictKind::Benign, VerdictKind::Suspicious, VerdictKind::Miner});
	d.verdict.score = in.ConsumeFloatingPoint<double>(); // NaN and infinities included
	d.verdict.reason = in.ConsumeRandomLengthString(64);
	d.verdict.rule = in.PickValueInArray({DecisionRule::None, DecisionRule::ChurnMxcsrOnly, DecisionRule::ChurnFootprint,
					      DecisionRule::SustainedChurn});
	d.scope = in.PickValueInArray({Scope::Thread, Scope::Process, Scope::Group});

	ProcessInfo p;
	p.pid = d.key.tgid;
	p.executable = maybe(in, in.ConsumeRandomLengthString(128));
	for (int i = in.ConsumeIntegralInRange(0, 5); i > 0; i--)
		p.args.push_back(in.ConsumeRandomLengthString(64));
	p.args_truncated = in.ConsumeBool();
	p.uid = maybe(in, in.ConsumeIntegral<std::uint32_t>());
	p.user_name = maybe(in, in.ConsumeRandomLengthString(32));
	p.parent_pid = maybe(in, in.ConsumeIntegral<std::uint32_t>());
	p.parent_executable = maybe(in, in.ConsumeRandomLengthString(64));
	p.start_time = maybe(in, std::chrono::system_clock::time_point(
	                             std::chrono::seconds(in.ConsumeIntegralInRange<std::int64_t>(0, 1ll << 36))));
	p.sha256 = maybe(in, in.ConsumeRandomLengthString(64));
	p.container = parse_proc_cgroup(in.ConsumeRandomLengthString(256));

	HostIdentity host{in.ConsumeRandomLengthString(32), maybe(in, in.ConsumeRandomLengthString(32)),
	                  maybe(in, in.ConsumeRandomLengthString(32))};
	const auto when = std::chrono::system_clock::time_point(
	    std::chrono::milliseconds(in.ConsumeIntegralInRange<std::int64_t>(0, 1ll << 45)));
	Alert alert = make_alert(d, p, host, in.ConsumeIntegral<std::uint64_t>(), when);
	if (in.ConsumeBool()) // --action's outcome; the reason may quote hostile text (a comm, errno text)
		alert.response = ResponseOutcome{
			in.PickValueInArray({ResponseAction::None, ResponseAction::Stop, ResponseAction::Kill}),
			in.PickValueInArray({ResponseResult::Applied, ResponseResult::Failed, ResponseResult::Skipped}),
			in.ConsumeRandomLengthString(64)};
	return alert;
}

void check(const RenderedAlert &r)
{
	for (unsigned char c : r.document)
		if (c < 0x20 || c >= 0x7F)
			fail("document is not printable ASCII", r.document);
	if (!nlohmann::json::accept(r.document))
		fail("document is not JSON", r.document);
	for (unsigned char c : r.message)
		if (c < 0x20 || c == 0x7F)
			fail("control character in the message", r.message);
	if (valid_utf8(r.message) != r.message)
		fail("message is not UTF-8", r.message);

	std::string why;
	const std::string syslog = rfc5424_message(r, 23, 1);
	if (!test::parse_rfc5424(syslog, &why))
		fail(("not RFC 5424: " + why).c_str(), syslog);
	// Short limits force the sentence-instead-of-document path too.
	if (!test::parse_rfc5424(rfc5424_message(r, 0, 1, 64), &why))
		fail(("short message not RFC 5424: " + why).c_str(), syslog);

	for (const auto &field : journal_fields(r)) {
		const auto eq = field.find('=');
		if (eq == std::string::npos || eq == 0 || eq > 64 || field[0] == '_')
			fail("bad journal field", field);
		for (std::size_t i = 0; i < eq; i++)
			if (!((field[i] >= 'A' && field[i] <= 'Z') || (field[i] >= '0' && field[i] <= '9') ||
			      field[i] == '_'))
				fail("bad journal field name", field);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	FuzzedDataProvider in(data, size);
	const Alert alert = alert_from(in);
	check(render_alert(alert, AlertFormat::Ecs));
	check(render_alert(alert, AlertFormat::Ocsf));
	const std::string value = in.ConsumeRemainingBytesAsString();
	const std::string escaped = escape_sd_value(value);
	if (!test::parse_rfc5424("<0>1 - - - - - [x k=\"" + escaped + "\"]"))
		fail("escaped SD value does not parse", escaped);
	return 0;
}
