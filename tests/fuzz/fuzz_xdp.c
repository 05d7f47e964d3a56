// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Differential fuzzer: every input frame through the host build of
 * bpf/parse.h plus the decision model (tests/model.h) and through the
 * real XDP program (BPF_PROG_TEST_RUN on private maps); abort when the
 * verdict, the reason or the rule counter differ, when the program
 * changes the frame, or when the host parser reads outside the frame
 * (it gets an exactly-sized heap copy, ASan watches).
 *
 * Input: one flags byte, then the frame.
 *   bit 0: direction (0: portgate_uplink, inbound; 1: portgate_access)
 *   bit 1: the program loaded with BPF_F_XDP_HAS_FRAGS (pg_frags = true)
 *
 * The policy (fuzz_policy[] below) holds single ports and ranges, drop
 * and monitor rules in both directions, ports 0 and 65535, rule id
 * PG_MAX_RULES, and exemptions of every kind: both families, both sides,
 * one rule and all rules, both directions, plus one keyed on a range's
 * second port (never matches). Generation 1 holds a decoy policy that
 * blocks open ports and exempts everything: a program that read the
 * wrong generation would disagree with the model.
 *
 * PG_FUZZ_SEEDS=DIR writes the seed corpus (every hand-written vector of
 * tests/xdp_vectors.h, one file each) and exits. Needs root (BPF).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "portgate.skel.h"
#include "parse.h"
#include "pkt.h"
#include "xdp_harness.h"
#include "model.h"
#include "xdp_vectors.h"
#include "exempt_maps.h"

/* the short names of the vector table (it undefines its own) */
#define SUB PG_SIDE_SUBSCRIBER
#define PEER PG_SIDE_PEER
#define IN PG_DIR_IN
#define OUT PG_DIR_OUT
#define TCP PG_PROTO_TCP
#define UDP PG_PROTO_UDP

/* Frames up to this size stay in the linear part in both loads. */
#define FUZZ_MAX_FRAME 3000
#define FUZZ_CHECK_RULES_EVERY 4096

enum {
	R_OUT_MON = 40,	   /* outbound UDP 5000-5010 monitor */
	R_OUT_ZERO = 41,   /* outbound TCP 0-1 drop */
	R_ALLSEG = 42,	   /* inbound TCP 6000-6001 drop, every segment */
	R_OUT_ALLSEG = 43, /* outbound TCP 6002 monitor, every segment */
	R_DECOY = 100,	   /* generation 1 only */
};

static const struct rule_spec fuzz_rules[] = {
	RULE(R_SMTP, IN, TCP, 25, 0, PG_ACTION_DROP),
	RULE(R_SMTPS, IN, TCP, 465, 0, PG_ACTION_DROP),
	RULE(R_SUBMIT, IN, TCP, 587, 0, PG_ACTION_DROP),
	RULE(R_SMTP_ALT, IN, TCP, 2525, 0, PG_ACTION_DROP),
	RULE(R_SNMP, IN, UDP, 161, 0, PG_ACTION_DROP),
	RULE_RANGE,
	RULE_MON,
	RULE_MON_RANGE,
	RULE_OUT,
	RULE_OUT_UDP,
	RULE(R_PORT0, IN, UDP, 0, 0, PG_ACTION_DROP),
	RULE(R_TOP, IN, UDP, 65530, 65535, PG_ACTION_DROP),
	RULE(R_MAX_ID, IN, TCP, 65535, 0, PG_ACTION_DROP),
	RULE(R_OUT_MON, OUT, UDP, 5000, 5010, PG_ACTION_MONITOR),
	RULE(R_OUT_ZERO, OUT, TCP, 0, 1, PG_ACTION_DROP),
	RULE_ALLSEG(R_ALLSEG, IN, 6000, 6001, PG_ACTION_DROP),
	RULE_ALLSEG(R_OUT_ALLSEG, OUT, 6002, 0, PG_ACTION_MONITOR),
};

#define N_RULES (int)(sizeof(fuzz_rules) / sizeof(fuzz_rules[0]))

/* Every kind: {v4, v6} x {subscriber, peer} x {one rule, all rules} x {in, out}. */
static const struct exempt_spec fuzz_exempt[] = {
	EX_ALL(SUB, IN, "100.64.1.0/24"),
	EX_ONE(SUB, IN, TCP, 25, SUB4 "/32"),
	EX_ALL(PEER, IN, "192.0.2.0/24"),
	EX_ONE(PEER, IN, UDP, 161, "198.51.100.0/24"),
	EX_ONE(PEER, IN, TCP, 6660, "203.0.113.0/25"),
	EX_ALL(SUB, OUT, "100.64.2.0/24"),
	EX_ONE(SUB, OUT, TCP, 25, "100.64.0.0/16"),
	EX_ALL(PEER, OUT, "203.0.113.128/25"),
	EX_ONE(PEER, OUT, UDP, 161, NET4 "/32"),
	EX_ALL(SUB, IN, "2001:db8:64:1::/64"),
	EX_ONE(SUB, IN, UDP, 53, "2001:db8:64::/48"),
	EX_ALL(PEER, IN, "2001:db8:192::/48"),
	EX_ONE(PEER, IN, TCP, 25, NET6 "/128"),
	EX_ALL(SUB, OUT, "2001:db8:64:ff::/64"),
	EX_ONE(SUB, OUT, UDP, 5000, "2001:db8:64::/64"),
	EX_ALL(PEER, OUT, "2001:db8:100::/56"),
	EX_ONE(PEER, OUT, TCP, 25, "2001:db8:192::25/128"),
	/* keyed on the range's second port: a rule is keyed on its first */
	EX_ONE(SUB, IN, TCP, 6661, "0.0.0.0/0"),
	EX_ONE(PEER, IN, UDP, 65531, "::/0"),
};

#define N_EXEMPT (int)(sizeof(fuzz_exempt) / sizeof(fuzz_exempt[0]))

/* Generation 1: what the program must never see while generation 0 is live. */
static const struct rule_spec decoy_rules[] = {
	RULE(R_DECOY, IN, TCP, 80, 0, PG_ACTION_DROP),
	RULE(R_DECOY, IN, UDP, 53, 0, PG_ACTION_DROP),
	RULE(R_DECOY, OUT, TCP, 80, 443, PG_ACTION_DROP),
	RULE(R_DECOY, IN, TCP, 40000, 0, PG_ACTION_DROP),
};

static const struct exempt_spec decoy_exempt[] = {
	EX_ALL(SUB, IN, "0.0.0.0/0"),  EX_ALL(PEER, IN, "0.0.0.0/0"),
	EX_ALL(SUB, OUT, "0.0.0.0/0"), EX_ALL(PEER, OUT, "0.0.0.0/0"),
	EX_ALL(SUB, IN, "::/0"),       EX_ALL(PEER, IN, "::/0"),
	EX_ALL(SUB, OUT, "::/0"),      EX_ALL(PEER, OUT, "::/0"),
};

struct inst {
	struct portgate *skel;
	int prog_fd[PG_DIR_COUNT];
	int ports_fd, rules_fd, rstats_fd, stats_fd, ex_fd[2], kinds_fd;
	__u32 stats_slot;		      /* pg_stats slot test runs count in */
	struct pg_counter reason[PG_R_COUNT]; /* sums after the last run */
	unsigned long long rule_hits[PG_MAX_RULES + 1];
	unsigned long long runs;
};

static struct inst I[2];
static int ncpu;
static struct pg_stats *stats_buf;
static struct pg_counter *rule_buf;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_xdp: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level > LIBBPF_WARN && !getenv("PG_TEST_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void put_rule(struct inst *in, __u32 gen, const struct rule_spec *r)
{
	struct pg_rule rule = {.port = r->port,
			       .port_end = model_rule_end(r),
			       .dir = r->dir,
			       .proto = r->proto,
			       .action = r->action,
			       .gens = 1u << gen,
			       .flags = r->flags};
	struct pg_port_entry ent = {
		.rule_id = r->id, .rule_port = r->port, .action = r->action, .flags = r->flags};
	__u32 id = r->id;

	if (bpf_map_update_elem(in->rules_fd, &id, &rule, BPF_ANY))
		die("pg_rules[%u]: %s", id, strerror(errno));
	for (__u32 p = r->port; p <= model_rule_end(r); p++) {
		__u32 idx = pg_port_index(gen, r->dir, r->proto, p);

		if (bpf_map_update_elem(in->ports_fd, &idx, &ent, BPF_ANY))
			die("pg_ports[%u]: %s", idx, strerror(errno));
	}
}

/* Through the one writer: tries, host hashes, summary and kind counts. */
static void put_exempt(struct inst *in, __u32 gen, const struct exempt_spec *x)
{
	struct pg_exm m = PG_EXM_OF_SKEL(in->skel);
	struct pg_exempt_v6_key k = {0};
	struct pg_exm_ent e = {.key = &k};
	__u8 addr[16];
	size_t failed;
	int err;

	if (model_exempt_prefix(x, &e.v6, addr, &e.val.addr_prefixlen))
		die("bad prefix %s", x->cidr);
	memcpy(k.addr, addr, 16);
	k.prefixlen = PG_LPM_META_BITS + e.val.addr_prefixlen;
	k.scope = pg_exempt_scope(gen, x->side, x->dir);
	k.proto = x->proto;
	k.port_hi = x->port >> 8;
	k.port_lo = x->port & 0xff;
	err = pg_exm_write(&m, &e, 1, PG_EXM_ADD | PG_EXM_NOEXIST, &failed);
	if (err || !e.done)
		die("exemption %s: %s", x->cidr, err ? strerror(-err) : "already there");
}

static void read_reasons(struct inst *in, struct pg_counter *sum);

/*
 * pg_stats has one slot per interface (pg_ifslot()); test runs count in
 * the slot of the device the kernel gives them (the loopback). Found once
 * with one runt frame: the slot whose truncated counter moves.
 */
static void find_stats_slot(struct inst *in)
{
	static const __u8 runt[ETH_HLEN] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x86, 0xdd};
	struct pg_counter before[PG_R_COUNT], after[PG_R_COUNT];
	__u8 out[64];

	for (in->stats_slot = 0; in->stats_slot < PG_MAX_IFSLOTS; in->stats_slot++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = runt, .data_size_in = sizeof(runt),
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		read_reasons(in, before);
		if (bpf_prog_test_run_opts(in->prog_fd[PG_DIR_IN], &o))
			die("BPF_PROG_TEST_RUN: %s", strerror(errno));
		read_reasons(in, after);
		if (after[PG_R_TRUNCATED].packets != before[PG_R_TRUNCATED].packets)
			return;
	}
	die("no pg_stats slot counts test runs");
}

static void load(struct inst *in, bool frags)
{
	int err;

	in->skel = portgate__open();
	if (!in->skel)
		die("portgate__open: %s", strerror(errno));
	if (frags) {
		struct bpf_program *p[] = {in->skel->progs.portgate_uplink,
					   in->skel->progs.portgate_access};

		for (int i = 0; i < 2; i++)
			bpf_program__set_flags(p[i],
					       bpf_program__flags(p[i]) | BPF_F_XDP_HAS_FRAGS);
		in->skel->rodata->pg_frags = true;
	}
	err = portgate__load(in->skel);
	if (err)
		die("portgate__load%s: %s (root? kernel >= 5.18 for frags?)",
		    frags ? " (BPF_F_XDP_HAS_FRAGS)" : "", strerror(-err));
	in->prog_fd[PG_DIR_IN] = bpf_program__fd(in->skel->progs.portgate_uplink);
	in->prog_fd[PG_DIR_OUT] = bpf_program__fd(in->skel->progs.portgate_access);
	in->ports_fd = bpf_map__fd(in->skel->maps.pg_ports);
	in->rules_fd = bpf_map__fd(in->skel->maps.pg_rules);
	in->rstats_fd = bpf_map__fd(in->skel->maps.pg_rule_stats);
	in->stats_fd = bpf_map__fd(in->skel->maps.pg_stats);
	in->ex_fd[0] = bpf_map__fd(in->skel->maps.pg_exempt_v4);
	in->ex_fd[1] = bpf_map__fd(in->skel->maps.pg_exempt_v6);
	in->kinds_fd = bpf_map__fd(in->skel->maps.pg_exempt_kinds);
	/* the decoy first: the live policy's rule slots win where ids are shared */
	for (size_t i = 0; i < sizeof(decoy_rules) / sizeof(decoy_rules[0]); i++)
		put_rule(in, 1, &decoy_rules[i]);
	for (size_t i = 0; i < sizeof(decoy_exempt) / sizeof(decoy_exempt[0]); i++)
		put_exempt(in, 1, &decoy_exempt[i]);
	for (int i = 0; i < N_RULES; i++)
		put_rule(in, 0, &fuzz_rules[i]);
	for (int i = 0; i < N_EXEMPT; i++)
		put_exempt(in, 0, &fuzz_exempt[i]);
	if (in->skel->data_pg_ctl->pg_ctl.gen != 0)
		die("a fresh load has generation %u live", in->skel->data_pg_ctl->pg_ctl.gen);
	find_stats_slot(in);
}

static void read_reasons(struct inst *in, struct pg_counter *sum)
{
	if (bpf_map_lookup_elem(in->stats_fd, &in->stats_slot, stats_buf))
		die("pg_stats: %s", strerror(errno));
	memset(sum, 0, sizeof(*sum) * PG_R_COUNT);
	for (int c = 0; c < ncpu; c++)
		for (int r = 0; r < PG_R_COUNT; r++) {
			sum[r].packets += stats_buf[c].reason[r].packets;
			sum[r].bytes += stats_buf[c].reason[r].bytes;
		}
}

static unsigned long long read_rule(struct inst *in, __u32 id)
{
	unsigned long long n = 0;

	if (bpf_map_lookup_elem(in->rstats_fd, &id, rule_buf))
		die("pg_rule_stats[%u]: %s", id, strerror(errno));
	for (int c = 0; c < ncpu; c++)
		n += rule_buf[c].packets;
	return n;
}

/* Every rule's counter equals what the model counted for it. */
static void check_rule_counters(struct inst *in, const char *when)
{
	for (int i = 0; i < N_RULES; i++) {
		__u32 id = fuzz_rules[i].id;
		unsigned long long n = read_rule(in, id);

		if (n != in->rule_hits[id])
			die("%s: rule %u counted %llu packets, the model %llu (a stray count within "
			    "the last %d inputs)",
			    when, id, n, in->rule_hits[id], FUZZ_CHECK_RULES_EVERY);
	}
	if (read_rule(in, R_DECOY))
		die("%s: the generation-1 decoy rule counted packets", when);
}

static void dump(const char *why, const __u8 *f, size_t len, int dir, bool frags)
{
	fprintf(stderr, "fuzz_xdp: MISMATCH %s\n  %s program%s, %zu bytes:", why,
		dir == PG_DIR_IN ? "uplink (inbound)" : "access (outbound)",
		frags ? " (BPF_F_XDP_HAS_FRAGS)" : "", len);
	for (size_t i = 0; i < len && i < 256; i++)
		fprintf(stderr, "%s%02x", i % 16 ? "" : "\n   ", f[i]);
	fprintf(stderr, "\n");
	abort();
}

static const char *verdict_name(__u32 v)
{
	return v == XDP_DROP ? "DROP" : v == XDP_PASS ? "PASS" : v == XDP_ABORTED ? "ABORTED" : "?";
}

static int write_seeds(const char *dir)
{
	static __u8 frame[PKT_MAX + 1];
	size_t n = sizeof(hand_vectors) / sizeof(hand_vectors[0]), written = 0;

	mkdir(dir, 0755);
	for (size_t i = 0; i < n; i++) {
		const struct vec *v = &hand_vectors[i];
		size_t len = vec_build(v, frame + 1, sizeof(frame) - 1);
		char path[4096];
		FILE *f;

		if (!len || len > FUZZ_MAX_FRAME)
			continue;
		frame[0] = v->dir == PG_DIR_OUT;
		snprintf(path, sizeof(path), "%s/vec%03zu", dir, i);
		f = fopen(path, "w");
		if (!f || fwrite(frame, 1, len + 1, f) != len + 1 || fclose(f)) {
			fprintf(stderr, "fuzz_xdp: cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
		written++;
	}
	fprintf(stderr, "fuzz_xdp: %zu seeds in %s\n", written, dir);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("PG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (seeds)
		exit(write_seeds(seeds));
	libbpf_set_print(libbpf_quiet);
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		die("libbpf_num_possible_cpus: %d", ncpu);
	stats_buf = calloc(ncpu, sizeof(*stats_buf));
	rule_buf = calloc(ncpu, sizeof(*rule_buf));
	if (!stats_buf || !rule_buf)
		die("out of memory");
	load(&I[0], false);
	load(&I[1], true);
	for (int i = 0; i < 2; i++)
		read_reasons(&I[i], I[i].reason);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static __u8 out[FUZZ_MAX_FRAME + 512];
	struct pg_counter now[PG_R_COUNT];
	struct inst *in;
	int dir, want, got = -1;
	bool frags;
	__u16 rule;
	size_t len;
	__u8 *f;
	char why[256];

	if (size < 1 || size - 1 > FUZZ_MAX_FRAME)
		return 0;
	dir = data[0] & 1 ? PG_DIR_OUT : PG_DIR_IN;
	frags = data[0] & 2;
	in = &I[frags];
	len = size - 1;

	/* the host parser on exactly the frame's bytes: ASan sees any overread */
	f = malloc(len);
	if (!f)
		die("out of memory");
	memcpy(f, data + 1, len);
	want = model_decide(fuzz_rules, N_RULES, fuzz_exempt, N_EXEMPT, dir, f, len, &rule);
	if (want < 0 || want >= PG_R_COUNT)
		dump("host parser returned no reason", f, len, dir, frags);

	if (len < ETH_HLEN) {
		/* BPF_PROG_TEST_RUN refuses runts; the host parser must call them truncated */
		if (want != PG_R_TRUNCATED)
			dump("runt not truncated by the host parser", f, len, dir, frags);
		free(f);
		return 0;
	}

	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);
	if (bpf_prog_test_run_opts(in->prog_fd[dir], &opts))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
	read_reasons(in, now);
	for (int r = 0; r < PG_R_COUNT; r++) {
		__u64 dp = now[r].packets - in->reason[r].packets;
		__u64 db = now[r].bytes - in->reason[r].bytes;

		if (!dp && !db)
			continue;
		if (got >= 0 || dp != 1 || db != len) {
			snprintf(why, sizeof(why),
				 "reason counters: %s moved by %llu packets/%llu bytes, want one "
				 "reason +1/+%zu",
				 pg_reason_name(r), (unsigned long long)dp, (unsigned long long)db,
				 len);
			dump(why, f, len, dir, frags);
		}
		got = r;
	}
	memcpy(in->reason, now, sizeof(now));
	in->runs++;
	if (got != want || opts.retval != (want >= PG_R_FIRST_DROP ? XDP_DROP : XDP_PASS)) {
		snprintf(why, sizeof(why), "program: %s/%s, host parser + model: %s/%s (rule %u)",
			 verdict_name(opts.retval), got < 0 ? "no reason" : pg_reason_name(got),
			 want >= PG_R_FIRST_DROP ? "DROP" : "PASS", pg_reason_name(want), rule);
		dump(why, f, len, dir, frags);
	}
	if (opts.data_size_out != len || memcmp(out, f, len))
		dump("the program changed the frame", f, len, dir, frags);
	if (rule) {
		in->rule_hits[rule]++;
		if (read_rule(in, rule) != in->rule_hits[rule]) {
			snprintf(why, sizeof(why), "rule %u counted %llu, the model %llu", rule,
				 read_rule(in, rule), in->rule_hits[rule]);
			dump(why, f, len, dir, frags);
		}
	}
	if (in->runs % FUZZ_CHECK_RULES_EVERY == 0)
		check_rule_counters(in, "periodic check");
	free(f);
	return 0;
}
