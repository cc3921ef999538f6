// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxwatch's sampler: reads the MXCSR a task leaves behind each time the kernel
 * saves its FPU registers, and sends user space only what detection needs.
 *
 * A thread that never leaves the default rounding mode costs a load of its
 * saved MXCSR and of followed_threads (and, while some thread is followed, of
 * its slot in followed_slots), and sends nothing. Once a thread is seen in a
 * non-default mode it is followed: its first sample is sent at once, and every
 * later one is counted in its entry of `tracked` (struct mxw_counts, counted as
 * the detector counts consecutive samples). The counts go out as a summary
 * record at most every summary_interval_ns per thread, and only while the
 * thread's process has record budget left for the interval; a summary that
 * cannot go out yet stays in the entry and keeps counting (deferred, not
 * lost). So what user space receives is exact, and its volume is bounded by the
 * number of followed threads, not by how often they are switched out. A thread
 * that stays in the default mode for forget_after_ns, or exits, is no longer
 * followed; its last summary says so.
 *
 * `tracked` is a plain hash: an entry goes only when its thread is no longer
 * followed, with its counts sent, never evicted with counts pending. A thread
 * that cannot be followed because the map is full sends its non-default samples
 * one by one as sample records, within its process's budget; past the budget
 * they are counted as lost. (If the exit hook cannot be attached, user space
 * loads `tracked` as an LRU hash instead, so that exited threads' entries are
 * evicted: then an eviction drops the counts pending in it.) The exit hook
 * is two programs: one on sched_process_exit, one on sched_process_exec (a
 * thread that execs takes its leader's id, and its own goes away).
 *
 * Raw mode (`mxwatch record --raw`): every non-default sample and every return
 * to the default mode is sent as a sample record instead, runs of default
 * samples in between folded into a count carried by the thread's next record
 * (at least every flush_interval_ns).
 */
#include "vmlinux_subset.h"
#include <bpf/bpf_helpers.h>
#include "core_fixes.bpf.h"
#include "mxwatch_event.h"
#include "mxwatch_counts.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space through the skeleton before load. */
const volatile __u64 flush_interval_ns = 1000000000ull;
const volatile __u64 forget_after_ns = 30000000000ull;
/* Wake the reader only once this much is waiting in the ring buffer (0: on every
 * record); user space drains the rest on its poll timeout. */
const volatile __u64 wakeup_bytes = 0;
/* Send raw sample records instead of summaries. */
const volatile __u32 raw_samples = 0;
const volatile __u64 summary_interval_ns = 50000000ull;
/* Summaries one process may send per summary_interval_ns, all its threads together. */
const volatile __u32 process_budget = 64;
/* A summary held back this long goes out whatever its process's budget: bounds
 * the delay of a thread that loses the race for its process's budget. */
const volatile __u64 summary_max_delay_ns = 1000000000ull;

/*
 * Read on every hit, written almost never: the two share a cache line (every
 * line the hot path touches costs a miss after the context switch in between).
 * fpu_layout_seen: which struct fpu layout CO-RE chose, read by user space.
 * followed_threads: entries the program added to `tracked` minus those it
 * removed, the live entries (user space exports it as a gauge); 0 means no
 * thread is followed, so a default-mode sample needs no further look. With the
 * LRU fallback, entries it evicts stay counted: a cost, never a miss.
 */
__u32 fpu_layout_seen = MXW_FPU_LAYOUT_UNKNOWN;
__u32 followed_threads;

/* Anchors the wire records in the object's BTF, where the layout test reads them. */
const struct mxw_sample_record *unused_sample_record __attribute__((unused));
const struct mxw_summary_record *unused_summary_record __attribute__((unused));

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
	__u32 skipped; /* raw mode: default samples folded since the last record */
	/* Summaries: the samples since the last record, and the last one's registers. */
	__u64 first_pending_ns; /* 0: nothing pending */
	__u32 last_mxcsr;
	__u32 last_flags;
	__u16 last_x87_cw;
	__u16 pad;
	__u32 deferrals;
	struct mxw_counts pending;
};

/* A process's spending of its record budget in the current interval. */
struct process_budget {
	__u64 interval_start_ns;
	__u32 used;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* LRU_HASH without the exit hook (user space) */
	__uint(max_entries, 16384);      /* resized by user space before load */
	__type(key, __u64);              /* bpf_get_current_pid_tgid() */
	__type(value, struct tracked_thread);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* resized by user space before load */
	__type(key, __u32);         /* tgid */
	__type(value, struct process_budget);
} budgets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MXW_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/*
 * Tracepoint hits, counted per CPU in a plain global array, one cache line per
 * CPU (no false sharing): cheaper on the hot path than the per-CPU counters
 * map (bench/perf, quiet, medians of 7: mxwatch/read-MXCSR-only 1.21-1.22x
 * with the map, 1.12-1.17x with this). On a host with more than MXW_HIT_SLOTS
 * CPUs, CPUs share slots and a hit can be lost to a race: there the count is a
 * lower bound, enough for the metric and for the "stopped running" check.
 */
__u64 hit_slots[MXW_HIT_SLOTS][MXW_HIT_SLOT_WORDS];

static __always_inline void counter__add(enum mxw_counter which, __u64 n)
{
	__u32 key = which;
	__u64 *value = bpf_map_lookup_elem(&counters, &key);

	if (value)
		*value += n;
}

static __always_inline void counter__inc(enum mxw_counter which)
{
	counter__add(which, 1);
}

static __always_inline void hit__count(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	hit_slots[cpu & (MXW_HIT_SLOTS - 1)][0] += 1; /* MXW_HIT_SLOTS: a power of 2 */
}

static __always_inline __u64 ringbuf__wakeup_flags(void)
{
	return wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes ? BPF_RB_NO_WAKEUP : 0;
}

static __always_inline void thread__unfollow(__u64 pid_tgid)
{
	if (!bpf_map_delete_elem(&tracked, &pid_tgid)) {
		__sync_fetch_and_add(follow_slot(pid_tgid), -1);
		__sync_fetch_and_add(&followed_threads, -1);
	}
}

/* Takes one record from the process's budget for this interval; 0 when spent. */
static __always_inline int budget__take(__u32 tgid, __u64 now)
{
	struct process_budget *budget = bpf_map_lookup_elem(&budgets, &tgid);

	if (!budget) {
		struct process_budget fresh = {.interval_start_ns = now, .used = 1};

		bpf_map_update_elem(&budgets, &tgid, &fresh, BPF_ANY);
		return 1; /* a budget that cannot be kept is not enforced */
	}
	if (now - budget->interval_start_ns >= summary_interval_ns) {
		/* Two CPUs may both start the interval: the budget is approximate, never exceeded by much. */
		budget->interval_start_ns = now;
		budget->used = 1;
		return 1;
	}
	if (budget->used >= process_budget)
		return 0;
	__sync_fetch_and_add(&budget->used, 1);
	return 1;
}

/* Sends the thread's pending counts. Returns 0, or -1 when the ring buffer is full. */
static __always_inline int summary__emit(__u64 pid_tgid, const struct tracked_thread *thread, __u32 flags,
					 __u64 now)
{
	struct mxw_summary_record *rec;

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return -1;
	rec->hdr.type = MXW_RECORD_SUMMARY;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.cpu = bpf_get_smp_processor_id();
	rec->hdr.timestamp_ns = now;
	rec->tgid = pid_tgid >> 32;
	rec->tid = (__u32)pid_tgid;
	rec->cgroup_id = bpf_get_current_cgroup_id();
	rec->process_start_ns = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(),
					      group_leader, start_time);
	rec->first_ns = thread->first_pending_ns;
	rec->mxcsr = thread->last_mxcsr;
	rec->flags = thread->last_flags | flags;
	rec->x87_cw = thread->last_x87_cw;
	rec->reserved = 0;
	rec->deferrals = thread->deferrals;
	rec->counts = thread->pending;
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));
	bpf_ringbuf_submit(rec, ringbuf__wakeup_flags());
	counter__inc(MXW_CTR_SENT);
	return 0;
}

static __always_inline __u64 counts__samples(const struct mxw_counts *c)
{
	return (__u64)c->by_mode[0] + c->by_mode[1] + c->by_mode[2] + c->by_mode[3];
}

/* Summary mode: counts the sample of a followed thread, and sends what is due. */
static __always_inline void thread__count(__u64 pid_tgid, struct tracked_thread *thread,
					  const struct mxw_fpu_regs *regs, __u32 rc, __u64 now)
{
	const __u32 before = thread->last_rc;
	const int ends = rc == 0 && before == 0 && now - thread->last_nondefault_ns >= forget_after_ns;

	if (!thread->first_pending_ns)
		thread->first_pending_ns = now;
	mxw_counts__add(&thread->pending, before, regs->mxcsr, regs->x87_cw, ends);
	thread->last_rc = rc;
	thread->last_mxcsr = regs->mxcsr;
	thread->last_x87_cw = regs->x87_cw;
	thread->last_flags = regs->flags;
	if (rc)
		thread->last_nondefault_ns = now;

	if (ends) {
		if (summary__emit(pid_tgid, thread, MXW_SAMPLE_F_LAST, now)) {
			counter__inc(MXW_CTR_DEFERRED_FULL); /* still followed: the next sample tries again */
			return;
		}
		thread__unfollow(pid_tgid);
		return;
	}
	if (now - thread->last_sent_ns < summary_interval_ns)
		return;
	if (now - thread->last_sent_ns < summary_max_delay_ns && !budget__take(pid_tgid >> 32, now)) {
		thread->deferrals += 1;
		counter__inc(MXW_CTR_DEFERRED_BUDGET);
		return;
	}
	if (summary__emit(pid_tgid, thread, 0, now)) {
		thread->deferrals += 1;
		counter__inc(MXW_CTR_DEFERRED_FULL);
		return;
	}
	__builtin_memset(&thread->pending, 0, sizeof(thread->pending));
	thread->first_pending_ns = 0;
	thread->deferrals = 0;
	thread->last_sent_ns = now;
}

/* PF_EXITING (include/linux/sched.h), unchanged since before 5.10. */
#define MXW_PF_EXITING 0x00000004u

/*
 * Whether the current task is exiting: do_exit() sets PF_EXITING, then runs the
 * exit hook, and later exit_thread() -> fpu__drop() -> fpregs_deactivate()
 * fires x86_fpu_regs_deactivated once more with the thread's last saved MXCSR
 * (already sampled when it was saved; for a thread never switched out, its
 * parent's at clone). Following such a thread would create an entry after the
 * exit hook freed it, never freed again. bpf_get_current_task(), not the
 * BTF-typed variant: that one is 5.11+ and not for every attach type.
 */
static __always_inline int current__exiting(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, flags) & MXW_PF_EXITING;
}

static __always_inline void sample__emit(__u64 pid_tgid, const struct mxw_fpu_regs *regs,
					 __u32 extra_flags, __u32 default_skipped, __u64 now)
{
	struct mxw_sample_record *rec;

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec) {
		counter__inc(MXW_CTR_LOST);
		counter__add(MXW_CTR_LOST_SAMPLES, 1 + default_skipped);
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
	bpf_ringbuf_submit(rec, ringbuf__wakeup_flags());
	counter__inc(MXW_CTR_SENT);
}

/*
 * A sample of a thread that could not be followed (`tracked` full): nothing in
 * the kernel counts it, so it goes out on its own, within its process's budget
 * like a summary; past the budget it is lost, and counted as such.
 */
static __always_inline void sample__emit_unfollowed(__u64 pid_tgid, const struct mxw_fpu_regs *regs, __u64 now)
{
	if (!budget__take(pid_tgid >> 32, now)) {
		counter__inc(MXW_CTR_LOST);
		counter__inc(MXW_CTR_LOST_SAMPLES);
		return;
	}
	sample__emit(pid_tgid, regs, MXW_SAMPLE_F_UNFOLLOWED, 0, now);
}

static __always_inline int on_regs_deactivated(struct fpu *fpu, const int typed)
{
	struct mxw_fpu_regs regs = {};
	struct tracked_thread *thread;
	__u64 pid_tgid, now;
	__u32 rc, skipped, mxcsr;

	hit__count();
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
		if (current__exiting())
			return 0; /* past its exit hook: see current__exiting() */
		now = bpf_ktime_get_ns();
		struct tracked_thread fresh = {
			.last_sent_ns = now,
			.last_nondefault_ns = now,
			.last_rc = rc,
			.last_mxcsr = regs.mxcsr,
			.last_flags = regs.flags,
			.last_x87_cw = regs.x87_cw,
		};
		if (bpf_map_update_elem(&tracked, &pid_tgid, &fresh, BPF_NOEXIST)) {
			counter__inc(MXW_CTR_TRACK_FAILED);
			sample__emit_unfollowed(pid_tgid, &regs, now);
			return 0;
		}
		__sync_fetch_and_add(follow_slot(pid_tgid), 1);
		__sync_fetch_and_add(&followed_threads, 1);
		sample__emit(pid_tgid, &regs, MXW_SAMPLE_F_FIRST, 0, now);
		return 0;
	}

	now = bpf_ktime_get_ns();
	if (!raw_samples) {
		thread__count(pid_tgid, thread, &regs, rc, now);
		return 0;
	}
	if (rc == 0 && thread->last_rc == 0) {
		if (now - thread->last_nondefault_ns >= forget_after_ns) {
			skipped = thread->skipped;
			thread__unfollow(pid_tgid);
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

/*
 * A followed thread exits: its pending counts go out as its last summary (it
 * will not be switched out again to send them), and its entry is freed.
 */
static __always_inline int on_thread_exit(void)
{
	struct tracked_thread *thread;
	__u64 pid_tgid;

	if (!followed_threads)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (!*follow_slot(pid_tgid))
		return 0;
	thread = bpf_map_lookup_elem(&tracked, &pid_tgid);
	if (!thread)
		return 0;
	if (!raw_samples && thread->first_pending_ns &&
	    summary__emit(pid_tgid, thread, MXW_SAMPLE_F_LAST, bpf_ktime_get_ns())) {
		counter__inc(MXW_CTR_LOST);
		counter__add(MXW_CTR_LOST_SAMPLES, counts__samples(&thread->pending));
	}
	thread__unfollow(pid_tgid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int mxw_exit_tp_btf(__u64 *ctx)
{
	return on_thread_exit();
}

SEC("raw_tp/sched_process_exit")
int mxw_exit_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return on_thread_exit();
}

SEC("tracepoint/sched/sched_process_exit")
int mxw_exit_tracepoint(void *ctx)
{
	return on_thread_exit();
}

/*
 * A thread other than the leader calls execve(): de_thread() gives it the
 * leader's thread id, and the id it had goes away without an exit. Its entry
 * under that id would never be freed: its counts go out as its last summary
 * (under the old id) and the entry is freed, as at an exit.
 */
static __always_inline int on_exec(__u32 old_tid)
{
	struct tracked_thread *thread;
	__u64 pid_tgid, old;

	if (!followed_threads)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	old = (pid_tgid & 0xffffffff00000000ull) | old_tid;
	if (old == pid_tgid || !*follow_slot(old))
		return 0;
	thread = bpf_map_lookup_elem(&tracked, &old);
	if (!thread)
		return 0;
	if (!raw_samples && thread->first_pending_ns &&
	    summary__emit(old, thread, MXW_SAMPLE_F_LAST, bpf_ktime_get_ns())) {
		counter__inc(MXW_CTR_LOST);
		counter__add(MXW_CTR_LOST_SAMPLES, counts__samples(&thread->pending));
	}
	thread__unfollow(old);
	return 0;
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
SEC("tp_btf/sched_process_exec")
int mxw_exec_tp_btf(__u64 *ctx)
{
	return on_exec((__u32)ctx[1]);
}

SEC("raw_tp/sched_process_exec")
int mxw_exec_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exec((__u32)ctx->args[1]);
}

SEC("tracepoint/sched/sched_process_exec")
int mxw_exec_tracepoint(struct trace_event_raw_sched_process_exec *ctx)
{
	return on_exec(ctx->old_pid);
}
