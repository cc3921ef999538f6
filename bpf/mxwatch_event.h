/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The wire format between mxwatch's BPF program and user space.
 *
 * Plain C, fixed-width types, no kernel headers: it is compiled both by clang
 * for the BPF target and by the C++ compiler for user space. Every record on
 * the ring buffer starts with struct mxw_record_header. Enum values are part of
 * the ABI: never renumber, only append. tests/unit/record_layout_test.cpp
 * checks that the BTF the kernel sees describes these structs exactly as the
 * C++ compiler lays them out.
 */
#ifndef MXWATCH_EVENT_H
#define MXWATCH_EVENT_H

#ifdef __cplusplus
#include <cstdint>
#define MXW_U8 std::uint8_t
#define MXW_U16 std::uint16_t
#define MXW_U32 std::uint32_t
#define MXW_U64 std::uint64_t
#else
#define MXW_U8 __u8
#define MXW_U16 __u16
#define MXW_U32 __u32
#define MXW_U64 __u64
#endif

#define MXW_COMM_LEN 16

/* MXCSR rounding control: bits 13-14. */
#define MXW_MXCSR_RC_SHIFT 13
#define MXW_MXCSR_RC_MASK 0x6000u
/* The value the kernel gives every new task, and the one an unwritten save slot means. */
#define MXW_MXCSR_DEFAULT 0x1F80u
/* The x87 control word of a new task (and of an unwritten save slot). */
#define MXW_X87_CW_DEFAULT 0x037Fu

enum mxw_record_type {
	MXW_RECORD_SAMPLE = 1,
	MXW_RECORD_SUMMARY = 2, /* struct mxw_summary_record */
};

enum mxw_sample_flags {
	/* The SSE bit of the saved xfeatures was clear: the MXCSR slot was not
	 * written by this save, MXCSR is reported as MXW_MXCSR_DEFAULT. */
	MXW_SAMPLE_F_INIT_STATE = 1u << 0,
	/* Likewise for the x87 bit: x87_cw is reported as MXW_X87_CW_DEFAULT. */
	MXW_SAMPLE_F_X87_INIT_STATE = 1u << 3,
	/* First record of a thread the kernel side has just started to follow. */
	MXW_SAMPLE_F_FIRST = 1u << 1,
	/* Last record of a thread the kernel side stops following (it stayed in
	 * the default mode long enough); later samples start a new track. */
	MXW_SAMPLE_F_LAST = 1u << 2,
	/* A sample of a thread the kernel side could not follow (its tracking map
	 * was full): sent on its own, within its process's budget; the thread's
	 * default-mode samples are not seen. */
	MXW_SAMPLE_F_UNFOLLOWED = 1u << 4,
};

/* Which struct fpu layout CO-RE resolved on this kernel (see core_fixes.bpf.h). */
enum mxw_fpu_layout {
	MXW_FPU_LAYOUT_UNKNOWN = 0,
	MXW_FPU_LAYOUT_FPSTATE = 1, /* fpu->fpstate->regs, kernel 5.16 and later */
	MXW_FPU_LAYOUT_STATE = 2,   /* fpu->state, before 5.16 */
};

/* Hits are counted in a global array of MXW_HIT_SLOTS cache lines (8 words),
 * one per CPU (CPU number modulo MXW_HIT_SLOTS, a power of 2). */
#define MXW_HIT_SLOTS 1024
#define MXW_HIT_SLOT_WORDS 8

/* Indices of the per-CPU counters array. */
enum mxw_counter {
	MXW_CTR_HITS = 0,         /* no longer written: hits are counted in hit_slots (kept so that the other indices stay) */
	MXW_CTR_SENT = 1,         /* records committed to the ring buffer */
	MXW_CTR_LOST = 2,         /* records dropped: ring buffer full */
	MXW_CTR_SUPPRESSED = 3,   /* default-mode samples of followed threads folded into a count */
	MXW_CTR_TRACK_FAILED = 4, /* a sample of a thread that could not be followed (map full), one per attempt */
	MXW_CTR_READ_FAILED = 5,  /* the saved FPU area could not be read */
	/* A thread's summary was due but its process had spent its record budget for
	 * this interval: the counts stay in the thread's entry and go out later. */
	MXW_CTR_DEFERRED_BUDGET = 6,
	/* A summary was due but the ring buffer was full: kept and sent later, as above. */
	MXW_CTR_DEFERRED_FULL = 7,
	/* Samples lost with a record that could not be sent and could not be kept (a
	 * first sample, or the last summary of an exiting thread): a true loss,
	 * also counted in MXW_CTR_LOST (which counts records). */
	MXW_CTR_LOST_SAMPLES = 8,
	MXW_CTR_COUNT = 9,
};

struct mxw_record_header {
	MXW_U16 type; /* enum mxw_record_type */
	MXW_U16 size; /* whole record, header included */
	MXW_U32 cpu;
	MXW_U64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

/*
 * One sample of a thread's MXCSR, taken when the kernel saved its FPU state.
 * The kernel sends a thread's samples only once it has been seen outside the
 * default rounding mode; after that every non-default sample and every return
 * to the default mode is sent, and runs of default-mode samples in between are
 * folded into default_skipped of the next record sent for that thread.
 */
struct mxw_sample_record {
	struct mxw_record_header hdr;
	MXW_U32 tgid;
	MXW_U32 tid;
	MXW_U64 cgroup_id;
	MXW_U32 mxcsr;
	MXW_U32 flags;           /* enum mxw_sample_flags */
	MXW_U32 default_skipped; /* default-mode samples not sent since the previous record */
	/* The x87 control word saved beside MXCSR. fesetround() sets the rounding
	 * mode of both units; RandomX's CFROUND sets only MXCSR. */
	MXW_U16 x87_cw;
	MXW_U16 reserved;
	/* Start time of the thread group leader (CLOCK_MONOTONIC ns): with tgid it
	 * names a process uniquely, even across PID reuse. */
	MXW_U64 process_start_ns;
	char comm[MXW_COMM_LEN];
};

/*
 * What a run of samples of one thread says, counted the way the detector
 * counts consecutive samples (src/detect/detector.cpp): mxw_counts__add() in
 * mxwatch_counts.h is the one definition, shared by the BPF program and the
 * unit tests.
 */
struct mxw_counts {
	MXW_U32 by_mode[4];   /* samples per MXCSR rounding mode */
	MXW_U32 transitions;  /* samples whose mode differs from the thread's previous sample */
	MXW_U32 after_non_default;         /* samples that followed a non-default sample */
	MXW_U32 changed_after_non_default; /* of those, with a different mode */
	/* Samples raw mode would have sent as records: all but default-mode samples
	 * after a default-mode sample (those raw mode folds into default_skipped). */
	MXW_U32 records;
	MXW_U32 ftz_daz;    /* of the records, with MXCSR's FTZ and DAZ both set */
	MXW_U32 x87_agrees; /* non-default samples whose x87 rounding mode equals MXCSR's */
};

/*
 * The samples of one followed thread since its previous record, as counts
 * (the default): sent at most every summary_interval_ns per thread, when its
 * process has record budget left; a summary that cannot go out yet stays in
 * the kernel and keeps counting. hdr.timestamp_ns is the last counted sample's
 * time; mxcsr, x87_cw and flags are that sample's.
 */
struct mxw_summary_record {
	struct mxw_record_header hdr;
	MXW_U32 tgid;
	MXW_U32 tid;
	MXW_U64 cgroup_id;
	MXW_U64 process_start_ns;
	MXW_U64 first_ns; /* time of the first sample counted */
	MXW_U32 mxcsr;
	MXW_U32 flags; /* enum mxw_sample_flags: MXW_SAMPLE_F_LAST, init-state flags of the last sample */
	MXW_U16 x87_cw;
	MXW_U16 reserved;
	MXW_U32 deferrals; /* times this summary was due and held back (budget spent, ring full) */
	struct mxw_counts counts;
	char comm[MXW_COMM_LEN];
};

#endif /* MXWATCH_EVENT_H */
