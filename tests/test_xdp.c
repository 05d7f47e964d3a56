// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP program through BPF_PROG_TEST_RUN: crafted frames in, verdict
 * and counters out. Every run checks the verdict, that exactly one reason
 * counter moved by one packet and the frame's bytes, that only the
 * expected rule counter moved, that the frame came back unchanged, and
 * that the verdict is never XDP_ABORTED.
 *
 * Tables: the encapsulation matrix (generated), hand-written vectors
 * (tests/xdp_vectors.h), IPv4 IHL and IPv6 chain lengths (generated),
 * every truncation length of several shapes, and seeded random frames
 * checked against a model. Each suite loads the skeleton afresh with
 * private maps; suite "xdp_frags" repeats the tables with the program
 * loaded with BPF_F_XDP_HAS_FRAGS (pg_frags = true), as on jumbo links;
 * suite "xdp_tc" repeats them with every inbound frame run through the tc
 * egress program (portgate_access_in, sched_cls) instead of the uplink's
 * XDP program: same core, same expectations (frames the kernel cannot run
 * as an skb, under 14 or over 3500 bytes, stay on XDP there).
 *
 * Random frames: PG_XDP_SEED=<n> replays a failure (the seed and frame
 * index are printed), PG_XDP_FRAMES=<n> soaks with more frames.
 * PG_TEST_VERBOSE=1 shows libbpf's debug output (verifier log on failure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>

#include "portgate.h"
#include "pgstats.h"
#include "portgate.skel.h"
#include "parse.h"
#include "pkt.h"
#include "xdp_harness.h"
#include "model.h"
#include "exempt_maps.h"

#define FRAME_MAX PKT_MAX

/* ---- names: verdicts and reasons are printed by name, never numbers */

static const int reason_verdicts[PG_R_COUNT] = {
#define X(id, name, verdict) [PG_R_##id] = XDP_##verdict,
	PG_REASONS(X)
#undef X
};

static const char *reason_name(int r)
{
	static char other[32];

	if (r >= 0 && r < PG_R_COUNT)
		return pg_reason_name(r);
	snprintf(other, sizeof(other), "reason#%d", r);
	return other;
}

static const char *verdict_name(__u32 v)
{
	static const char *const names[] = {
		[XDP_ABORTED] = "ABORTED", [XDP_DROP] = "DROP",		[XDP_PASS] = "PASS",
		[XDP_TX] = "TX",	   [XDP_REDIRECT] = "REDIRECT",
	};
	static char other[32];

	if (v < sizeof(names) / sizeof(names[0]))
		return names[v];
	snprintf(other, sizeof(other), "verdict#%u", v);
	return other;
}

static const char *dir_name(int dir)
{
	return dir == PG_DIR_IN ? "uplink" : "access";
}

/* ---- environment: one freshly loaded skeleton per test process */

struct env {
	struct portgate *skel;
	bool frags;
	bool no_frags; /* kernel older than 5.18: no BPF_F_XDP_HAS_FRAGS */
	bool via_tc;   /* inbound frames through the tc egress program */
	int ncpu;
	int prog_fd[PG_DIR_COUNT];
	int tc_fd; /* portgate_access_in */
	int ports_fd, rules_fd, rstats_fd, stats_fd, ex4_fd, ex6_fd, kinds_fd;
	struct pg_stats *stats_buf;   /* ncpu values */
	struct pg_counter *rule_buf;  /* ncpu values */
	struct pg_counter *rule_zero; /* ncpu zero values */
};

static struct env E;

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level > LIBBPF_WARN && !getenv("PG_TEST_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void env_load(bool frags)
{
	int err;

	memset(&E, 0, sizeof(E));
	libbpf_set_print(libbpf_quiet);
	E.frags = frags;
	E.ncpu = libbpf_num_possible_cpus();
	cr_assert(E.ncpu > 0, "libbpf_num_possible_cpus: %d", E.ncpu);

	E.skel = portgate__open();
	cr_assert(E.skel, "portgate__open: %s", strerror(errno));
	if (frags) {
		struct bpf_program *p[] = {E.skel->progs.portgate_uplink,
					   E.skel->progs.portgate_access};

		for (int i = 0; i < 2; i++)
			bpf_program__set_flags(p[i],
					       bpf_program__flags(p[i]) | BPF_F_XDP_HAS_FRAGS);
		E.skel->rodata->pg_frags = true;
	}
	err = portgate__load(E.skel);
	cr_assert(!err, "portgate__load%s: %s", frags ? " (BPF_F_XDP_HAS_FRAGS)" : "",
		  strerror(-err));

	E.prog_fd[PG_DIR_IN] = bpf_program__fd(E.skel->progs.portgate_uplink);
	E.prog_fd[PG_DIR_OUT] = bpf_program__fd(E.skel->progs.portgate_access);
	E.tc_fd = bpf_program__fd(E.skel->progs.portgate_access_in);
	E.ports_fd = bpf_map__fd(E.skel->maps.pg_ports);
	E.rules_fd = bpf_map__fd(E.skel->maps.pg_rules);
	E.rstats_fd = bpf_map__fd(E.skel->maps.pg_rule_stats);
	E.stats_fd = bpf_map__fd(E.skel->maps.pg_stats);
	E.ex4_fd = bpf_map__fd(E.skel->maps.pg_exempt_v4);
	E.ex6_fd = bpf_map__fd(E.skel->maps.pg_exempt_v6);
	E.kinds_fd = bpf_map__fd(E.skel->maps.pg_exempt_kinds);

	E.stats_buf = calloc(E.ncpu, sizeof(*E.stats_buf));
	E.rule_buf = calloc(E.ncpu, sizeof(*E.rule_buf));
	E.rule_zero = calloc(E.ncpu, sizeof(*E.rule_zero));
	cr_assert(E.stats_buf && E.rule_buf && E.rule_zero, "out of memory");
}

static void env_plain(void)
{
	env_load(false);
}

static void env_frags(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	/* the loader falls back to a plain load there; nothing to test */
	if (!uname(&u) && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
	    (major < 5 || (major == 5 && minor < 18))) {
		memset(&E, 0, sizeof(E));
		E.no_frags = true;
		return;
	}
	env_load(true);
}

static void env_tc(void)
{
	env_load(false);
	E.via_tc = true;
}

static void skip_without_frags(void)
{
	if (E.no_frags)
		cr_skip_test("kernel has no BPF_F_XDP_HAS_FRAGS (before 5.18)");
}

static void env_destroy(void)
{
	portgate__destroy(E.skel);
	free(E.stats_buf);
	free(E.rule_buf);
	free(E.rule_zero);
	memset(&E, 0, sizeof(E));
}

/* ---- map setup: what the control plane would write, via the ABI */

/* Installs (or with remove, clears) one rule: pg_rules, pg_ports, stats. */
static void put_rule(const struct rule_spec *r, bool remove)
{
	struct pg_rule rule = {
		.port = r->port,
		.port_end = model_rule_end(r),
		.dir = r->dir,
		.proto = r->proto,
		.action = r->action,
		.flags = r->flags,
	};
	struct pg_port_entry ent = {
		.rule_id = r->id, .rule_port = r->port, .action = r->action, .flags = r->flags};
	__u32 id = r->id;

	cr_assert(r->id >= 1, "rule for port %u has no id", r->port);
	if (remove) {
		memset(&rule, 0, sizeof(rule));
		memset(&ent, 0, sizeof(ent));
	}
	cr_assert(!bpf_map_update_elem(E.rules_fd, &id, &rule, BPF_ANY), "pg_rules[%u]: %s", id,
		  strerror(errno));
	/* a reused rule id starts from zero (the control plane's contract) */
	cr_assert(!bpf_map_update_elem(E.rstats_fd, &id, E.rule_zero, BPF_ANY),
		  "pg_rule_stats[%u]: %s", id, strerror(errno));
	for (__u32 p = r->port; p <= model_rule_end(r); p++) {
		__u32 idx = pg_port_index(0, r->dir, r->proto, p);

		cr_assert(!bpf_map_update_elem(E.ports_fd, &idx, &ent, BPF_ANY),
			  "pg_ports[%s/%s/%u]: %s", dir_name(r->dir),
			  r->proto == PG_PROTO_TCP ? "tcp" : "udp", p, strerror(errno));
	}
}

union exempt_key {
	struct pg_exempt_v4_key v4;
	struct pg_exempt_v6_key v6;
};

/* Parses "addr/len" into a trie key, address masked to the prefix. */
static int exempt_key(const struct exempt_spec *x, union exempt_key *k, __u8 *addr_len)
{
	__u8 addr[16];
	bool v6;

	cr_assert(!model_exempt_prefix(x, &v6, addr, addr_len), "bad prefix %s", x->cidr);
	memset(k, 0, sizeof(*k));
	memcpy(v6 ? k->v6.addr : k->v4.addr, addr, v6 ? 16 : 4);
	/* scope..port_lo sit at the same offsets in both key layouts */
	k->v4.prefixlen = PG_LPM_META_BITS + *addr_len;
	k->v4.scope = pg_exempt_scope(0, x->side, x->dir);
	k->v4.proto = x->proto;
	k->v4.port_hi = x->port >> 8;
	k->v4.port_lo = x->port & 0xff;
	return v6 ? E.ex6_fd : E.ex4_fd;
}

/* Through the one writer: tries, table slots, summary and kind counts together. */
static void put_exempt(const struct exempt_spec *x, bool remove)
{
	union exempt_key k;
	struct pg_exm_ent e = {.key = &k};
	struct pg_exm m = PG_EXM_OF_SKEL(E.skel);
	size_t failed;
	int fd = exempt_key(x, &k, &e.val.addr_prefixlen), err;

	e.v6 = fd == E.ex6_fd;
	err = pg_exm_write(&m, &e, 1, remove ? 0 : PG_EXM_ADD | PG_EXM_NOEXIST, &failed);
	cr_assert(!err && (e.done || (!remove && e.present)), "%s exemption %s: %s",
		  remove ? "delete" : "add", x->cidr, strerror(-err));
}

static void setup_apply(const struct vec *v, bool remove)
{
	struct rule_spec rules[MODEL_SETUP_MAX_RULES];
	int n = model_setup_rules(v, rules);

	for (int i = 0; i < n; i++)
		put_rule(&rules[i], remove);
	for (int i = 0; i < VEC_MAX_EXEMPT && v->exempt[i].cidr; i++)
		put_exempt(&v->exempt[i], remove);
}

/* ---- counters: per-CPU values summed over libbpf_num_possible_cpus() */

struct counts {
	struct pg_counter reason[PG_R_COUNT];
	struct pg_counter rule[MODEL_SETUP_MAX_RULES];
};

static void read_counts(const struct rule_spec *rules, int nrules, struct counts *c)
{
	struct pg_stats total;
	int err;

	memset(c, 0, sizeof(*c));
	/* every interface slot summed: test runs count under the loopback's */
	err = pg_stats_read_sum(E.stats_fd, E.ncpu, NULL, NULL, &total);
	cr_assert(!err, "pg_stats: %s", strerror(-err));
	memcpy(c->reason, total.reason, sizeof(c->reason));
	for (int i = 0; i < nrules; i++) {
		__u32 id = rules[i].id;

		cr_assert(!bpf_map_lookup_elem(E.rstats_fd, &id, E.rule_buf),
			  "pg_rule_stats[%u]: %s", id, strerror(errno));
		for (int cpu = 0; cpu < E.ncpu; cpu++) {
			c->rule[i].packets += E.rule_buf[cpu].packets;
			c->rule[i].bytes += E.rule_buf[cpu].bytes;
		}
	}
}

/* After a table: no rule id outside the setups may have counted anything. */
static void expect_rule_stats_clean(const char *table)
{
	__u32 n = PG_MAX_RULES + 1, nonzero = 0, first = 0;
	__u32 *keys = calloc(n, sizeof(*keys));
	struct pg_counter *vals = calloc((size_t)n * E.ncpu, sizeof(*vals));
	__u32 out_batch, count = n;
	int err;

	cr_assert(keys && vals, "out of memory");
	err = bpf_map_lookup_batch(E.rstats_fd, NULL, &out_batch, keys, vals, &count, NULL);
	cr_assert(!err || err == -ENOENT, "pg_rule_stats batch lookup: %s", strerror(-err));
	cr_assert(count == n, "pg_rule_stats batch lookup read %u of %u slots", count, n);
	for (__u32 i = 0; i < count * E.ncpu; i++)
		if (vals[i].packets || vals[i].bytes) {
			if (!nonzero++)
				first = keys[i / E.ncpu];
		}
	cr_expect(nonzero == 0, "%s: %u stray pg_rule_stats values, first at rule id %u", table,
		  nonzero, first);
	free(keys);
	free(vals);
}

/* ---- one run: a frame through one program, verdict and counter deltas */

struct outcome {
	int err;
	__u32 retval;
	bool unchanged; /* data_out == data_in */
	struct counts delta;
};

#define TC_ACT_UNSPEC ((__u32)-1) /* pass, and let later filters run */
#define TC_ACT_SHOT 2

/* The tc program's verdict in XDP's words; anything else stays visible. */
static __u32 tc_verdict(__u32 ret)
{
	return ret == TC_ACT_SHOT ? XDP_DROP : ret == TC_ACT_UNSPEC ? XDP_PASS : 1000 + ret;
}

/* An inbound frame the kernel can run as an skb (Ethernet header, one page). */
static bool tc_runs(size_t len)
{
	return len >= 14 && len <= 3500;
}

static void run_frame_on(bool tc, enum pg_dir dir, const __u8 *frame, size_t len,
			 const struct rule_spec *rules, int nrules, struct outcome *o)
{
	static __u8 out[FRAME_MAX + 256];
	struct counts before, after;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);

	memset(o, 0, sizeof(*o));
	read_counts(rules, nrules, &before);
	o->err = bpf_prog_test_run_opts(tc ? E.tc_fd : E.prog_fd[dir], &opts);
	if (o->err)
		o->err = -errno;
	read_counts(rules, nrules, &after);
	o->retval = tc ? tc_verdict(opts.retval) : opts.retval;
	o->unchanged = !o->err && opts.data_size_out == len && !memcmp(out, frame, len);
	for (int r = 0; r < PG_R_COUNT; r++) {
		o->delta.reason[r].packets = after.reason[r].packets - before.reason[r].packets;
		o->delta.reason[r].bytes = after.reason[r].bytes - before.reason[r].bytes;
	}
	for (int i = 0; i < nrules; i++) {
		o->delta.rule[i].packets = after.rule[i].packets - before.rule[i].packets;
		o->delta.rule[i].bytes = after.rule[i].bytes - before.rule[i].bytes;
	}
}

/* dir's XDP program, or in suite xdp_tc the tc program for inbound frames it can run. */
static void run_frame(enum pg_dir dir, const __u8 *frame, size_t len, const struct rule_spec *rules,
		      int nrules, struct outcome *o)
{
	bool tc = E.via_tc && dir == PG_DIR_IN && tc_runs(len);

	run_frame_on(tc, dir, frame, len, rules, nrules, o);
	/* an skb the kernel will not build (IP header shorter than its minimum): XDP's */
	if (tc && o->err == -EINVAL)
		run_frame_on(false, dir, frame, len, rules, nrules, o);
}

struct msg {
	char s[1024];
	size_t n;
};

static void __attribute__((format(printf, 2, 3))) msg_add(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (m->n >= sizeof(m->s))
		return;
	va_start(ap, fmt);
	w = vsnprintf(m->s + m->n, sizeof(m->s) - m->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		m->n += (size_t)w;
}

/* Which reason counters moved, by name: "blocked +1/60B". */
static void describe_moved(struct msg *m, const struct outcome *o)
{
	bool any = false;

	msg_add(m, "moved:");
	for (int r = 0; r < PG_R_COUNT; r++)
		if (o->delta.reason[r].packets || o->delta.reason[r].bytes) {
			msg_add(m, " %s %+lld/%+lldB", reason_name(r),
				(long long)o->delta.reason[r].packets,
				(long long)o->delta.reason[r].bytes);
			any = true;
		}
	if (!any)
		msg_add(m, " nothing");
}

/*
 * The whole contract for one run. want_rule: rule id whose counters must
 * move by one packet and len bytes; every other setup rule must not move.
 */
static bool check_outcome(const struct outcome *o, size_t len, int want_verdict, int want_reason,
			  const struct rule_spec *rules, int nrules, __u16 want_rule, struct msg *m)
{
	bool ok = true;

	if (o->err) {
		msg_add(m, " test_run failed: %s;", strerror(-o->err));
		return false;
	}
	if (o->retval != (__u32)want_verdict) {
		msg_add(m, " verdict %s, want %s;", verdict_name(o->retval),
			verdict_name(want_verdict));
		ok = false;
	}
	for (int r = 0; r < PG_R_COUNT; r++) {
		__u64 wp = r == want_reason ? 1 : 0, wb = r == want_reason ? len : 0;

		if (o->delta.reason[r].packets != wp || o->delta.reason[r].bytes != wb) {
			msg_add(m, " reason want %s +1/+%zuB, ", reason_name(want_reason), len);
			describe_moved(m, o);
			msg_add(m, ";");
			ok = false;
			break;
		}
	}
	for (int i = 0; i < nrules; i++) {
		bool hit = rules[i].id == want_rule;
		__u64 wp = hit ? 1 : 0, wb = hit ? len : 0;

		if (o->delta.rule[i].packets != wp || o->delta.rule[i].bytes != wb) {
			msg_add(m, " rule %u counters %+lld/%+lldB, want +%llu/+%lluB;",
				rules[i].id, (long long)o->delta.rule[i].packets,
				(long long)o->delta.rule[i].bytes, (unsigned long long)wp,
				(unsigned long long)wb);
			ok = false;
		}
	}
	if (!o->unchanged) {
		msg_add(m, " frame modified;");
		ok = false;
	}
	return ok;
}

/* ---- model: tests/model.h, shared with the differential fuzzer */

/* Builds a vector's frame (vec_build of the harness), or fails the test. */
static size_t vec_frame(const struct vec *v, __u8 *buf)
{
	size_t n = vec_build(v, buf, FRAME_MAX);

	cr_assert(n > 0, "%s: frame cannot be built (pkt_build, pokes or cut)", v->name);
	return n;
}

/* Runs one vector; on mismatch reports it by name. Returns true if it held. */
static bool run_vec(const struct vec *v)
{
	static __u8 frame[FRAME_MAX];
	struct rule_spec rules[MODEL_SETUP_MAX_RULES];
	int nrules = model_setup_rules(v, rules);
	struct outcome o;
	struct msg m = {.n = 0};
	size_t len = vec_frame(v, frame);
	bool ok, rule_known = v->rule == 0;
	int model_reason;
	__u16 model_rule;

	/* the table itself must be coherent before it can judge the program */
	for (int i = 0; i < nrules; i++)
		rule_known |= rules[i].id == v->rule;
	cr_assert(rule_known, "%s: expected rule %u is not in the setup", v->name, v->rule);
	cr_assert(v->reason < PG_R_COUNT && reason_verdicts[v->reason] == v->verdict,
		  "%s: table says %s with reason %s", v->name, verdict_name(v->verdict),
		  reason_name(v->reason));

	cr_assert(!v->tc || (v->dir == PG_DIR_IN && tc_runs(len)),
		  "%s: a tc vector is inbound, 14..3500 bytes", v->name);
	setup_apply(v, false);
	if (v->tc)
		run_frame_on(true, v->dir, frame, len, rules, nrules, &o); /* no fallback */
	else
		run_frame(v->dir, frame, len, rules, nrules, &o);
	ok = check_outcome(&o, len, v->verdict, v->reason, rules, nrules, v->rule, &m);
	setup_apply(v, true);
	model_reason = model(v, v->dir, frame, len, &model_rule);
	if (model_reason != (int)v->reason || model_rule != v->rule) {
		msg_add(&m, " host parser + model say %s (rule %u);", reason_name(model_reason),
			model_rule);
		ok = false;
	}
	cr_expect(ok, "vector \"%s\" (%s, %zu bytes):%s", v->name,
		  v->tc || (E.via_tc && v->dir == PG_DIR_IN && tc_runs(len)) ? "tc egress"
									     : dir_name(v->dir),
		  len, m.s);
	return ok;
}

static void run_table(const char *table, const struct vec *vecs, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		failed += !run_vec(&vecs[i]);
	cr_expect(failed == 0, "%s: %zu of %zu vectors failed", table, failed, n);
	expect_rule_stats_clean(table);
	cr_log_info("%s: %zu vectors, %zu failed%s", table, n, failed,
		    E.frags ? " (BPF_F_XDP_HAS_FRAGS)" : "");
}

/* ---- generated tables */

struct encap {
	const char *name;
	struct pkt_spec l2; /* only the encapsulation fields are set */
};

static const struct encap encaps[] = {
	{"plain", {.nvlan = 0}},
	{"vlan", {.nvlan = 1, .tpid = {0x8100}, .vid = {100}}},
	{"qinq", {.nvlan = 2, .tpid = {0x88a8, 0x8100}, .vid = {10, 100}}},
	{"qinq9100", {.nvlan = 2, .tpid = {0x9100, 0x8100}, .vid = {20, 200}}},
	{"mpls1", {.mpls = 1}},
	{"mpls4", {.mpls = 4}},
	{"pppoe2", {.pppoe = PKT_PPPOE_PROTO2}},
	{"pppoe1", {.pppoe = PKT_PPPOE_PROTO1}},
	{"vlan+pppoe2", {.nvlan = 1, .tpid = {0x8100}, .vid = {300}, .pppoe = PKT_PPPOE_PROTO2}},
	{"qinq+pppoe1",
	 {.nvlan = 2, .tpid = {0x88a8, 0x8100}, .vid = {30, 300}, .pppoe = PKT_PPPOE_PROTO1}},
};

#define N_ENCAPS (sizeof(encaps) / sizeof(encaps[0]))

static void encap_apply(struct pkt_spec *s, const struct encap *e)
{
	s->nvlan = e->l2.nvlan;
	memcpy(s->tpid, e->l2.tpid, sizeof(s->tpid));
	memcpy(s->vid, e->l2.vid, sizeof(s->vid));
	s->mpls = e->l2.mpls;
	s->pppoe = e->l2.pppoe;
}

enum matrix_case {
	MC_BLOCKED,   /* default-blocked port, inbound: drop */
	MC_OPEN,      /* unblocked port: pass */
	MC_REPLY,     /* reply from the blocked port: only dports match */
	MC_OTHER_DIR, /* blocked port on the access program: inbound rule only */
	MC_COUNT,
};

/* encap x {v4,v6} x {tcp,udp} x case, default policy installed. */
static size_t gen_matrix(struct vec *out)
{
	size_t n = 0;

	for (size_t e = 0; e < N_ENCAPS; e++)
		for (int ip = 4; ip <= 6; ip += 2)
			for (int udp = 0; udp <= 1; udp++)
				for (int c = 0; c < MC_COUNT; c++) {
					struct vec *v = &out[n++];
					__u16 blocked = udp ? 161 : 25, open = udp ? 53 : 80;
					const char *l4 = udp ? "udp" : "tcp";

					memset(v, 0, sizeof(*v));
					encap_apply(&v->pkt, &encaps[e]);
					v->pkt.ip = ip;
					v->pkt.proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
					v->pkt.sport = 40000;
					v->pkt.payload = 10;
					v->defaults = true;
					v->verdict = XDP_PASS;
					v->reason = PG_R_NO_MATCH;
					switch (c) {
					case MC_BLOCKED:
						v->pkt.dport = blocked;
						v->verdict = XDP_DROP;
						v->reason = PG_R_BLOCKED;
						v->rule = udp ? R_SNMP : R_SMTP;
						snprintf(v->name, sizeof(v->name),
							 "%s/ipv%d/%s/%u blocked", encaps[e].name,
							 ip, l4, blocked);
						break;
					case MC_OPEN:
						v->pkt.dport = open;
						snprintf(v->name, sizeof(v->name),
							 "%s/ipv%d/%s/%u open", encaps[e].name, ip,
							 l4, open);
						break;
					case MC_REPLY:
						v->pkt.sport = blocked;
						v->pkt.dport = 40000;
						snprintf(v->name, sizeof(v->name),
							 "%s/ipv%d/%s/reply from %u",
							 encaps[e].name, ip, l4, blocked);
						break;
					case MC_OTHER_DIR:
						v->pkt.dport = blocked;
						v->pkt.src = ip == 4 ? SUB4 : SUB6;
						v->pkt.dst = ip == 4 ? NET4 : NET6;
						v->dir = PG_DIR_OUT;
						snprintf(v->name, sizeof(v->name),
							 "%s/ipv%d/%s/%u outbound, inbound rule "
							 "only",
							 encaps[e].name, ip, l4, blocked);
						break;
					}
				}
	return n;
}

#define N_MATRIX (N_ENCAPS * 2 * 2 * MC_COUNT)

/* The exemption that covers a frame of exempt_matrix: side x all/one rule. */
static void exempt_for(struct exempt_spec *x, bool v6, bool udp, int dir, int side, bool one)
{
	static const char *const cidrs[2][2][2] = {
		/* [v6][side][one] */
		{{"100.64.0.0/10", SUB4 "/32"}, {"198.51.100.0/24", NET4 "/32"}},
		{{"2001:db8:64::/64", SUB6 "/128"}, {"2001:db8:100::/48", NET6 "/128"}},
	};

	x->cidr = cidrs[v6][side][one];
	x->side = side;
	x->dir = dir;
	x->proto = !one ? PG_EXEMPT_ALL_RULES : udp ? PG_PROTO_UDP : PG_PROTO_TCP;
	x->port = !one ? 0 : udp ? 161 : 25;
}

/*
 * encap x {v4,v6} x {tcp/25,udp/161} x {in,out} x {subscriber,peer} x
 * {all rules, one rule}, all exempt: the exemption reads the addresses
 * through the parsed L3 pointer, so every encapsulation must hand over
 * the right one, in both programs.
 */
#define N_EXEMPT_MATRIX (N_ENCAPS * 2 * 2 * 2 * 2 * 2)

static size_t gen_exempt_matrix(struct vec *out)
{
	static const struct rule_spec out_rules[] = {
		RULE(20, PG_DIR_OUT, PG_PROTO_TCP, 25, 0, PG_ACTION_DROP),
		RULE(21, PG_DIR_OUT, PG_PROTO_UDP, 161, 0, PG_ACTION_DROP),
	};

	for (size_t i = 0; i < N_EXEMPT_MATRIX; i++) {
		struct vec *v = &out[i];
		bool one = i & 1, v6 = i >> 4 & 1, udp = i >> 3 & 1;
		int side = i >> 1 & 1, dir = i >> 2 & 1;
		const char *sub = v6 ? SUB6 : SUB4, *net = v6 ? NET6 : NET4;
		const struct encap *e = &encaps[i >> 5];

		memset(v, 0, sizeof(*v));
		encap_apply(&v->pkt, e);
		v->pkt.ip = v6 ? 6 : 4;
		v->pkt.proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
		v->pkt.sport = 40000;
		v->pkt.dport = udp ? 161 : 25;
		v->pkt.src = dir == PG_DIR_IN ? net : sub;
		v->pkt.dst = dir == PG_DIR_IN ? sub : net;
		v->defaults = true;
		memcpy(v->rules, out_rules, sizeof(out_rules));
		exempt_for(&v->exempt[0], v6, udp, dir, side, one);
		v->dir = dir;
		v->verdict = XDP_PASS;
		v->reason = PG_R_EXEMPT;
		snprintf(v->name, sizeof(v->name), "%s/ipv%d/%s/%u %s, exempt %s %s %s", e->name,
			 v->pkt.ip, udp ? "udp" : "tcp", v->pkt.dport,
			 dir == PG_DIR_IN ? "inbound" : "outbound",
			 side == PG_SIDE_PEER ? "peer" : "subscriber",
			 one ? "one rule" : "all rules", v->exempt[0].cidr);
	}
	return N_EXEMPT_MATRIX;
}

#define N_IHL 16
#define N_TPIDS (3 + 3 * 3 + 3 * 3 * 3)
#define N_CHAINS ((PKT_MAX_EXT + 1) * 2)

/* IPv4 IHL 0..15: below 5 is malformed, 5..15 skips the options. */
static size_t gen_ihl(struct vec *out)
{
	size_t n = 0;

	for (int ihl = 0; ihl <= 15; ihl++) {
		struct vec *v = &out[n++];

		memset(v, 0, sizeof(*v));
		v->pkt = (struct pkt_spec){
			.ip = 4, .proto = IPPROTO_TCP, .sport = 40000, .dport = 25};
		v->defaults = true;
		if (ihl < 5) {
			/* a 20-byte header claiming fewer words */
			v->poke[0] = (struct poke)POKE(14, 0x40 | ihl);
			v->verdict = XDP_PASS;
			v->reason = PG_R_BAD_IHL;
		} else {
			v->pkt.ihl = ihl;
			v->verdict = XDP_DROP;
			v->reason = PG_R_BLOCKED;
			v->rule = R_SMTP;
		}
		snprintf(v->name, sizeof(v->name), "ipv4 ihl %d/tcp/25", ihl);
	}
	return n;
}

/* Two tags in every TPID order, and one of each; then a third tag. */
static size_t gen_tpids(struct vec *out)
{
	static const __u16 tpids[] = {0x8100, 0x88a8, 0x9100};
	size_t n = 0;

	for (int depth = 1; depth <= 3; depth++)
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < (depth >= 2 ? 3 : 1); b++)
				for (int c = 0; c < (depth == 3 ? 3 : 1); c++) {
					struct vec *v = &out[n++];
					__u16 t[3] = {tpids[a], tpids[b], tpids[c]};

					memset(v, 0, sizeof(*v));
					v->pkt = (struct pkt_spec){.ip = 4,
								   .proto = IPPROTO_TCP,
								   .sport = 40000,
								   .dport = 25,
								   .nvlan = depth,
								   .tpid = {t[0], t[1], t[2]},
								   .vid = {1, 2, 3}};
					v->defaults = true;
					if (depth <= PG_MAX_VLAN) {
						v->verdict = XDP_DROP;
						v->reason = PG_R_BLOCKED;
						v->rule = R_SMTP;
					} else {
						v->verdict = XDP_PASS;
						v->reason = PG_R_VLAN_DEPTH;
					}
					if (depth == 1)
						snprintf(v->name, sizeof(v->name),
							 "vlan %04x/ipv4/tcp/25", t[0]);
					else if (depth == 2)
						snprintf(v->name, sizeof(v->name),
							 "vlan %04x+%04x/ipv4/tcp/25", t[0], t[1]);
					else
						snprintf(v->name, sizeof(v->name),
							 "vlan %04x+%04x+%04x/ipv4/tcp/25 (3 tags)",
							 t[0], t[1], t[2]);
				}
	return n;
}

/* IPv6 chains of 0..12 extension headers: up to 8 parsed, longer drop. */
static size_t gen_chains(struct vec *out)
{
	static const __u8 kinds[] = {IPPROTO_HOPOPTS, IPPROTO_DSTOPTS,	IPPROTO_ROUTING,
				     IPPROTO_AH,      IPPROTO_FRAGMENT, IPPROTO_DSTOPTS};
	size_t n = 0;

	for (int len = 0; len <= PKT_MAX_EXT; len++)
		for (int open = 0; open <= 1; open++) {
			struct vec *v = &out[n++];

			memset(v, 0, sizeof(*v));
			v->pkt = (struct pkt_spec){.ip = 6,
						   .proto = IPPROTO_UDP,
						   .sport = 40000,
						   .dport = open ? 53 : 161,
						   .next_ext = len};
			for (int i = 0; i < len; i++)
				v->pkt.ext[i] = kinds[i % sizeof(kinds)];
			v->defaults = true;
			if (len > PG_MAX_IPV6_EXT) {
				/* fail closed even toward an open port */
				v->verdict = XDP_DROP;
				v->reason = PG_R_V6_CHAIN;
			} else if (open) {
				v->verdict = XDP_PASS;
				v->reason = PG_R_NO_MATCH;
			} else {
				v->verdict = XDP_DROP;
				v->reason = PG_R_BLOCKED;
				v->rule = R_SNMP;
			}
			snprintf(v->name, sizeof(v->name), "ipv6 %d ext headers/udp/%u", len,
				 v->pkt.dport);
		}
	return n;
}

#include "xdp_vectors.h"

/* ---- TCP flags: rules match connection attempts unless --all-segments */

#define R_ALLSEG 40	/* inbound TCP 6000 drop, every segment */
#define R_OUT_ALLSEG 41 /* outbound TCP 6001 drop, every segment */

enum syn_case {
	SC_UPLINK_DEFAULT, /* inbound tcp/25 (default policy) on the uplink's XDP */
	SC_UPLINK_ALLSEG,  /* inbound tcp/6000 --all-segments on the uplink's XDP */
	SC_TC_DEFAULT,	   /* inbound tcp/25 on the access interface's tc egress */
	SC_TC_ALLSEG,	   /* inbound tcp/6000 --all-segments on tc egress */
	SC_ACCESS_DEFAULT, /* outbound tcp/25 on the access interface's XDP */
	SC_ACCESS_ALLSEG,  /* outbound tcp/6001 --all-segments on the access XDP */
	SC_COUNT,
};

static const char *const syn_case_names[SC_COUNT] = {
	"uplink/default",  "uplink/all-segments", "tc/default",
	"tc/all-segments", "access/default",	  "access/all-segments",
};

/* bit 0 FIN, 1 SYN, 2 RST, 3 ACK: the 16 combinations */
static __u8 syn_flags(int combo)
{
	return (combo & 1 ? 0x01 : 0) | (combo & 2 ? 0x02 : 0) | (combo & 4 ? 0x04 : 0) |
	       (combo & 8 ? 0x10 : 0);
}

static size_t gen_syn_matrix(struct vec *out)
{
	size_t n = 0;

	for (int ip = 4; ip <= 6; ip += 2)
		for (int c = 0; c < SC_COUNT; c++)
			for (int combo = 0; combo < 16; combo++) {
				struct vec *v = &out[n++];
				__u8 f = syn_flags(combo);
				bool allseg = c == SC_UPLINK_ALLSEG || c == SC_TC_ALLSEG ||
					      c == SC_ACCESS_ALLSEG;
				bool out_dir = c == SC_ACCESS_DEFAULT || c == SC_ACCESS_ALLSEG;
				bool attempt = (f & 0x12) == 0x02;
				char fl[32] = "";

				memset(v, 0, sizeof(*v));
				v->pkt.ip = ip;
				v->pkt.proto = IPPROTO_TCP;
				v->pkt.sport = 40000;
				v->pkt.dport = allseg ? (out_dir ? 6001 : 6000) : 25;
				v->pkt.tcp_flags = PKT_TCP_FLAGS(f);
				v->pkt.payload = 10;
				if (out_dir) {
					v->pkt.src = ip == 4 ? SUB4 : SUB6;
					v->pkt.dst = ip == 4 ? NET4 : NET6;
				}
				v->defaults = true;
				v->rules[0] = (struct rule_spec)RULE_ALLSEG(
					R_ALLSEG, PG_DIR_IN, 6000, 0, PG_ACTION_DROP);
				v->rules[1] = (struct rule_spec)RULE_ALLSEG(
					R_OUT_ALLSEG, PG_DIR_OUT, 6001, 0, PG_ACTION_DROP);
				v->rules[2] = (struct rule_spec)RULE_OUT;
				v->dir = out_dir ? PG_DIR_OUT : PG_DIR_IN;
				v->tc = c == SC_TC_DEFAULT || c == SC_TC_ALLSEG;
				if (allseg || attempt) {
					v->verdict = XDP_DROP;
					v->reason = PG_R_BLOCKED;
					v->rule = allseg    ? (out_dir ? R_OUT_ALLSEG : R_ALLSEG)
						  : out_dir ? R_OUT
							    : R_SMTP;
				} else {
					v->verdict = XDP_PASS;
					v->reason = PG_R_TCP_NOT_SYN;
				}
				if (!f)
					snprintf(fl, sizeof(fl), "none");
				snprintf(fl + strlen(fl), sizeof(fl) - strlen(fl), "%s%s%s%s",
					 f & 0x02 ? "S" : "", f & 0x10 ? "A" : "",
					 f & 0x01 ? "F" : "", f & 0x04 ? "R" : "");
				snprintf(v->name, sizeof(v->name), "ipv%d/%s/flags %s", ip,
					 syn_case_names[c], fl);
			}
	return n;
}

#define N_SYN_MATRIX (2 * SC_COUNT * 16)

/*
 * Frames as the tc egress hook sees them. A VLAN tag in skb metadata
 * (vlan_present/vlan_tci, hardware-offloaded or veth's tx-vlan-offload)
 * is not in the data: the frame starts with the inner ethertype, which
 * BPF_PROG_TEST_RUN cannot set in metadata, so those vectors are the
 * frame as the program gets it; tests/test_e2e.c sends real traffic
 * through a VLAN device whose tag the veth carries in metadata.
 */
static const struct vec egress_vectors[] = {
	{"tc: ipv4/tcp/25 SYN, untagged", .pkt = {TCP4(25)}, .tc = true, .defaults = true,
	 BLOCKED_BY(R_SMTP)},
	{"tc: ipv6/udp/161, untagged", .pkt = {UDP6(161)}, .tc = true, .defaults = true,
	 BLOCKED_BY(R_SNMP)},
	{"tc: in-band vlan 100/ipv4/tcp/25 SYN", .pkt = {TCP4(25), .nvlan = 1, .vid = {100}},
	 .tc = true, .defaults = true, BLOCKED_BY(R_SMTP)},
	{"tc: in-band qinq 802.1ad+802.1q/ipv6/udp/161",
	 .pkt = {UDP6(161), .nvlan = 2, .tpid = {0x88a8, 0x8100}, .vid = {10, 100}}, .tc = true,
	 .defaults = true, BLOCKED_BY(R_SNMP)},
	{"tc: in-band vlan+pppoe/ipv4/tcp/587 SYN",
	 .pkt = {TCP4(587), .nvlan = 1, .vid = {300}, .pppoe = PKT_PPPOE_PROTO2}, .tc = true,
	 .defaults = true, BLOCKED_BY(R_SUBMIT)},
	{"tc: metadata vlan 100 (data starts with ipv4 ethertype)/tcp/25 SYN", .pkt = {TCP4(25)},
	 .tc = true, .defaults = true, BLOCKED_BY(R_SMTP)},
	{"tc: metadata vlan 100 + in-band 802.1q 200/udp/161",
	 .pkt = {UDP4(161), .nvlan = 1, .vid = {200}}, .tc = true, .defaults = true,
	 BLOCKED_BY(R_SNMP)},
	{"tc: metadata vlan (data starts with ipv6 ethertype)/tcp/465 SYN", .pkt = {TCP6(465)},
	 .tc = true, .defaults = true, BLOCKED_BY(R_SMTPS)},
	{"tc: in-band vlan/ipv4/tcp/25 SYN+ACK (subscriber's own port 25)",
	 .pkt = {TCP4(25), .nvlan = 1, .vid = {100}, .tcp_flags = PKT_TCP_FLAGS(0x12)}, .tc = true,
	 .defaults = true, PASSES(PG_R_TCP_NOT_SYN)},
	{"tc: ipv4/tcp/2525 ACK (reply to a subscriber's connection from port 2525)",
	 .pkt = {TCP4(2525), .tcp_flags = PKT_TCP_FLAGS(0x10), .payload = 100}, .tc = true,
	 .defaults = true, PASSES(PG_R_TCP_NOT_SYN)},
	{"tc: ipv4/tcp/80 SYN, no rule", .pkt = {TCP4(80)}, .tc = true, .defaults = true,
	 PASSES(PG_R_NO_MATCH)},
	{"tc: arp", .pkt = {.ethertype = 0x0806, .payload = 28}, .tc = true, .defaults = true,
	 PASSES(PG_R_NOT_IP)},
	{"tc: vlan/ipv4/udp/161 from an exempt peer", .pkt = {UDP4(161), .nvlan = 1}, .tc = true,
	 .defaults = true, .exempt = {EX_ALL(PG_SIDE_PEER, PG_DIR_IN, "198.51.100.0/24")},
	 PASSES(PG_R_EXEMPT)},
	{"tc: hairpin subscriber to subscriber ipv4/tcp/25 SYN",
	 .pkt = {TCP4(25), .src = "100.64.0.20", .dst = SUB4}, .tc = true, .defaults = true,
	 BLOCKED_BY(R_SMTP)},
	/* fail closed: a header that cannot show the flags is a connection attempt */
	{"tc: ipv4/tcp/25 ACK, frame ends before the flags byte",
	 .pkt = {TCP4(25), .tcp_flags = PKT_TCP_FLAGS(0x10)}, .len = 14 + 20 + 13, .tc = true,
	 .defaults = true, BLOCKED_BY(R_SMTP)},
	{"xdp: ipv4/tcp/25 ACK, frame ends before the flags byte",
	 .pkt = {TCP4(25), .tcp_flags = PKT_TCP_FLAGS(0x10)}, .len = 14 + 20 + 13, .defaults = true,
	 BLOCKED_BY(R_SMTP)},
	{"xdp: ipv4/tcp/25 ACK, tot_len leaves 13 tcp bytes",
	 .pkt = {TCP4(25), .tcp_flags = PKT_TCP_FLAGS(0x10)}, .poke = {POKE(16, 0), POKE(17, 33)},
	 .defaults = true, BLOCKED_BY(R_SMTP)},
	{"xdp: ipv4/tcp/25 ACK, tot_len leaves 14 tcp bytes (flags visible)",
	 .pkt = {TCP4(25), .tcp_flags = PKT_TCP_FLAGS(0x10)}, .poke = {POKE(16, 0), POKE(17, 34)},
	 .defaults = true, PASSES(PG_R_TCP_NOT_SYN)},
	{"xdp: ipv6 first fragment/tcp/25 ACK, 12 tcp bytes in the fragment",
	 .pkt = {TCP6(25), .next_ext = 1, .ext = {IPPROTO_FRAGMENT}, .more_frags = true,
		 .l4_len = 12, .tcp_flags = PKT_TCP_FLAGS(0x10)},
	 .defaults = true, BLOCKED_BY(R_SMTP)},
	{"xdp: ipv4/udp/161 default rule matches every datagram", .pkt = {UDP4(161)},
	 .defaults = true, BLOCKED_BY(R_SNMP)},
};

/* ---- tests: each body runs in three suites (plain, frags load, tc for inbound) */

#define BOTH(name)                                                    \
	static void name##_body(void);                                \
	Test(xdp, name, .init = env_plain, .fini = env_destroy)       \
	{                                                             \
		name##_body();                                        \
	}                                                             \
	Test(xdp_frags, name, .init = env_frags, .fini = env_destroy) \
	{                                                             \
		skip_without_frags();                                 \
		name##_body();                                        \
	}                                                             \
	Test(xdp_tc, name, .init = env_tc, .fini = env_destroy)       \
	{                                                             \
		name##_body();                                        \
	}                                                             \
	static void name##_body(void)

/* The ABI promises drop reasons come last: the program's one compare. */
Test(xdp, abi_reason_order)
{
	for (int r = 0; r < PG_R_COUNT; r++)
		cr_expect(reason_verdicts[r] == (r >= PG_R_FIRST_DROP ? XDP_DROP : XDP_PASS),
			  "reason %s is %s but sits %s PG_R_FIRST_DROP", reason_name(r),
			  verdict_name(reason_verdicts[r]),
			  r >= PG_R_FIRST_DROP ? "after" : "before");
}

BOTH(encap_matrix)
{
	static struct vec vecs[N_MATRIX];
	size_t n = gen_matrix(vecs);

	cr_assert(n == N_MATRIX);
	run_table("encap_matrix", vecs, n);
}

BOTH(hand_vectors)
{
	run_table("hand_vectors", hand_vectors, sizeof(hand_vectors) / sizeof(hand_vectors[0]));
}

BOTH(syn_matrix)
{
	static struct vec vecs[N_SYN_MATRIX];
	size_t n = gen_syn_matrix(vecs);

	cr_assert(n == N_SYN_MATRIX);
	run_table("syn_matrix", vecs, n);
}

BOTH(egress_vectors)
{
	run_table("egress_vectors", egress_vectors,
		  sizeof(egress_vectors) / sizeof(egress_vectors[0]));
}

BOTH(exempt_matrix)
{
	static struct vec vecs[N_EXEMPT_MATRIX];
	size_t n = gen_exempt_matrix(vecs);

	cr_assert(n == N_EXEMPT_MATRIX);
	run_table("exempt_matrix", vecs, n);
}

BOTH(ipv4_ihl)
{
	static struct vec vecs[N_IHL];

	run_table("ipv4_ihl", vecs, gen_ihl(vecs));
}

BOTH(vlan_tpids)
{
	static struct vec vecs[N_TPIDS];

	run_table("vlan_tpids", vecs, gen_tpids(vecs));
}

BOTH(ipv6_chains)
{
	static struct vec vecs[N_CHAINS];

	run_table("ipv6_chains", vecs, gen_chains(vecs));
}

/* ---- truncations: every length of several shapes, to a blocked port */

struct shape {
	const char *name;
	struct pkt_spec pkt;
	__u16 rule;
};

static const struct shape shapes[] = {
	{"ipv4 ihl 8/tcp/25", {TCP4(25), .ihl = 8, .payload = 6}, R_SMTP},
	{"qinq+pppoe1/ipv6 hop+routing+dest/udp/161",
	 {UDP6(161), .nvlan = 2, .tpid = {0x88a8, 0x8100}, .pppoe = PKT_PPPOE_PROTO1, .next_ext = 3,
	  .ext = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS}, .payload = 6},
	 R_SNMP},
	{"mpls2/ipv4/tcp/25", {TCP4(25), .mpls = 2, .payload = 6}, R_SMTP},
	{"vlan/ipv6 first fragment/tcp/25",
	 {TCP6(25), .nvlan = 1, .next_ext = 1, .ext = {IPPROTO_FRAGMENT}, .more_frags = true,
	  .payload = 6},
	 R_SMTP},
	{"9100+8100/mpls4/ipv6 ah/tcp/2525",
	 {TCP6(2525), .nvlan = 2, .tpid = {0x9100, 0x8100}, .mpls = 4, .next_ext = 1,
	  .ext = {IPPROTO_AH}, .payload = 6},
	 R_SMTP_ALT},
	{"vlan+pppoe2/ipv4 ihl 15/udp/161",
	 {UDP4(161), .nvlan = 1, .pppoe = PKT_PPPOE_PROTO2, .ihl = 15, .payload = 6},
	 R_SNMP},
};

/* Offset just past the destination port: the frame ends with the L4 bytes. */
static size_t dport_end(const struct pkt_spec *s, const __u8 *frame, size_t len)
{
	size_t l4 = (s->proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr)) +
		    s->payload;
	size_t end = len - l4 + 4;

	/* the test's own arithmetic, checked against the bytes */
	cr_assert(frame[end - 2] == s->dport >> 8 && frame[end - 1] == (s->dport & 0xff),
		  "dport not at %zu", end - 2);
	return end;
}

BOTH(truncations)
{
	static __u8 frame[FRAME_MAX];
	struct vec setup = {.defaults = true};
	struct rule_spec rules[MODEL_SETUP_MAX_RULES];
	int nrules = model_setup_rules(&setup, rules);
	size_t runs = 0, failed = 0;

	setup_apply(&setup, false);
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		size_t full = pkt_build(&shapes[s].pkt, frame, sizeof(frame));
		size_t port_end;

		cr_assert(full > 0, "%s: pkt_build failed", shapes[s].name);
		port_end = dport_end(&shapes[s].pkt, frame, full);
		for (size_t len = 0; len <= full; len++) {
			bool has_port = len >= port_end;
			struct outcome o;
			struct msg m = {.n = 0};
			__u16 model_rule;
			bool ok;

			run_frame(PG_DIR_IN, frame, len, rules, nrules, &o);
			runs++;
			if (len < ETH_HLEN && o.err == -EINVAL) {
				/* the kernel never hands XDP a runt; nothing may count */
				static const struct counts none;

				ok = !memcmp(&o.delta, &none, sizeof(o.delta));
				if (!ok)
					msg_add(&m, " refused by test_run, yet counters moved");
			} else {
				ok = check_outcome(&o, len, has_port ? XDP_DROP : XDP_PASS,
						   has_port ? PG_R_BLOCKED : PG_R_TRUNCATED, rules,
						   nrules, has_port ? shapes[s].rule : 0, &m);
			}
			/* runts included: the host build of the parser sees every length */
			if (model(&setup, PG_DIR_IN, frame, len, &model_rule) !=
			    (has_port ? PG_R_BLOCKED : PG_R_TRUNCATED)) {
				msg_add(&m, " host parser + model disagree;");
				ok = false;
			}
			failed += !ok;
			cr_expect(ok, "vector \"%s cut to %zu of %zu\" (dport ends at %zu):%s",
				  shapes[s].name, len, full, port_end, m.s);
		}
	}
	setup_apply(&setup, true);
	cr_expect(failed == 0, "truncations: %zu of %zu runs failed", failed, runs);
	cr_log_info("truncations: %zu shapes, %zu runs, %zu failed",
		    sizeof(shapes) / sizeof(shapes[0]), runs, failed);
}

/* ---- random frames against a model of the rule lookup */

static __u64 rng_state;

/* xorshift64: tiny, seedable, reproducible across libcs */
static __u64 rnd(void)
{
	__u64 x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static __u32 rnd_below(__u32 n)
{
	return (__u32)(rnd() % n);
}

static const struct vec random_setup = {
	.defaults = true,
	.rules = {RULE_RANGE, RULE_MON, RULE_MON_RANGE, RULE_OUT, RULE_OUT_UDP},
	.exempt = {EX_ALL(PG_SIDE_SUBSCRIBER, PG_DIR_IN, "100.64.1.0/24"),
		   EX_ONE(PG_SIDE_PEER, PG_DIR_IN, PG_PROTO_UDP, 161, "2001:db8:100::/64"),
		   EX_ONE(PG_SIDE_SUBSCRIBER, PG_DIR_OUT, PG_PROTO_TCP, 25, "100.64.0.0/16"),
		   EX_ALL(PG_SIDE_PEER, PG_DIR_OUT, "2001:db8:192::/48")},
};

/* Bytes that steer a parser: TPIDs, ethertypes, versions, next headers. */
static const __u8 interesting[] = {0x81, 0x00, 0x88, 0xa8, 0x91, 0x86, 0xdd, 0x08, 0x47, 0x64, 0x63,
				   0x11, 0x21, 0x57, 0x45, 0x4f, 0x60, 0x06, 0x11, 0x2c, 0x3c, 0x2b,
				   0x33, 0xff, 0x01, 0x19, 0xa1, 0x4a, 0x40, 0x20, 0x3a, 0x3b};

static const __u16 ethertypes[] = {0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100,
				   0x8847, 0x8864, 0x8863, 0x0806, 0x8848};

#define RANDOM_FRAMES 4000

/* Valid frames to mutate: every generated table and the hand vectors. */
static size_t random_pool(struct vec **pool)
{
	size_t nh = sizeof(hand_vectors) / sizeof(hand_vectors[0]), n = 0;
	struct vec *p =
		calloc(N_MATRIX + N_EXEMPT_MATRIX + N_IHL + N_TPIDS + N_CHAINS + nh, sizeof(*p));

	cr_assert(p, "out of memory");
	n += gen_matrix(p + n);
	n += gen_exempt_matrix(p + n);
	n += gen_ihl(p + n);
	n += gen_tpids(p + n);
	n += gen_chains(p + n);
	memcpy(p + n, hand_vectors, sizeof(hand_vectors));
	*pool = p;
	return n + nh;
}

static size_t random_frame(__u8 *f, struct vec *pool, size_t npool, const char **kind)
{
	size_t len;
	__u32 k = rnd_below(10);

	if (k < 2) {
		*kind = "random bytes";
		len = ETH_HLEN + rnd_below(150);
		for (size_t i = 0; i < len; i++)
			f[i] = (__u8)rnd();
		return len;
	}
	if (k < 4) {
		__u16 t = ethertypes[rnd_below(sizeof(ethertypes) / sizeof(ethertypes[0]))];

		*kind = "ethertype + random bytes";
		len = ETH_HLEN + rnd_below(150);
		for (size_t i = 0; i < len; i++)
			f[i] = (__u8)rnd();
		f[12] = t >> 8;
		f[13] = t & 0xff;
		if (len > ETH_HLEN && rnd_below(2))
			f[ETH_HLEN] = t == 0x86dd ? 0x60 : 0x45;
		return len;
	}
	*kind = "mutated valid frame";
	len = vec_frame(&pool[rnd_below((__u32)npool)], f);
	for (int m = 1 + rnd_below(4); m > 0; m--) {
		size_t at = rnd_below(len < 96 ? (__u32)len : 96);

		switch (rnd_below(5)) {
		case 0:
			f[at] = (__u8)rnd();
			break;
		case 1:
			f[at] ^= (__u8)(1 << rnd_below(8));
			break;
		case 2:
			f[at] = interesting[rnd_below(sizeof(interesting))];
			break;
		case 3:
			if (len > ETH_HLEN)
				len = ETH_HLEN + rnd_below((__u32)(len - ETH_HLEN));
			break;
		case 4:
			for (int n = 1 + rnd_below(32); n > 0 && len < 512; n--)
				f[len++] = (__u8)rnd();
			break;
		}
	}
	return len;
}

BOTH(random_frames)
{
	static __u8 frame[FRAME_MAX];
	const char *env = getenv("PG_XDP_SEED");
	__u64 seed = env ? strtoull(env, NULL, 0) : 0x5eed2026c0ffeeULL;
	/* PG_XDP_FRAMES: soak with more frames by hand; the default stays quick */
	int frames = getenv("PG_XDP_FRAMES") ? atoi(getenv("PG_XDP_FRAMES")) : RANDOM_FRAMES;
	struct rule_spec rules[MODEL_SETUP_MAX_RULES];
	int nrules = model_setup_rules(&random_setup, rules);
	size_t failed = 0, seen[PG_R_COUNT] = {0};
	struct vec *pool;
	size_t npool = random_pool(&pool);

	rng_state = seed ? seed : 1;
	setup_apply(&random_setup, false);
	for (int i = 0; i < frames; i++) {
		const char *kind;
		size_t len = random_frame(frame, pool, npool, &kind);
		enum pg_dir dir = rnd_below(2) ? PG_DIR_OUT : PG_DIR_IN;
		__u16 want_rule;
		int want = model(&random_setup, dir, frame, len, &want_rule);
		struct outcome o;
		struct msg m = {.n = 0};
		bool ok;

		cr_assert(want >= 0 && want < PG_R_COUNT, "model: reason %d", want);
		run_frame(dir, frame, len, rules, nrules, &o);
		ok = check_outcome(&o, len, reason_verdicts[want], want, rules, nrules, want_rule,
				   &m);
		seen[want]++;
		if (!ok && ++failed <= 10) {
			msg_add(&m, " frame:");
			for (size_t b = 0; b < len && b < 80; b++)
				msg_add(&m, "%s%02x", b % 4 ? "" : " ", frame[b]);
			cr_expect(ok,
				  "random frame %d of seed %#llx (%s, %s, %zu bytes, model %s):%s",
				  i, (unsigned long long)seed, kind, dir_name(dir), len,
				  reason_name(want), m.s);
		}
	}
	setup_apply(&random_setup, true);
	free(pool);
	cr_expect(failed == 0, "random frames: %zu of %d failed (seed %#llx, PG_XDP_SEED=...)",
		  failed, frames, (unsigned long long)seed);
	expect_rule_stats_clean("random_frames");
	{
		struct msg m = {.n = 0};

		for (int r = 0; r < PG_R_COUNT; r++)
			if (seen[r])
				msg_add(&m, " %s=%zu", reason_name(r), seen[r]);
		cr_log_info("random frames: %d, seed %#llx, reasons:%s", frames,
			    (unsigned long long)seed, m.s);
	}
}

/* ---- multi-buffer: a 9000-byte frame counts all its bytes */

Test(xdp_frags, jumbo, .init = env_frags, .fini = env_destroy)
{
	static const struct vec vecs[] = {
		{"jumbo 9000 ipv4/tcp/25", .pkt = {TCP4(25), .payload = 9000 - 54},
		 .defaults = true, BLOCKED_BY(R_SMTP)},
		{"jumbo 9000 qinq+pppoe1/ipv6/udp/53 monitored",
		 .pkt = {UDP6(53), .nvlan = 2, .pppoe = PKT_PPPOE_PROTO1, .min_len = 9000},
		 .rules = {RULE_MON}, MONITORED_BY(R_MON)},
		{"jumbo 9000 ipv6/tcp/80", .pkt = {TCP6(80), .min_len = 9000}, .defaults = true,
		 PASSES(PG_R_NO_MATCH)},
	};

	skip_without_frags();
	run_table("jumbo", vecs, sizeof(vecs) / sizeof(vecs[0]));
}
