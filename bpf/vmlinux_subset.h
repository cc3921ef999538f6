/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The few kernel types mxwatch.bpf.c reads, written by hand instead of a
 * generated 5 MB vmlinux.h. Every struct carries preserve_access_index, so
 * libbpf relocates each field access against the running kernel's BTF: only
 * the members named here must exist there, not the full layout. Layouts that
 * changed between kernels are described as ___flavours in core_fixes.bpf.h.
 *
 * To extend: look the type up with
 *   bpftool btf dump file /sys/kernel/btf/vmlinux format c
 * and copy only the members you read.
 */
#ifndef MXWATCH_VMLINUX_SUBSET_H
#define MXWATCH_VMLINUX_SUBSET_H

#include <linux/types.h>
#include <linux/bpf.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct fxregs_state {
	__u16 cwd;
	__u16 swd;
	__u16 twd;
	__u16 fop;
	__u64 rip;
	__u64 rdp;
	__u32 mxcsr;
	__u32 mxcsr_mask;
};

struct xstate_header {
	__u64 xfeatures;
	__u64 xcomp_bv;
};

struct xregs_state {
	struct fxregs_state i387;
	struct xstate_header header;
};

union fpregs_state {
	struct fxregs_state fxsave;
	struct xregs_state xsave;
};

/* Kernel 5.16 and later: the register image lives behind fpu->fpstate. */
struct fpstate {
	union fpregs_state regs;
};

struct fpu {
	struct fpstate *fpstate;
};

struct task_struct {
	unsigned int flags; /* PF_* */
	struct task_struct *group_leader;
	__u64 start_time;
};

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

/* Context of the classic tracepoint x86_fpu:x86_fpu_regs_deactivated. */
struct trace_event_raw_x86_fpu {
	struct trace_entry ent;
	struct fpu *fpu;
	_Bool load_fpu;
	__u64 xfeatures;
	__u64 xcomp_bv;
};

/* Context of the classic tracepoint sched:sched_process_exec. */
struct trace_event_raw_sched_process_exec {
	struct trace_entry ent;
	__u32 __data_loc_filename;
	int pid;
	int old_pid;
};

#pragma clang attribute pop

#endif /* MXWATCH_VMLINUX_SUBSET_H */
