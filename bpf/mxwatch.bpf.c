// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxwatch's sampler: reads the MXCSR a task leaves behind each time the kernel
 * saves its FPU registers, and sends user space only what detection needs.
 *
 * A thread that never leaves the default rounding mode costs a load of its
 * saved MXCSR and of followed_threads (and, while some thread is followed, of
 * its slot in followed_slots), and sends nothing. Once a thread is seen in a non-default mode it is
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
/* Wake the reader only once this much is waiting in the ring buffer (0: on every
 * record); user space drains the rest on its poll timeout. */
const volatile __u64 wakeup_bytes = 0;

/*
 * Read on every hit, written almost never: the two share a cache line (every
 * line the hot path touches costs a miss after the context switch in between).
 * fpu_layout_seen: which struct fpu layout CO-RE chose, read by user space.
 * followed_threads: entries the program added to `tracked` minus those it
 * removed; 0 means no thread is followed, so a default-mode sample needs no
 * further look. Entries the LRU evicts stay counted: a cost, never a miss.
 */
__u32 fpu_layout_seen = MXW_FPU_LAYOUT_UNKNOWN;
__u32 followed_threads;

/* Anchors the wire records in the object's BTF, where the layout test reads them. */
const struct mxw_sample_record *unused_sample_record __attribute__((unused));

/*
 * How many followed threads hash to each slot (by thread id): while some
 * thread is followed, a slot at 0 proves that this one is not, without the
 * LRU-hash lookup. Kept like followed_threads.
 */
#define MXW_FOLLOW_SLOTS 4096
__u32 followed_slots[MXW_FOLLOW_SLOTS];

static __always_inline __u32 *follow_slot(__u64 pid_tgid)
{
	return &followed_slots[(__u32)pid_tgid & (MXW_FOLLOW_SLOTS - 1)];
}

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
	bpf_ringbuf_submit(rec, wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes
				       ? BPF_RB_NO_WAKEUP
				       : 0);
	counter__inc(MXW_CTR_SENT);
}

static __always_inline int on_regs_deactivated(struct fpu *fpu, const int typed)
{
	struct mxw_fpu_regs regs = {};
	struct tracked_thread *thread;
	__u64 pid_tgid, now;
	__u32 rc, skipped, mxcsr;

	counter__inc(MXW_CTR_HITS);
	if (fpu__peek_mxcsr(fpu, typed, &mxcsr)) {
		counter__inc(MXW_CTR_READ_FAILED);
		return 0;
	}
	if (fpu_layout_seen != fpu__layout(fpu))
		fpu_layout_seen = fpu__layout(fpu);
	if (!(mxcsr & MXW_MXCSR_RC_MASK) && !followed_threads)
		return 0; /* the common case: an ordinary task, and nothing followed */
	pid_tgid = bpf_get_current_pid_tgid();
	if (!(mxcsr & MXW_MXCSR_RC_MASK) && !*follow_slot(pid_tgid))
		return 0; /* an ordinary task while others are followed */

	if (fpu__read_regs(fpu, &regs)) {
		counter__inc(MXW_CTR_READ_FAILED);
		return 0;
	}
	rc = (regs.mxcsr & MXW_MXCSR_RC_MASK) >> MXW_MXCSR_RC_SHIFT;
	thread = bpf_map_lookup_elem(&tracked, &pid_tgid);
	if (!thread) {
		if (rc == 0)
			return 0;
		now = bpf_ktime_get_ns();
		struct tracked_thread fresh = {
			.last_sent_ns = now,
			.last_nondefault_ns = now,
			.last_rc = rc,
		};
		if (bpf_map_update_elem(&tracked, &pid_tgid, &fresh, BPF_NOEXIST))
			counter__inc(MXW_CTR_TRACK_FAILED);
		else {
			__sync_fetch_and_add(follow_slot(pid_tgid), 1);
			__sync_fetch_and_add(&followed_threads, 1);
		}
		sample__emit(pid_tgid, &regs, MXW_SAMPLE_F_FIRST, 0, now);
		return 0;
	}

	now = bpf_ktime_get_ns();
	if (rc == 0 && thread->last_rc == 0) {
		if (now - thread->last_nondefault_ns >= forget_after_ns) {
			skipped = thread->skipped;
			if (!bpf_map_delete_elem(&tracked, &pid_tgid)) {
				__sync_fetch_and_add(follow_slot(pid_tgid), -1);
				__sync_fetch_and_add(&followed_threads, -1);
			}
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
	return on_regs_deactivated((struct fpu *)ctx[0], 1);
}

/* Fallback: plain raw tracepoint, also without tracefs. */
SEC("raw_tp/x86_fpu_regs_deactivated")
int mxw_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return on_regs_deactivated((struct fpu *)ctx->args[0], 0);
}

/* Last resort: the classic tracepoint (needs tracefs to resolve its id). */
SEC("tracepoint/x86_fpu/x86_fpu_regs_deactivated")
int mxw_tracepoint(struct trace_event_raw_x86_fpu *ctx)
{
	return on_regs_deactivated(ctx->fpu, 0);
}
