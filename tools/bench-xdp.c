// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench-xdp: the measuring half of `make bench` (tools/bench.sh drives it and
 * writes the report). Output is one tab-separated record per line so the
 * script can tabulate it without parsing prose.
 *
 *   bench-xdp cost  [--repeat N] [--rounds R]   ns/packet via BPF_PROG_TEST_RUN
 *   bench-xdp trace-cost [--repeat N] [--rounds R]  the same with a tracer off/on/flooded
 *   bench-xdp scale [--repeat N] [--rounds R] [--max-rules N] [--max-exempt N]
 *   bench-xdp exempt [--repeat N] [--rounds R] [--max-exempt N]  the exemptions table
 *   bench-xdp attach IFACE portgate|drop|pass|xdp-filter
 *   bench-xdp detach IFACE
 *   bench-xdp stats IFACE                        counters of the attached program
 *
 * Every program is loaded privately (nothing pinned); portgate gets the
 * default policy written straight into its maps per include/portgate.h,
 * xdp-filter the same ports the way `xdp-filter port P --proto tcp|udp`
 * writes them. Programs attach through netlink (bpf_xdp_attach) so they
 * stay after this process exits; `stats` finds their maps by program id.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "portgate.h"
#include "portgate.skel.h"
#include "clock.h"
#include "pkt.h"
#include "pgstats.h"
#include "xdp_drop.skel.h"
#include "xdp_pass.skel.h"
#include "tc_pass.skel.h"
#include "portgate_nosyn.skel.h"
#include "exempt_maps.h"

/* The comparison policy, identical in every filter (and in bench.sh's nft). */
static const struct {
	__u8 proto;
	__u16 port;
} bench_rules[] = {
	{PG_PROTO_TCP, 25},   {PG_PROTO_TCP, 465}, {PG_PROTO_TCP, 587},
	{PG_PROTO_TCP, 2525}, {PG_PROTO_UDP, 161},
};
#define N_RULES (sizeof(bench_rules) / sizeof(bench_rules[0]))

/* xdp-filter's ABI (xdp-tools xdp-filter/common_kern_user.h, v1.3). */
#define XF_FLAG_DST (1 << 1)
#define XF_FLAG_TCP (1 << 2)
#define XF_FLAG_UDP (1 << 3)
/*
 * Port rules on both TCP and UDP need xdp-filter's full-featured program:
 * it is what `xdp-filter load` picks by default (checked with
 * `xdp-filter status`).
 */
#define XF_OBJ "xdpfilt_alw_all.o"

enum target { T_PASS, T_DROP, T_XDPFILTER, T_PORTGATE, T_COUNT };
static const char *const target_names[T_COUNT] = {"pass", "drop", "xdp-filter", "portgate"};

struct loaded {
	enum target t;
	struct xdp_pass *pass;
	struct xdp_drop *drop;
	struct portgate *pg;
	struct bpf_object *xf;
	int prog_fd;
	struct pg_port_entry *ports; /* mmap of pg_ports */
	struct pg_rule *rules;	     /* mmap of pg_rules */
};

static bool verbose;
static int ncpus;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	/* xdp-filter's libxdp metadata sections: expected, not ours to fix */
	if (!verbose && strstr(fmt, "skipping unrecognized data section"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static unsigned long long now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/*
 * On-CPU time of this thread: a long BPF_PROG_TEST_RUN is preempted now
 * and then on a shared VM, and wall time would charge those gaps to the
 * program (+10..50% here). Syscall entry/exit is amortised by the repeat.
 */
static unsigned long long cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static const char *verdict_name(__u32 v)
{
	static const char *const names[] = {"ABORTED", "DROP", "PASS", "TX", "REDIRECT"};

	return v < 5 ? names[v] : "?";
}

static void *map_mmap(struct bpf_map *map)
{
	size_t sz = (size_t)bpf_map__value_size(map) * bpf_map__max_entries(map);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	sz = (sz + page - 1) / page * page;
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
	return p == MAP_FAILED ? NULL : p;
}

/* One port entry and its rule, as the loader writes a single-port rule. */
static void pg_set_rule(struct loaded *l, __u32 id, __u32 dir, __u8 proto, __u16 port)
{
	l->ports[pg_port_index(0, dir, proto, port)] =
		(struct pg_port_entry){.rule_id = id, .rule_port = port, .action = PG_ACTION_DROP};
	l->rules[id] = (struct pg_rule){.port = port,
					.port_end = port,
					.dir = dir,
					.proto = proto,
					.action = PG_ACTION_DROP};
}

static void pg_set_defaults(struct loaded *l)
{
	size_t i;

	memset(l->ports, 0, sizeof(*l->ports) * PG_PORTS_ENTRIES);
	memset(l->rules, 0, sizeof(*l->rules) * (PG_MAX_RULES + 1));
	for (i = 0; i < N_RULES; i++)
		pg_set_rule(l, i + 1, PG_DIR_IN, bench_rules[i].proto, bench_rules[i].port);
}

/* Finds xdp-filter's BPF object wherever Debian's libxdp put it. */
static int xf_path(char *buf, size_t len)
{
	static const char *const pats[] = {"/usr/lib/*/bpf/" XF_OBJ, "/usr/lib/bpf/" XF_OBJ,
					   "/usr/local/lib/bpf/" XF_OBJ};
	size_t i;

	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		glob_t g;

		if (glob(pats[i], 0, NULL, &g) == 0) {
			snprintf(buf, len, "%s", g.gl_pathv[0]);
			globfree(&g);
			return 0;
		}
	}
	fprintf(stderr, "bench-xdp: %s not found: expected under /usr/lib/*/bpf (libxdp1)\n",
		XF_OBJ);
	return -ENOENT;
}

static int xf_load(struct loaded *l)
{
	__u64 *vals = calloc(ncpus, sizeof(__u64));
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[256];
	size_t i;
	int err, fd;

	if (!vals)
		return -ENOMEM;
	err = xf_path(path, sizeof(path));
	if (err)
		goto out;
	l->xf = bpf_object__open_file(path, NULL);
	if (!l->xf) {
		err = -errno;
		goto out;
	}
	/* private maps: never touch the pins of a real xdp-filter */
	bpf_object__for_each_map(map, l->xf) bpf_map__set_pin_path(map, NULL);
	err = bpf_object__load(l->xf);
	if (err)
		goto out;
	prog = bpf_object__next_program(l->xf, NULL);
	l->prog_fd = bpf_program__fd(prog);
	fd = bpf_object__find_map_fd_by_name(l->xf, "filter_ports");
	if (fd < 0) {
		err = fd;
		goto out;
	}
	/* key: the port as the program reads it (network order in a u32) */
	for (i = 0; i < N_RULES; i++) {
		__u32 key = htons(bench_rules[i].port);
		__u64 flags = XF_FLAG_DST |
			      (bench_rules[i].proto == PG_PROTO_TCP ? XF_FLAG_TCP : XF_FLAG_UDP);
		int c;

		for (c = 0; c < ncpus; c++)
			vals[c] = flags;
		err = bpf_map_update_elem(fd, &key, vals, BPF_ANY);
		if (err)
			goto out;
	}
out:
	free(vals);
	return err;
}

/* Loads the target as it runs in production (portgate: as the loader does). */
static int load_target(enum target t, struct loaded *l)
{
	int err = 0;

	memset(l, 0, sizeof(*l));
	l->t = t;
	switch (t) {
	case T_PASS:
		l->pass = xdp_pass__open_and_load();
		if (!l->pass)
			return -errno;
		l->prog_fd = bpf_program__fd(l->pass->progs.xdp_pass);
		return 0;
	case T_DROP:
		l->drop = xdp_drop__open_and_load();
		if (!l->drop)
			return -errno;
		l->prog_fd = bpf_program__fd(l->drop->progs.xdp_drop);
		return 0;
	case T_XDPFILTER:
		return xf_load(l);
	case T_PORTGATE:
		l->pg = portgate__open();
		if (!l->pg)
			return -errno;
		/* the loader loads with frags support whenever the kernel has it */
		bpf_program__set_flags(l->pg->progs.portgate_uplink, BPF_F_XDP_HAS_FRAGS);
		bpf_program__set_flags(l->pg->progs.portgate_access, BPF_F_XDP_HAS_FRAGS);
		l->pg->rodata->pg_frags = true;
		err = portgate__load(l->pg);
		if (err)
			return err;
		l->ports = map_mmap(l->pg->maps.pg_ports);
		l->rules = map_mmap(l->pg->maps.pg_rules);
		if (!l->ports || !l->rules)
			return -errno;
		pg_set_defaults(l);
		l->prog_fd = bpf_program__fd(l->pg->progs.portgate_uplink);
		return 0;
	default:
		return -EINVAL;
	}
}

static void unload(struct loaded *l)
{
	if (l->ports)
		munmap(l->ports, sizeof(*l->ports) * PG_PORTS_ENTRIES);
	if (l->rules)
		munmap(l->rules, sizeof(*l->rules) * (PG_MAX_RULES + 1));
	xdp_pass__destroy(l->pass);
	xdp_drop__destroy(l->drop);
	portgate__destroy(l->pg);
	bpf_object__close(l->xf);
	memset(l, 0, sizeof(*l));
}

/* The frames of the cost table; expect = portgate's verdict. */
struct bench_case {
	const char *name;
	const char *desc;
	struct pkt_spec spec;
	__u32 expect;
};

static const struct bench_case cases[] = {
	{"v4_tcp443",
	 "IPv4 TCP 443 (no rule)",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 443},
	 XDP_PASS},
	{"v4_tcp25", "IPv4 TCP 25 (drop)", {.ip = 4, .proto = IPPROTO_TCP, .dport = 25}, XDP_DROP},
	{"v6_udp161",
	 "IPv6 UDP 161 (drop)",
	 {.ip = 6, .proto = IPPROTO_UDP, .dport = 161},
	 XDP_DROP},
	{"qinq_pppoe_v6_tcp443",
	 "QinQ + PPPoE + IPv6 TCP 443",
	 {.nvlan = 2,
	  .tpid = {0x88a8, 0x8100},
	  .vid = {100, 200},
	  .pppoe = PKT_PPPOE_PROTO2,
	  .ip = 6,
	  .proto = IPPROTO_TCP,
	  .dport = 443},
	 XDP_PASS},
	{"v6_3ext_tcp25",
	 "IPv6 + 3 extension headers, TCP 25",
	 {.ip = 6,
	  .next_ext = 3,
	  .ext = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS},
	  .proto = IPPROTO_TCP,
	  .dport = 25},
	 XDP_DROP},
	{"mpls_v4_tcp25",
	 "MPLS + IPv4 TCP 25",
	 {.mpls = 1, .ip = 4, .proto = IPPROTO_TCP, .dport = 25},
	 XDP_DROP},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

struct frame {
	uint8_t buf[256];
	size_t len;
};

static int build_frame(const struct pkt_spec *s, struct frame *f)
{
	struct pkt_spec spec = *s;

	spec.sport = 40000;
	spec.min_len = 64;
	f->len = pkt_build(&spec, f->buf, sizeof(f->buf));
	return f->len ? 0 : -EINVAL;
}

/* ns per packet of one timed BPF_PROG_TEST_RUN over `repeat` runs. */
static int time_run(int prog_fd, const struct frame *f, __u32 repeat, double *ns, __u32 *retval)
{
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = f->buf, .data_size_in = f->len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);
	unsigned long long t0, t1;
	int err;

	t0 = cpu_ns();
	err = bpf_prog_test_run_opts(prog_fd, &topts);
	t1 = cpu_ns();
	if (err)
		return err;
	*ns = (double)(t1 - t0) / repeat;
	*retval = topts.retval;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat_acc {
	double v[64];
	int n;
	__u32 retval;
};

static void acc_print(const char *kind, const char *a, const char *b, struct stat_acc *s)
{
	qsort(s->v, s->n, sizeof(double), cmp_double);
	printf("%s\t%s\t%s\t%.2f\t%.2f\t%s\n", kind, a, b, s->v[0], s->v[s->n / 2],
	       verdict_name(s->retval));
}

static int measure(struct stat_acc *s, int prog_fd, const struct frame *f, __u32 repeat)
{
	double ns;
	int err;

	if (s->n >= 64)
		return 0;
	err = time_run(prog_fd, f, repeat, &ns, &s->retval);
	if (err) {
		fprintf(stderr, "bench-xdp: BPF_PROG_TEST_RUN: %s\n", strerror(-err));
		return err;
	}
	s->v[s->n++] = ns;
	return 0;
}

struct run_opts {
	__u32 repeat;
	int rounds;
	long max_rules;
	long max_exempt;
};

/* Rounds interleave programs and frames, so drift hits all of them alike. */
static int cmd_cost(const struct run_opts *o)
{
	static const enum target order[] = {T_PASS, T_XDPFILTER, T_PORTGATE};
	struct loaded l[3] = {};
	struct stat_acc acc[N_CASES][3] = {};
	struct frame f[N_CASES];
	size_t c, t;
	int r, err = 0;

	for (c = 0; c < N_CASES; c++)
		if (build_frame(&cases[c].spec, &f[c])) {
			fprintf(stderr, "bench-xdp: cannot build frame '%s'\n", cases[c].name);
			return 1;
		}
	for (t = 0; t < 3; t++) {
		err = load_target(order[t], &l[t]);
		if (err) {
			fprintf(stderr, "bench-xdp: loading %s: %s\n", target_names[order[t]],
				strerror(-err));
			goto out;
		}
	}
	for (r = 0; r < o->rounds; r++)
		for (c = 0; c < N_CASES; c++)
			for (t = 0; t < 3; t++) {
				err = measure(&acc[c][t], l[t].prog_fd, &f[c], o->repeat);
				if (err)
					goto out;
			}
	/* cost <case> <program> <min ns> <median ns> <verdict> */
	for (c = 0; c < N_CASES; c++) {
		for (t = 0; t < 3; t++)
			acc_print("cost", cases[c].name, target_names[order[t]], &acc[c][t]);
		if (acc[c][2].retval != cases[c].expect) {
			fprintf(stderr, "bench-xdp: %s: portgate said %s, expected %s\n",
				cases[c].name, verdict_name(acc[c][2].retval),
				verdict_name(cases[c].expect));
			err = -EPROTO;
		}
		printf("case\t%s\t%s\n", cases[c].name, cases[c].desc);
	}
out:
	for (t = 0; t < 3; t++)
		unload(&l[t]);
	return err ? 1 : 0;
}

/*
 * The tc egress program (portgate_access_in) against the same frames: its
 * cost per packet next to portgate's XDP program and the two anchors (an
 * XDP_PASS and a TC_ACT_UNSPEC program), interleaved in one run. The
 * skb test run builds an skb per packet, so tc's anchor is far above XDP's:
 * the ratios that matter are each program over its own hook's anchor.
 */
static const struct bench_case tc_cases[] = {
	{"v4_tcp443",
	 "IPv4 TCP 443 SYN (no rule)",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 443},
	 XDP_PASS},
	{"v4_tcp25",
	 "IPv4 TCP 25 SYN (drop)",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25},
	 XDP_DROP},
	{"v4_tcp25_ack",
	 "IPv4 TCP 25 ACK (pass: tcp_not_syn)",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .tcp_flags = PKT_TCP_FLAGS(0x10)},
	 XDP_PASS},
	{"v6_udp161",
	 "IPv6 UDP 161 (drop)",
	 {.ip = 6, .proto = IPPROTO_UDP, .dport = 161},
	 XDP_DROP},
	{"vlan_v4_tcp25",
	 "802.1Q + IPv4 TCP 25 SYN (drop)",
	 {.nvlan = 1, .vid = {100}, .ip = 4, .proto = IPPROTO_TCP, .dport = 25},
	 XDP_DROP},
};
#define N_TC_CASES (sizeof(tc_cases) / sizeof(tc_cases[0]))
#define N_TC_PROGS 4

static int cmd_tc_cost(const struct run_opts *o)
{
	static const char *const names[N_TC_PROGS] = {"xdp-pass", "portgate-xdp", "tc-pass",
						      "portgate-tc"};
	struct stat_acc acc[N_TC_CASES][N_TC_PROGS] = {};
	struct frame f[N_TC_CASES];
	struct loaded pass = {}, pg = {};
	struct tc_pass *tcp = NULL;
	int fd[N_TC_PROGS], r, err;
	size_t c, p;

	for (c = 0; c < N_TC_CASES; c++)
		if (build_frame(&tc_cases[c].spec, &f[c])) {
			fprintf(stderr, "bench-xdp: cannot build frame '%s'\n", tc_cases[c].name);
			return 1;
		}
	err = load_target(T_PASS, &pass) ?: load_target(T_PORTGATE, &pg);
	tcp = err ? NULL : tc_pass__open_and_load();
	if (err || !tcp) {
		fprintf(stderr, "bench-xdp: loading the programs: %s\n",
			strerror(err ? -err : errno));
		err = -EINVAL;
		goto out;
	}
	fd[0] = pass.prog_fd;
	fd[1] = pg.prog_fd;
	fd[2] = bpf_program__fd(tcp->progs.tc_pass);
	fd[3] = bpf_program__fd(pg.pg->progs.portgate_access_in);
	for (r = 0; r < o->rounds; r++)
		for (c = 0; c < N_TC_CASES; c++)
			for (p = 0; p < N_TC_PROGS; p++) {
				err = measure(&acc[c][p], fd[p], &f[c], o->repeat);
				if (err)
					goto out;
			}
	/* tccost <case> <program> <min ns> <median ns> <verdict> */
	for (c = 0; c < N_TC_CASES; c++) {
		for (p = 0; p < N_TC_PROGS; p++) {
			struct stat_acc *s = &acc[c][p];
			__u32 v = s->retval;

			if (p >= 2) /* tc: SHOT 2 is a drop, UNSPEC/OK a pass */
				s->retval = v == 2		       ? XDP_DROP
					    : v == (__u32)-1 || v == 0 ? XDP_PASS
								       : 99;
			acc_print("tccost", tc_cases[c].name, names[p], s);
		}
		if (acc[c][1].retval != tc_cases[c].expect ||
		    acc[c][3].retval != tc_cases[c].expect) {
			fprintf(stderr,
				"bench-xdp: %s: portgate said %s (xdp) / %s (tc), expected %s\n",
				tc_cases[c].name, verdict_name(acc[c][1].retval),
				verdict_name(acc[c][3].retval), verdict_name(tc_cases[c].expect));
			err = -EPROTO;
		}
		printf("tccase\t%s\t%s\n", tc_cases[c].name, tc_cases[c].desc);
	}
out:
	tc_pass__destroy(tcp);
	unload(&pass);
	unload(&pg);
	return err ? 1 : 0;
}

/*
 * A/B of the TCP SYN check on the XDP drop path: portgate as built, and
 * the same program built with -DPG_BENCH_NO_SYN_CHECK (no flags test: a
 * TCP rule matches every segment), same maps and frames, interleaved.
 */
static int cmd_syn_cost(const struct run_opts *o)
{
	static const char *const names[3] = {"pass", "portgate", "portgate-no-syn-check"};
	static const int cs[] = {0, 1, 3}; /* tc_cases: tcp443, tcp25 SYN, udp161 */
	struct stat_acc acc[3][3] = {};
	struct frame f[3];
	struct loaded pass = {}, pg = {}, ns = {};
	struct portgate_nosyn *nosyn = NULL;
	int fd[3], r, err;
	size_t c, p;

	for (c = 0; c < 3; c++)
		if (build_frame(&tc_cases[cs[c]].spec, &f[c]))
			return 1;
	err = load_target(T_PASS, &pass) ?: load_target(T_PORTGATE, &pg);
	if (!err) {
		nosyn = portgate_nosyn__open();
		if (!nosyn) {
			err = -errno;
		} else {
			/* as load_target loads portgate: with frags support */
			bpf_program__set_flags(nosyn->progs.portgate_uplink, BPF_F_XDP_HAS_FRAGS);
			bpf_program__set_flags(nosyn->progs.portgate_access, BPF_F_XDP_HAS_FRAGS);
			nosyn->rodata->pg_frags = true;
			err = portgate_nosyn__load(nosyn);
		}
	}
	if (!err) {
		ns.ports = map_mmap(nosyn->maps.pg_ports);
		ns.rules = map_mmap(nosyn->maps.pg_rules);
		if (!ns.ports || !ns.rules)
			err = -errno;
		else
			pg_set_defaults(&ns);
	}
	if (err) {
		fprintf(stderr, "bench-xdp: loading the programs: %s\n", strerror(-err));
		goto out;
	}
	fd[0] = pass.prog_fd;
	fd[1] = pg.prog_fd;
	fd[2] = bpf_program__fd(nosyn->progs.portgate_uplink);
	for (r = 0; r < o->rounds; r++)
		for (c = 0; c < 3; c++)
			for (p = 0; p < 3; p++) {
				err = measure(&acc[c][p], fd[p], &f[c], o->repeat);
				if (err)
					goto out;
			}
	/* syncost <case> <program> <min ns> <median ns> <verdict> */
	for (c = 0; c < 3; c++) {
		for (p = 0; p < 3; p++)
			acc_print("syncost", tc_cases[cs[c]].name, names[p], &acc[c][p]);
		printf("syncase\t%s\t%s\n", tc_cases[cs[c]].name, tc_cases[cs[c]].desc);
	}
out:
	if (ns.ports)
		munmap(ns.ports, sizeof(*ns.ports) * PG_PORTS_ENTRIES);
	if (ns.rules)
		munmap(ns.rules, sizeof(*ns.rules) * (PG_MAX_RULES + 1));
	portgate_nosyn__destroy(nosyn);
	unload(&pass);
	unload(&pg);
	return err ? 1 : 0;
}

/* The i-th port entry of the rule-scale table: TCP 25 first, TCP 443 never. */
static void scale_entry(long i, __u8 *proto, __u16 *port)
{
	long k;

	if (i == 0) {
		*proto = PG_PROTO_TCP;
		*port = 25;
		return;
	}
	/* TCP 0..65535 without 25 and 443 (65534 ports), then UDP */
	k = i - 1;
	if (k < 65534) {
		*proto = PG_PROTO_TCP;
		*port = k < 25 ? k : (k < 442 ? k + 1 : k + 2);
	} else {
		*proto = PG_PROTO_UDP;
		*port = k - 65534;
	}
}

/*
 * Exemption i of family v6 in the bench's mix (--subscriber, all rules,
 * inbound): 9 of 10 are hosts, 1 of 10 a prefix. IPv4 hosts every 4th
 * address of 100.64.0.0/10 from .1, prefixes /24../28 at 16.0.0.0 + p/24;
 * IPv6 hosts 2001:db8:H:L00::1 (256 per /48), prefixes /56../64 at
 * 2001:db9:P::/48.
 */
static long bench_hosts(long n)
{
	return n - n / 10;
}

static void bench_host_addr(bool v6, long h, __u8 *a)
{
	__u32 x = (100U << 24 | 64U << 16) + 4U * (__u32)h + 1;

	memset(a, 0, 16);
	if (!v6) {
		a[0] = x >> 24, a[1] = x >> 16, a[2] = x >> 8, a[3] = x;
		return;
	}
	memcpy(a, (__u8[]){0x20, 0x01, 0x0d, 0xb8}, 4);
	a[4] = h >> 16, a[5] = h >> 8, a[6] = h, a[15] = 1;
}

static void bench_prefix_addr(bool v6, long p, __u8 *a, __u8 *plen)
{
	__u32 x = (16U << 24) + 256U * (__u32)p;

	memset(a, 0, 16);
	if (!v6) {
		a[0] = x >> 24, a[1] = x >> 16, a[2] = x >> 8;
		*plen = 24 + p % 5;
		return;
	}
	memcpy(a, (__u8[]){0x20, 0x01, 0x0d, 0xb9}, 4);
	a[4] = p >> 8, a[5] = p;
	*plen = 56 + p % 9;
}

static void bench_exempt(__u32 gen, bool v6, long i, struct pg_exempt_v6_key *k)
{
	__u8 plen = v6 ? 128 : 32;

	memset(k, 0, sizeof(*k));
	k->scope = pg_exempt_scope(gen, PG_SIDE_SUBSCRIBER, PG_DIR_IN);
	k->proto = PG_EXEMPT_ALL_RULES;
	if (i % 10 == 9)
		bench_prefix_addr(v6, i / 10, k->addr, &plen);
	else
		bench_host_addr(v6, i - i / 10, k->addr);
	k->prefixlen = PG_LPM_META_BITS + plen;
}

/* Exemptions [from, to) of the mix, added (or removed) through the one writer. */
static int put_exempts(struct loaded *l, __u32 gen, bool v6, long from, long to, bool add)
{
	struct pg_exm x = PG_EXM_OF_SKEL(l->pg);
	struct pg_exempt_v6_key *keys;
	struct pg_exm_ent *e;
	size_t failed;
	long i;
	int err;

	if (to <= from)
		return 0;
	keys = calloc(to - from, sizeof(*keys));
	e = calloc(to - from, sizeof(*e));
	if (!keys || !e) {
		err = -ENOMEM;
		goto out;
	}
	for (i = from; i < to; i++) {
		bench_exempt(gen, v6, i, &keys[i - from]);
		e[i - from].key = &keys[i - from];
		e[i - from].v6 = v6;
		e[i - from].val.addr_prefixlen = keys[i - from].prefixlen - PG_LPM_META_BITS;
	}
	err = pg_exm_write(&x, e, to - from, PG_EXM_BATCH | (add ? PG_EXM_ADD : 0), &failed);
out:
	free(keys);
	free(e);
	return err;
}

static double median_ns(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return v[n / 2];
}

/*
 * Control plane at the map level: what any loader must at least spend.
 * bench.sh adds the CLI's end-to-end times.
 */
static int control_plane(struct loaded *l, long exempts)
{
	int stats_fd = bpf_map__fd(l->pg->maps.pg_stats);
	int ports_fd = bpf_map__fd(l->pg->maps.pg_ports);
	int rules_fd = bpf_map__fd(l->pg->maps.pg_rules);
	struct pg_stats *st = calloc(ncpus, sizeof(*st));
	double v[15];
	int i, err = 0;

	if (!st)
		return -ENOMEM;
	for (i = 0; i < 15; i++) {
		__u32 id = 100, idx = pg_port_index(0, PG_DIR_IN, PG_PROTO_TCP, 8025);
		struct pg_rule rule = {.port = 8025,
				       .port_end = 8025,
				       .dir = PG_DIR_IN,
				       .proto = PG_PROTO_TCP,
				       .action = PG_ACTION_DROP};
		struct pg_port_entry e = {
			.rule_id = id, .rule_port = 8025, .action = PG_ACTION_DROP};
		unsigned long long t0 = now_ns();

		err = bpf_map_update_elem(rules_fd, &id, &rule, BPF_ANY)
			      ?: bpf_map_update_elem(ports_fd, &idx, &e, BPF_ANY);
		v[i] = now_ns() - t0;
		if (err)
			goto out;
	}
	printf("ctl\tblock_port_map\t%.0f\n", median_ns(v, 15));
	for (i = 0; i < 15; i++) {
		__u32 zero = 0;
		unsigned long long t0 = now_ns();

		err = bpf_map_lookup_elem(stats_fd, &zero, st);
		v[i] = now_ns() - t0;
		if (err)
			goto out;
	}
	printf("ctl\tread_counters_map\t%.0f\n", median_ns(v, 15));
	for (i = 0; i < 5; i++) {
		unsigned long long t0 = now_ns();

		/* 10,000 more of the mix, through the writer (counts, summary, hash, trie) */
		err = put_exempts(l, 0, false, exempts, exempts + 10000, true);
		v[i] = now_ns() - t0;
		if (!err)
			err = put_exempts(l, 0, false, exempts, exempts + 10000, false);
		if (err)
			goto out;
	}
	printf("ctl\tadd_10k_exempt_map\t%.0f\n", median_ns(v, 5));
out:
	free(st);
	return err;
}

static int scale_point(const struct run_opts *o, struct loaded *l, const char *what, long n,
		       const struct frame *f)
{
	static const char *const probe[2] = {"v4_tcp443", "v4_tcp25"};
	char label[64];
	int p, r, err;

	for (p = 0; p < 2; p++) {
		struct stat_acc acc = {};

		for (r = 0; r < o->rounds; r++) {
			err = measure(&acc, l->prog_fd, &f[p], o->repeat);
			if (err)
				return err;
		}
		snprintf(label, sizeof(label), "%s\t%ld", what, n);
		acc_print("scale", label, probe[p], &acc);
	}
	return 0;
}

static int cmd_scale(const struct run_opts *o)
{
	const long rule_pts[] = {1, 1000, 65536}, ex_pts[] = {0, 10000, 1000000};
	struct frame f[2];
	struct loaded l;
	long i, done;
	size_t k;
	int err;

	if (build_frame(&cases[0].spec, &f[0]) || build_frame(&cases[1].spec, &f[1]))
		return 1;
	err = load_target(T_PORTGATE, &l);
	if (err) {
		fprintf(stderr, "bench-xdp: loading portgate: %s\n", strerror(-err));
		return 1;
	}
	for (k = 0; k < 3; k++) {
		long n = rule_pts[k] < o->max_rules ? rule_pts[k] : o->max_rules;

		memset(l.ports, 0, sizeof(*l.ports) * PG_PORTS_ENTRIES);
		for (i = 0; i < n; i++) {
			__u8 proto;
			__u16 port;

			scale_entry(i, &proto, &port);
			/* ids stop at PG_MAX_RULES: the last entries share one */
			pg_set_rule(&l, i < PG_MAX_RULES ? i + 1 : PG_MAX_RULES, PG_DIR_IN, proto,
				    port);
		}
		err = scale_point(o, &l, "rules", n, f);
		if (err)
			goto out;
	}
	pg_set_defaults(&l);
	done = 0;
	for (k = 0; k < 3; k++) {
		long n = ex_pts[k] < o->max_exempt ? ex_pts[k] : o->max_exempt;
		unsigned long long t0 = now_ns();

		err = put_exempts(&l, 0, false, done, n, true);
		if (err) {
			fprintf(stderr, "bench-xdp: adding exemptions: %s\n", strerror(-err));
			goto out;
		}
		if (n > done)
			printf("fill\texempt\t%ld\t%llu\n", n - done, now_ns() - t0);
		done = n;
		err = scale_point(o, &l, "exempt", n, f);
		if (err)
			goto out;
	}
	err = control_plane(&l, done);
out:
	unload(&l);
	return err ? 1 : 0;
}

/* Buckets of generation 1's half of a family's exemption table marked overflowed. */
static unsigned long table_overflowed(const struct pg_exm *x, bool v6)
{
	struct pg_exm_tab t;
	unsigned long n = 0;
	__u32 b;

	if (pg_exm_tab_map(x, &t))
		return 0;
	if (v6)
		for (b = 0; b < 1U << PG_XT_V6_BITS; b++)
			n += t.t6[pg_xt_index_v6(1, b)].over != 0;
	else
		for (b = 0; b < 1U << PG_XT_V4_BITS; b++)
			n += t.t4[pg_xt_index_v4(1, b)].over != 0;
	pg_exm_tab_unmap(&t);
	return n;
}

/* Bytes a map holds: the kernel's figure (fdinfo "memlock"), 0 if unknown. */
static unsigned long long map_bytes(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * The exemptions table: the cost of a rule-hit packet with 0 .. 1,000,000
 * exemptions of the mix above, IPv4 and IPv6. Generation 0 holds the
 * default rules and no exemption (the anchor), generation 1 the same rules
 * and the exemptions: rounds flip pg_ctl.gen between the two, so anchor
 * and measurement run in one program, interleaved. Probes (inbound TCP 25,
 * the subscriber is the destination): not exempt in a bucket without
 * exemptions, not exempt in a populated bucket, a host exemption, an
 * address covered by a prefix exemption only.
 */
static int cmd_exempt(const struct run_opts *o)
{
	static const long pts[] = {0, 10000, 100000, 1000000};
	static const char *const probes[] = {"not_exempt_empty", "not_exempt_populated",
					     "host_exempt", "prefix_exempt"};
	struct loaded l;
	struct frame f[4];
	long done, n;
	size_t k;
	int v6, p, r, g, err;
	__u32 i;

	err = load_target(T_PORTGATE, &l);
	if (err) {
		fprintf(stderr, "bench-xdp: loading portgate: %s\n", strerror(-err));
		return 1;
	}
	/* the default rules in generation 1 too */
	for (i = 0; i < PG_PORTS_PER_GEN; i++)
		l.ports[PG_PORTS_PER_GEN + i] = l.ports[i];
	for (v6 = 0; v6 <= 1 && !err; v6++) {
		done = 0;
		for (k = 0; k < sizeof(pts) / sizeof(pts[0]) && !err; k++) {
			char dst[4][INET6_ADDRSTRLEN];
			struct stat_acc acc[4][2] = {};
			unsigned long long t0 = now_ns();
			__u8 a[16], plen;
			long hosts, pfx;

			n = pts[k] < o->max_exempt ? pts[k] : o->max_exempt;
			if (k && n == done)
				break;
			err = put_exempts(&l, 1, v6, done, n, true);
			if (err) {
				fprintf(stderr, "bench-xdp: adding exemptions: %s\n",
					strerror(-err));
				break;
			}
			if (n > done)
				printf("efill\t%s\t%ld\t%llu\n", v6 ? "v6" : "v4", n - done,
				       now_ns() - t0);
			done = n;
			hosts = bench_hosts(n);
			pfx = n / 10;
			/* probes: 198.51.100.7 / 2001:db8:ffff:ff00::7, next to host 0, host, prefix */
			snprintf(dst[0], sizeof(dst[0]),
				 v6 ? "2001:db8:ffff:ff00::7" : "198.51.100.7");
			bench_host_addr(v6, 0, a);
			a[v6 ? 15 : 3]++;
			inet_ntop(v6 ? AF_INET6 : AF_INET, a, dst[1], sizeof(dst[1]));
			bench_host_addr(v6, hosts ? (hosts - 1) / 2 : 0, a);
			inet_ntop(v6 ? AF_INET6 : AF_INET, a, dst[2], sizeof(dst[2]));
			bench_prefix_addr(v6, pfx ? (pfx - 1) / 2 : 0, a, &plen);
			a[v6 ? 15 : 3] = 1;
			inet_ntop(v6 ? AF_INET6 : AF_INET, a, dst[3], sizeof(dst[3]));
			for (p = 0; p < 4; p++) {
				struct pkt_spec spec = {.ip = v6 ? 6 : 4,
							.proto = IPPROTO_TCP,
							.dport = 25,
							.dst = dst[p]};

				if (build_frame(&spec, &f[p])) {
					err = -EINVAL;
					break;
				}
			}
			for (r = 0; r < o->rounds && !err; r++)
				for (p = 0; p < 4 && !err; p++)
					for (g = 0; g < 2 && !err; g++) {
						l.pg->data_pg_ctl->pg_ctl.gen = g;
						err = measure(&acc[p][g], l.prog_fd, &f[p],
							      o->repeat);
					}
			l.pg->data_pg_ctl->pg_ctl.gen = 0;
			/* exempt <family> <n> <probe> <min ns, none> <median> <min ns> <median> <verdict> <dst> <median ratio> */
			for (p = 0; p < 4 && !err; p++) {
				double ratio[64];

				/* per round: with / without, measured back to back (noise cancels) */
				for (r = 0; r < acc[p][0].n && r < acc[p][1].n; r++)
					ratio[r] = acc[p][1].v[r] / acc[p][0].v[r];
				qsort(ratio, r, sizeof(double), cmp_double);
				qsort(acc[p][0].v, acc[p][0].n, sizeof(double), cmp_double);
				qsort(acc[p][1].v, acc[p][1].n, sizeof(double), cmp_double);
				printf("exempt\t%s\t%ld\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%.3f\n",
				       v6 ? "v6" : "v4", n, probes[p], acc[p][0].v[0],
				       acc[p][0].v[acc[p][0].n / 2], acc[p][1].v[0],
				       acc[p][1].v[acc[p][1].n / 2], verdict_name(acc[p][1].retval),
				       dst[p], ratio[r / 2]);
			}
			/* memory of the exemption maps at this point */
			if (n == 0 || n == 100000 || n == 1000000) {
				struct pg_exm x = PG_EXM_OF_SKEL(l.pg);

				printf("emem\t%s\t%ld\t%llu\t%llu\t%llu\t%llu\t%lu\t%u\n",
				       v6 ? "v6" : "v4", n, map_bytes(x.trie[v6]), map_bytes(x.sum),
				       map_bytes(x.refs), map_bytes(x.tab[v6]),
				       table_overflowed(&x, v6),
				       1U << (v6 ? PG_XT_V6_BITS : PG_XT_V4_BITS));
			}
			fflush(stdout);
		}
		/* empty generation 1 again for the other family */
		if (!err)
			err = put_exempts(&l, 1, v6, 0, done, false);
	}
	unload(&l);
	return err ? 1 : 0;
}

static int iface(const char *name)
{
	int ifindex = if_nametoindex(name);

	if (!ifindex)
		fprintf(stderr, "bench-xdp: bad interface '%s': expected one in this netns\n",
			name);
	return ifindex;
}

static int cmd_attach(const char *dev, const char *what)
{
	struct loaded l;
	int ifindex, t, err;

	for (t = 0; t < T_COUNT; t++)
		if (!strcmp(what, target_names[t]))
			break;
	if (t == T_COUNT) {
		fprintf(stderr,
			"bench-xdp: bad program '%s': expected portgate, drop, pass or "
			"xdp-filter\n",
			what);
		return 2;
	}
	ifindex = iface(dev);
	if (!ifindex)
		return 2;
	err = load_target(t, &l);
	if (!err)
		err = bpf_xdp_attach(ifindex, l.prog_fd, XDP_FLAGS_DRV_MODE, NULL);
	if (err)
		fprintf(stderr, "bench-xdp: attaching %s to %s: %s\n", what, dev, strerror(-err));
	/* the netlink attachment keeps the program and its maps alive */
	unload(&l);
	return err ? 1 : 0;
}

static int cmd_detach(const char *dev)
{
	int ifindex = iface(dev), err;

	if (!ifindex)
		return 2;
	err = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	if (err)
		fprintf(stderr, "bench-xdp: detaching from %s: %s\n", dev, strerror(-err));
	return err ? 1 : 0;
}

/* Sums the first `slots` 16-byte {packets, bytes} counters over CPUs. */
static int sum_percpu(int fd, __u32 key, size_t value_size, __u64 *out, int slots)
{
	__u64 *v = calloc(ncpus, value_size);
	int c, s, err;

	if (!v)
		return -ENOMEM;
	err = bpf_map_lookup_elem(fd, &key, v);
	for (s = 0; !err && s < slots; s++) {
		out[s] = 0;
		for (c = 0; c < ncpus; c++)
			out[s] += v[(c * value_size) / 8 + s * 2];
	}
	free(v);
	return err;
}

/*
 * The tracer's cost on the fast path (portgate trace): the same frames
 * with no tracer (pg_ctl.trace == 0: one branch), with a tracer whose
 * --prefix matches nothing (every packet calls the hook, which parses and
 * filters), and with a tracer taking every drop under a flood (the
 * per-CPU token bucket is empty: each drop is counted as suppressed).
 * Rounds interleave the states; the XDP_PASS program is the anchor.
 */
static int cmd_trace_cost(const struct run_opts *o)
{
	static const char *const states[] = {"off", "on_other_prefix", "on_flood"};
	static const int fcase[] = {0, 1}; /* v4_tcp443, v4_tcp25 */
	struct stat_acc acc[2][4] = {};
	struct pg_trace_cfg cfg = {};
	struct loaded pass = {}, pg = {};
	struct frame f[2];
	struct timespec ts;
	int ring = -1, cfg_fd, rings_fd, r, c, st, err;
	__u32 slot = 0;

	for (c = 0; c < 2; c++)
		if (build_frame(&cases[fcase[c]].spec, &f[c]))
			return 1;
	err = load_target(T_PASS, &pass) ?: load_target(T_PORTGATE, &pg);
	if (err) {
		fprintf(stderr, "bench-xdp: loading: %s\n", strerror(-err));
		goto out;
	}
	ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "bench_ring", 0, 0, PG_TRACE_RING_BYTES, NULL);
	rings_fd = bpf_map__fd(pg.pg->maps.pg_trace_rings);
	cfg_fd = bpf_map__fd(pg.pg->maps.pg_trace_cfg);
	if (ring < 0 || bpf_map_update_elem(rings_fd, &slot, &ring, BPF_ANY)) {
		err = -errno;
		fprintf(stderr, "bench-xdp: trace ring: %s\n", strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	cfg.lease_ns = (ts.tv_sec + 3600) * 1000000000ULL; /* no renewal needed here */
	cfg.pid = getpid();
	for (r = PG_R_FIRST_DROP; r < PG_R_COUNT; r++)
		cfg.reasons |= 1U << r;
	cfg.rate = PG_TRACE_RATE_DEFAULT;
	cfg.burst = PG_TRACE_RATE_DEFAULT;
	for (r = 0; r < o->rounds; r++)
		for (st = 0; st < 3; st++) {
			/* 203.0.113.0/24: the frames' addresses are elsewhere */
			cfg.af = st == 1 ? 4 : 0;
			cfg.plen = st == 1 ? 24 : 0;
			memcpy(cfg.addr, (__u8[]){203, 0, 113, 0}, st == 1 ? 4 : 0);
			memcpy(cfg.mask, (__u8[]){255, 255, 255, 0}, st == 1 ? 4 : 0);
			if (bpf_map_update_elem(cfg_fd, &slot, &cfg, BPF_ANY)) {
				err = -errno;
				goto out;
			}
			pg.pg->data_pg_ctl->pg_ctl.trace[0] = st != 0;
			for (c = 0; c < 2; c++) {
				err = measure(&acc[c][st], pg.prog_fd, &f[c], o->repeat);
				if (!err && st == 0)
					err = measure(&acc[c][3], pass.prog_fd, &f[c], o->repeat);
				if (err)
					goto out;
			}
		}
	pg.pg->data_pg_ctl->pg_ctl.trace[0] = 0;
	/* trace <case> <state> <min ns> <median ns> <verdict> */
	for (c = 0; c < 2; c++) {
		acc_print("trace", cases[fcase[c]].name, "pass_floor", &acc[c][3]);
		for (st = 0; st < 3; st++)
			acc_print("trace", cases[fcase[c]].name, states[st], &acc[c][st]);
	}
out:
	if (ring >= 0)
		close(ring);
	unload(&pass);
	unload(&pg);
	return err ? 1 : 0;
}

/*
 * Prints the attached program's own packet counts: portgate's pg_stats
 * (passed/dropped by reason), xdp-filter's per-action xdp_stats_map.
 */
static int cmd_stats(const char *dev)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[16], prog_id = 0, i;
	int ifindex = iface(dev), fd, err;

	if (!ifindex)
		return 2;
	err = bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &prog_id);
	if (err || !prog_id) {
		fprintf(stderr, "bench-xdp: no native XDP program on %s\n", dev);
		return 1;
	}
	fd = bpf_prog_get_fd_by_id(prog_id);
	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)ids;
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "bench-xdp: reading program %u: %s\n", prog_id, strerror(errno));
		return 1;
	}
	printf("prog\t%s\n", info.name);
	for (i = 0; i < info.nr_map_ids && i < 16; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(ids[i]);

		if (mfd < 0 || bpf_obj_get_info_by_fd(mfd, &mi, &mlen))
			continue;
		if (!strcmp(mi.name, PG_STR(PG_MAP_STATS))) {
			__u64 passed = 0, dropped = 0;
			int r;

			struct pg_stats total;

			/* every interface slot, summed */
			if (pg_stats_read_sum(mfd, ncpus, NULL, NULL, &total) == 0) {
				for (r = 0; r < PG_R_COUNT; r++)
					*(r >= PG_R_FIRST_DROP ? &dropped : &passed) +=
						total.reason[r].packets;
				printf("passed\t%llu\ndropped\t%llu\nrx\t%llu\n",
				       (unsigned long long)passed, (unsigned long long)dropped,
				       (unsigned long long)(passed + dropped));
			}
		} else if (!strcmp(mi.name, "xdp_stats_map")) {
			__u64 c[1];
			__u32 a;

			for (a = 0; a < 5 && a < mi.max_entries; a++)
				if (sum_percpu(mfd, a, mi.value_size, c, 1) == 0)
					printf("xdp_%s\t%llu\n", verdict_name(a),
					       (unsigned long long)c[0]);
		}
		close(mfd);
	}
	close(fd);
	return 0;
}

static const char usage[] =
	"usage: bench-xdp cost  [--repeat N] [--rounds R]\n"
	"       bench-xdp trace-cost [--repeat N] [--rounds R]\n"
	"       bench-xdp tc-cost [--repeat N] [--rounds R]\n"
	"       bench-xdp syn-cost [--repeat N] [--rounds R]\n"
	"       bench-xdp scale [--repeat N] [--rounds R] [--max-rules N] [--max-exempt N]\n"
	"       bench-xdp exempt [--repeat N] [--rounds R] [--max-exempt N]\n"
	"       bench-xdp attach IFACE portgate|drop|pass|xdp-filter\n"
	"       bench-xdp detach IFACE\n"
	"       bench-xdp stats IFACE\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"repeat", required_argument, NULL, 'r'},
		{"rounds", required_argument, NULL, 'R'},
		{"max-rules", required_argument, NULL, 'm'},
		{"max-exempt", required_argument, NULL, 'e'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct run_opts o = {
		.repeat = 1000000, .rounds = 7, .max_rules = 65536, .max_exempt = 1000000};
	const char *cmd;
	char *end;
	long val;
	int c;

	while ((c = getopt_long(argc, argv, "r:R:m:e:vh", opts, NULL)) != -1) {
		if (c == 'v') {
			verbose = true;
			continue;
		}
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c == '?')
			return 2;
		errno = 0;
		val = strtol(optarg, &end, 10);
		if (errno || !*optarg || *end || val < (c == 'e' ? 0 : 1) ||
		    (c == 'R' && val > 64)) {
			fprintf(stderr, "bench-xdp: bad value '%s': expected an integer%s\n",
				optarg, c == 'R' ? " 1..64" : " >= 1");
			return 2;
		}
		if (c == 'r')
			o.repeat = val;
		else if (c == 'R')
			o.rounds = val;
		else if (c == 'm')
			o.max_rules = val;
		else
			o.max_exempt = val;
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	libbpf_set_print(print_fn);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return 1;
	cmd = argv[optind++];
	if (!strcmp(cmd, "cost") && optind == argc)
		return cmd_cost(&o);
	if (!strcmp(cmd, "trace-cost") && optind == argc)
		return cmd_trace_cost(&o);
	if (!strcmp(cmd, "tc-cost") && optind == argc)
		return cmd_tc_cost(&o);
	if (!strcmp(cmd, "syn-cost") && optind == argc)
		return cmd_syn_cost(&o);
	if (!strcmp(cmd, "scale") && optind == argc)
		return cmd_scale(&o);
	if (!strcmp(cmd, "exempt") && optind == argc)
		return cmd_exempt(&o);
	if (!strcmp(cmd, "attach") && argc - optind == 2)
		return cmd_attach(argv[optind], argv[optind + 1]);
	if (!strcmp(cmd, "detach") && argc - optind == 1)
		return cmd_detach(argv[optind]);
	if (!strcmp(cmd, "stats") && argc - optind == 1)
		return cmd_stats(argv[optind]);
	fprintf(stderr,
		"bench-xdp: bad command '%s': expected cost, scale, attach, detach or stats "
		"with their arguments\n",
		cmd);
	fputs(usage, stderr);
	return 2;
}
