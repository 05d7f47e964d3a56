// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * verifier-budget: load portgate's entry points on the running kernel the
 * way the loader does (BPF_F_XDP_HAS_FRAGS where accepted) and print, per
 * entry point, its size after the verifier (xlated instructions) and how
 * many instructions the verifier processed to accept it. Exit 1 when the
 * kernel rejects the program (libbpf prints the verifier's log).
 *
 *   verifier-budget [--md]   one tab-separated record per entry point:
 *                            kernel, program, frags|nofrags, insns, processed
 *
 * `make verifier-budget` runs it on this kernel and on Debian 12's (VM).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "portgate.h"
#include "portgate.skel.h"

static struct portgate *load(bool frags)
{
	struct portgate *skel = portgate__open();
	struct bpf_program *p;

	if (!skel)
		return NULL;
	skel->rodata->pg_frags = frags;
	bpf_object__for_each_program(p, skel->obj)
	{
		/* XDP only: the tc egress program (sched_cls) has no frags */
		if (frags && bpf_program__type(p) == BPF_PROG_TYPE_XDP)
			bpf_program__set_flags(p, bpf_program__flags(p) | BPF_F_XDP_HAS_FRAGS);
	}
	if (portgate__load(skel)) {
		portgate__destroy(skel);
		return NULL;
	}
	return skel;
}

/* Quiet while probing frags; the final attempt prints libbpf's warnings. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	bool md = argc > 1 && !strcmp(argv[1], "--md");
	struct portgate *skel;
	struct bpf_program *p;
	struct utsname u;
	bool frags = true;

	if (argc > 2 || (argc == 2 && !md)) {
		fprintf(stderr, "usage: verifier-budget [--md]\n");
		return 2;
	}
	uname(&u);
	libbpf_set_print(quiet);
	skel = load(true);
	if (!skel) {
		frags = false;
		libbpf_set_print(warnings);
		skel = load(false);
	}
	if (!skel) {
		fprintf(stderr, "verifier-budget: Linux %s rejects the program: %s\n", u.release,
			strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(p, skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len)) {
			fprintf(stderr, "verifier-budget: %s: %s\n", bpf_program__name(p),
				strerror(errno));
			portgate__destroy(skel);
			return 1;
		}
		printf(md ? "| %s | %s | %s | %u | %u |\n" : "%s\t%s\t%s\t%u\t%u\n", u.release,
		       bpf_program__name(p),
		       bpf_program__type(p) != BPF_PROG_TYPE_XDP ? "tc"
		       : frags					 ? "frags"
								 : "nofrags",
		       info.xlated_prog_len / 8, info.verified_insns);
	}
	portgate__destroy(skel);
	return 0;
}
