// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/pipeline.hpp"

#include "mxwatch/errors.hpp"
#include "mxwatch/host_checks.hpp"

#include <csignal>
#include <spdlog/spdlog.h>

namespace mxwatch {

Pipeline::Pipeline(const PipelineOptions &options)
    : options_(options), detector_(options.detector)
{
	if (auto problem = first_host_problem(check_host()))
		throw SetupError(*problem);
	sampler_ = std::make_unique<KernelSampler>(options.sampler, [this](const Sample &s) { on_sample(s); });
	sampling_floor_ = std::make_unique<SamplingFloor>(options.sampling_floor_hz);
}

ProcessInfo Pipeline::process_info(const ProcessKey &key) const
{
	if (auto it = process_info_.find(key); it != process_info_.end())
		return it->second;
	return read_process_info(key.tgid);
}

void Pipeline::reopen_output()
{
	if (output_)
		output_->reopen();
}

void Pipeline::on_sample(const Sample &sample)
{
	samples_seen_++;
	const ProcessKey key{sample.tgid, sample.process_start_ns};
	auto [known, inserted] = process_info_.try_emplace(key);
	if (inserted)
		known->second = read_process_info(sample.tgid); // short-lived processes are gone by the report
	auto detection = detector_.observe(sample);
	if (!detection)
		return;
	spdlog::warn("miner: pid {} ({}): {}", detection->key.tgid, detection->comm, detection->verdict.reason);
	if (output_)
		output_->publish({*detection, known->second, std::chrono::system_clock::now(), options_.detector.window_ns});
	reports_.push_back({std::move(*detection), known->second});
}

void Pipeline::run_until(const std::atomic<bool> &stop, std::chrono::steady_clock::time_point until,
			 const std::function<void()> &tick)
{
	using clock = std::chrono::steady_clock;
	auto next_tick = clock::now();
	auto next_expiry = clock::now() + std::chrono::seconds(10);
	while (!stop.load() && clock::now() < until) {
		sampler_->poll(100);
		const auto now = clock::now();
		if (tick && now >= next_tick) {
			tick();
			next_tick = now + std::chrono::milliseconds(250);
		}
		if (now >= next_expiry) {
			timespec ts{};
			clock_gettime(CLOCK_MONOTONIC, &ts);
			detector_.expire(static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
					 static_cast<std::uint64_t>(ts.tv_nsec));
			std::erase_if(process_info_, [&](const auto &entry) {
				return !detector_.processes().contains(entry.first);
			});
			next_expiry = now + std::chrono::seconds(10);
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
