// SPDX-License-Identifier: GPL-2.0-only
// The live event source: loads the BPF program, attaches it to
// x86_fpu_regs_deactivated and delivers decoded samples from its ring buffer.
#pragma once

#include "mxwatch/detect/sample.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct mxwatch_bpf;
struct ring_buffer;
struct bpf_link;

namespace mxwatch {

enum class AttachType { Auto, TpBtf, RawTp, Tracepoint };
std::string_view to_string(AttachType type);
AttachType attach_type_from_string(std::string_view name); // throws std::invalid_argument

struct SamplerOptions {
	AttachType attach = AttachType::Auto;
	std::uint32_t ring_buffer_bytes = 1u << 20; // power of two, multiple of the page size
	std::uint32_t max_tracked_threads = 16384;
	std::uint64_t flush_interval_ns = 1'000'000'000;
	std::uint64_t forget_after_ns = 30'000'000'000;
	// Summaries (the default): each followed thread's samples as counts, at most
	// one record per thread per summary interval, within its process's budget.
	bool raw_samples = false; // one record per sample instead (`record --raw`)
	std::uint64_t summary_interval_ns = 50'000'000;
	std::uint32_t process_budget = 64; // summaries per process per summary interval
	std::uint64_t summary_max_delay_ns = 1'000'000'000; // then sent whatever the budget
};

// Sums of the BPF program's per-CPU counters.
struct SamplerCounters {
	std::uint64_t hits = 0;
	std::uint64_t sent = 0;
	std::uint64_t lost = 0;
	std::uint64_t suppressed = 0;
	std::uint64_t track_failed = 0;
	std::uint64_t read_failed = 0;
	std::uint64_t deferred_budget = 0; // summaries held back: their process's budget was spent
	std::uint64_t deferred_full = 0;   // summaries held back: ring buffer full
	std::uint64_t lost_samples = 0;    // samples in the `lost` records
	// Not a counter: the live entries of the tracking map (threads followed now);
	// with the LRU fallback, entries it evicted stay counted.
	std::uint64_t followed_threads = 0;
};

// Is the program still attached and running, and is what it sends still read?
// (tampering: the link replaced or closed, the ring buffer's consumer position
// moved by another process; blindness: the tracepoint stopped firing.) What
// root can and cannot do to the program is in docs/security.md.
struct AttachmentHealth {
	bool ok = true;
	std::string problem; // one sentence when !ok
};

class KernelSampler {
public:
	using SampleHandler = std::function<void(const Sample &)>;

	// Opens, loads and attaches the program; throws SetupError with one clear
	// sentence when that is impossible. With AttachType::Auto it tries tp_btf,
	// then raw_tp, then the classic tracepoint.
	KernelSampler(const SamplerOptions &options, SampleHandler handler);
	~KernelSampler();
	KernelSampler(const KernelSampler &) = delete;
	KernelSampler &operator=(const KernelSampler &) = delete;

	// Waits up to timeout_ms for records and hands each to the handler. The
	// program wakes the reader only when a quarter of the ring buffer is
	// filled, so records usually arrive when the timeout expires: the timeout
	// is the delivery latency. Returns the number of records consumed.
	int poll(int timeout_ms);

	SamplerCounters counters() const;
	AttachType attach_type() const { return attached_; }
	// "fpstate", "state" or "unknown" (the program has not run yet).
	std::string_view fpu_layout() const;
	// Checks that the link is still attached, that the program ran since the
	// previous call while /proc/stat shows context switches, and that nobody but
	// this reader moved the ring buffer's consumer position (records skipped).
	// Cheap: call it every few seconds, between two poll()s.
	AttachmentHealth check_attachment();
	// Whether thread exits are followed (the last summary of an exiting thread).
	bool follows_exits() const { return exit_link_ != nullptr; }
	// Whether the tracking map is the LRU fallback (no exit hook): entries may be
	// evicted, with the counts pending in them.
	bool tracking_evicts() const { return tracking_evicts_; }
	// Records the ring buffer delivered that could not be decoded.
	std::uint64_t malformed_records() const { return malformed_; }

private:
	struct SkeletonDeleter {
		void operator()(mxwatch_bpf *skeleton) const;
	};
	struct RingBufferDeleter {
		void operator()(ring_buffer *rb) const;
	};

	static int on_record(void *self, void *data, std::size_t size);
	void load_and_attach(const SamplerOptions &options, AttachType type);
	// Opens and loads the object for one attach type; evicting: `tracked` as an
	// LRU hash, without the exit programs.
	void open_and_load(const SamplerOptions &options, AttachType type, bool evicting);
	void freeze_maps();
	void map_consumer_position();
	int attach_exit_hook(AttachType type); // 0, or the errno of the failed attach

	SampleHandler handler_;
	std::unique_ptr<mxwatch_bpf, SkeletonDeleter> skeleton_;
	std::unique_ptr<ring_buffer, RingBufferDeleter> ring_buffer_; // declared last: freed first
	AttachType attached_ = AttachType::Auto;
	std::uint64_t malformed_ = 0;
	bpf_link *link_ = nullptr;      // owned by the skeleton
	bpf_link *exit_link_ = nullptr; // owned by the skeleton
	bool tracking_evicts_ = false;
	std::uint64_t health_hits_ = 0; // hits and context switches at the previous check
	std::uint64_t health_ctxt_ = 0;
	// The ring buffer's consumer position (its first page, mapped read-only), and
	// where this reader's own records put it: they differ only if someone else
	// wrote it.
	const volatile std::uint64_t *consumer_pos_ = nullptr;
	std::size_t consumer_page_size_ = 0;
	std::uint64_t consumed_bytes_ = 0;
};

} // namespace mxwatch
