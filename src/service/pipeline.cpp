// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/service/pipeline.hpp"

#include "mxwatch/util/errors.hpp"
#include "mxwatch/kernel/host_checks.hpp"
#include "mxwatch/kernel/reader_priority.hpp"
#include "mxwatch/enrich/process_liveness.hpp"

#include <csignal>
#include <malloc.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mxwatch {

Pipeline::Pipeline(const PipelineOptions &options)
    : options_(options), detector_(options.detector), allowlist_(options.allowlist)
{
	if (auto problem = first_host_problem(check_host()))
		throw SetupError(*problem);
	sampler_ = std::make_unique<KernelSampler>(options.sampler, [this](const Sample &s) { on_sample(s); });
	sampling_floor_ = std::make_unique<SamplingFloor>(options.sampling_floor_hz, std::chrono::nanoseconds(options.sampler.forget_after_ns));
	// This thread polls the ring buffer and runs the detector: it must not starve.
	reader_realtime_refusal_ = make_reader_realtime();
}

ProcessInfo Pipeline::process_info(const ProcessKey &key) const
{
	if (auto it = known_.find(key); it != known_.end())
		return it->second.info;
	return read_process_info(key.tgid);
}

std::optional<std::string> Pipeline::allowed(const ProcessKey &key) const
{
	if (auto it = known_.find(key); it != known_.end())
		return it->second.allowed;
	return std::nullopt;
}

namespace {

std::uint64_t now_monotonic_ns()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

AllowlistSubject allowlist_subject(const ProcessInfo &info)
{
	AllowlistSubject subject;
	subject.executable = info.executable;
	subject.user_name = info.user_name;
	subject.uid = info.uid;
	subject.sha256 = info.sha256;
	if (info.container)
		subject.container_id = info.container->id;
	return subject;
}

} // namespace

void Pipeline::reopen_output()
{
	if (output_)
		output_->reopen();
}

void Pipeline::reconfigure(const DetectorConfig &detector, const AllowlistConfig &allowlist)
{
	Allowlist replacement(allowlist); // may throw: nothing changed yet
	allowlist_ = std::move(replacement);
	options_.detector = detector;
	options_.allowlist = allowlist;
	detector_.reconfigure(detector);
	for (auto &[key, known] : known_)
		known.allowed = allowlist_.empty() ? std::nullopt : allowlist_.match(allowlist_subject(known.info));
}

void Pipeline::on_sample(const Sample &sample)
{
	samples_seen_++;
	sampling_floor_->on_sample(sample);
	const ProcessKey key{sample.tgid, sample.process_start_ns};
	auto [it, inserted] = known_.try_emplace(key);
	KnownProcess &known = it->second;
	if (inserted) {
		// Read now: short-lived processes are gone by the time they are reported.
		known.info = read_process_info(sample.tgid);
		known.group = known.info.executable.value_or("");
		known.start_ticks = read_start_ticks(sample.tgid);
		if (!allowlist_.empty())
			known.allowed = allowlist_.match(allowlist_subject(known.info));
	}
	if (auto detection = detector_.observe(sample, known.group))
		on_detection(std::move(*detection), known);
}

void Pipeline::on_detection(Detection detection, KnownProcess &known)
{
	if (detection.kind == AlertKind::Alert && !known.allowed && allowlist_.has_digests()) {
		// Hashing waits until a process is judged a miner: rare, and bounded per binary.
		complete_process_info(known.info, hasher_);
		known.allowed = allowlist_.match(allowlist_subject(known.info));
	}
	// The response, once per process, on its first alert. apply_response() checks the
	// allowlist itself: an allowlisted process is skipped even if this function changes.
	std::optional<ResponseOutcome> response;
	if (detection.kind == AlertKind::Alert)
		response = apply_response(options_.action,
					  {detection.key.tgid, detection.key.start_ns, known.start_ticks, known.allowed});
	const std::string response_note =
	    response ? fmt::format("; {} {}", to_string(response->action), response->describe()) : std::string();
	if (known.allowed) {
		counts_.allowlisted++;
		if (detection.kind == AlertKind::Alert)
			spdlog::info("pid {} ({}) computes RandomX but is allowlisted ({}){}", detection.key.tgid,
				     detection.comm, *known.allowed, response_note);
		return;
	}
	if (detection.kind == AlertKind::Alert)
		spdlog::warn("miner: pid {} ({}): {}{}", detection.key.tgid, detection.comm, detection.verdict.reason,
			     response_note);
	else
		spdlog::info("{}: pid {} ({})", to_string(detection.kind), detection.key.tgid, detection.comm);
	counts_.detections[static_cast<std::size_t>(detection.kind)]++;
	if (output_)
		output_->publish({detection, known.info, std::chrono::system_clock::now(), options_.detector.window_ns,
				  response});
	if (detection.kind == AlertKind::Alert)
		reports_.push_back({std::move(detection), known.info, response});
	if (reports_.size() > options_.max_reports)
		reports_.erase(reports_.begin(), reports_.begin() + static_cast<std::ptrdiff_t>(reports_.size() / 2));
}

void Pipeline::resolve_exited_processes()
{
	std::vector<ProcessKey> gone;
	for (const auto &[key, process] : detector_.processes()) {
		if (!process.alerted || process.exited)
			continue;
		auto it = known_.find(key);
		if (it == known_.end() || !it->second.start_ticks ||
		    !same_process_alive(key.tgid, *it->second.start_ticks))
			gone.push_back(key);
	}
	const auto now = now_monotonic_ns();
	for (const auto &key : gone) {
		if (auto resolved = detector_.process_exited(key, now))
			on_detection(std::move(*resolved), known_[key]);
	}
}

void Pipeline::forget_exited(std::uint64_t now_ns)
{
	// Idle, never alerted on: is it still there? Each such process is looked up
	// in /proc at most once a minute, so a host of idle processes costs little.
	const std::uint64_t idle = *options_.forget_exited_after_ns;
	const std::uint64_t recheck = 60'000'000'000;
	std::vector<ProcessKey> gone;
	for (const auto &[key, process] : detector_.processes()) {
		if (process.alerted || process.last_ns + idle > now_ns)
			continue;
		auto it = known_.find(key);
		if (it == known_.end() || !it->second.start_ticks) {
			gone.push_back(key);
			continue;
		}
		if (it->second.liveness_checked_ns + recheck > now_ns)
			continue;
		if (same_process_alive(key.tgid, *it->second.start_ticks))
			it->second.liveness_checked_ns = now_ns;
		else
			gone.push_back(key);
	}
	for (const auto &key : gone) {
		detector_.forget_process(key);
		known_.erase(key);
	}
	trim_heap_after(gone.size());
}

void Pipeline::trim_heap_after(std::size_t processes_freed)
{
	// Give what churn freed back to the system: glibc keeps freed heap pages otherwise.
	if (processes_freed > 256)
		malloc_trim(0);
}

void Pipeline::expire(std::uint64_t now_ns)
{
	for (auto &resolved : detector_.expire(now_ns)) {
		const ProcessKey key = resolved.key;
		on_detection(std::move(resolved), known_[key]);
	}
	// The detector also drops processes on its own (expiry, eviction at its cap).
	const std::size_t before = known_.size();
	std::erase_if(known_, [&](const auto &entry) { return !detector_.processes().contains(entry.first); });
	trim_heap_after(before - known_.size());
}

void Pipeline::run_until(const std::atomic<bool> &stop, std::chrono::steady_clock::time_point until,
			 const std::function<void()> &tick)
{
	using clock = std::chrono::steady_clock;
	auto next_tick = clock::now();
	auto next_expiry = clock::now() + std::chrono::seconds(10);
	auto next_liveness = clock::now() + std::chrono::seconds(1);
	auto next_health = clock::now() + kAttachmentCheckInterval;
	while (!stop.load() && clock::now() < until) {
		sampler_->poll(100);
		const auto now = clock::now();
		if (tick && now >= next_tick) {
			tick();
			next_tick = now + std::chrono::milliseconds(250);
		}
		if (now >= next_liveness) {
			resolve_exited_processes();
			if (options_.forget_exited_after_ns)
				forget_exited(now_monotonic_ns());
			next_liveness = now + std::chrono::seconds(1);
		}
		if (now >= next_expiry) {
			expire(now_monotonic_ns());
			next_expiry = now + std::chrono::seconds(10);
		}
		if (now >= next_health) {
			next_health = now + kAttachmentCheckInterval;
			if (AttachmentHealth health = sampler_->check_attachment(); !health.ok) {
				// Blind: better to stop (systemd restarts us, re-attached) than to watch nothing.
				spdlog::error("{}; stopping", health.problem);
				attachment_problem_ = std::move(health.problem);
				break;
			}
		}
	}
	sampler_->poll(0); // drain what is already there
}

namespace {
std::atomic<bool> g_stop{false};
std::atomic<unsigned> g_hangups{0};

void on_signal(int signo)
{
	if (signo == SIGHUP)
		g_hangups.fetch_add(1);
	else
		g_stop.store(true);
}
} // namespace

std::atomic<bool> &StopSignals::stop_requested() { return g_stop; }
std::atomic<unsigned> &StopSignals::hangups() { return g_hangups; }

void StopSignals::install()
{
	struct sigaction action {};
	action.sa_handler = on_signal;
	sigemptyset(&action.sa_mask);
	for (int signo : {SIGINT, SIGTERM, SIGHUP})
		sigaction(signo, &action, nullptr);
}

} // namespace mxwatch
