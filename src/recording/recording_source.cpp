// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/recording/recording_source.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mxwatch {
namespace {

// Samples per batch: the pipeline's periodic work (expiry on the recording's
// clock) runs between batches, so a batch is a few ms of a busy recording.
constexpr std::size_t kBatch = 4096;
// Batches parsed ahead of the pipeline: enough to ride out the pipeline's
// pauses, few enough that memory stays a few MiB.
constexpr std::size_t kBatchesAhead = 4;
constexpr std::size_t kMaxPendingProcesses = 65536;

// Whether a read() of fd can wait for data (a pipe, a terminal, a socket).
bool reads_can_wait(int fd)
{
	struct stat st {
	};
	return ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
}

} // namespace

RecordingSource::RecordingSource(std::istream &in, std::string name) : reader_(in, std::move(name)), may_block_(false)
{
	start();
}

RecordingSource::RecordingSource(int fd, std::string name)
    : mapped_(MappedFile::map(fd)), reader_(open(fd, std::move(name))), may_block_(!mapped_ && reads_can_wait(fd))
{
	start();
}

SampleReader RecordingSource::open(int fd, std::string name)
{
	// A regular file is parsed where it lies in the page cache, without a copy.
	if (mapped_)
		return SampleReader(mapped_->contents(), std::move(name));
	return SampleReader(
		[this, fd](char *buffer, std::size_t size) -> std::ptrdiff_t {
			// A pipe: what has been parsed goes on before a read that may wait.
			if (may_block_ && !(filling_.samples.empty() && filling_.lines.empty()) && !hand_over(false))
				return 0;
			for (;;) {
				if (may_block_) {
					pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
					if (::poll(fds, 2, -1) < 0) {
						if (errno == EINTR)
							continue;
						return -1;
					}
					if (fds[1].revents)
						return 0; // stopping: nobody reads what would follow
				}
				const ssize_t n = ::read(fd, buffer, size);
				if (n >= 0 || errno != EINTR)
					return n;
			}
		},
		std::move(name));
}

void RecordingSource::start()
{
	if (may_block_) {
		stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
		if (stop_fd_ < 0)
			throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
	}
	if (!reader_.read_header()) {
		if (stop_fd_ >= 0)
			::close(stop_fd_);
		throw std::runtime_error(reader_.error()->message());
	}
	reader_.on_process([this](std::uint32_t pid, std::uint64_t start_ns, ProcessInfo info) {
		filling_.lines.emplace_back(next_sample_index(), ProcessLine{pid, start_ns, std::move(info)});
	});
	reader_.on_footprint([this](std::uint32_t pid, std::uint64_t start_ns, std::uint64_t t_ns, Footprint footprint) {
		filling_.lines.emplace_back(next_sample_index(), FootprintLine{pid, start_ns, t_ns, std::move(footprint)});
	});
	thread_ = std::thread([this] { read_all(); });
}

RecordingSource::~RecordingSource()
{
	{
		std::lock_guard lock(mutex_);
		stop_ = true;
	}
	room_cv_.notify_all();
	if (stop_fd_ >= 0) {
		const std::uint64_t one = 1;
		[[maybe_unused]] const ssize_t n = ::write(stop_fd_, &one, sizeof one);
	}
	thread_.join();
	if (stop_fd_ >= 0)
		::close(stop_fd_);
}

void RecordingSource::read_all()
{
	if (may_block_) {
		// Into a sample of its own: a read in next() may hand the batch over.
		Sample sample;
		while (reader_.next(sample)) {
			filling_.samples.push_back(std::move(sample));
			if (filling_.samples.size() == kBatch && !hand_over(false))
				return;
		}
	} else {
		for (;;) {
			if (!reader_.next(filling_.samples.emplace_back())) {
				filling_.samples.pop_back();
				break;
			}
			if (filling_.samples.size() == kBatch && !hand_over(false))
				return;
		}
	}
	hand_over(true);
}

bool RecordingSource::hand_over(bool final)
{
	std::unique_lock lock(mutex_);
	room_cv_.wait(lock, [this] { return stop_ || ready_.size() < kBatchesAhead; });
	if (stop_)
		return false;
	ready_.push_back(std::move(filling_));
	if (spare_.empty()) {
		filling_ = Batch{};
		filling_.samples.reserve(kBatch);
	} else {
		filling_ = std::move(spare_.back());
		spare_.pop_back();
	}
	if (final) {
		done_ = true;
		read_error_ = reader_.error();
		// A mapped file that shrank meanwhile ends in zeros: say so, not what the zeros are.
		if (read_error_ && mapped_ && mapped_->shrank())
			read_error_->reason = "the file shrank while it was read (truncated or rewritten)";
	}
	lock.unlock();
	ready_cv_.notify_one();
	return true;
}

void RecordingSource::apply(ProcessLine &line)
{
	if (processes_.size() >= kMaxPendingProcesses) // lines without samples: a bound, not a leak
		processes_.erase(processes_.begin());
	processes_.insert_or_assign(ProcessKey{line.pid, line.start_ns}, std::move(line.info));
}

void RecordingSource::apply(FootprintLine &line)
{
	now_ns_ = std::max(now_ns_, line.t_ns); // the pipeline learnt it at t, on the recording's clock
	if (on_footprint_)
		on_footprint_(line.pid, line.start_ns, line.t_ns, line.footprint);
}

bool RecordingSource::poll(std::chrono::milliseconds timeout, const Handler &handler)
{
	Batch batch;
	{
		std::unique_lock lock(mutex_);
		if (!ready_cv_.wait_for(lock, timeout, [this] { return !ready_.empty() || done_; }))
			return true; // nothing yet: a pipe that is quiet for now
		if (ready_.empty()) {
			error_ = read_error_;
			return false;
		}
		batch = std::move(ready_.front());
		ready_.pop_front();
	}
	room_cv_.notify_one();

	auto line = batch.lines.begin();
	auto lines_before = [&](std::size_t index) {
		for (; line != batch.lines.end() && line->first <= index; ++line)
			std::visit([this](auto &l) { apply(l); }, line->second);
	};
	for (std::size_t i = 0; i < batch.samples.size(); i++) {
		lines_before(i);
		const Sample &sample = batch.samples[i];
		if (records_++ == 0)
			first_ns_ = sample.timestamp_ns;
		samples_ += sample.samples();
		now_ns_ = std::max(now_ns_, sample.timestamp_ns);
		handler(sample);
	}
	lines_before(batch.samples.size()); // the lines after the batch's last sample

	batch.samples.clear();
	batch.lines.clear();
	std::lock_guard lock(mutex_);
	spare_.push_back(std::move(batch));
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
