// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch doctor`: is this host ready, and does detection work here, end to end?
// The host checks of every command (host_checks.cpp), then the real BPF program
// attached and a synthetic RandomX-like child forked from mxwatch itself (so the
// doctor needs nothing but the installed binary), which must be alerted on
// within a deadline. One PASS/FAIL line per step, with the fix for each FAIL.
#include "mxwatch/cli/cli.hpp"
#include "mxwatch/kernel/host_checks.hpp"
#include "mxwatch/kernel/privileges.hpp"
#include "mxwatch/util/fd.hpp"
#include "mxwatch/util/capabilities.hpp"
#include "mxwatch/util/clock.hpp"
#include "mxwatch/util/kernel_version.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <thread>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xmmintrin.h>

namespace mxwatch {
namespace {

struct DoctorOptions {
	bool json = false;
	double deadline_s = 30; // for the self-test's alert
};

struct DoctorLine {
	std::string name;
	bool ok = false;
	std::string detail;
	std::string fix; // for a FAIL: what to do
};

class DoctorReport {
public:
	explicit DoctorReport(bool json) : json_(json) {}

	void add(DoctorLine line)
	{
		if (!json_) {
			std::string text = fmt::format("{}  {:<16} {}", line.ok ? "PASS" : "FAIL", line.name, line.detail);
			if (!line.fix.empty())
				text += " — fix: " + line.fix;
			std::puts(text.c_str());
			std::fflush(stdout);
		}
		lines_.push_back(std::move(line));
	}
	bool all_ok() const
	{
		return std::all_of(lines_.begin(), lines_.end(), [](const DoctorLine &l) { return l.ok; });
	}
	nlohmann::json to_json() const
	{
		nlohmann::json checks = nlohmann::json::array();
		for (const auto &l : lines_) {
			nlohmann::json check = {{"name", l.name}, {"ok", l.ok}, {"detail", l.detail}};
			if (!l.fix.empty())
				check["fix"] = l.fix;
			checks.push_back(check);
		}
		return {{"ok", all_ok()}, {"checks", checks}};
	}

private:
	bool json_;
	std::vector<DoctorLine> lines_;
};

// host_checks.cpp writes a failure as "what is missing; how to fix it".
DoctorLine from_host_check(const HostCheck &check)
{
	static const std::map<std::string, std::string> kNames = {{"btf", "BTF"}};
	DoctorLine line{kNames.contains(check.name) ? kNames.at(check.name) : check.name, check.ok, check.detail, {}};
	if (check.ok) {
		if (check.name == "btf")
			line.detail += " present";
		return line;
	}
	if (const auto semicolon = check.detail.find("; "); semicolon != std::string::npos) {
		line.detail = check.detail.substr(0, semicolon);
		line.fix = check.detail.substr(semicolon + 2);
	}
	return line;
}

DoctorLine check_kernel_version()
{
	const std::string release = kernel_release();
	const auto version = parse_kernel_release(release);
	if (version && *version >= KernelVersion{5, 10})
		return {"kernel", true, fmt::format("{} (5.10 or newer needed)", release), {}};
	return {"kernel", false, fmt::format("{} is older than 5.10", release),
		"boot a 5.10 or newer kernel with BTF (Debian 11 and later ship one)"};
}

// With --action, signalling other users' miners needs CAP_KILL.
DoctorLine check_response(const std::string &action_name)
{
	const auto action = response_action_from_string(action_name).value_or(ResponseAction::None);
	if (!needs_kill_capability(action))
		return {"response", true, "--action none: alerts only", {}};
	if (has_effective_capability(CAP_KILL))
		return {"response", true, fmt::format("--action {}: CAP_KILL present", action_name), {}};
	return {"response", false,
		fmt::format("--action {} is set but CAP_KILL is missing: other users' miners cannot be signalled",
			    action_name),
		"run as root or grant CAP_KILL (systemd: AmbientCapabilities=... CAP_KILL)"};
}

// The self-test's child: like RandomX's CFROUND (and tests/workloads/cfround.c)
// it keeps loading MXCSR with a random rounding mode between bits of FP work,
// with the RandomX VM's FTZ+DAZ pattern. Runs in a fork of a multi-threaded
// process, so it uses nothing but computation and system calls, and _exit()s.
//
// Like a miner it also holds a connection (to the doctor's listener on
// loopback, `pool_port`) and, started by root, runs as nobody: gathering its
// evidence then needs what mxwatch keeps to read other users' processes.
[[noreturn]] void synthetic_miner(pid_t parent, double seconds, std::uint16_t pool_port)
{
	prctl(PR_SET_NAME, "mxw-selftest", 0, 0, 0);
	if (pool_port != 0) {
		const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_in pool{};
		pool.sin_family = AF_INET;
		pool.sin_port = htons(pool_port);
		pool.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd >= 0)
			(void)connect(fd, reinterpret_cast<const sockaddr *>(&pool), sizeof pool); // kept open
	}
	if (geteuid() == 0) { // raw system calls: this thread is the process's only one
		constexpr unsigned kNobody = 65534;
		(void)syscall(SYS_setgroups, 0, nullptr);
		if (syscall(SYS_setresgid, kNobody, kNobody, kNobody) != 0 ||
		    syscall(SYS_setresuid, kNobody, kNobody, kNobody) != 0)
			_exit(3);
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); // a credential change cleared it, as for any daemon's worker
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); // after the credential change, which clears it
	if (getppid() != parent)
		_exit(0);
	std::uint64_t state = 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(getpid());
	volatile double acc = 1.0;
	const double deadline = monotonic_s() + seconds;
	while (monotonic_s() < deadline) {
		for (int i = 0; i < 4096; i++) {
			state ^= state << 13; // xorshift64
			state ^= state >> 7;
			state ^= state << 17;
			_mm_setcsr(0x9FC0u | static_cast<unsigned>((state >> 32) & 3) << 13);
			acc = acc * 1.0000001 + 1e-9;
			acc = acc / 1.0000001;
		}
	}
	_mm_setcsr(0x1F80);
	_exit(0);
}

class SyntheticMiner {
public:
	SyntheticMiner(double seconds, std::uint16_t pool_port)
	{
		const pid_t parent = getpid();
		pid_ = fork();
		if (pid_ == 0)
			synthetic_miner(parent, seconds, pool_port);
	}
	~SyntheticMiner() { stop(); }
	SyntheticMiner(const SyntheticMiner &) = delete;
	SyntheticMiner &operator=(const SyntheticMiner &) = delete;

	pid_t pid() const { return pid_; }
	bool running()
	{
		if (pid_ <= 0 || reaped_)
			return false;
		int status = 0;
		if (waitpid(pid_, &status, WNOHANG) == pid_)
			reaped_ = true;
		return !reaped_;
	}
	void stop()
	{
		if (pid_ <= 0 || reaped_)
			return;
		kill(pid_, SIGKILL);
		int status = 0;
		while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
		}
		reaped_ = true;
	}

private:
	pid_t pid_ = -1;
	bool reaped_ = false;
};

std::string percent_by_mode(const ModeCounts &counts)
{
	static const char *kModes[] = {"nearest", "down", "up", "toward-zero"};
	std::string text;
	for (int mode = 0; mode < kRoundingModes; mode++)
		text += fmt::format("{}{} {:.0f}%", mode ? ", " : "", kModes[mode],
				    100.0 * counts.share(static_cast<RoundingMode>(mode)));
	return text;
}

// A listening TCP socket on 127.0.0.1, any port.
class Listener {
public:
	static Listener loopback()
	{
		Listener l;
		l.fd_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t len = sizeof addr;
		if (!l.fd_ || bind(l.fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
		    listen(l.fd_.get(), 4) != 0 || getsockname(l.fd_.get(), reinterpret_cast<sockaddr *>(&addr), &len) != 0)
			return {};
		l.port_ = ntohs(addr.sin_port);
		return l;
	}
	std::uint16_t port() const { return port_; }

private:
	UniqueFd fd_;
	std::uint16_t port_ = 0;
};

// Reads the evidence an alert about the child carries — footprint, sockets,
// executable hash and YARA scan — on a thread holding only the capabilities
// `run` keeps, and reports what worked.
DoctorLine check_evidence(const CommonOptions &common, Pipeline &pipeline, ProcDirectory &processes,
			  const ProcessKey &key, std::uint16_t pool_port, nlohmann::json &result)
{
	std::shared_ptr<MinerIdentifier> identifier;
	std::string yara_problem;
	try {
		identifier = make_miner_identifier(common.output);
	} catch (const std::exception &e) {
		yara_problem = e.what();
	}
	Pipeline::Corroborating evidence;
	ProcessInfo info = pipeline.process_info(key);
	std::optional<std::vector<MinerMatch>> matches;
	std::string kept, drop_problem;
	std::thread([&] {
		try {
			kept = drop_capabilities(capabilities_to_keep(privilege_needs(common)));
		} catch (const std::exception &e) {
			drop_problem = e.what();
			return;
		}
		evidence = pipeline.corroborating(key);
		if (processes.hasher())
			complete_process_info(info, *processes.hasher());
		if (identifier && info.sha256 && info.executable_file)
			matches = identifier->identify(*info.executable_file, *info.sha256);
	}).join();
	if (!drop_problem.empty())
		return {"evidence", false, "could not drop to the capabilities run keeps: " + drop_problem,
			"run the doctor as root"};
	std::vector<std::string> problems, found;
	if (evidence.footprint && !evidence.footprint->threads.empty())
		found.push_back(fmt::format("footprint ({} MiB resident, {} thread{})", evidence.footprint->resident_bytes >> 20,
					    evidence.footprint->threads.size(), evidence.footprint->threads.size() == 1 ? "" : "s"));
	else
		problems.push_back("footprint: /proc/PID/smaps_rollup, maps or task/*/stat unreadable");
	const bool peer = evidence.sockets &&
			  std::any_of(evidence.sockets->endpoints.begin(), evidence.sockets->endpoints.end(),
				      [&](const SocketEndpoint &e) { return e.remote_port == pool_port && e.connected(); });
	if (peer)
		found.push_back(fmt::format("sockets (connected to tcp 127.0.0.1:{})", pool_port));
	else if (pool_port != 0)
		problems.push_back("sockets: the child's connection was not found in /proc/PID/fd and net/tcp");
	if (info.sha256)
		found.push_back("executable hash");
	else
		problems.push_back("executable hash: /proc/PID/exe unreadable");
	if (!yara_problem.empty())
		problems.push_back("YARA: " + yara_problem);
	else if (!identifier)
		found.push_back("YARA off (--no-yara)");
	else if (!info.sha256)
		problems.push_back("YARA: nothing to scan without the executable");
	else if (matches)
		found.push_back(fmt::format("YARA scan ({} rules, {} matched)", identifier->rule_count(), matches->size()));
	else if (identifier->counts().skipped > 0) // bounded by size, not by privilege: it could be read
		found.push_back(fmt::format("YARA ready ({} rules; this executable is over the {} MiB scan bound)",
					    identifier->rule_count(), ScanLimits{}.max_bytes >> 20));
	else
		problems.push_back("YARA: the executable could not be scanned");
	result["evidence"] = {{"capabilities", kept}, {"found", found}, {"problems", problems}};
	const std::string as = fmt::format("as uid {} with {}", info.uid ? std::to_string(*info.uid) : "?",
					   kept.empty() || kept == "=" ? std::string("no capabilities") : kept);
	if (problems.empty())
		return {"evidence", true, fmt::format("{}, {}", fmt::join(found, ", "), as), {}};
	return {"evidence", false, fmt::format("{} ({})", fmt::join(problems, "; "), as),
		"mxwatch needs cap_sys_ptrace and cap_dac_read_search to read other users' /proc entries: "
		"check the unit's CapabilityBoundingSet= or the pod's securityContext"};
}

// Attaches the real program, runs the synthetic miner, and reports every step.
void self_test(const CommonOptions &common, const DoctorOptions &options, DoctorReport &report,
	       nlohmann::json &result)
{
	PipelineOptions pipeline_options = common.to_pipeline_options();
	pipeline_options.allowlist = {};                // the child is mxwatch itself: never allowlisted,
	pipeline_options.action = ResponseAction::None; // and stopped by the doctor, not by --action
	std::unique_ptr<LiveSource> source;
	try {
		source = std::make_unique<LiveSource>(common.to_live_source_options());
	} catch (const std::exception &e) {
		report.add({"attach", false, e.what(),
			    "see the lines above; `mxwatch -v doctor` shows libbpf's messages, `--attach raw_tp` "
			    "or `--attach tracepoint` tries another attach type"});
		report.add({"self-test", false, "skipped: the BPF program is not attached", "fix the attach failure"});
		return;
	}
	ProcDirectory processes;
	const auto pipeline = std::make_unique<Pipeline>(pipeline_options, *source, processes);
	report.add({"attach", true,
		    fmt::format("{} on x86_fpu:x86_fpu_regs_deactivated", to_string(source->sampler().attach_type())),
		    {}});
	const SamplingFloor &floor = source->sampling_floor();
	if (floor.rate_hz() == 0)
		report.add({"sampling floor", true, "off (--sampling-floor-hz 0): CPU-bound miners on idle CPUs are "
						    "sampled only when something else runs there", {}});
	else if (floor.wakers() == 0)
		report.add({"sampling floor", false, fmt::format("{} Hz requested but no waker thread started",
								  floor.rate_hz()),
			    "check the CPU affinity mxwatch runs with (taskset, systemd CPUAffinity=)"});

	// The child's time is bounded twice: its own deadline, and SIGKILL when the doctor ends.
	const auto started = std::chrono::steady_clock::now();
	Listener pool = Listener::loopback(); // the child's "pool"; 0 when it cannot listen
	SyntheticMiner miner(options.deadline_s + 10, pool.port());
	if (miner.pid() < 0) {
		report.add({"self-test", false, fmt::format("fork: {}", std::strerror(errno)),
			    "check the process limits (ulimit -u, systemd TasksMax=)"});
		return;
	}
	const auto child = static_cast<std::uint32_t>(miner.pid());
	std::atomic<bool> done{false};
	std::optional<std::string> alert_reason; // the verdict on the child, once it alerted
	std::uint64_t alert_key_start = 0;
	double seconds_to_alert = 0;
	const auto deadline =
	    started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
			  std::chrono::duration<double>(options.deadline_s));
	pipeline->run(done, deadline, [&] {
		for (const auto &r : pipeline->reports())
			if (r.detection.key.tgid == child && !alert_reason) {
				alert_reason = r.detection.verdict.reason;
				alert_key_start = r.detection.key.start_ns;
				seconds_to_alert =
				    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
				done = true;
			}
		if (!miner.running() || StopSignals::stop_requested().load())
			done = true;
	});
	ModeCounts counts;
	for (const auto &[key, process] : pipeline->detector().processes())
		if (key.tgid == child)
			counts += process.total;
	const bool child_ran = miner.running();
	std::optional<DoctorLine> evidence_line;
	if (alert_reason && child_ran)
		evidence_line = check_evidence(common, *pipeline, processes, ProcessKey{child, alert_key_start}, pool.port(),
					       result);
	miner.stop();

	const auto c = source->sampler().counters();
	// A few lost records do not stop detection; many mean the buffer is too small for this host.
	const bool ring_ok = source->sampler().malformed_records() == 0 && c.lost * 100 <= c.sent;
	report.add({"ring buffer", ring_ok,
		    fmt::format("{} KiB: {} records received, {} lost, {} malformed", common.ring_buffer_kib, c.sent, c.lost,
				source->sampler().malformed_records()),
		    ring_ok ? "" : "raise --ring-buffer-kib"});
	if (floor.wakers() > 0)
		report.add({"sampling floor", true,
			    fmt::format("{} Hz on {} CPUs{}", floor.rate_hz(), floor.wakers(),
					floor.realtime() ? std::string(" (real-time wakers)")
							 : fmt::format(" (not real-time: {}; wakers usually preempt)",
								       floor.realtime_refusal())),
			    {}});
	const std::string layout(source->sampler().fpu_layout());
	report.add({"struct fpu", layout != "unknown",
		    layout == "fpstate" ? "MXCSR read from fpu->fpstate (5.16 and newer)"
		    : layout == "state" ? "MXCSR read from fpu->state (before 5.16)"
					: "the program has not run: no FPU context switch was seen",
		    layout == "unknown" ? "run `mxwatch -v doctor` and report the output" : ""});

	const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
	result["self_test"] = {{"pid", child},
			       {"alerted", alert_reason.has_value()},
			       {"samples", counts.total()},
			       {"samples_by_mode",
				{{"nearest", counts.by_mode[0]},
				 {"down", counts.by_mode[1]},
				 {"up", counts.by_mode[2]},
				 {"toward_zero", counts.by_mode[3]}}},
			       {"elapsed_s", elapsed}};
	if (alert_reason) {
		result["self_test"]["seconds_to_alert"] = seconds_to_alert;
		report.add({"self-test", true,
			    fmt::format("synthetic miner pid {}: {} samples, alert after {:.1f} s ({})", child,
					counts.total(), seconds_to_alert, *alert_reason),
			    {}});
	} else if (counts.total() == 0) {
		report.add({"self-test", false,
			    fmt::format("synthetic miner pid {} ran {:.0f} s and no sample of it arrived{}", child, elapsed,
					child_ran ? "" : " (it ended early)"),
			    "run `mxwatch -v doctor`; if tracepoint hits stay at 0, try `--attach raw_tp`"});
	} else {
		report.add({"self-test", false,
			    fmt::format("synthetic miner pid {}: {} samples in {:.0f} s but no alert within the {:.0f} s "
					"deadline{}",
					child, counts.total(), elapsed, options.deadline_s,
					child_ran ? "" : " (it ended early)"),
			    "the host may be overloaded: retry with a longer --deadline, or a higher "
			    "--sampling-floor-hz; check that --false-alarm is not set very low"});
	}
	std::uint64_t modes_seen = 0;
	for (auto n : counts.by_mode)
		modes_seen += n > 0;
	result["self_test"]["all_modes"] = modes_seen == kRoundingModes;
	if (counts.total() > 0)
		report.add({"rounding modes", modes_seen == kRoundingModes,
			    fmt::format("synthetic miner seen in {} of 4 modes ({})", modes_seen, percent_by_mode(counts)),
			    modes_seen == kRoundingModes ? "" : "too few samples: retry with a longer --deadline"});
	if (evidence_line)
		report.add(std::move(*evidence_line));
	else if (alert_reason)
		report.add({"evidence", false, "not checked: the synthetic miner ended before its alert",
			    "retry; if it persists, run `mxwatch -v doctor`"});
}

int run_doctor(const CommonOptions &common, const DoctorOptions &options)
{
	StopSignals::install();
	// The report is the output: the pipeline's own log lines (attached, miner) only with -v.
	if (common.verbosity == 0)
		spdlog::set_level(spdlog::level::err);
	DoctorReport report(options.json);
	const auto host = check_host();
	for (const auto &check : host) {
		report.add(from_host_check(check));
		if (check.name == "architecture")
			report.add(check_kernel_version());
	}
	report.add(check_response(common.detection.action));
	nlohmann::json extra = nlohmann::json::object();
	if (first_host_problem(host)) {
		report.add({"self-test", false, "not run: a host check above failed",
			    "fix what the FAIL lines above say, then run the doctor again"});
	} else {
		self_test(common, options, report, extra);
	}
	if (options.json) {
		nlohmann::json document = report.to_json();
		document.update(extra);
		std::puts(to_json_line(document).c_str());
	} else {
		std::puts(report.all_ok() ? "All checks passed." : "Some checks failed.");
	}
	std::fflush(stdout);
	return report.all_ok() ? kExitClean : kExitError;
}

} // namespace

void add_doctor_command(CLI::App &app, const CommonOptions &common, CommandAction &action)
{
	auto options = std::make_shared<DoctorOptions>();
	CLI::App *cmd = add_command(app, "doctor", "Check the host, then attach and detect a built-in synthetic "
						     "miner; PASS/FAIL per step (exit 2 if any failed)", action, options,
				    [&common](const auto &o) { return run_doctor(common, o); });
	cmd->add_flag("--json", options->json, "Print one JSON document instead of the lines")->configurable(false);
	cmd->add_option("--deadline", options->deadline_s, "Seconds the synthetic miner may take to be alerted on")
		->check(CLI::Range(5.0, 600.0))
		->capture_default_str()
		->configurable(false);
}

} // namespace mxwatch
