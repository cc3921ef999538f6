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
};

// Sums of the BPF program's per-CPU counters.
struct SamplerCounters {
	std::uint64_t hits = 0;
	std::uint64_t sent = 0;
	std::uint64_t lost = 0;
	std::uint64_t suppressed = 0;
	std::uint64_t track_failed = 0;
	std::uint64_t read_failed = 0;
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

	SampleHandler handler_;
	std::unique_ptr<mxwatch_bpf, SkeletonDeleter> skeleton_;
	std::unique_ptr<ring_buffer, RingBufferDeleter> ring_buffer_; // declared last: freed first
	AttachType attached_ = AttachType::Auto;
	std::uint64_t malformed_ = 0;
};

} // namespace mxwatch
