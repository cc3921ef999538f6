// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/recording/recording_source.hpp"

#include <stdexcept>

namespace mxwatch {
namespace {

// Samples per poll(): the pipeline's periodic work (expiry on the recording's
// clock) runs between batches, so a batch is a few ms of a busy recording.
constexpr int kBatch = 4096;
constexpr std::size_t kMaxPendingProcesses = 65536;

} // namespace

RecordingSource::RecordingSource(std::istream &in, std::string name) : reader_(in, std::move(name)) { start(); }

RecordingSource::RecordingSource(int fd, std::string name) : reader_(fd, std::move(name)) { start(); }

void RecordingSource::start()
{
	if (!reader_.read_header())
		throw std::runtime_error(reader_.error()->message());
	reader_.on_process([this](std::uint32_t pid, std::uint64_t start_ns, ProcessInfo info) {
		if (processes_.size() >= kMaxPendingProcesses) // lines without samples: a bound, not a leak
			processes_.erase(processes_.begin());
		processes_.insert_or_assign(ProcessKey{pid, start_ns}, std::move(info));
	});
	reader_.on_footprint([this](std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns, Footprint footprint) {
		now_ns_ = std::max(now_ns_, t_ns); // the pipeline learnt it at t, on the recording's clock
		if (on_footprint_)
			on_footprint_(pid, start_ns, t_ns, footprint);
	});
}

bool RecordingSource::poll(std::chrono::milliseconds, const Handler &handler)
{
	Sample sample;
	for (int i = 0; i < kBatch; i++) {
		if (!reader_.next(sample))
			return false;
		if (records_++ == 0)
			first_ns_ = sample.timestamp_ns;
		samples_ += sample.samples();
		now_ns_ = std::max(now_ns_, sample.timestamp_ns);
		handler(sample);
	}
	return true;
}

std::chrono::system_clock::time_point RecordingSource::wall_time(std::uint64_t timestamp_ns) const
{
	return sample_wall_time(reader_.header(), first_ns_, timestamp_ns).value_or(std::chrono::system_clock::now());
}

ProcessFacts RecordingSource::first_seen(std::uint32_t pid, std::uint64_t start_ns)
{
	ProcessFacts facts;
	if (auto it = processes_.find(ProcessKey{pid, start_ns}); it != processes_.end()) {
		facts.info = std::move(it->second);
		processes_.erase(it);
	}
	facts.info.pid = pid;
	return facts;
}

} // namespace mxwatch
