// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-fp-work: benign. Ordinary floating-point heavy code (dense matrix
 * products and transcendental functions) in the default rounding mode.
 *
 *   mxw-fp-work [--seconds 10] [--threads 1]
 */
#include "common.h"
#include <math.h>
#include <pthread.h>

#define N 96
static double seconds = 10;

static void *work(void *arg)
{
	static __thread double a[N][N], b[N][N], c[N][N];
	double deadline = workload_now() + seconds;
	(void)arg;

	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			a[i][j] = sin(i + j);
			b[i][j] = cos(i - j);
		}
	while (workload_now() < deadline) {
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++) {
				double s = 0;
				for (int k = 0; k < N; k++)
					s += a[i][k] * b[k][j];
				c[i][j] = s;
			}
		for (int i = 0; i < N; i++)
			a[i][i % N] = exp(-fabs(c[i][i])) + log1p(fabs(c[i][(i + 1) % N]));
	}
	printf("%g\n", c[1][2]);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = (int)workload_arg(argc, argv, "--threads", 1);
	pthread_t tids[16];

	seconds = workload_arg(argc, argv, "--seconds", 10);
	if (threads < 1 || threads > 16)
		threads = 1;
	for (int i = 1; i < threads; i++)
		pthread_create(&tids[i], NULL, work, NULL);
	work(NULL);
	for (int i = 1; i < threads; i++)
		pthread_join(tids[i], NULL);
	return 0;
}
