/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every kernel difference mxwatch.bpf.c depends on, one getter per change.
 * Choices are made with CO-RE field-existence checks against the running
 * kernel's BTF, never by comparing version numbers: distributions backport.
 */
#ifndef MXWATCH_CORE_FIXES_BPF_H
#define MXWATCH_CORE_FIXES_BPF_H

#include "vmlinux_subset.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "mxwatch_event.h"

/*
 * Before 5.16 the register image was embedded in struct fpu as `state`. The
 * x86/fpu rework that introduced struct fpstate (merged for 5.16) moved it
 * behind the pointer fpu->fpstate.
 */
struct fpu___pre_5_16 {
	union fpregs_state state;
} __attribute__((preserve_access_index));

/* XSAVE feature bits: x87 state (with its control word), SSE state (with MXCSR). */
#define MXW_XFEATURE_X87 (1ull << 0)
#define MXW_XFEATURE_SSE (1ull << 1)

/*
 * The first 32 bytes of the FXSAVE/XSAVE legacy area. Its layout is fixed by
 * the architecture (Intel SDM Vol. 1, 10.5.1), not by the kernel: only where
 * the kernel keeps the image needs CO-RE.
 */
struct mxw_legacy_area {
	__u16 fcw;
	__u8 unused[22];
	__u32 mxcsr;
	__u32 mxcsr_mask;
};

struct mxw_fpu_regs {
	__u32 mxcsr;
	__u16 x87_cw;
	__u32 flags; /* enum mxw_sample_flags */
	__u32 layout; /* enum mxw_fpu_layout */
};

/*
 * Reads the MXCSR the kernel has just saved for @fpu. With XSAVEOPT/XSAVES the
 * CPU skips components in their initial state: when the SSE bit of the saved
 * header's xfeatures is clear the MXCSR slot holds whatever an earlier save left
 * there, and the register's real value is the architectural default.
 * Returns 0, or a negative error from the kernel read.
 */
static __always_inline int fpu__read_regs(struct fpu *fpu, struct mxw_fpu_regs *out)
{
	struct fpu___pre_5_16 *old = (void *)fpu;
	struct xregs_state *xsave;
	struct mxw_legacy_area legacy;
	__u64 xfeatures = 0;
	int err;

	if (bpf_core_field_exists(old->state)) {
		xsave = &old->state.xsave;
		out->layout = MXW_FPU_LAYOUT_STATE;
	} else {
		struct fpstate *fps = BPF_CORE_READ(fpu, fpstate);

		if (!fps)
			return -1;
		xsave = &fps->regs.xsave;
		out->layout = MXW_FPU_LAYOUT_FPSTATE;
	}

	err = bpf_core_read(&legacy, sizeof(legacy), &xsave->i387);
	if (err)
		return err;
	err = bpf_core_read(&xfeatures, sizeof(xfeatures), &xsave->header.xfeatures);
	if (err)
		return err;

	out->mxcsr = legacy.mxcsr;
	out->x87_cw = legacy.fcw;
	out->flags = 0;
	if (!(xfeatures & MXW_XFEATURE_SSE)) {
		out->mxcsr = MXW_MXCSR_DEFAULT;
		out->flags |= MXW_SAMPLE_F_INIT_STATE;
	}
	if (!(xfeatures & MXW_XFEATURE_X87)) {
		out->x87_cw = MXW_X87_CW_DEFAULT;
		out->flags |= MXW_SAMPLE_F_X87_INIT_STATE;
	}
	return 0;
}

/* Which layout CO-RE resolved: a constant once libbpf has relocated the program. */
static __always_inline __u32 fpu__layout(struct fpu *fpu)
{
	struct fpu___pre_5_16 *old = (void *)fpu;

	return bpf_core_field_exists(old->state) ? MXW_FPU_LAYOUT_STATE : MXW_FPU_LAYOUT_FPSTATE;
}

/*
 * The hot path: only the raw saved MXCSR, without the init-state check (an
 * unwritten slot can only make a non-default value default, never the reverse,
 * so a raw value in the default rounding mode is final). @typed: @fpu is a
 * BTF-typed pointer (tp_btf), read with plain loads that the verifier turns
 * into fault-safe ones, no helper call; otherwise bpf_probe_read_kernel().
 * Returns 0, or a negative error from the kernel read.
 */
static __always_inline int fpu__peek_mxcsr(struct fpu *fpu, const int typed, __u32 *mxcsr)
{
	struct fpu___pre_5_16 *old = (void *)fpu;

	if (typed) {
		if (bpf_core_field_exists(old->state)) {
			*mxcsr = old->state.xsave.i387.mxcsr;
		} else {
			struct fpstate *fps = fpu->fpstate;

			if (!fps)
				return -1;
			*mxcsr = fps->regs.xsave.i387.mxcsr;
		}
		return 0;
	}
	if (bpf_core_field_exists(old->state))
		return bpf_core_read(mxcsr, sizeof(*mxcsr), &old->state.xsave.i387.mxcsr);
	struct fpstate *fps = BPF_CORE_READ(fpu, fpstate);

	if (!fps)
		return -1;
	return bpf_core_read(mxcsr, sizeof(*mxcsr), &fps->regs.xsave.i387.mxcsr);
}

#endif /* MXWATCH_CORE_FIXES_BPF_H */
