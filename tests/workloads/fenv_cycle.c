// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-fenv-cycle: benign. A floating-point test program in the style of
 * glibc's libm tests: it runs the same computations in each of the four
 * rounding modes in turn, switching with fesetround(), and checks that the
 * directed modes bracket the nearest result.
 *
 *   mxw-fenv-cycle [--seconds 10] [--block-us 1000]
 *
 * --block-us: how long to stay in one mode before the next (fast cycling
 * looks random at sampling granularity; only the x87 control word, which
 * fesetround() sets too, tells it from CFROUND).
 */
#include "common.h"
#include <fenv.h>
#include <math.h>

int main(int argc, char **argv)
{
	static const int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
	const double deadline = workload_now() + workload_arg(argc, argv, "--seconds", 10);
	const double block = workload_arg(argc, argv, "--block-us", 1000) / 1e6;
	volatile double x = 1.0;
	double results[4] = {0};
	long failures = 0;

	while (workload_now() < deadline) {
		for (int m = 0; m < 4; m++) {
			fesetround(modes[m]);
			const double until = workload_now() + block;
			double acc = 0;
			do {
				for (int i = 1; i < 200; i++)
					acc += x / (double)i;
			} while (workload_now() < until);
			results[m] = acc / (double)(1 + (long)(acc / 1e6));
		}
		fesetround(FE_TONEAREST);
		failures += results[1] > results[2]; // down must not exceed up
	}
	printf("%ld\n", failures);
	return 0;
}
