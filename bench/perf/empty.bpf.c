// SPDX-License-Identifier: GPL-2.0-only
/*
 * The floor of the per-hit cost: programs that do nothing, on the hooks
 * mxwatch (tp_btf) and the original bpftrace script (classic tracepoint) use,
 * and one that only reads MXCSR.
 * bench/perf/run.sh loads them with mxw-bpf-attach.
 */
#include "vmlinux_subset.h"
#include <bpf/bpf_helpers.h>
#include "core_fixes.bpf.h"
#include "mxwatch_event.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/x86_fpu_regs_deactivated")
int empty_tp_btf(__u64 *ctx)
{
	return 0;
}

SEC("tracepoint/x86_fpu/x86_fpu_regs_deactivated")
int empty_tracepoint(void *ctx)
{
	return 0;
}

/*
 * The least any MXCSR sampler must do: load the saved MXCSR (two loads, the
 * fpstate pointer and the register image, exactly what the bpftrace script
 * reads) and test its rounding bits. The lower bound for mxwatch's hot path.
 */
SEC("tp_btf/x86_fpu_regs_deactivated")
int read_mxcsr_tp_btf(__u64 *ctx)
{
	__u32 mxcsr;

	if (fpu__peek_mxcsr((struct fpu *)ctx[0], 1, &mxcsr))
		return 1;
	return (mxcsr & MXW_MXCSR_RC_MASK) != 0;
}
