/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared bits of the rounding-mode workloads: MXCSR and x87 control-word
 * constants and accessors, a sleep that survives signals, and the --self-test
 * sampler.
 *
 * The sampler imitates what mxwatch sees without loading anything into the
 * kernel: a process-wide ITIMER_PROF timer interrupts whichever thread is
 * running at (CPU-time) random instants, and the handler reads MXCSR and the
 * x87 control word that the kernel saved in the signal frame, which are the
 * interrupted thread's registers, exactly as a preemption would save them.
 * Define _GNU_SOURCE before including anything.
 */
#ifndef MXW_WORKLOAD_FPU_STATE_H
#define MXW_WORKLOAD_FPU_STATE_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#define MXCSR_DEFAULT 0x1F80u /* Linux default: all exceptions masked, nearest */
#define MXCSR_RANDOMX 0x9FC0u /* RandomX VM: plus FTZ (bit 15) and DAZ (bit 6) */
#define MXCSR_RC_MASK 0x6000u /* rounding control, bits 13-14 */
#define MXCSR_FTZ_DAZ 0x8040u
#define MXCSR_FLAGS 0x003Fu    /* sticky exception flags IE DE ZE OE UE PE */
#define MXCSR_PE 0x0020u       /* precision (inexact) */
#define X87_CW_DEFAULT 0x037Fu /* all masked, 64-bit precision, nearest */
#define X87_RC_MASK 0x0C00u    /* rounding control, bits 10-11, same encoding as MXCSR */

static inline unsigned mxcsr_rc(unsigned mxcsr)
{
	return (mxcsr & MXCSR_RC_MASK) >> 13;
}

static inline unsigned x87_rc(unsigned cw)
{
	return (cw & X87_RC_MASK) >> 10;
}

static inline uint16_t x87_get_cw(void)
{
	uint16_t cw;
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static inline void x87_set_cw(uint16_t cw)
{
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

/* Sleeps `seconds` even when a signal (the sampler's) interrupts the sleep. */
static inline void workload_sleep(double seconds)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	long long ns = until.tv_nsec + (long long)(seconds * 1e9);
	until.tv_sec += ns / 1000000000;
	until.tv_nsec = ns % 1000000000;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

/* What the sampler saw; the churn counters follow the detector's (docs/detection.md). */
struct fpu_samples {
	unsigned long samples;
	unsigned long mxcsr_mode[4];
	unsigned long x87_mode[4];
	unsigned long x87_agrees;        /* non-default samples whose x87 mode is the MXCSR mode */
	unsigned long ftz_daz;           /* both FTZ and DAZ set */
	unsigned long precision_flag;    /* PE set */
	unsigned long after_non_default; /* samples following a non-default one of the same thread */
	unsigned long changed_after_non_default;
};

static struct fpu_samples fpu_sampled;
static __thread int fpu_sampler_last_mode = -1;

static inline void fpu_sampler_add(unsigned long *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static void fpu_sampler_handler(int sig, siginfo_t *info, void *context)
{
	const ucontext_t *uc = (const ucontext_t *)context;
	(void)sig;
	(void)info;
	if (uc->uc_mcontext.fpregs == NULL)
		return;
	const unsigned mxcsr = uc->uc_mcontext.fpregs->mxcsr;
	const unsigned cw = uc->uc_mcontext.fpregs->cwd;
	const unsigned mode = mxcsr_rc(mxcsr);

	fpu_sampler_add(&fpu_sampled.samples);
	fpu_sampler_add(&fpu_sampled.mxcsr_mode[mode]);
	fpu_sampler_add(&fpu_sampled.x87_mode[x87_rc(cw)]);
	if (mode != 0 && x87_rc(cw) == mode)
		fpu_sampler_add(&fpu_sampled.x87_agrees);
	if ((mxcsr & MXCSR_FTZ_DAZ) == MXCSR_FTZ_DAZ)
		fpu_sampler_add(&fpu_sampled.ftz_daz);
	if (mxcsr & MXCSR_PE)
		fpu_sampler_add(&fpu_sampled.precision_flag);
	if (fpu_sampler_last_mode > 0) {
		fpu_sampler_add(&fpu_sampled.after_non_default);
		if ((int)mode != fpu_sampler_last_mode)
			fpu_sampler_add(&fpu_sampled.changed_after_non_default);
	}
	fpu_sampler_last_mode = (int)mode;
}

/* Samples every `interval_s` of the process's CPU time (tick granularity). */
static inline void fpu_sampler_start(double interval_s)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fpu_sampler_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPROF, &sa, NULL);
	struct itimerval it;
	it.it_interval.tv_sec = 0;
	it.it_interval.tv_usec = (long)(interval_s * 1e6);
	it.it_value = it.it_interval;
	setitimer(ITIMER_PROF, &it, NULL);
}

static inline void fpu_sampler_stop(void)
{
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_PROF, &it, NULL);
}

static inline double fpu_share(unsigned long part, unsigned long whole)
{
	return whole ? (double)part / (double)whole : 0.0;
}

static inline void fpu_sampler_print(const char *prog)
{
	const struct fpu_samples *s = &fpu_sampled;
	const unsigned long non_default = s->samples - s->mxcsr_mode[0];
	printf("%s: sampled (SIGPROF, saved FPU state): %lu samples; MXCSR modes "
	       "nearest/down/up/zero %lu/%lu/%lu/%lu; x87 modes %lu/%lu/%lu/%lu\n",
	       prog, s->samples, s->mxcsr_mode[0], s->mxcsr_mode[1], s->mxcsr_mode[2], s->mxcsr_mode[3], s->x87_mode[0],
	       s->x87_mode[1], s->x87_mode[2], s->x87_mode[3]);
	printf("%s: sampled: x87 agrees on %.3f of non-default, FTZ+DAZ %.3f, PE flag %.3f, "
	       "changed after non-default %.3f (%lu/%lu)\n",
	       prog, fpu_share(s->x87_agrees, non_default), fpu_share(s->ftz_daz, s->samples),
	       fpu_share(s->precision_flag, s->samples), fpu_share(s->changed_after_non_default, s->after_non_default),
	       s->changed_after_non_default, s->after_non_default);
}

/* One PASS/FAIL line; returns 1 on failure so callers can sum failures. */
static inline int fpu_expect(const char *prog, int ok, const char *what)
{
	printf("%s: self-test %s: %s\n", prog, ok ? "PASS" : "FAIL", what);
	return !ok;
}

#endif
