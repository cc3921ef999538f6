// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-cfround-evasive: a synthetic RandomX-like miner that can give up
 * everything DESIGN.md section 1 says a modified miner can give up at no cost,
 * and keeps what it cannot: random rounding-mode churn over all four modes and
 * the memory-hard footprint. Each option is one evasion or one trait of real
 * RandomX; all combine.
 *
 *   mxw-cfround-evasive [--seconds 10] [--threads 1] [--x87] [--ftz-daz] [--sticky]
 *                       [--alloc-mib 0] [--hugepages] [--reads 2] [--v2] [--duty 100]
 *                       [--hash-ms 2] [--work N] [--self-test]
 *
 * Structure, after randomx_calculate_hash(): a "hash" saves the caller's FPU
 * environment (fegetenv), resets the rounding mode to nearest (the VM's
 * resetRoundingMode), runs 8 x 2048 = 16384 blocks and restores the saved
 * environment (fesetenv), so between hashes the thread is in the default mode.
 * One block is one program iteration of RandomX, which on average executes one
 * CFROUND (frequency 1/256, 256 instructions per program): a CFROUND (LDMXCSR
 * with a pseudo-random mode), the optional memory reads, then a chain of
 * multiplications and divisions whose results depend on the rounding mode and
 * are inexact, so they raise MXCSR's precision flag.
 *
 * --x87        after each LDMXCSR also load the x87 control word with the same mode
 *              (FLDCW, 0x037F | rc << 10), as fesetround() does: samples then look
 *              like a fesetround() user's.
 * --ftz-daz    MXCSR 0x9FC0 | rc << 13 inside a hash, as the RandomX VM; default
 *              0x1F80 | rc << 13 (FTZ and DAZ clear, as a modified miner could).
 * --sticky     a CFROUND reads MXCSR (STMXCSR), changes bits 13-14 only and writes
 *              it back, keeping the sticky exception flags as fesetround() does
 *              (the x87 word likewise read-modify-write); default: load a constant,
 *              which clears the flags like RandomX's LDMXCSR.
 * --alloc-mib N  one anonymous mapping of N MiB (256: light-mode cache, 2080:
 *              fast-mode dataset), written in full at start, shared by the threads,
 *              read at random: --reads (default 2, at most 16) 64-byte reads per block
 *              at addresses derived from the data read before and prefetched one
 *              block ahead, like RandomX's dataset read. Also a 2 MiB scratchpad
 *              mapping per thread, one random 64-byte read and one 64-byte write per
 *              block. Writing the mapping is slow on a VM (page faults: 2080 MiB took
 *              3-7 s on the development VM, 256 MiB under 1 s); --seconds counts from
 *              after it. The reads, not the FP work, then set the hash time: about
 *              3-4 ms per hash with 256 MiB, 4.5-5.5 ms with 2080 MiB (one thread).
 * --hugepages  map those with MAP_HUGETLB; when that fails (no reserved huge pages),
 *              a 2 MiB-aligned ordinary mapping with madvise(MADV_HUGEPAGE); when that
 *              fails too, ordinary pages. Silently: --self-test says which it got.
 * --v2         RandomX v2: a CFROUND changes the mode 1 time in 16 and otherwise
 *              rewrites the current mode; the mode is reset to nearest every hash.
 * --duty P     hash P% of each 100 ms period (the hash under way is finished) and
 *              sleep the rest; before sleeping
 *              MXCSR is set to 0x1F80 (with --sticky: 0x1F80 plus the sticky flags)
 *              and, with --x87, the x87 control word to 0x037F, so voluntary
 *              switch-outs carry no signal, only preemptions do.
 * --hash-ms T  size the FP work per block so one hash takes about T ms (calibrated at
 *              start on the first thread, with the memory allocated; with the memory
 *              reads alone slower than T, one FP step per block). The default, 2,
 *              is in the range of RandomX fast mode; Debian's librandomx light mode
 *              measured 31 ms per hash (JIT) and 167 ms (interpreter) on the 2-vCPU
 *              development VM, so --hash-ms 31 imitates the light-mode hash rate
 *              (measured 31.2 ms). The 2 ms default needs about 10-20 FP steps per block.
 * --work N     FP steps per block, no calibration (deterministic CI runs).
 * --self-test  (default 1 s) read MXCSR and the x87 control word back after every
 *              CFROUND, at the end of every hash and before every sleep, sample the
 *              saved FPU state asynchronously (fpu_state.h), print what was seen and
 *              PASS/FAIL per expectation; exit 1 if any expectation failed.
 *
 * Prints one summary line (hashes, ms per hash, work per block); exit 2 on bad
 * options or when a mapping or thread cannot be created.
 */
#define _GNU_SOURCE
#include "common.h"
#include "fpu_state.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <xmmintrin.h>

#define HASH_BLOCKS (8 * 2048)
#define SCRATCHPAD_BYTES (2u << 20)
#define HUGE_PAGE_BYTES (2u << 20)
#define MAX_THREADS 64
#define MAX_READS 16
#define PERIOD_S 0.1

static const char prog[] = "mxw-cfround-evasive";

static struct {
	double seconds;
	int threads;
	int x87, sticky, v2, hugepages, self_test;
	double duty;
	int reads;
	long work;
	unsigned base_csr;
} opt;

static uint8_t *dataset;
static size_t dataset_lines;
static const char *dataset_pages = "none";
static const char *scratchpad_pages = "none";

/* What --self-test checks, per thread, summed at the end. */
struct readback {
	unsigned long cfrounds;
	unsigned long mode[4];
	unsigned long changes;         /* CFROUNDs that changed the mode */
	unsigned long mxcsr_wrong;     /* MXCSR not what this CFROUND meant to write */
	unsigned long x87_wrong;       /* x87 control word not what it should be */
	unsigned long flags_after;     /* sticky flags set right after the CFROUND */
	unsigned long precision_after; /* PE set right after the CFROUND */
	unsigned long blocks_checked;
	unsigned long blocks_without_pe; /* PE clear before the next CFROUND */
	unsigned long hashes;
	unsigned long hash_end_no_pe;          /* hashes whose FP work left PE clear */
	unsigned long hash_end_restored_wrong; /* environment not restored after a hash */
	unsigned long sleeps;
	unsigned long sleep_non_default; /* not the default state before a sleep */
};

struct worker {
	pthread_t tid;
	int id;
	uint64_t state; /* xorshift64 */
	uint64_t mix;   /* data read from memory, feeds the next address and the FP work */
	double acc;
	unsigned rc; /* the VM's current rounding mode */
	uint8_t *scratchpad;
	const uint64_t *pending[MAX_READS]; /* the next block's dataset lines */
	unsigned long hashes;
	double busy_s;
	struct readback rb;
};

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The expected MXCSR after a CFROUND, the flag bits aside. */
static inline unsigned vm_csr(unsigned rc)
{
	return opt.base_csr | rc << 13;
}

static inline void write_mode(unsigned rc)
{
	if (opt.sticky)
		_mm_setcsr((_mm_getcsr() & ~MXCSR_RC_MASK) | rc << 13);
	else
		_mm_setcsr(vm_csr(rc));
	if (opt.x87) {
		if (opt.sticky)
			x87_set_cw((uint16_t)((x87_get_cw() & ~X87_RC_MASK) | rc << 10));
		else
			x87_set_cw((uint16_t)(X87_CW_DEFAULT | rc << 10));
	}
}

static inline void check_cfround(struct worker *w, unsigned rc)
{
	const unsigned csr = _mm_getcsr();
	const unsigned cw = x87_get_cw();
	struct readback *rb = &w->rb;

	rb->cfrounds++;
	rb->mode[mxcsr_rc(csr)]++;
	rb->changes += rc != w->rc;
	rb->mxcsr_wrong += (csr & ~MXCSR_FLAGS) != vm_csr(rc) || (!opt.sticky && (csr & MXCSR_FLAGS));
	rb->x87_wrong += cw != (opt.x87 ? X87_CW_DEFAULT | rc << 10 : X87_CW_DEFAULT);
	rb->flags_after += (csr & MXCSR_FLAGS) != 0;
	rb->precision_after += (csr & MXCSR_PE) != 0;
}

static inline void block_memory(struct worker *w)
{
	/* The lines chosen one block earlier and prefetched then, like RandomX's dataset read. */
	for (int k = 0; k < opt.reads; k++) {
		const uint64_t *line = w->pending[k];
		w->mix = w->mix * 0x9E3779B97F4A7C15ull +
		         (line[0] ^ line[1] ^ line[2] ^ line[3] ^ line[4] ^ line[5] ^ line[6] ^ line[7]);
	}
	for (int k = 0; k < opt.reads; k++) {
		const uint64_t index =
		    (uint64_t)(((unsigned __int128)(w->mix ^ xorshift64(&w->state)) * dataset_lines) >> 64);
		w->pending[k] = (const uint64_t *)(dataset + index * 64);
		__builtin_prefetch(w->pending[k]);
	}
	const uint64_t lines = SCRATCHPAD_BYTES / 64;
	const uint64_t *src = (const uint64_t *)(w->scratchpad + ((w->mix >> 17) % lines) * 64);
	uint64_t *dst = (uint64_t *)(w->scratchpad + ((w->mix >> 41) % lines) * 64);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v += src[i];
	for (int i = 0; i < 8; i++)
		dst[i] = v ^ w->state ^ (uint64_t)i;
	w->mix ^= v;
}

static void hash(struct worker *w, long work)
{
	const unsigned saved_csr = _mm_getcsr();
	const uint16_t saved_cw = x87_get_cw();
	double x = w->acc;

	/* resetRoundingMode() */
	if (opt.sticky)
		_mm_setcsr((saved_csr & MXCSR_FLAGS) | opt.base_csr);
	else
		_mm_setcsr(opt.base_csr);
	if (opt.x87)
		x87_set_cw(X87_CW_DEFAULT);
	w->rc = 0;

	for (long i = 0; i < HASH_BLOCKS; i++) {
		const uint64_t r = xorshift64(&w->state);
		unsigned rc = (unsigned)(r >> 32) & 3;
		if (opt.v2 && ((r >> 40) & 15) != 0)
			rc = w->rc;           /* v2: no change, the same mode rewritten */
		if (opt.self_test && i > 0) { /* the previous block's FP work raised PE */
			w->rb.blocks_checked++;
			w->rb.blocks_without_pe += !(_mm_getcsr() & MXCSR_PE);
		}
		write_mode(rc);
		if (opt.self_test)
			check_cfround(w, rc);
		w->rc = rc;
		if (dataset)
			block_memory(w);
		/* Pin the FP chain between this CFROUND and the next. */
		__asm__ volatile("" : "+x"(x));
		const double y = 1.0 + (double)(w->mix & 0xFFFFF) * 0x1p-40;
		for (long k = 0; k < work; k++) {
			x = x * 1.0000001 + y * 1e-9;
			x = x / 1.0000003;
		}
		if (x > 4.0 || x < 0.25)
			x = 1.0;
		__asm__ volatile("" : "+x"(x));
	}
	if (opt.self_test) {
		w->rb.hashes++;
		w->rb.hash_end_no_pe += !(_mm_getcsr() & MXCSR_PE);
	}
	/* fesetenv() with what the caller had */
	_mm_setcsr(saved_csr);
	if (opt.x87)
		x87_set_cw(saved_cw);
	if (opt.self_test)
		w->rb.hash_end_restored_wrong += _mm_getcsr() != saved_csr || x87_get_cw() != saved_cw;
	w->acc = x;
	w->hashes++;
}

static void *mine(void *arg)
{
	struct worker *w = arg;
	const double start = workload_now();
	const double deadline = start + opt.seconds;

	while (workload_now() < deadline) {
		const double period_start = workload_now();
		const double busy_until = period_start + PERIOD_S * opt.duty / 100.0;
		do
			hash(w, opt.work);
		while (workload_now() < busy_until && workload_now() < deadline);
		w->busy_s += workload_now() - period_start;
		if (opt.duty < 100.0) {
			/* What randomx_calculate_hash() leaves behind: the default mode. */
			_mm_setcsr(opt.sticky ? (_mm_getcsr() & MXCSR_FLAGS) | MXCSR_DEFAULT : MXCSR_DEFAULT);
			if (opt.x87)
				x87_set_cw(X87_CW_DEFAULT);
			if (opt.self_test) {
				const unsigned csr = _mm_getcsr();
				w->rb.sleeps++;
				w->rb.sleep_non_default += (csr & ~MXCSR_FLAGS) != MXCSR_DEFAULT ||
				                           (!opt.sticky && csr != MXCSR_DEFAULT) ||
				                           x87_get_cw() != X87_CW_DEFAULT;
			}
			const double remaining = deadline - workload_now();
			const double idle = PERIOD_S * (100.0 - opt.duty) / 100.0;
			if (remaining > 0)
				workload_sleep(idle < remaining ? idle : remaining);
		}
	}
	_mm_setcsr(MXCSR_DEFAULT);
	return NULL;
}

/* An anonymous mapping, written in full; huge pages when asked and available. */
static uint8_t *map_touched(size_t bytes, const char **pages)
{
	uint8_t *p = MAP_FAILED;
	*pages = "4k";
	if (opt.hugepages) {
		const size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) & ~(size_t)(HUGE_PAGE_BYTES - 1);
		p = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p != MAP_FAILED) {
			*pages = "hugetlb";
		} else {
			uint8_t *raw = mmap(NULL, rounded + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE,
			                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (raw != MAP_FAILED) {
				p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE_BYTES - 1) &
				                ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
				if (p > raw)
					munmap(raw, (size_t)(p - raw));
				if (p + rounded < raw + rounded + HUGE_PAGE_BYTES)
					munmap(p + rounded, (size_t)(raw + rounded + HUGE_PAGE_BYTES - (p + rounded)));
				if (madvise(p, rounded, MADV_HUGEPAGE) == 0)
					*pages = "thp";
			}
		}
	}
	if (p == MAP_FAILED)
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "%s: mmap of %zu bytes failed: %s\n", prog, bytes, strerror(errno));
		exit(2);
	}
	uint64_t *words = (uint64_t *)p;
	for (size_t i = 0; i < bytes / 8; i++)
		words[i] = (i + 1) * 0x9E3779B97F4A7C15ull;
	return p;
}

static double hash_seconds(struct worker *w, long work)
{
	double best = 1e9;
	for (int i = 0; i < 3; i++) {
		const double t0 = workload_now();
		hash(w, work);
		const double t = workload_now() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

/*
 * FP steps per block for a hash of about `target_s`. The FP work overlaps the
 * prefetched memory reads, so the time is not linear in it: a few secant steps
 * from the time of the reads alone (one step per block).
 */
static long calibrate(struct worker *w, double target_s)
{
	const int self_test = opt.self_test;
	opt.self_test = 0;
	hash(w, 1); /* warm the caches and TLB */
	const double base = hash_seconds(w, 1);
	long work = 32;
	for (int round = 0; round < 6 && base < target_s; round++) {
		const double t = hash_seconds(w, work);
		if (t > target_s * 0.9 && t < target_s * 1.1)
			break;
		double next = t > base ? (double)work * (target_s - base) / (t - base) : (double)work * 4;
		if (next > (double)work * 8)
			next = (double)work * 8;
		work = next < 1 ? 1 : next > 1e6 ? 1000000 : (long)(next + 0.5);
	}
	opt.self_test = self_test;
	return base >= target_s ? 1 : work; /* 1: the memory reads alone take longer */
}

static void print_memory(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long rss = -1, anon_huge = -1;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Rss: %ld kB", &rss);
		sscanf(line, "AnonHugePages: %ld kB", &anon_huge);
	}
	fclose(f);
	printf("%s: memory: dataset %zu MiB (%s), scratchpads %s; Rss %ld MiB, AnonHugePages %ld MiB\n", prog,
	       dataset_lines * 64 >> 20, dataset_pages, scratchpad_pages, rss / 1024, anon_huge / 1024);
}

static int self_test_report(const struct readback *rb, double elapsed)
{
	int failures = 0;
	char what[256];
	const double change = fpu_share(rb->changes, rb->cfrounds);

	printf("%s: read back after %lu CFROUNDs: modes nearest/down/up/zero %.3f/%.3f/%.3f/%.3f, "
	       "mode changed on %.4f, sticky flags set %.3f, PE set %.3f\n",
	       prog, rb->cfrounds, fpu_share(rb->mode[0], rb->cfrounds), fpu_share(rb->mode[1], rb->cfrounds),
	       fpu_share(rb->mode[2], rb->cfrounds), fpu_share(rb->mode[3], rb->cfrounds), change,
	       fpu_share(rb->flags_after, rb->cfrounds), fpu_share(rb->precision_after, rb->cfrounds));
	printf("%s: %lu hashes and %lu sleeps in %.2f s\n", prog, rb->hashes, rb->sleeps, elapsed);

	snprintf(what, sizeof(what), "MXCSR after every CFROUND is %s | rc << 13%s (%lu wrong)",
	         opt.base_csr == MXCSR_RANDOMX ? "0x9FC0" : "0x1F80",
	         opt.sticky ? " plus the sticky flags" : ", flags clear", rb->mxcsr_wrong);
	failures += fpu_expect(prog, rb->cfrounds > 0 && rb->mxcsr_wrong == 0, what);
	snprintf(what, sizeof(what), "x87 control word after every CFROUND is %s (%lu wrong)",
	         opt.x87 ? "0x037F | rc << 10" : "0x037F", rb->x87_wrong);
	failures += fpu_expect(prog, rb->x87_wrong == 0, what);
	for (int m = 0; m < 4; m++) {
		const double share = fpu_share(rb->mode[m], rb->cfrounds);
		snprintf(what, sizeof(what), "mode %d on %.3f of CFROUNDs (expected 0.20-0.30)", m, share);
		failures += fpu_expect(prog, share >= 0.20 && share <= 0.30, what);
	}
	if (opt.v2) {
		snprintf(what, sizeof(what), "v2: mode changed on %.4f of CFROUNDs (expected 3/64 = 0.047)", change);
		failures += fpu_expect(prog, change > 0.035 && change < 0.060, what);
	} else {
		snprintf(what, sizeof(what), "mode changed on %.4f of CFROUNDs (expected 3/4)", change);
		failures += fpu_expect(prog, change > 0.70 && change < 0.80, what);
	}
	snprintf(what, sizeof(what), "PE set before every next CFROUND (%lu of %lu blocks without)%s",
	         rb->blocks_without_pe, rb->blocks_checked, opt.sticky ? "" : ": the FP work raised it");
	failures += fpu_expect(prog, rb->blocks_checked > 0 && rb->blocks_without_pe == 0, what);
	snprintf(what, sizeof(what), "PE set at the end of every hash (%lu of %lu without)", rb->hash_end_no_pe,
	         rb->hashes);
	failures += fpu_expect(prog, rb->hashes > 0 && rb->hash_end_no_pe == 0, what);
	if (opt.sticky) {
		snprintf(what, sizeof(what), "--sticky: flags survive CFROUNDs (PE set after %.4f of them)",
		         fpu_share(rb->precision_after, rb->cfrounds));
		failures += fpu_expect(prog, fpu_share(rb->precision_after, rb->cfrounds) > 0.99, what);
	}
	snprintf(what, sizeof(what), "the caller's MXCSR and x87 word restored after every hash (%lu wrong)",
	         rb->hash_end_restored_wrong);
	failures += fpu_expect(prog, rb->hash_end_restored_wrong == 0, what);
	if (opt.duty < 100.0) {
		snprintf(what, sizeof(what), "default MXCSR and x87 word before every sleep (%lu of %lu not)",
		         rb->sleep_non_default, rb->sleeps);
		failures += fpu_expect(prog, rb->sleeps > 0 && rb->sleep_non_default == 0, what);
	}

	fpu_sampler_print(prog);
	const struct fpu_samples *s = &fpu_sampled;
	const unsigned long non_default = s->samples - s->mxcsr_mode[0];
	if (s->samples >= 50) {
		snprintf(what, sizeof(what), "sampled: all three non-default modes seen");
		failures += fpu_expect(prog, s->mxcsr_mode[1] && s->mxcsr_mode[2] && s->mxcsr_mode[3], what);
		const double agrees = fpu_share(s->x87_agrees, non_default);
		snprintf(what, sizeof(what), "sampled: x87 agrees on %.3f of non-default samples (expected %s)", agrees,
		         opt.x87 ? ">= 0.95" : "0");
		failures += fpu_expect(prog, opt.x87 ? agrees >= 0.95 : s->x87_agrees == 0, what);
	} else {
		printf("%s: self-test: too few samples (%lu) to judge them\n", prog, s->samples);
	}
	return failures;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_THREADS];
	const long alloc_mib = (long)workload_arg(argc, argv, "--alloc-mib", 0);
	const double hash_ms = workload_arg(argc, argv, "--hash-ms", 2);

	opt.self_test = workload_flag(argc, argv, "--self-test");
	opt.seconds = workload_arg(argc, argv, "--seconds", opt.self_test ? 1 : 10);
	opt.threads = (int)workload_arg(argc, argv, "--threads", 1);
	opt.x87 = workload_flag(argc, argv, "--x87");
	opt.sticky = workload_flag(argc, argv, "--sticky");
	opt.v2 = workload_flag(argc, argv, "--v2");
	opt.hugepages = workload_flag(argc, argv, "--hugepages");
	opt.duty = workload_arg(argc, argv, "--duty", 100);
	opt.reads = (int)workload_arg(argc, argv, "--reads", 2);
	opt.work = (long)workload_arg(argc, argv, "--work", -1); /* < 0: calibrate */
	opt.base_csr = workload_flag(argc, argv, "--ftz-daz") ? MXCSR_RANDOMX : MXCSR_DEFAULT;
	if (opt.threads < 1 || opt.threads > MAX_THREADS || opt.duty <= 0 || opt.duty > 100 || alloc_mib < 0 ||
	    alloc_mib > 65536 || opt.reads < 0 || opt.reads > MAX_READS || hash_ms <= 0 || opt.work == 0) {
		fprintf(stderr,
		        "%s: --threads 1..%d, --duty 1..100, --alloc-mib 0..65536, --reads 0..%d, "
		        "--hash-ms > 0, --work >= 1\n",
		        prog, MAX_THREADS, MAX_READS);
		return 2;
	}

	if (alloc_mib > 0) {
		dataset = map_touched((size_t)alloc_mib << 20, &dataset_pages);
		dataset_lines = ((size_t)alloc_mib << 20) / 64;
	}
	for (int i = 0; i < opt.threads; i++) {
		workers[i].id = i;
		workers[i].state = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xD1B54A32D192ED03ull);
		workers[i].mix = (uint64_t)i;
		workers[i].acc = 1.0;
		if (dataset)
			workers[i].scratchpad = map_touched(SCRATCHPAD_BYTES, &scratchpad_pages);
		for (int k = 0; k < MAX_READS; k++)
			workers[i].pending[k] = (const uint64_t *)dataset;
	}
	const int calibrated = opt.work < 0;
	if (calibrated)
		opt.work = calibrate(&workers[0], hash_ms / 1000.0);
	workers[0].hashes = 0; /* count the run's hashes only */

	if (opt.self_test)
		fpu_sampler_start(0.001);
	const double start = workload_now();
	for (int i = 1; i < opt.threads; i++) {
		const int err = pthread_create(&workers[i].tid, NULL, mine, &workers[i]);
		if (err != 0) {
			fprintf(stderr, "%s: pthread_create failed: %s\n", prog, strerror(err));
			return 2;
		}
	}
	mine(&workers[0]);
	for (int i = 1; i < opt.threads; i++)
		pthread_join(workers[i].tid, NULL);
	const double elapsed = workload_now() - start;
	if (opt.self_test)
		fpu_sampler_stop();

	struct readback total = {0};
	unsigned long hashes = 0;
	double busy = 0;
	for (int i = 0; i < opt.threads; i++) {
		const struct readback *rb = &workers[i].rb;
		hashes += workers[i].hashes;
		busy += workers[i].busy_s;
		total.cfrounds += rb->cfrounds;
		for (int m = 0; m < 4; m++)
			total.mode[m] += rb->mode[m];
		total.changes += rb->changes;
		total.mxcsr_wrong += rb->mxcsr_wrong;
		total.x87_wrong += rb->x87_wrong;
		total.flags_after += rb->flags_after;
		total.precision_after += rb->precision_after;
		total.blocks_checked += rb->blocks_checked;
		total.blocks_without_pe += rb->blocks_without_pe;
		total.hashes += rb->hashes;
		total.hash_end_no_pe += rb->hash_end_no_pe;
		total.hash_end_restored_wrong += rb->hash_end_restored_wrong;
		total.sleeps += rb->sleeps;
		total.sleep_non_default += rb->sleep_non_default;
	}
	printf("%s: threads=%d hashes=%lu ms_per_hash=%.2f work=%ld%s busy=%.0f%%\n", prog, opt.threads, hashes,
	       hashes ? busy * 1000.0 / (double)hashes : 0.0, opt.work, calibrated ? " (calibrated)" : "",
	       elapsed > 0 ? 100.0 * busy / (elapsed * opt.threads) : 0.0);
	if (!opt.self_test)
		return 0;
	print_memory();
	const int failures = self_test_report(&total, elapsed);
	printf("%s: self-test %s (%d failed)\n", prog, failures ? "FAILED" : "passed", failures);
	return failures ? 1 : 0;
}
