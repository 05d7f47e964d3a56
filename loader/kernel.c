// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The running kernel as part of the answer: its release and which of the
 * BPF features portgate can use it offers (for `status` and `--version
 * -v`), and a one-line summary when its verifier rejects the program.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"

/* Does vmlinux BTF's enum `type` have the value `name`? 1, 0, or -1 unknown. */
static int pg_btf_enum_has(const struct btf *btf, const char *type, const char *name)
{
	const struct btf_enum *e;
	const struct btf_type *t;
	__s32 id;
	int i;

	if (!btf)
		return -1;
	id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM);
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (i = 0; i < btf_vlen(t); i++)
		if (!strcmp(btf__name_by_offset(btf, e[i].name_off), name))
			return 1;
	return 0;
}

/* A two-instruction XDP program loaded with BPF_F_XDP_HAS_FRAGS (never attached). */
static int pg_probe_frags(void)
{
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = BPF_F_XDP_HAS_FRAGS);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pg_probe", "GPL", insns, 2, &opts);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EPERM || errno == EACCES ? -1 : 0;
}

void pg_kernel_probe(struct pg_kernel *k)
{
	struct btf *btf = btf__load_vmlinux_btf();
	struct utsname u;
	int tc;

	memset(k, 0, sizeof(*k));
	if (!uname(&u))
		snprintf(k->release, sizeof(k->release), "%s", u.release);
	if (libbpf_get_error(btf))
		btf = NULL;
	k->frags = pg_probe_frags();
	k->xdp_link = pg_btf_enum_has(btf, "bpf_link_type", "BPF_LINK_TYPE_XDP");
	tc = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL);
	k->tc = tc < 0 ? -1 : tc;
	k->tcx = pg_btf_enum_has(btf, "bpf_attach_type", "BPF_TCX_INGRESS");
	btf__free(btf);
}

static const char *pg_yes_no(int v)
{
	return v > 0 ? "yes" : v == 0 ? "no" : "unknown";
}

void pg_kernel_print(FILE *f, const struct pg_kernel *k)
{
	fprintf(f,
		"kernel     Linux %s: XDP frags %s, bpf_link XDP %s, tc BPF (clsact) %s, tcx %s\n",
		k->release, pg_yes_no(k->frags), pg_yes_no(k->xdp_link), pg_yes_no(k->tc),
		pg_yes_no(k->tcx));
}

static void pg_json_tri(struct pg_json *j, const char *key, int v)
{
	if (v < 0)
		pg_json_null(j, key);
	else
		pg_json_bool(j, key, v);
}

void pg_kernel_json(struct pg_json *j, const struct pg_kernel *k)
{
	pg_json_obj(j, "kernel");
	pg_json_str(j, "release", k->release);
	pg_json_tri(j, "xdp_frags", k->frags);
	pg_json_tri(j, "xdp_link", k->xdp_link);
	pg_json_tri(j, "tc_bpf", k->tc);
	pg_json_tri(j, "tcx", k->tcx);
	pg_json_end_obj(j);
}

/* What the verifier said last time it refused a program: "reason; processed N insns". */
static char pg_verdict[256];
static char pg_verdict_prog[64];

/*
 * libbpf hands a failed load's log to the print callback as one message:
 * "prog 'NAME': -- BEGIN PROG LOAD LOG --\n...-- END PROG LOAD LOG --".
 * Keep the verifier's last complaint and its "processed" line.
 */
void pg_kernel_note_libbpf(const char *fmt, va_list ap)
{
	char *msg, *log, *end, *line, *proc = NULL, *why = NULL, *name;

	if (!strstr(fmt, "BEGIN PROG LOAD LOG") || vasprintf(&msg, fmt, ap) < 0)
		return;
	log = strstr(msg, "-- BEGIN PROG LOAD LOG --\n");
	end = log ? strstr(log, "-- END PROG LOAD LOG --") : NULL;
	if (!end)
		goto out;
	*end = '\0';
	name = strstr(msg, "prog '");
	if (name && name < log)
		sscanf(name, "prog '%63[^']'", pg_verdict_prog);
	for (line = strtok(log + strlen("-- BEGIN PROG LOAD LOG --\n"), "\n"); line;
	     line = strtok(NULL, "\n")) {
		if (!strncmp(line, "processed ", 10))
			proc = line;
		else if (!proc)
			why = line; /* the last line before the verdict */
	}
	if (proc && strchr(proc, '('))
		*(strchr(proc, '(') - 1) = '\0'; /* drop "(limit ...) max_states..." */
	snprintf(pg_verdict, sizeof(pg_verdict), "%s%s%s", why ? why : "", why && proc ? "; " : "",
		 proc ? proc : "");
out:
	free(msg);
}

void pg_kernel_verifier_summary(void)
{
	struct utsname u;

	if (!pg_verdict[0] || uname(&u))
		return;
	pg_err("the BPF verifier of Linux %s rejected %s (%s)%s", u.release,
	       pg_verdict_prog[0] ? pg_verdict_prog : "the program", pg_verdict,
	       pg_verbose ? "" : "; run with -v for its log");
}
