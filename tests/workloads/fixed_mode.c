// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-fixed-mode: benign. Switches once to one non-default rounding mode with
 * fesetround() and then does ordinary floating-point work in it, like a
 * numerical code that runs permanently rounding upward or toward zero.
 *
 *   mxw-fixed-mode [--mode 2] [--seconds 10]     mode: 1 down, 2 up, 3 toward zero
 */
#include "common.h"
#include <fenv.h>
#include <math.h>

int main(int argc, char **argv)
{
	static const int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
	int mode = (int)workload_arg(argc, argv, "--mode", 2);
	double deadline = workload_now() + workload_arg(argc, argv, "--seconds", 10);
	volatile double acc = 0;

	if (mode < 0 || mode > 3) {
		fprintf(stderr, "mxw-fixed-mode: --mode must be 0..3\n");
		return 2;
	}
	fesetround(modes[mode]);
	while (workload_now() < deadline)
		for (int i = 1; i < 100000; i++)
			acc += sqrt((double)i) / (double)(i + 1);
	printf("%g\n", acc);
	return 0;
}
