// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-fenv-cycle: benign. A floating-point test program in the style of
 * glibc's libm tests: it runs the same computations in each of the four
 * rounding modes in turn, switching with fesetround(), and checks that the
 * directed modes bracket the nearest result.
 *
 *   mxw-fenv-cycle [--seconds 10] [--block-us 1000] [--random] [--self-test]
 *
 * --block-us: how long to stay in one mode before the next (fast cycling
 * looks random at sampling granularity; only the x87 control word, which
 * fesetround() sets too, tells it from CFROUND).
 * --random: each cycle visits the four modes in a fresh random order (a
 * shuffled test matrix) instead of nearest, down, up, toward zero; consecutive
 * blocks then differ except, 1 time in 4, across a cycle boundary (15/16 of
 * the transitions change the mode, as against 3/4 for CFROUND).
 * --self-test: (default 1 s) read MXCSR and the x87 control word back after
 * every fesetround(), sample the saved FPU state asynchronously (fpu_state.h),
 * print both and PASS/FAIL per expectation; exit 1 if one failed.
 *
 * Prints the number of cycles whose downward result exceeded the upward one
 * (must be 0: every operation rounded down is at most the same one rounded up).
 */
#define _GNU_SOURCE
#include "common.h"
#include "fpu_state.h"

#include <fenv.h>
#include <math.h>
#include <xmmintrin.h>

int main(int argc, char **argv)
{
	static const char prog[] = "mxw-fenv-cycle";
	static const int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
	const int self_test = workload_flag(argc, argv, "--self-test");
	const int random_order = workload_flag(argc, argv, "--random");
	const double deadline = workload_now() + workload_arg(argc, argv, "--seconds", self_test ? 1 : 10);
	const double block = workload_arg(argc, argv, "--block-us", 1000) / 1e6;
	volatile double x = 1.0;
	volatile double total = 0;
	double results[4] = {0};
	long failures = 0;
	uint64_t state = 0x2545F4914F6CDD1Dull; /* xorshift64 */
	unsigned long blocks = 0, block_mode[4] = {0}, changes = 0, wrong = 0;
	int previous = -1;

	if (self_test)
		fpu_sampler_start(0.001);
	while (workload_now() < deadline) {
		int order[4] = {0, 1, 2, 3};
		for (int i = 3; random_order && i > 0; i--) { /* Fisher-Yates */
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			const int j = (int)((state >> 32) % (uint64_t)(i + 1));
			const int t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (int k = 0; k < 4; k++) {
			const int m = order[k];
			fesetround(modes[m]);
			if (self_test) {
				blocks++;
				block_mode[m]++;
				changes += previous >= 0 && m != previous;
				wrong += (int)mxcsr_rc(_mm_getcsr()) != m || (int)x87_rc(x87_get_cw()) != m;
				previous = m;
			}
			const double until = workload_now() + block;
			double sum;
			do { /* the same sum, again and again, for the whole block */
				sum = 0;
				for (int i = 1; i < 200; i++)
					sum += x / (double)i;
				total += sum;
			} while (workload_now() < until);
			results[m] = sum;
		}
		fesetround(FE_TONEAREST);
		failures += results[1] > results[2]; // down must not exceed up
	}
	printf("%ld\n", failures);
	if (!self_test)
		return 0;

	fpu_sampler_stop();
	char what[200];
	int failed = 0;
	const double change = fpu_share(changes, blocks > 0 ? blocks - 1 : 0);
	printf("%s: %lu blocks: modes nearest/down/up/zero %lu/%lu/%lu/%lu, mode changed between "
	       "blocks %.3f\n",
	       prog, blocks, block_mode[0], block_mode[1], block_mode[2], block_mode[3], change);
	snprintf(what, sizeof(what), "MXCSR and x87 word in the mode just set after every fesetround() (%lu wrong)",
	         wrong);
	failed += fpu_expect(prog, blocks > 0 && wrong == 0, what);
	snprintf(what, sizeof(what), "downward never above upward (%ld cycles)", failures);
	failed += fpu_expect(prog, failures == 0, what);
	if (random_order && blocks >= 400) {
		snprintf(what, sizeof(what), "--random: mode changed between %.3f of blocks (expected 15/16)", change);
		failed += fpu_expect(prog, change > 0.90 && change < 0.97, what);
	}
	fpu_sampler_print(prog);
	const struct fpu_samples *s = &fpu_sampled;
	const unsigned long non_default = s->samples - s->mxcsr_mode[0];
	if (non_default >= 20) {
		const double agrees = fpu_share(s->x87_agrees, non_default);
		snprintf(what, sizeof(what), "sampled: x87 agrees on %.3f of non-default samples (fesetround)", agrees);
		failed += fpu_expect(prog, agrees >= 0.95, what);
	}
	printf("%s: self-test %s (%d failed)\n", prog, failed ? "FAILED" : "passed", failed);
	return failed ? 1 : 0;
}
