// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-cfround: a synthetic RandomX-like workload. Like RandomX's CFROUND it
 * keeps loading MXCSR with a pseudo-random rounding mode (all four), with a
 * little floating-point work in between, on one or more threads.
 *
 *   mxw-cfround [--seconds 10] [--threads 1] [--ftz-daz]
 *
 * --ftz-daz uses the RandomX VM's MXCSR pattern 0x9FC0 | rc << 13; the default
 * keeps FTZ and DAZ clear (0x1F80 | rc << 13), as a modified miner could.
 */
#include "common.h"
#include <pthread.h>
#include <stdint.h>
#include <xmmintrin.h>

static double seconds = 10;
static unsigned base_csr = 0x1F80;

static void *spin(void *arg)
{
	uint64_t state = 0x9E3779B97F4A7C15ull ^ (uintptr_t)arg;
	volatile double acc = 1.0;
	double deadline = workload_now() + seconds;

	while (workload_now() < deadline) {
		for (int i = 0; i < 4096; i++) {
			state ^= state << 13; /* xorshift64 */
			state ^= state >> 7;
			state ^= state << 17;
			_mm_setcsr(base_csr | (unsigned)((state >> 32) & 3) << 13);
			acc = acc * 1.0000001 + 1e-9;
			acc = acc / 1.0000001;
		}
	}
	_mm_setcsr(0x1F80);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = (int)workload_arg(argc, argv, "--threads", 1);
	pthread_t tids[64];

	seconds = workload_arg(argc, argv, "--seconds", 10);
	if (workload_flag(argc, argv, "--ftz-daz"))
		base_csr = 0x9FC0;
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "mxw-cfround: --threads must be 1..64\n");
		return 2;
	}
	for (int i = 1; i < threads; i++)
		pthread_create(&tids[i], NULL, spin, (void *)(uintptr_t)i);
	spin(NULL);
	for (int i = 1; i < threads; i++)
		pthread_join(tids[i], NULL);
	return 0;
}
