// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-perf-load: loads that make mxwatch's kernel side send records.
 *
 *   mxw-perf-load pingpong N   two threads in rounding mode "up" (a fixed
 *                              non-default mode, benign) pass a byte back and
 *                              forth N times: every switch-out is a record
 *   mxw-perf-load spawn N      N short-lived processes, 16 at a time, each
 *                              sets rounding mode "up", sleeps once (one
 *                              switch-out, one record) and exits
 */
#include <fenv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long rounds;
static int ping[2], pong[2];

static void *bounce(void *arg)
{
	(void)arg;
	fesetround(FE_UPWARD);
	char byte;
	for (long i = 0; i < rounds; i++) {
		if (read(ping[0], &byte, 1) != 1 || write(pong[1], &byte, 1) != 1)
			break;
	}
	return NULL;
}

static int pingpong(void)
{
	if (pipe(ping) || pipe(pong))
		return 2;
	pthread_t peer;
	if (pthread_create(&peer, NULL, bounce, NULL))
		return 2;
	fesetround(FE_UPWARD);
	char byte = 'x';
	for (long i = 0; i < rounds; i++) {
		if (write(ping[1], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1)
			return 1;
	}
	pthread_join(peer, NULL);
	return 0;
}

/* Keeps this many children alive at once: on a loaded host one at a time
 * measures the scheduler's wake-up latency, not mxwatch. */
#define SPAWN_IN_FLIGHT 16

static int spawn(void)
{
	long started = 0, running = 0;
	while (started < rounds || running > 0) {
		if (started < rounds && running < SPAWN_IN_FLIGHT) {
			pid_t pid = fork();
			if (pid < 0) {
				perror("fork");
				return 1;
			}
			if (pid == 0) {
				fesetround(FE_UPWARD);
				struct timespec pause = {0, 1000};
				nanosleep(&pause, NULL);
				_exit(0);
			}
			started++;
			running++;
			continue;
		}
		int status;
		if (wait(&status) > 0)
			running--;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (rounds = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: mxw-perf-load pingpong|spawn N\n");
		return 2;
	}
	if (strcmp(argv[1], "pingpong") == 0)
		return pingpong();
	if (strcmp(argv[1], "spawn") == 0)
		return spawn();
	fprintf(stderr, "mxw-perf-load: unknown load %s\n", argv[1]);
	return 2;
}
