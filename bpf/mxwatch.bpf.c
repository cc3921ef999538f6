// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxwatch's sampler: reads the MXCSR a task leaves behind each time the kernel
 * saves its FPU registers, and sends user space only what detection needs.
 *
 * A thread that never leaves the default rounding mode costs one hash lookup
 * and sends nothing. Once a thread is seen in a non-default mode it is
 * followed: every non-default sample and every return to the default mode is
 * sent; runs of default samples in between are folded into a count carried by
 * the thread's next record (at least every flush_interval_ns). A thread that
 * stays in the default mode for forget_after_ns is no longer followed.
 */
#include "vmlinux_subset.h"
#include <bpf/bpf_helpers.h>
#include "core_fixes.bpf.h"
#include "mxwatch_event.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space through the skeleton before load. */
const volatile __u64 flush_interval_ns = 1000000000ull;
const volatile __u64 forget_after_ns = 30000000000ull;

/* Written by the program, read by user space: which struct fpu layout CO-RE chose. */
__u32 fpu_layout_seen = MXW_FPU_LAYOUT_UNKNOWN;

/* Anchors the wire records in the object's BTF, where the layout test reads them. */
const struct mxw_sample_record *unused_sample_record __attribute__((unused));

struct tracked_thread {
	__u64 last_sent_ns;
	__u64 last_nondefault_ns;
	__u32 last_rc;
	__u32 skipped;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* resized by user space before load */
	__type(key, __u64);         /* bpf_get_current_pid_tgid() */
	__type(value, struct tracked_thread);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MXW_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void counter__inc(enum mxw_counter which)
{
	__u32 key = which;
	__u64 *value = bpf_map_lookup_elem(&counters, &key);

	if (value)
		*value += 1;
}

static __always_inline void sample__emit(__u64 pid_tgid, const struct mxw_fpu_regs *regs,
					 __u32 extra_flags, __u32 default_skipped, __u64 now)
{
	struct mxw_sample_record *rec;

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		counter__inc(MXW_CTR_LOST);
		return;
	}
	rec->hdr.type = MXW_RECORD_SAMPLE;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.cpu = bpf_get_smp_processor_id();
	rec->hdr.timestamp_ns = now;
	rec->tgid = pid_tgid >> 32;
	rec->tid = (__u32)pid_tgid;
	rec->cgroup_id = bpf_get_current_cgroup_id();
	rec->mxcsr = regs->mxcsr;
	rec->flags = regs->flags | extra_flags;
	rec->default_skipped = default_skipped;
	rec->x87_cw = regs->x87_cw;
	rec->reserved = 0;
	rec->process_start_ns = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(),
					      group_leader, start_time);
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));
	bpf_ringbuf_submit(rec, 0);
	counter__inc(MXW_CTR_SENT);
}

static __always_inline int on_regs_deactivated(struct fpu *fpu)
{
	struct mxw_fpu_regs regs = {};
	struct tracked_thread *thread;
	__u64 pid_tgid, now;
	__u32 rc, skipped;

	counter__inc(MXW_CTR_HITS);
	if (fpu__read_regs(fpu, &regs)) {
		counter__inc(MXW_CTR_READ_FAILED);
		return 0;
	}
	if (fpu_layout_seen != regs.layout)
		fpu_layout_seen = regs.layout;

	rc = (regs.mxcsr & MXW_MXCSR_RC_MASK) >> MXW_MXCSR_RC_SHIFT;
	pid_tgid = bpf_get_current_pid_tgid();
	thread = bpf_map_lookup_elem(&tracked, &pid_tgid);
	if (!thread) {
		if (rc == 0)
			return 0; /* the common case: an ordinary task */
		now = bpf_ktime_get_ns();
		struct tracked_thread fresh = {
			.last_sent_ns = now,
			.last_nondefault_ns = now,
			.last_rc = rc,
		};
		if (bpf_map_update_elem(&tracked, &pid_tgid, &fresh, BPF_NOEXIST))
			counter__inc(MXW_CTR_TRACK_FAILED);
		sample__emit(pid_tgid, &regs, MXW_SAMPLE_F_FIRST, 0, now);
		return 0;
	}

	now = bpf_ktime_get_ns();
	if (rc == 0 && thread->last_rc == 0) {
		if (now - thread->last_nondefault_ns >= forget_after_ns) {
			skipped = thread->skipped;
			bpf_map_delete_elem(&tracked, &pid_tgid);
			sample__emit(pid_tgid, &regs, MXW_SAMPLE_F_LAST, skipped, now);
			return 0;
		}
		if (now - thread->last_sent_ns < flush_interval_ns) {
			thread->skipped += 1;
			counter__inc(MXW_CTR_SUPPRESSED);
			return 0;
		}
	}

	skipped = thread->skipped;
	thread->skipped = 0;
	thread->last_rc = rc;
	thread->last_sent_ns = now;
	if (rc)
		thread->last_nondefault_ns = now;
	sample__emit(pid_tgid, &regs, 0, skipped, now);
	return 0;
}

/* Preferred: BTF-typed raw tracepoint, needs no tracefs (kernel 5.5+). */
SEC("tp_btf/x86_fpu_regs_deactivated")
int mxw_tp_btf(__u64 *ctx)
{
	return on_regs_deactivated((struct fpu *)ctx[0]);
}

/* Fallback: plain raw tracepoint, also without tracefs. */
SEC("raw_tp/x86_fpu_regs_deactivated")
int mxw_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return on_regs_deactivated((struct fpu *)ctx->args[0]);
}

/* Last resort: the classic tracepoint (needs tracefs to resolve its id). */
SEC("tracepoint/x86_fpu/x86_fpu_regs_deactivated")
int mxw_tracepoint(struct trace_event_raw_x86_fpu *ctx)
{
	return on_regs_deactivated(ctx->fpu);
}
