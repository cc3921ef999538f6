// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/service/pipeline.hpp"

#include "mxwatch/enrich/container_resolver.hpp"

#include <algorithm>
#include <csignal>
#include <malloc.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mxwatch {
namespace {

// How often, on the source's clock, exits are looked for and idle processes expired.
constexpr std::uint64_t kLivenessIntervalNs = 1'000'000'000;
constexpr std::uint64_t kExpiryIntervalNs = 10'000'000'000;
// An idle process that was not alerted on is looked up in /proc at most this often.
constexpr std::uint64_t kLivenessRecheckNs = 60'000'000'000;
// A process awaiting corroboration has its footprint read at most this often,
// and at most this many are read per round (about every 100 ms).
constexpr std::uint64_t kFootprintIntervalNs = 1'000'000'000;
constexpr std::size_t kFootprintsPerRound = 8;

} // namespace

Pipeline::Pipeline(const PipelineOptions &options, SampleSource &source, ProcessDirectory &processes,
		   Responder respond)
    : options_(options), source_(source), processes_(processes),
      decider_(options.allowlist, options.action, std::move(respond)), detector_(options.detector)
{
	// Erased after the events of this round: a Resolved event names the process it forgets.
	detector_.on_forget([this](const ProcessKey &key) { forgotten_.push_back(key); });
	// A recording's footprints, at their place in the stream (replay).
	source_.on_footprint([this](std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns, const Footprint &f) {
		on_footprint(ProcessKey{pid, start_ns}, f, t_ns);
	});
}

void Pipeline::on_footprint(const ProcessKey &key, const Footprint &footprint, std::uint64_t t_ns)
{
	counts_.footprints++;
	if (recorder_)
		recorder_->write_footprint(key.tgid, key.start_ns, t_ns, footprint);
	if (auto detection = detector_.corroborate(key, footprint, t_ns))
		on_detection(std::move(*detection));
}

void Pipeline::gather_footprints(std::uint64_t now_ns)
{
	const auto &awaiting = detector_.awaiting_corroboration();
	if (awaiting.empty())
		return;
	// The least recently looked at first; corroborate() changes the set, so pick first.
	std::vector<std::pair<std::uint64_t, ProcessKey>> due;
	for (const auto &key : awaiting) {
		const auto it = known_.find(key);
		if (it != known_.end() && it->second.footprint_checked_ns + kFootprintIntervalNs <= now_ns)
			due.emplace_back(it->second.footprint_checked_ns, key);
	}
	const std::size_t n = std::min(due.size(), kFootprintsPerRound);
	std::partial_sort(due.begin(), due.begin() + static_cast<std::ptrdiff_t>(n), due.end(),
			  [](const auto &a, const auto &b) { return a.first < b.first; });
	for (std::size_t i = 0; i < n; i++) {
		const ProcessKey key = due[i].second;
		KnownProcess &known = known_.at(key);
		known.footprint_checked_ns = now_ns;
		if (auto footprint = processes_.footprint(key.tgid, known.facts))
			on_footprint(key, *footprint, now_ns);
	}
}

ProcessInfo Pipeline::process_info(const ProcessKey &key) const
{
	if (auto it = known_.find(key); it != known_.end()) {
		ProcessInfo info = it->second.facts.info;
		refresh_container(info);
		return info;
	}
	ProcessInfo info;
	info.pid = key.tgid;
	return info;
}

std::optional<std::string> Pipeline::allowed(const ProcessKey &key) const
{
	if (auto it = known_.find(key); it != known_.end())
		return it->second.allowed;
	return std::nullopt;
}

Pipeline::Corroborating Pipeline::corroborating(const ProcessKey &key)
{
	Corroborating evidence;
	const auto it = known_.find(key);
	if (it != known_.end()) {
		evidence.sockets = processes_.sockets(key.tgid, it->second.facts);
		evidence.footprint = processes_.footprint(key.tgid, it->second.facts);
		evidence.live_footprint = evidence.footprint.has_value();
	}
	if (!evidence.footprint)
		if (const auto p = detector_.processes().find(key); p != detector_.processes().end())
			evidence.footprint = p->second.footprint;
	return evidence;
}

void Pipeline::reopen_output()
{
	if (output_)
		output_->reopen();
}

void Pipeline::reconfigure(const DetectorConfig &detector, const AllowlistConfig &allowlist)
{
	decider_.reconfigure(allowlist); // may throw: nothing changed yet
	options_.detector = detector;
	options_.allowlist = allowlist;
	detector_.reconfigure(detector);
	for (auto &[key, known] : known_)
		known.allowed = decider_.allowed(known.facts.info);
}

// The enrich stage, at a process's first sample.
Pipeline::KnownProcess &Pipeline::known(const Sample &sample)
{
	const ProcessKey key{sample.tgid, sample.process_start_ns};
	if (last_known_ && last_key_ == key) // a thread's samples come in runs
		return *last_known_;
	auto [it, inserted] = known_.try_emplace(key);
	KnownProcess &known = it->second;
	if (inserted) {
		known.facts = processes_.first_seen(sample.tgid, sample.process_start_ns);
		known.group = known.facts.info.executable.value_or("");
		known.allowed = decider_.allowed(known.facts.info);
		if (recorder_)
			recorder_->write_process(key.tgid, key.start_ns, known.facts.info);
	}
	last_known_ = &known;
	last_key_ = key;
	return known;
}

void Pipeline::on_sample(const Sample &sample)
{
	samples_seen_++;
	KnownProcess &process = known(sample);
	if (recorder_)
		recorder_->write(sample);
	if (auto detection = detector_.observe(sample, process.group))
		on_detection(std::move(*detection));
}

// What the container's runtime said by now, copied into the process's facts;
// true when that changed them.
bool Pipeline::refresh_container(ProcessInfo &info)
{
	if (!info.container_lookup || !info.container)
		return false;
	auto metadata = info.container_lookup->get();
	if (!metadata || metadata == info.container->metadata)
		return false;
	info.container->metadata = std::move(metadata);
	return true;
}

// Every alert event: a first alert about a process whose container's runtime
// has not answered yet waits (bounded) in held_; the poll loop releases it.
void Pipeline::on_detection(Detection detection)
{
	if (detection.stage != AlertStage::First) {
		release_held(false, &detection.key); // its first alert goes out before it
		publish_detection(std::move(detection));
		return;
	}
	const auto it = known_.find(detection.key);
	if (options_.container_wait.count() > 0 && it != known_.end()) {
		const auto &lookup = it->second.facts.info.container_lookup;
		if (lookup && !lookup->settled()) {
			counts_.container_waits++;
			held_.push_back({std::move(detection), std::chrono::steady_clock::now() + options_.container_wait});
			return;
		}
	}
	publish_detection(std::move(detection));
}

void Pipeline::release_held(bool all, const ProcessKey *key)
{
	if (held_.empty())
		return;
	const auto now = std::chrono::steady_clock::now();
	std::vector<HeldAlert> due;
	std::erase_if(held_, [&](HeldAlert &held) {
		bool release = all || now >= held.until;
		if (key)
			release = held.detection.key == *key;
		else if (!release) {
			const auto it = known_.find(held.detection.key);
			release = it == known_.end() || !it->second.facts.info.container_lookup ||
				  it->second.facts.info.container_lookup->settled();
		}
		if (release)
			due.push_back(std::move(held));
		return release;
	});
	for (auto &held : due) {
		const auto it = known_.find(held.detection.key);
		if (const auto &lookup = it != known_.end() ? it->second.facts.info.container_lookup : nullptr;
		    lookup && !lookup->settled())
			counts_.container_wait_timeouts++;
		publish_detection(std::move(held.detection));
	}
}

// The decide and publish stages, for every alert event.
void Pipeline::publish_detection(Detection detection)
{
	const auto it = known_.find(detection.key);
	KnownProcess unknown; // never without an entry, but an event must not invent one
	KnownProcess &known = it != known_.end() ? it->second : unknown;
	const bool first = detection.stage == AlertStage::First;
	if (refresh_container(known.facts.info)) // an image or namespace may be allowlisted
		known.allowed = decider_.allowed(known.facts.info);
	if (first && !known.allowed && decider_.needs_digest() && processes_.hasher()) {
		// Hashing waits until a process is judged a miner: rare, and bounded per binary.
		complete_process_info(known.facts.info, *processes_.hasher());
		known.allowed = decider_.allowed(known.facts.info);
	}
	// Before any --action: a stopped or killed process's sockets tell less, or nothing.
	// What corroborates the verdict (alerts/assessment.hpp): its peers and its
	// memory and CPU use now; in a replay, the footprint the recording has.
	Corroborating evidence;
	if (detection.stage != AlertStage::Resolved && !known.allowed) {
		evidence = corroborating(detection.key);
		// Into the recording (and the detector, which keeps it for later events).
		if (evidence.live_footprint)
			on_footprint(detection.key, *evidence.footprint, detection.timestamp_ns);
	}
	const Decision decision = decider_.decide(
		first && processes_.local(), known.facts.info,
		{detection.key.tgid, detection.key.start_ns, known.facts.start_ticks, known.allowed});
	const std::string response_note = decision.response ? fmt::format("; {} {}", to_string(decision.response->action),
									 decision.response->describe())
							    : std::string();
	if (!decision.publish()) {
		counts_.allowlisted++;
		if (first)
			spdlog::info("pid {} ({}) computes RandomX but is allowlisted ({}){}", detection.key.tgid,
				     detection.comm, *decision.allowed, response_note);
		return;
	}
	if (first)
		spdlog::warn("miner: pid {} ({}): {}{}", detection.key.tgid, detection.comm, detection.verdict.reason,
			     response_note);
	else
		spdlog::info("{}: pid {} ({})", to_string(detection.stage), detection.key.tgid, detection.comm);
	counts_.detections[static_cast<std::size_t>(detection.stage)]++;
	const auto when = source_.wall_time(detection.timestamp_ns);
	Alert alert{std::move(detection), known.facts.info, when, options_.detector.window_ns, decision.response};
	alert.sockets = std::move(evidence.sockets);
	alert.footprint = std::move(evidence.footprint);
	if (first) {
		reports_.push_back(alert);
		// A report is read, never hashed: it must not keep the executable open (each
		// open one counts against ExecutableFile::kMaxOpen, and 4096 reports would
		// hold every descriptor, so that later executables went unhashed).
		reports_.back().process.executable_file.reset();
	}
	if (output_)
		output_->publish(std::move(alert));
	if (reports_.size() > options_.max_reports)
		reports_.erase(reports_.begin(), reports_.begin() + static_cast<std::ptrdiff_t>(reports_.size() / 2));
}

void Pipeline::resolve_exited_processes(std::uint64_t now_ns)
{
	std::vector<ProcessKey> gone;
	for (const auto &[key, process] : detector_.processes()) {
		if (!process.alerted || process.exited)
			continue;
		const auto it = known_.find(key);
		if (it != known_.end() && processes_.running(key.tgid, it->second.facts) == false)
			gone.push_back(key);
	}
	for (const auto &key : gone)
		if (auto resolved = detector_.process_exited(key, now_ns))
			on_detection(std::move(*resolved));
}

void Pipeline::forget_exited(std::uint64_t now_ns)
{
	// Idle, never alerted on: is it still there? Each such process is looked up
	// at most once a minute, so a host of idle processes costs little.
	const std::uint64_t idle = *options_.forget_exited_after_ns;
	std::vector<ProcessKey> gone;
	for (const auto &[key, process] : detector_.processes()) {
		if (process.alerted || process.last_ns + idle > now_ns)
			continue;
		const auto it = known_.find(key);
		if (it == known_.end() || it->second.liveness_checked_ns + kLivenessRecheckNs > now_ns)
			continue;
		const auto running = processes_.running(key.tgid, it->second.facts);
		if (running == false)
			gone.push_back(key);
		else
			it->second.liveness_checked_ns = now_ns;
	}
	for (const auto &key : gone)
		detector_.forget_process(key);
}

void Pipeline::expire(std::uint64_t now_ns)
{
	for (auto &resolved : detector_.expire(now_ns))
		on_detection(std::move(resolved));
}

void Pipeline::run_periodic(std::uint64_t now_ns)
{
	if (now_ns >= next_liveness_ns_) {
		resolve_exited_processes(now_ns);
		if (options_.forget_exited_after_ns)
			forget_exited(now_ns);
		next_liveness_ns_ = now_ns + kLivenessIntervalNs;
	}
	gather_footprints(now_ns);
	if (now_ns >= next_expiry_ns_) {
		expire(now_ns);
		next_expiry_ns_ = now_ns + kExpiryIntervalNs;
	}
	for (const auto &key : forgotten_)
		if (!detector_.processes().contains(key)) { // not seen again since
			known_.erase(key);
			last_known_ = nullptr;
		}
	// Give what churn freed back to the system: glibc keeps freed heap pages otherwise.
	if (forgotten_.size() > 256)
		malloc_trim(0);
	forgotten_.clear();
}

void Pipeline::run(const std::atomic<bool> &stop, std::chrono::steady_clock::time_point until,
		   const std::function<void()> &tick)
{
	using clock = std::chrono::steady_clock;
	const SampleSource::Handler handler = [this](const Sample &sample) { on_sample(sample); };
	auto next_tick = clock::now();
	if (next_expiry_ns_ == 0) { // the first run: the periodic work starts from the source's now
		next_liveness_ns_ = source_.now_ns() + kLivenessIntervalNs;
		next_expiry_ns_ = source_.now_ns() + kExpiryIntervalNs;
	}
	bool more = true;
	while (more && !stop.load() && clock::now() < until) {
		// Shorter polls while a first alert waits for its container's metadata.
		more = source_.poll(std::chrono::milliseconds(held_.empty() ? 100 : 10), handler);
		release_held(false);
		run_periodic(source_.now_ns());
		if (tick) {
			if (const auto now = clock::now(); now >= next_tick) {
				tick();
				next_tick = now + std::chrono::milliseconds(250);
			}
		}
	}
	if (more)
		source_.poll(std::chrono::milliseconds(0), handler); // drain what is already there
	release_held(true); // nothing is held past the end of a run
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
