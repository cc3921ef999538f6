/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared bits of the test workloads: argument parsing and a wall-clock deadline. */
#ifndef MXW_WORKLOAD_COMMON_H
#define MXW_WORKLOAD_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double workload_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns the value following `name` in argv, or `fallback`. */
static inline double workload_arg(int argc, char **argv, const char *name, double fallback)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return atof(argv[i + 1]);
	return fallback;
}

static inline int workload_flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

#endif
