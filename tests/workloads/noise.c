// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-noise: benign, and many of them. One process with thousands of threads
 * that each do a little floating-point work in a non-default rounding mode and
 * then sleep 1 ms, over and over: every voluntary switch-out of every thread
 * is a sample outside the default mode. It imitates a server full of numerical
 * workers (or interval-arithmetic workers) and stresses the kernel side's
 * aggregation: thread tracking, counts instead of samples, bounded output.
 *
 *   mxw-noise [--seconds 10] [--threads 2000] [--mode 2] [--toggle] [--sleep-us 1000]
 *             [--self-test]
 *
 * --mode M     the mode each thread sets once with fesetround(): 1 down, 2 up
 *              (default), 3 toward zero (0, nearest, for a control run).
 * --toggle     instead, around each small piece of work switch like interval
 *              arithmetic: fesetround(FE_DOWNWARD) for the lower bound,
 *              FE_UPWARD for the upper bound, back to FE_TONEAREST (modes 0/1/2,
 *              never toward zero); the threads then sleep in nearest.
 * --sleep-us   the sleep between pieces of work (nanosleep), default 1000.
 * --self-test  (default 1 s) sample the saved FPU state asynchronously
 *              (fpu_state.h) and check what the threads read back; exit 1 on a
 *              failed expectation.
 *
 * Threads have 64 KiB stacks and wait at a start gate until all are created;
 * --seconds counts from the gate. If a thread cannot be created (after retrying
 * EAGAIN for a second) it prints one line and exits 2. At the end it prints one
 * line: threads, wake-ups, the MXCSR and x87 modes read back before each sleep,
 * and the interval checks that failed (lower bound above upper: must be 0).
 */
#define _GNU_SOURCE
#include "common.h"
#include "fpu_state.h"

#include <fenv.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xmmintrin.h>

#define STACK_BYTES (64 * 1024)

static const char prog[] = "mxw-noise";
static const int fe_modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};

static int mode = 2;
static int toggle;
static double sleep_s = 0.001;

/*
 * The start gate: a futex word that main opens, with one wake-up for all, once every
 * thread has arrived. Not a mutex and condition variable (the mutex would go from
 * thread to thread, one scheduling latency each, on saturated CPUs), nor a barrier
 * (its last thread to arrive pays for waking all the others and then waits, behind
 * them, for seconds: the scheduler owes them that CPU time).
 */
static int gate_open;
static int arrived;
static int stop;

static void gate_wait(void)
{
	__atomic_fetch_add(&arrived, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&gate_open, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &gate_open, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static void gate_release(int threads)
{
	while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < threads)
		workload_sleep(0.001);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &gate_open, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Summed over the threads at their end. */
static struct {
	unsigned long wakeups;
	unsigned long ran;           /* threads that completed at least one piece of work */
	unsigned long mxcsr_mode[4]; /* read back before each sleep */
	unsigned long x87_mode[4];
	unsigned long disagree;     /* MXCSR and x87 modes differ (fesetround sets both) */
	unsigned long toggle_wrong; /* --toggle: a mode read back was not the one just set */
	unsigned long bracket_failures;
} total;

static inline void add(unsigned long *counter, unsigned long value)
{
	__atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
}

static inline int mode_is(int m)
{
	return (int)mxcsr_rc(_mm_getcsr()) == m && (int)x87_rc(x87_get_cw()) == m;
}

static double piece(double x)
{
	double s = 0;
	for (int i = 1; i <= 16; i++)
		s += x / (double)i + sqrt(x * (double)i);
	return s;
}

static void *worker(void *arg)
{
	const double x0 = 1.0 + (double)(uintptr_t)arg * 1e-7;
	volatile double x = x0;
	volatile double sink = 0;
	unsigned long wakeups = 0, toggle_wrong = 0, bracket_failures = 0, disagree = 0;
	unsigned long mxcsr_mode[4] = {0}, x87_mode[4] = {0};

	gate_wait();

	if (!toggle)
		fesetround(fe_modes[mode]);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (toggle) {
			fesetround(FE_DOWNWARD);
			toggle_wrong += !mode_is(1);
			const double lower = piece(x);
			fesetround(FE_UPWARD);
			toggle_wrong += !mode_is(2);
			const double upper = piece(x);
			fesetround(FE_TONEAREST);
			toggle_wrong += !mode_is(0);
			bracket_failures += lower > upper;
			sink = upper - lower;
		} else {
			sink = piece(x);
		}
		x = x0 + sink * 1e-12;
		const unsigned csr_mode = mxcsr_rc(_mm_getcsr());
		const unsigned cw_mode = x87_rc(x87_get_cw());
		mxcsr_mode[csr_mode]++;
		x87_mode[cw_mode]++;
		disagree += csr_mode != cw_mode;
		wakeups++;
		workload_sleep(sleep_s);
	}
	fesetround(FE_TONEAREST);
	add(&total.wakeups, wakeups);
	add(&total.ran, wakeups > 0);
	for (int m = 0; m < 4; m++) {
		add(&total.mxcsr_mode[m], mxcsr_mode[m]);
		add(&total.x87_mode[m], x87_mode[m]);
	}
	add(&total.disagree, disagree);
	add(&total.toggle_wrong, toggle_wrong);
	add(&total.bracket_failures, bracket_failures);
	return NULL;
}

int main(int argc, char **argv)
{
	const int self_test = workload_flag(argc, argv, "--self-test");
	const double seconds = workload_arg(argc, argv, "--seconds", self_test ? 1 : 10);
	const int threads = (int)workload_arg(argc, argv, "--threads", 2000);
	pthread_attr_t attr;
	pthread_t *tids;

	mode = (int)workload_arg(argc, argv, "--mode", 2);
	toggle = workload_flag(argc, argv, "--toggle");
	sleep_s = workload_arg(argc, argv, "--sleep-us", 1000) / 1e6;
	if (threads < 1 || threads > 100000 || mode < 0 || mode > 3 || sleep_s < 0) {
		fprintf(stderr, "%s: --threads 1..100000, --mode 0..3, --sleep-us >= 0\n", prog);
		return 2;
	}
	tids = calloc((size_t)threads, sizeof(*tids));
	if (tids == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 2;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_BYTES);

	const double create_start = workload_now();
	for (int i = 0; i < threads; i++) {
		int err, tries = 0;
		while ((err = pthread_create(&tids[i], &attr, worker, (void *)(uintptr_t)i)) == EAGAIN && ++tries < 100)
			workload_sleep(0.01);
		if (err != 0) {
			fprintf(stderr, "%s: pthread_create failed for thread %d of %d: %s\n", prog, i + 1, threads,
			        strerror(err));
			exit(2);
		}
	}
	const double created = workload_now() - create_start;

	if (self_test)
		fpu_sampler_start(0.001);
	gate_release(threads);
	const double start = workload_now();
	workload_sleep(seconds);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	const double stopping = workload_now();
	for (int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	const double elapsed = workload_now() - start;
	const double stopped = workload_now() - stopping;
	if (self_test)
		fpu_sampler_stop();

	printf(
	    "%s: threads=%d ran=%lu created_in=%.3fs stopped_in=%.3fs wakeups=%lu (%.0f/s per thread) modes_at_sleep "
	    "mxcsr=%lu/%lu/%lu/%lu x87=%lu/%lu/%lu/%lu disagree=%lu toggle_wrong=%lu bracket_failures=%lu\n",
	    prog, threads, total.ran, created, stopped, total.wakeups, (double)total.wakeups / elapsed / threads,
	    total.mxcsr_mode[0], total.mxcsr_mode[1], total.mxcsr_mode[2], total.mxcsr_mode[3], total.x87_mode[0],
	    total.x87_mode[1], total.x87_mode[2], total.x87_mode[3], total.disagree, total.toggle_wrong,
	    total.bracket_failures);
	if (!self_test)
		return 0;

	const int at_sleep = toggle ? 0 : mode;
	const struct fpu_samples *s = &fpu_sampled;
	char what[256];
	int failures = 0;
	snprintf(what, sizeof(what), "every thread ran (%lu of %d)", total.ran, threads);
	failures += fpu_expect(prog, total.ran == (unsigned long)threads, what);
	snprintf(what, sizeof(what), "MXCSR and x87 both in mode %d before every sleep", at_sleep);
	failures += fpu_expect(prog,
	                       total.mxcsr_mode[at_sleep] == total.wakeups &&
	                           total.x87_mode[at_sleep] == total.wakeups && total.disagree == 0,
	                       what);
	if (toggle) {
		snprintf(what, sizeof(what),
		         "--toggle: each fesetround() read back (%lu wrong), bounds "
		         "bracket (%lu failures)",
		         total.toggle_wrong, total.bracket_failures);
		failures += fpu_expect(prog, total.toggle_wrong == 0 && total.bracket_failures == 0, what);
	}
	fpu_sampler_print(prog);
	if (s->samples >= 20) {
		const unsigned long non_default = s->samples - s->mxcsr_mode[0];
		const double agrees = fpu_share(s->x87_agrees, non_default);
		int ok = non_default == 0 || agrees >= 0.95;
		for (int m = 1; m < 4; m++)
			ok = ok && (s->mxcsr_mode[m] == 0 || (toggle ? m != 3 : m == mode));
		if (toggle)
			snprintf(what, sizeof(what),
			         "sampled: never toward zero, x87 agrees on %.3f of "
			         "non-default",
			         agrees);
		else
			snprintf(what, sizeof(what),
			         "sampled: only modes 0 and %d, x87 agrees on %.3f of "
			         "non-default",
			         mode, agrees);
		failures += fpu_expect(prog, ok, what);
	} else {
		printf("%s: self-test: too few samples (%lu) to judge them\n", prog, s->samples);
	}
	printf("%s: self-test %s (%d failed)\n", prog, failures ? "FAILED" : "passed", failures);
	return failures ? 1 : 0;
}
