// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-thread-churn: many short-lived threads that leave the default rounding
 * mode and exit in it. Each thread sets FE_UPWARD with fesetround(), does a
 * little floating-point work, sleeps about a millisecond (so that it is
 * switched out and the kernel side starts following it) and exits while still
 * rounding upward. The threads start in batches and each batch is joined
 * before the next starts, so only a batch is alive at a time.
 *
 *   mxw-thread-churn [--threads 5000] [--batch 50 (1-1000)] [--sleep-us 1000]
 *                    [--exec-from-thread 0]
 *
 * --exec-from-thread N  then N times: fork a process whose second thread sets
 *                       FE_UPWARD, sleeps like the others and calls execve()
 *                       (/bin/true): the kernel gives it the leader's thread
 *                       id, and its own goes away without an exit.
 *
 * It exercises the kernel side's entry per followed thread: every one must be
 * freed at its thread's exit, and none re-created by the FPU state the kernel
 * drops after the exit hook ran (tests/integration/followed_threads_test.cpp).
 * At the end it prints one line: threads run, those that did not read back
 * FE_UPWARD before exiting (must be 0), and execs that failed (must be 0).
 * Exit 2 if a thread cannot be created.
 */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static const char prog[] = "mxw-thread-churn";

static double sleep_s = 0.001;
static int not_upward; /* threads that did not read FE_UPWARD back before exiting */

static void *churn_thread(void *arg)
{
	volatile double x = 1.0 + (double)(long)arg * 1e-9;

	fesetround(FE_UPWARD);
	for (int i = 0; i < 1000; i++)
		x = x * 1.0000001 + 1e-7;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(sleep_s * 1e9)};
	nanosleep(&ts, NULL);
	for (int i = 0; i < 100; i++)
		x = x / 1.0000001;
	if (fegetround() != FE_UPWARD)
		__atomic_fetch_add(&not_upward, 1, __ATOMIC_RELAXED);
	return NULL; /* exits rounding upward */
}

static void *exec_thread(void *arg)
{
	volatile double x = 1.0;

	(void)arg;
	fesetround(FE_UPWARD);
	for (int i = 0; i < 1000; i++)
		x = x * 1.0000001 + 1e-7;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(sleep_s * 1e9)};
	nanosleep(&ts, NULL);
	nanosleep(&ts, NULL);
	execl("/bin/true", "true", (char *)NULL);
	return NULL;
}

/* A child whose second thread execs; 0 when it ran /bin/true. */
static int exec_from_thread(void)
{
	const pid_t pid = fork();
	int status = 0;

	if (pid < 0)
		return 1;
	if (pid == 0) {
		pthread_t id;

		if (pthread_create(&id, NULL, exec_thread, NULL) == 0)
			pthread_join(id, NULL); /* the exec ends this process image */
		_exit(3);
	}
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const int threads = (int)workload_arg(argc, argv, "--threads", 5000);
	const double batch_arg = workload_arg(argc, argv, "--batch", 50);
	const int batch = batch_arg >= 1 && batch_arg <= 1000 ? (int)batch_arg : 50;
	sleep_s = workload_arg(argc, argv, "--sleep-us", 1000) / 1e6;
	pthread_t ids[batch];
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);

	const double start = workload_now();
	int started = 0;
	while (started < threads) {
		const int n = threads - started < batch ? threads - started : batch;
		for (int i = 0; i < n; i++) {
			int err;
			const double deadline = workload_now() + 1.0;
			void *index = (void *)(long)(started + i);

			while ((err = pthread_create(&ids[i], &attr, churn_thread, index)) == EAGAIN &&
			       workload_now() < deadline) {
				struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
				nanosleep(&ts, NULL);
			}
			if (err) {
				fprintf(stderr, "%s: cannot create thread %d: %s\n", prog, started + i, strerror(err));
				return 2;
			}
		}
		for (int i = 0; i < n; i++)
			pthread_join(ids[i], NULL);
		started += n;
	}
	const int execs = (int)workload_arg(argc, argv, "--exec-from-thread", 0);
	int exec_failures = 0;
	for (int i = 0; i < execs; i++)
		exec_failures += exec_from_thread();
	printf("%s: %d threads in batches of %d, %d execs from a second thread in %.2f s, %d did not read FE_UPWARD "
	       "back, %d execs failed\n",
	       prog, started, batch, execs, workload_now() - start, not_upward, exec_failures);
	return not_upward || exec_failures ? 1 : 0;
}
