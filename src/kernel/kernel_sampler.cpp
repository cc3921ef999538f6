// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/kernel_sampler.hpp"
#include "mxwatch/kernel/record.hpp"

#include "mxwatch/util/errors.hpp"
#include "mxwatch_bpf.skel.h"
#include "mxwatch_event.h"

#include <algorithm>
#include <array>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace mxwatch {

std::string_view to_string(AttachType type)
{
	constexpr std::array<std::string_view, 4> kNames{"auto", "tp_btf", "raw_tp", "tracepoint"};
	const auto index = static_cast<std::size_t>(type);
	return index < kNames.size() ? kNames[index] : "invalid";
}

AttachType attach_type_from_string(std::string_view name)
{
	for (auto type : {AttachType::Auto, AttachType::TpBtf, AttachType::RawTp, AttachType::Tracepoint})
		if (to_string(type) == name)
			return type;
	throw std::invalid_argument(fmt::format("unknown attach type '{}'", name));
}

void KernelSampler::SkeletonDeleter::operator()(mxwatch_bpf *skeleton) const
{
	mxwatch_bpf__destroy(skeleton); // detaches links, unloads programs, closes maps
}

void KernelSampler::RingBufferDeleter::operator()(ring_buffer *rb) const
{
	ring_buffer__free(rb);
}

namespace {

bpf_program *program_for(mxwatch_bpf *skeleton, AttachType type)
{
	switch (type) {
	case AttachType::TpBtf:
		return skeleton->progs.mxw_tp_btf;
	case AttachType::RawTp:
		return skeleton->progs.mxw_raw_tp;
	case AttachType::Tracepoint:
		return skeleton->progs.mxw_tracepoint;
	case AttachType::Auto:
		break;
	}
	return nullptr;
}

bpf_program *exit_program_for(mxwatch_bpf *skeleton, AttachType type)
{
	switch (type) {
	case AttachType::TpBtf:
		return skeleton->progs.mxw_exit_tp_btf;
	case AttachType::RawTp:
		return skeleton->progs.mxw_exit_raw_tp;
	case AttachType::Tracepoint:
		return skeleton->progs.mxw_exit_tracepoint;
	case AttachType::Auto:
		break;
	}
	return nullptr;
}

bpf_program *exec_program_for(mxwatch_bpf *skeleton, AttachType type)
{
	switch (type) {
	case AttachType::TpBtf:
		return skeleton->progs.mxw_exec_tp_btf;
	case AttachType::RawTp:
		return skeleton->progs.mxw_exec_raw_tp;
	case AttachType::Tracepoint:
		return skeleton->progs.mxw_exec_tracepoint;
	case AttachType::Auto:
		break;
	}
	return nullptr;
}

// Context switches since boot, from /proc/stat's "ctxt" line; 0 if unreadable.
std::uint64_t context_switches()
{
	std::ifstream stat("/proc/stat");
	std::string key;
	while (stat >> key) {
		if (key == "ctxt") {
			std::uint64_t n = 0;
			stat >> n;
			return n;
		}
		stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
	}
	return 0;
}

std::string errno_text(int err)
{
	return std::strerror(err < 0 ? -err : err);
}

} // namespace

KernelSampler::KernelSampler(const SamplerOptions &options, SampleHandler handler)
    : handler_(std::move(handler))
{
	if (options.attach != AttachType::Auto) {
		load_and_attach(options, options.attach);
		return;
	}
	std::vector<std::string> failures;
	for (auto type : {AttachType::TpBtf, AttachType::RawTp, AttachType::Tracepoint}) {
		try {
			load_and_attach(options, type);
			return;
		} catch (const SetupError &error) {
			spdlog::debug("attach as {} failed: {}", to_string(type), error.what());
			failures.emplace_back(fmt::format("{}: {}", to_string(type), error.what()));
		}
	}
	throw SetupError(fmt::format("could not attach to x86_fpu_regs_deactivated by any method ({}); "
				     "run `mxwatch -v check` for libbpf's details",
				     fmt::join(failures, "; ")));
}

KernelSampler::~KernelSampler()
{
	if (consumer_pos_)
		munmap(const_cast<std::uint64_t *>(consumer_pos_), consumer_page_size_);
}

// Nothing in user space writes the program's maps: freezing them (BPF_MAP_FREEZE)
// makes every later write from user space fail (`bpftool map update`, delete,
// a writable mmap), from any process, root's included, while the program
// itself still writes them. .rodata (the settings) libbpf froze at load. .bss
// is mapped writable for the skeleton, which keeps a map from being frozen: it
// is mapped again read-only first (fpu_layout_seen is only read).
void KernelSampler::freeze_maps()
{
	mxwatch_bpf *skel = skeleton_.get();
	const long page = sysconf(_SC_PAGESIZE);
	const std::size_t bss_bytes =
	    (static_cast<std::size_t>(bpf_map__value_size(skel->maps.bss)) + page - 1) / page * page;
	if (mmap(skel->bss, bss_bytes, PROT_READ, MAP_SHARED | MAP_FIXED, bpf_map__fd(skel->maps.bss), 0) == MAP_FAILED)
		spdlog::warn("cannot map the BPF program's .bss read-only ({}): it stays writable by root",
		             errno_text(errno));
	for (const bpf_map *map : {skel->maps.bss, skel->maps.tracked, skel->maps.budgets, skel->maps.counters})
		if (bpf_map_freeze(bpf_map__fd(map)) != 0)
			spdlog::warn("cannot freeze BPF map {} ({}): root could rewrite it from user space",
			             bpf_map__name(map), errno_text(errno));
}

// The ring buffer's first page holds the consumer position, which this reader
// (libbpf) advances past every record it took; any process holding the map may
// map that page writable and move it, so that records are skipped unread.
void KernelSampler::map_consumer_position()
{
	const long page = sysconf(_SC_PAGESIZE);
	void *mapped = mmap(nullptr, static_cast<std::size_t>(page), PROT_READ, MAP_SHARED,
	                    bpf_map__fd(skeleton_->maps.events), 0);
	if (mapped == MAP_FAILED) {
		spdlog::warn("cannot map the ring buffer's consumer position ({}): records skipped by another "
		             "process would go unnoticed",
		             errno_text(errno));
		return;
	}
	consumer_pos_ = static_cast<const volatile std::uint64_t *>(mapped);
	consumer_page_size_ = static_cast<std::size_t>(page);
	consumed_bytes_ = *consumer_pos_;
}

void KernelSampler::open_and_load(const SamplerOptions &options, AttachType type, bool evicting)
{
	ring_buffer_.reset();
	link_ = nullptr;
	exit_link_ = nullptr;
	skeleton_.reset(mxwatch_bpf__open());
	if (!skeleton_)
		throw SetupError(fmt::format("cannot open the BPF object: {}", errno_text(errno)));

	mxwatch_bpf *skel = skeleton_.get();
	skel->rodata->flush_interval_ns = options.flush_interval_ns;
	skel->rodata->forget_after_ns = options.forget_after_ns;
	// One wake-up per quarter buffer instead of one per record: poll() drains
	// the rest on its timeout, so a record waits at most one poll period.
	skel->rodata->wakeup_bytes = options.ring_buffer_bytes / 4;
	skel->rodata->raw_samples = options.raw_samples ? 1 : 0;
	skel->rodata->summary_interval_ns = options.summary_interval_ns;
	skel->rodata->process_budget = options.process_budget;
	skel->rodata->summary_max_delay_ns = options.summary_max_delay_ns;
	bpf_map__set_max_entries(skel->maps.events, options.ring_buffer_bytes);
	bpf_map__set_max_entries(skel->maps.tracked, options.max_tracked_threads);
	bpf_map__set_max_entries(skel->maps.budgets, options.max_tracked_threads);
	if (evicting)
		bpf_map__set_type(skel->maps.tracked, BPF_MAP_TYPE_LRU_HASH);
	for (auto candidate : {AttachType::TpBtf, AttachType::RawTp, AttachType::Tracepoint}) {
		bpf_program__set_autoload(program_for(skel, candidate), candidate == type);
		bpf_program__set_autoload(exit_program_for(skel, candidate), candidate == type && !evicting);
		bpf_program__set_autoload(exec_program_for(skel, candidate), candidate == type && !evicting);
	}

	if (int err = mxwatch_bpf__load(skel))
		throw SetupError(fmt::format("loading the BPF program failed: {}", errno_text(err)));
	freeze_maps();
	tracking_evicts_ = evicting;
}

void KernelSampler::load_and_attach(const SamplerOptions &options, AttachType type)
{
	// The exit hook before the program that creates entries: `tracked` is a
	// plain hash, whose entries only the exit hook frees when threads exit (or
	// exec, which takes a thread's id away).
	// Without the hook the map must be an LRU hash, which evicts the entries of
	// exited threads (and, when full, those of live ones with their counts).
	open_and_load(options, type, false);
	if (const int err = attach_exit_hook(type)) {
		spdlog::warn("attaching {} to sched_process_exit or sched_process_exec failed ({}): the tracking map "
			     "is reloaded as an "
			     "LRU hash, so followed threads' entries may be evicted, with the counts pending in them, "
			     "and the last counts of exiting threads are not reported",
			     to_string(type), errno_text(err));
		open_and_load(options, type, true);
	}

	mxwatch_bpf *skel = skeleton_.get();
	bpf_program *program = program_for(skel, type);
	bpf_link *link = bpf_program__attach(program);
	if (!link) {
		const int err = errno;
		if (type == AttachType::Tracepoint && err == ENOENT)
			throw SetupError("attaching the classic tracepoint needs tracefs: mount it with "
					 "`mount -t tracefs nodev /sys/kernel/tracing`, or use --attach tp_btf");
		throw SetupError(fmt::format("attaching {} failed: {}", to_string(type), errno_text(err)));
	}
	switch (type) {
	case AttachType::TpBtf:
		skel->links.mxw_tp_btf = link;
		break;
	case AttachType::RawTp:
		skel->links.mxw_raw_tp = link;
		break;
	default:
		skel->links.mxw_tracepoint = link;
		break;
	}

	link_ = link;

	ring_buffer_.reset(ring_buffer__new(bpf_map__fd(skel->maps.events), &KernelSampler::on_record, this, nullptr));
	if (!ring_buffer_)
		throw SetupError(fmt::format("cannot open the ring buffer: {}", errno_text(errno)));
	map_consumer_position();
	attached_ = type;
	health_hits_ = counters().hits;
	health_ctxt_ = context_switches();
	spdlog::info("attached {} to x86_fpu_regs_deactivated (ring buffer {} KiB, up to {} followed threads{}, {})",
		     to_string(type), options.ring_buffer_bytes / 1024, options.max_tracked_threads,
		     tracking_evicts_ ? " (LRU)" : "",
		     options.raw_samples ? "raw samples"
					 : fmt::format("summaries every {} ms, {} per process", options.summary_interval_ns / 1'000'000,
						       options.process_budget));
}

// The exit hook: the programs that free a thread's entry when its id goes away,
// on sched_process_exit and on sched_process_exec (a thread other than the
// leader that execs takes the leader's id).
int KernelSampler::attach_exit_hook(AttachType type)
{
	mxwatch_bpf *skel = skeleton_.get();
	bpf_link *exec_link = bpf_program__attach(exec_program_for(skel, type));
	if (!exec_link)
		return errno ? errno : EINVAL;
	switch (type) {
	case AttachType::TpBtf:
		skel->links.mxw_exec_tp_btf = exec_link;
		break;
	case AttachType::RawTp:
		skel->links.mxw_exec_raw_tp = exec_link;
		break;
	default:
		skel->links.mxw_exec_tracepoint = exec_link;
		break;
	}
	bpf_link *link = bpf_program__attach(exit_program_for(skel, type));
	if (!link)
		return errno ? errno : EINVAL;
	switch (type) {
	case AttachType::TpBtf:
		skel->links.mxw_exit_tp_btf = link;
		break;
	case AttachType::RawTp:
		skel->links.mxw_exit_raw_tp = link;
		break;
	default:
		skel->links.mxw_exit_tracepoint = link;
		break;
	}
	exit_link_ = link;
	return 0;
}

AttachmentHealth KernelSampler::check_attachment()
{
	// The link: still there, still holding our program?
	bpf_link_info info{};
	std::uint32_t len = sizeof(info);
	const int link_fd = bpf_link__fd(link_);
	bpf_prog_info prog{};
	std::uint32_t prog_len = sizeof(prog);
	const int prog_fd = bpf_program__fd(program_for(skeleton_.get(), attached_));
	if (bpf_obj_get_info_by_fd(link_fd, &info, &len) != 0)
		return {false, fmt::format("the BPF link of mxwatch's program cannot be queried ({}): it was "
					   "detached or closed",
					   errno_text(errno))};
	if (bpf_obj_get_info_by_fd(prog_fd, &prog, &prog_len) == 0 && info.prog_id != prog.id)
		return {false, fmt::format("the BPF link now holds program {}, not mxwatch's {}", info.prog_id, prog.id)};
	// The ring buffer: only this reader moved its consumer position? (Called
	// between polls: libbpf stored it after the last record it handed over.)
	if (consumer_pos_) {
		const std::uint64_t position = *consumer_pos_;
		if (position != consumed_bytes_)
			return {false, fmt::format(
			                   "another process moved the BPF ring buffer's consumer position ({} bytes {} "
			                   "what mxwatch read): records were {}",
			                   position > consumed_bytes_ ? position - consumed_bytes_
			                                              : consumed_bytes_ - position,
			                   position > consumed_bytes_ ? "past" : "behind",
			                   position > consumed_bytes_ ? "skipped unread" : "made to look unread")};
	}
	// The program: did it run? This process alone switches out several times a
	// second (its poll timeout), so an attached program always counts hits.
	const std::uint64_t hits = counters().hits;
	const std::uint64_t ctxt = context_switches();
	const std::uint64_t new_hits = hits - health_hits_;
	const std::uint64_t new_ctxt = ctxt - health_ctxt_;
	health_hits_ = hits;
	health_ctxt_ = ctxt;
	if (new_hits == 0 && new_ctxt >= 100)
		return {false, fmt::format("mxwatch's BPF program stopped running: 0 tracepoint hits while the host "
					   "made {} context switches (program detached, e.g. `bpftool link detach`?)",
					   new_ctxt)};
	return {};
}

int KernelSampler::on_record(void *self, void *data, std::size_t size)
{
	auto *sampler = static_cast<KernelSampler *>(self);
	// As libbpf advances the consumer position: the 8-byte header, the record, rounded up to 8.
	sampler->consumed_bytes_ += (size + 8 + 7) / 8 * 8;
	const Decoded decoded = decode_record({static_cast<const std::byte *>(data), size});
	if (!decoded.sample) {
		if (sampler->malformed_++ == 0)
			spdlog::warn("dropping malformed ring buffer record: {}", to_string(decoded.error));
		return 0;
	}
	sampler->handler_(*decoded.sample);
	return 0;
}

int KernelSampler::poll(int timeout_ms)
{
	int n = ring_buffer__poll(ring_buffer_.get(), timeout_ms);
	if (n == -EINTR)
		n = 0;
	if (n < 0)
		throw std::runtime_error(fmt::format("ring buffer poll failed: {}", errno_text(n)));
	// The program wakes us only once wakeup_bytes are waiting: take what came
	// without a wake-up too.
	const int more = ring_buffer__consume(ring_buffer_.get());
	if (more < 0)
		throw std::runtime_error(fmt::format("ring buffer consume failed: {}", errno_text(more)));
	return n + more;
}

SamplerCounters KernelSampler::counters() const
{
	const int ncpus = libbpf_num_possible_cpus();
	std::vector<std::uint64_t> values(ncpus > 0 ? ncpus : 1);
	std::uint64_t sums[MXW_CTR_COUNT] = {};
	for (std::uint32_t key = 0; key < MXW_CTR_COUNT; key++) {
		if (bpf_map__lookup_elem(skeleton_->maps.counters, &key, sizeof(key), values.data(),
					 values.size() * sizeof(std::uint64_t), 0))
			continue;
		for (auto v : values)
			sums[key] += v;
	}
	SamplerCounters c;
	c.hits = sums[MXW_CTR_HITS];
	// The hot path's own count, one slot per CPU (only the possible CPUs' are touched).
	const auto slots = std::min<std::size_t>(values.size(), MXW_HIT_SLOTS);
	for (std::size_t cpu = 0; cpu < slots; cpu++)
		c.hits += skeleton_->bss->hit_slots[cpu][0];
	c.sent = sums[MXW_CTR_SENT];
	c.lost = sums[MXW_CTR_LOST];
	c.suppressed = sums[MXW_CTR_SUPPRESSED];
	c.track_failed = sums[MXW_CTR_TRACK_FAILED];
	c.read_failed = sums[MXW_CTR_READ_FAILED];
	c.deferred_budget = sums[MXW_CTR_DEFERRED_BUDGET];
	c.deferred_full = sums[MXW_CTR_DEFERRED_FULL];
	c.lost_samples = sums[MXW_CTR_LOST_SAMPLES];
	c.followed_threads = skeleton_->bss->followed_threads;
	return c;
}

std::string_view KernelSampler::fpu_layout() const
{
	switch (skeleton_->bss->fpu_layout_seen) {
	case MXW_FPU_LAYOUT_FPSTATE:
		return "fpstate";
	case MXW_FPU_LAYOUT_STATE:
		return "state";
	default:
		return "unknown";
	}
}

} // namespace mxwatch
