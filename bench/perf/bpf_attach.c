// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-bpf-attach OBJECT PROGRAM: loads a BPF object file, attaches one of its
 * programs (by function name) with its section's default attach, prints
 * "attached <program id>" and holds it until SIGINT/SIGTERM. The benchmark
 * uses it for the empty floor programs and for other builds of mxwatch's
 * program (before/after comparisons).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mxw-bpf-attach OBJECT PROGRAM\n");
		return 2;
	}
	libbpf_set_print(NULL);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "mxw-bpf-attach: cannot open %s\n", argv[1]);
		return 2;
	}
	struct bpf_program *wanted = NULL, *prog;
	bpf_object__for_each_program(prog, obj)
	{
		const int match = strcmp(bpf_program__name(prog), argv[2]) == 0;
		bpf_program__set_autoload(prog, match);
		if (match)
			wanted = prog;
	}
	if (!wanted) {
		fprintf(stderr, "mxw-bpf-attach: no program %s in %s\n", argv[2], argv[1]);
		return 2;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "mxw-bpf-attach: loading %s failed\n", argv[1]);
		return 2;
	}
	struct bpf_link *link = bpf_program__attach(wanted);
	if (!link) {
		fprintf(stderr, "mxw-bpf-attach: attaching %s failed\n", argv[2]);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bpf_obj_get_info_by_fd(bpf_program__fd(wanted), &info, &len);
	printf("attached %u\n", info.id);
	fflush(stdout);
	while (!stop)
		pause();
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
