/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How one sample adds to a thread's struct mxw_counts: the BPF program's
 * summaries and the unit tests (tests/unit/summary_test.cpp) share this one
 * definition, which reproduces the detector's per-sample counting
 * (Detector::observe in src/detect/detector.cpp) for a thread whose every
 * sample is seen.
 */
#ifndef MXWATCH_COUNTS_H
#define MXWATCH_COUNTS_H

#include "mxwatch_event.h"

#define MXW_MXCSR_FTZ (1u << 15)
#define MXW_MXCSR_DAZ (1u << 6)

static inline MXW_U32 mxw_rounding(MXW_U32 mxcsr)
{
	return (mxcsr & MXW_MXCSR_RC_MASK) >> MXW_MXCSR_RC_SHIFT;
}

/*
 * @before_rc: the rounding mode of the thread's previous sample. @ends_track:
 * the sample after which the thread is no longer followed (raw mode sends it
 * as a record of its own, whatever its mode).
 */
static inline void mxw_counts__add(struct mxw_counts *c, MXW_U32 before_rc, MXW_U32 mxcsr, MXW_U16 x87_cw,
				   int ends_track)
{
	const MXW_U32 rc = mxw_rounding(mxcsr);

	c->by_mode[rc & 3] += 1;
	c->transitions += rc != before_rc;
	if (before_rc) {
		c->after_non_default += 1;
		c->changed_after_non_default += rc != before_rc;
	}
	if (rc || before_rc || ends_track) {
		c->records += 1;
		c->ftz_daz += (mxcsr & (MXW_MXCSR_FTZ | MXW_MXCSR_DAZ)) == (MXW_MXCSR_FTZ | MXW_MXCSR_DAZ);
	}
	c->x87_agrees += rc && ((MXW_U32)(x87_cw >> 10) & 3) == rc;
}

#endif /* MXWATCH_COUNTS_H */
