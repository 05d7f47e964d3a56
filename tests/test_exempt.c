// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The exemption structures in front of the tries (table slots, summary,
 * host/prefix kind counts) against a host model (tests/model.h), over
 * random edit sequences through the CLI: allow and disallow (one prefix,
 * --file lists, --dynamic), apply (generation flips, dynamic ones carried
 * over, apply killed midway and run again), refused commands that must
 * change nothing. After every step:
 *   - `portgate check` exits 0: every structure equals what the tries imply;
 *   - `exemptions -j` lists exactly the model's set;
 *   - frames through the pinned programs (BPF_PROG_TEST_RUN): for each
 *     exemption an address it covers and one next to it, and random ones,
 *     both sides and directions; each verdict equals model_decide()'s.
 * The seed is printed; PG_EXEMPT_SEED=N replays a run, PG_EXEMPT_STEPS=N
 * sets its length.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "pkt.h"
#include "model.h"
#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"
#define OUT_MAX (1024 * 1024)
#define OUT_RULE_PORT 6660 /* block tcp 6660-6669 --dir out */

static char pin[64], tmp[64];
static char out[OUT_MAX], want[OUT_MAX];
static struct model_exset M;
static unsigned int seed;

/* The rules of the state: the defaults and one outbound range. */
static const struct rule_spec rules[] = {
	RULE(R_SMTP, PG_DIR_IN, PG_PROTO_TCP, 25, 0, PG_ACTION_DROP),
	RULE(R_SMTPS, PG_DIR_IN, PG_PROTO_TCP, 465, 0, PG_ACTION_DROP),
	RULE(R_SUBMIT, PG_DIR_IN, PG_PROTO_TCP, 587, 0, PG_ACTION_DROP),
	RULE(R_SMTP_ALT, PG_DIR_IN, PG_PROTO_TCP, 2525, 0, PG_ACTION_DROP),
	RULE(R_SNMP, PG_DIR_IN, PG_PROTO_UDP, 161, 0, PG_ACTION_DROP),
	RULE(R_DEFAULTS + 1, PG_DIR_OUT, PG_PROTO_TCP, OUT_RULE_PORT, 6669, PG_ACTION_DROP),
};
#define N_RULES ((int)(sizeof(rules) / sizeof(rules[0])))

static void setup(void)
{
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgex%d", getpid());
	snprintf(tmp, sizeof(tmp), "/tmp/pgex%d", getpid());
}

static void teardown(void)
{
	tl_sh(NULL, 0, "rm -rf %s %s.*", pin, tmp);
}

TestSuite(exempt, .init = setup, .fini = teardown, .timeout = 600);

static int pg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int pg(const char *fmt, ...)
{
	char args[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return tl_sh(out, OUT_MAX, "%s --pin-path %s %s 2>&1", PORTGATE, pin, args);
}

static unsigned int rnd(unsigned int n)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 8) % n;
}

/*
 * A random exemption from small pools, so that edits collide: hosts and
 * prefixes of 100.64.0.0/16 and 198.51.100.0/24, 2001:db8::/48 and
 * 2001:db8:1::/48; now and then a prefix wider than the summary's buckets
 * (IPv4 shorter than /16, IPv6 than /48: allowed with --force).
 */
static void rnd_ex(struct model_ex *x)
{
	char text[64];
	unsigned int r = rnd(100);

	memset(x, 0, sizeof(*x));
	if (r < 55) {
		static const unsigned int lens[] = {32, 32, 32, 31, 28, 26, 24, 24, 22, 20, 16, 12};
		unsigned int plen = lens[rnd(sizeof(lens) / sizeof(lens[0]))];

		if (rnd(4))
			snprintf(text, sizeof(text), "100.64.%u.%u/%u", rnd(4), rnd(256), plen);
		else
			snprintf(text, sizeof(text), "198.51.100.%u/%u", rnd(256), plen);
	} else {
		static const unsigned int lens[] = {128, 128, 128, 127, 120, 64, 64, 56, 48, 40};
		unsigned int plen = lens[rnd(sizeof(lens) / sizeof(lens[0]))];

		snprintf(text, sizeof(text), "2001:db8:%x:%x::%x/%u", rnd(2), rnd(3) << 8, rnd(16),
			 plen);
	}
	cr_assert_eq(model_ex_canon(text, x->cidr, sizeof(x->cidr)), 0, "%s", text);
	x->side = rnd(2) ? PG_SIDE_PEER : PG_SIDE_SUBSCRIBER;
	x->dir = rnd(3) ? PG_DIR_IN : PG_DIR_OUT;
	x->proto = PG_EXEMPT_ALL_RULES;
	if (!rnd(3)) {
		x->proto = PG_PROTO_TCP;
		x->port = x->dir == PG_DIR_IN ? 25 : OUT_RULE_PORT;
	}
	x->dynamic = !rnd(5);
}

static bool ex_wide(const struct model_ex *x)
{
	unsigned int plen = atoi(strchr(x->cidr, '/') + 1);

	return plen < (strchr(x->cidr, ':') ? 48U : 16U) ||
	       plen < (strchr(x->cidr, ':') ? 32U : 8U);
}

/* The options of x as allow/disallow take them. */
static const char *ex_opts(const struct model_ex *x, bool dynamic)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "--%s --dir %s%s%s%s",
		 x->side == PG_SIDE_PEER ? "peer" : "subscriber", x->dir ? "out" : "in",
		 x->proto == PG_EXEMPT_ALL_RULES ? ""
		 : x->dir == PG_DIR_IN		 ? " --rule tcp/25"
						 : " --rule tcp/6665", /* any port of the rule */
		 dynamic && x->dynamic ? " --dynamic" : "", ex_wide(x) ? " --force" : "");
	return buf;
}

/* One line of `exemptions` as the model expects it. */
static void ex_line(const struct model_ex *x, char *buf, size_t len)
{
	char rule[16] = "all";

	if (x->proto != PG_EXEMPT_ALL_RULES)
		snprintf(rule, sizeof(rule), "tcp/%u", x->port);
	snprintf(buf, len, "%s %s %s %s %s\n", x->cidr,
		 x->side == PG_SIDE_PEER ? "peer" : "subscriber", x->dir ? "out" : "in", rule,
		 x->dynamic ? "dynamic" : "static");
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `exemptions -j` against the model, as sorted lines. */
static void expect_listing(const char *step)
{
	static char lines[MODEL_EX_MAX][80];
	static char *ptr[MODEL_EX_MAX];
	size_t used = 0;
	int i, rc;

	rc = tl_sh(out, OUT_MAX,
		   "%s --pin-path %s exemptions -j | jq -r '.[] | \"\\(.prefix) \\(.side) "
		   "\\(.dir) \\(.rule) \\(.origin)\"' | LC_ALL=C sort",
		   PORTGATE, pin);
	cr_assert_eq(rc, 0, "%s: exemptions -j failed", step);
	for (i = 0; i < M.n; i++) {
		ex_line(&M.e[i], lines[i], sizeof(lines[i]));
		ptr[i] = lines[i];
	}
	qsort(ptr, M.n, sizeof(ptr[0]), line_cmp);
	want[0] = '\0';
	/* LC_ALL=C sort and strcmp order alike */
	for (i = 0; i < M.n; i++) {
		size_t l = strlen(ptr[i]);

		memcpy(want + used, ptr[i], l + 1);
		used += l;
	}
	cr_assert_str_eq(out, want, "%s (seed %u): the exemptions differ from the model", step,
			 seed);
}

/* An address inside (or, with next, just past) an exemption's prefix. */
static void ex_addr(const struct model_ex *x, bool next, char *buf, size_t len)
{
	struct exempt_spec s = {.cidr = x->cidr};
	__u8 a[16] = {}, plen = 0;
	bool v6 = false;
	int bits, i;

	cr_assert_eq(model_exempt_prefix(&s, &v6, a, &plen), 0);
	bits = v6 ? 128 : 32;
	if (next) {
		/* the first address after the prefix: add 1 at bit plen - 1 */
		for (i = plen - 1; i >= 0; i--) {
			__u8 bit = 0x80 >> (i % 8);

			a[i / 8] ^= bit;
			if (a[i / 8] & bit)
				break;
		}
	} else if (plen < bits) {
		a[bits / 8 - 1] |= rnd(2); /* the network or the next address */
	}
	inet_ntop(v6 ? AF_INET6 : AF_INET, a, buf, len);
}

static int prog_fd[PG_DIR_COUNT];

/* One frame through the pinned program of dir; its verdict against the model's. */
static void probe(const char *step, enum pg_dir dir, bool v6, __u16 dport, const char *sub,
		  const char *peer, unsigned int *fails)
{
	static struct exempt_spec specs[MODEL_EX_MAX];
	struct pkt_spec ps = {
		.ip = v6 ? 6 : 4, .proto = IPPROTO_TCP, .sport = 40000, .dport = dport};
	__u8 frame[256], res[256];
	__u16 rule;
	int n, reason;
	size_t len;
	__u32 want_v;

	ps.src = dir == PG_DIR_IN ? peer : sub;
	ps.dst = dir == PG_DIR_IN ? sub : peer;
	len = pkt_build(&ps, frame, sizeof(frame));
	cr_assert(len, "%s: cannot build a frame %s -> %s", step, ps.src, ps.dst);
	n = model_ex_specs(&M, specs);
	reason = model_decide(rules, N_RULES, specs, n, dir, frame, len, &rule);
	want_v = reason >= PG_R_FIRST_DROP ? XDP_DROP : XDP_PASS;
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
			    .data_out = res, .data_size_out = sizeof(res), .repeat = 1);

		cr_assert_eq(bpf_prog_test_run_opts(prog_fd[dir], &o), 0, "test_run: %s",
			     strerror(errno));
		if (o.retval != want_v && ++*fails <= 10)
			cr_log_error("%s (seed %u): %s %s -> %s tcp/%u: %s, the model says %s (%s)",
				     step, seed, dir ? "out" : "in", ps.src, ps.dst, dport,
				     o.retval == XDP_DROP ? "DROP" : "PASS",
				     want_v == XDP_DROP ? "DROP" : "PASS", pg_reason_name(reason));
	}
}

static void expect_verdicts(const char *step)
{
	static const char *const v4_others[] = {"192.0.2.1", "100.64.0.1", "100.64.3.255",
						"198.51.100.200", "100.65.0.1"};
	static const char *const v6_others[] = {"2001:db8:ffff::1", "2001:db8::1",
						"2001:db8:1:100::3", "2001:db8:2::1"};
	char in[INET6_ADDRSTRLEN], nx[INET6_ADDRSTRLEN];
	unsigned int fails = 0;
	int i;

	for (i = 0; i < M.n; i++) {
		const struct model_ex *x = &M.e[i];
		bool v6 = strchr(x->cidr, ':') != NULL;
		__u16 port = x->dir == PG_DIR_IN ? (rnd(2) ? 25 : 465) : 6660 + rnd(10);
		const char *other = v6 ? v6_others[rnd(4)] : v4_others[rnd(5)];

		ex_addr(x, false, in, sizeof(in));
		ex_addr(x, true, nx, sizeof(nx));
		if (x->side == PG_SIDE_SUBSCRIBER) {
			probe(step, x->dir, v6, port, in, other, &fails);
			probe(step, x->dir, v6, port, nx, other, &fails);
		} else {
			probe(step, x->dir, v6, port, other, in, &fails);
			probe(step, x->dir, v6, port, other, nx, &fails);
		}
		/* the same address on the other side */
		probe(step, x->dir, v6, port, other, in, &fails);
	}
	for (i = 0; i < 8; i++) {
		bool v6 = rnd(2);
		const char *a = v6 ? v6_others[rnd(4)] : v4_others[rnd(5)];
		const char *b = v6 ? v6_others[rnd(4)] : v4_others[rnd(5)];

		probe(step, rnd(2), v6, rnd(2) ? 25 : 6661, a, b, &fails);
	}
	cr_expect_eq(fails, 0, "%s (seed %u): %u verdicts differ from the model", step, seed,
		     fails);
}

static void expect_consistent(const char *step)
{
	int rc = pg("check");

	cr_assert_eq(rc, 0, "%s (seed %u): check exit %d:\n%s", step, seed, rc, out);
}

static const char *write_file(const char *suffix, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s.%s", tmp, suffix);
	f = fopen(path, "w");
	cr_assert(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	return path;
}

/* allow/disallow of x and its model change; want_rc: what the CLI must exit. */
static void op_one(bool add, const struct model_ex *x, char *step, size_t len)
{
	bool changes = add ? model_ex_find(&M, x) < 0 : model_ex_find(&M, x) >= 0;
	int rc;

	snprintf(step, len, "%s %s %s", add ? "allow" : "disallow", x->cidr, ex_opts(x, add));
	rc = pg("%s", step);
	if (add) {
		cr_assert_eq(rc, 0, "%s (seed %u): exit %d: %s", step, seed, rc, out);
		model_ex_allow(&M, x);
	} else {
		cr_assert_eq(rc, changes ? 0 : 1, "%s (seed %u): exit %d: %s", step, seed, rc, out);
		model_ex_disallow(&M, x);
	}
}

/* allow/disallow --file: k prefixes with the options of x (all or nothing). */
static void op_file(bool add, const struct model_ex *x, char *step, size_t len)
{
	static char text[64 * 1024];
	static struct model_ex list[64];
	unsigned int k = 1 + rnd(24), i, n = 0;
	size_t used = 0;
	bool all_there = true;
	int rc;

	for (i = 0; i < k; i++) {
		struct model_ex y;

		if (!add && M.n) {
			y = M.e[rnd(M.n)];
			/* a disallow list shares the options of its first entry */
			if (n && (y.side != list[0].side || y.dir != list[0].dir ||
				  y.proto != list[0].proto))
				continue;
		} else {
			rnd_ex(&y);
			y.side = x->side, y.dir = x->dir, y.proto = x->proto, y.port = x->port;
			y.dynamic = x->dynamic;
		}
		list[n++] = y;
		used += snprintf(text + used, sizeof(text) - used, "%s%s\n", y.cidr,
				 rnd(4) ? "" : "  # comment");
	}
	if (!n)
		return;
	for (i = 0; i < n; i++)
		all_there &= model_ex_find(&M, &list[i]) >= 0;
	/* --force and --dynamic for the whole list: wide prefixes need it */
	snprintf(step, len, "%s --file %s %s --force", add ? "allow" : "disallow",
		 write_file("list", text), ex_opts(&list[0], add));
	rc = pg("%s", step);
	if (add) {
		cr_assert_eq(rc, 0, "%s (seed %u): exit %d: %s", step, seed, rc, out);
		for (i = 0; i < n; i++)
			model_ex_allow(&M, &list[i]);
	} else {
		/* every entry must be there: else nothing is removed */
		cr_assert_eq(rc, all_there ? 0 : 1, "%s (seed %u): exit %d: %s", step, seed, rc,
			     out);
		for (i = 0; all_there && i < n; i++)
			model_ex_disallow(&M, &list[i]);
	}
}

/* apply: a random part of the set and new ones; crash_at: kill it there first. */
static void op_apply(long crash_at, char *step, size_t len)
{
	static char text[256 * 1024];
	static struct model_ex file[MODEL_EX_MAX];
	size_t used;
	int i, n = 0, rc;

	used = snprintf(text, sizeof(text), "defaults\nblock tcp 6660-6669 --dir out\n");
	for (i = 0; i < M.n; i++)
		if (rnd(4))
			file[n++] = M.e[i];
	for (i = rnd(8); i > 0; i--)
		rnd_ex(&file[n++]);
	for (i = 0; i < n; i++)
		used += snprintf(text + used, sizeof(text) - used, "allow %s %s\n", file[i].cidr,
				 ex_opts(&file[i], false));
	snprintf(step, len, "apply (%d exemptions%s)", n, crash_at ? ", killed once" : "");
	write_file("conf", text);
	if (crash_at) {
		/* killed: the old policy or the new one is live, never a mix */
		tl_sh(NULL, 0,
		      "PORTGATE_APPLY_CRASH_AT=%ld %s --pin-path %s apply %s.conf >/dev/null 2>&1",
		      crash_at, PORTGATE, pin, tmp);
	}
	rc = pg("apply %s.conf", tmp);
	cr_assert_eq(rc, 0, "%s (seed %u): exit %d: %s", step, seed, rc, out);
	model_ex_apply(&M, file, n);
}

/* Commands that are refused must change nothing. */
static void op_refused(char *step, size_t len)
{
	int rc;

	if (rnd(2)) {
		snprintf(step, len, "allow 100.0.0.0/6 --subscriber (no --force)");
		rc = pg("allow 100.0.0.0/6 --subscriber");
		cr_assert_eq(rc, 2, "%s: exit %d: %s", step, rc, out);
	} else {
		snprintf(step, len, "allow --file with a bad line");
		rc = pg("allow --file %s --peer",
			write_file("bad", "100.64.0.7\n100.64.0.8/33\n2001:db8::9\n"));
		cr_assert_eq(rc, 2, "%s: exit %d: %s", step, rc, out);
	}
}

Test(exempt, random_edits_match_the_model)
{
	const char *s = getenv("PG_EXEMPT_SEED"), *st = getenv("PG_EXEMPT_STEPS");
	int steps = st ? atoi(st) : 120, i, rc;
	char step[2048], path[128];

	seed = s ? (unsigned int)strtoul(s, NULL, 10) : (unsigned int)time(NULL) ^ getpid();
	cr_log_info("seed %u (PG_EXEMPT_SEED=%u replays this run)", seed, seed);
	printf("test_exempt: seed %u\n", seed);
	rc = pg("block tcp 6660-6669 --dir out");
	cr_assert_eq(rc, 0, "%s", out);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin, i ? "prog_access" : "prog_uplink");
		prog_fd[i] = bpf_obj_get(path);
		cr_assert_geq(prog_fd[i], 0, "%s: %s", path, strerror(errno));
	}
	M.n = 0;
	for (i = 0; i < steps; i++) {
		struct model_ex x;
		unsigned int r = rnd(100);

		rnd_ex(&x);
		if (r < 30) {
			op_one(true, &x, step, sizeof(step));
		} else if (r < 45) {
			/* mostly one that exists, now and then one that does not */
			if (M.n && rnd(5))
				x = M.e[rnd(M.n)];
			op_one(false, &x, step, sizeof(step));
		} else if (r < 62) {
			op_file(true, &x, step, sizeof(step));
		} else if (r < 72) {
			op_file(false, &x, step, sizeof(step));
		} else if (r < 82) {
			op_apply(0, step, sizeof(step));
		} else if (r < 90) {
			op_apply(1 + rnd(8), step, sizeof(step));
		} else {
			op_refused(step, sizeof(step));
		}
		expect_consistent(step);
		expect_listing(step);
		expect_verdicts(step);
	}
	for (i = 0; i < 2; i++)
		close(prog_fd[i]);
}

/*
 * n addresses (or /plen prefixes) whose table slots (generation 0,
 * subscriber side, inbound, all rules) share one bucket: more than it has
 * slots, so the bucket overflows. IPv4 hosts from 100.64.0.0/10, IPv6
 * from 2001:db8::/32. *bucket: its index.
 */
static void colliders(bool v6, unsigned int plen, int n, struct model_ex *out, __u32 *bucket)
{
	__u32 level = pg_xt_level(v6, plen), want = 0, h;
	__u32 meta = pg_xt_meta(level, pg_exempt_scope(0, PG_SIDE_SUBSCRIBER, PG_DIR_IN),
				PG_EXEMPT_ALL_RULES, 0);
	__u64 i, lim = 1ULL << 26;
	__u8 a[16];
	int got = 0;

	for (i = 1; i < lim && got < n; i++) {
		__u64 hi = 0, lo = 0;

		if (v6) {
			/* 2001:db8:XXXX:XXXX::/64 networks, or hosts 2001:db8::X */
			hi = 0x20010db800000000ULL | (plen == 128 ? 0 : i);
			lo = plen == 128 ? i : 0;
			h = pg_xt_hash_v6(hi, lo, meta);
		} else {
			hi = (100U << 24 | 64U << 16) + (__u32)(i & 0x3fffff);
			h = pg_xt_hash_v4(pg_xt_key_v4(meta, (__u32)hi));
		}
		if (got && h != want)
			continue;
		want = h;
		memset(a, 0, sizeof(a));
		for (int b = 0; b < (v6 ? 8 : 4); b++)
			a[b] = hi >> (8 * ((v6 ? 7 : 3) - b));
		for (int b = 0; v6 && b < 8; b++)
			a[8 + b] = lo >> (8 * (7 - b));
		memset(&out[got], 0, sizeof(out[got]));
		inet_ntop(v6 ? AF_INET6 : AF_INET, a, out[got].cidr, sizeof(out[got].cidr));
		snprintf(out[got].cidr + strlen(out[got].cidr),
			 sizeof(out[got].cidr) - strlen(out[got].cidr), "/%u", plen);
		out[got].side = PG_SIDE_SUBSCRIBER;
		out[got].dir = PG_DIR_IN;
		out[got].proto = PG_EXEMPT_ALL_RULES;
		got++;
	}
	cr_assert_eq(got, n, "only %d %s/%u colliders", got, v6 ? "IPv6" : "IPv4", plen);
	*bucket = v6 ? pg_xt_index_v6(0, want) : pg_xt_index_v4(0, want);
}

/* Is bucket b of a family's table marked overflowed? */
static bool overflowed(bool v6, __u32 b)
{
	char path[128];
	size_t sz = v6 ? ((size_t)PG_GENS << PG_XT_V6_BITS) * sizeof(struct pg_xt_b6)
		       : ((size_t)PG_GENS << PG_XT_V4_BITS) * sizeof(struct pg_xt_b4);
	int fd;
	void *p;
	bool over;

	snprintf(path, sizeof(path), "%s/%s", pin, v6 ? "pg_exempt_t6" : "pg_exempt_t4");
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	p = mmap(NULL, sz, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(p, MAP_FAILED, "%s: %s", path, strerror(errno));
	over = v6 ? ((struct pg_xt_b6 *)p)[b].over : ((struct pg_xt_b4 *)p)[b].over;
	munmap(p, sz);
	close(fd);
	return over;
}

/*
 * Buckets that ran out of slots: the exemptions that did not fit are still
 * decided exactly (the trie behind the mark), before and after removals.
 */
Test(exempt, overflowed_buckets_fall_back_to_the_trie)
{
	static const struct {
		bool v6;
		unsigned int plen;
		int n;
	} sets[] = {{false, 32, PG_XT_V4_SLOTS + 3},
		    {true, 128, PG_XT_V6_SLOTS + 3},
		    {true, 64, PG_XT_V6_SLOTS + 3}};
	static struct model_ex list[16];
	static char text[4096];
	char step[2048];
	__u32 b;
	size_t used;
	int i, s, rc;

	seed = 1;
	rc = pg("block tcp 6660-6669 --dir out");
	cr_assert_eq(rc, 0, "%s", out);
	for (i = 0; i < 2; i++) {
		snprintf(step, sizeof(step), "%s/%s", pin, i ? "prog_access" : "prog_uplink");
		prog_fd[i] = bpf_obj_get(step);
		cr_assert_geq(prog_fd[i], 0, "%s: %s", step, strerror(errno));
	}
	M.n = 0;
	for (s = 0; s < (int)(sizeof(sets) / sizeof(sets[0])); s++) {
		colliders(sets[s].v6, sets[s].plen, sets[s].n, list, &b);
		for (i = 0, used = 0; i < sets[s].n; i++) {
			used += snprintf(text + used, sizeof(text) - used, "%s\n", list[i].cidr);
			model_ex_allow(&M, &list[i]);
		}
		snprintf(step, sizeof(step),
			 "allow --file %s --subscriber (%d %s/%u in one bucket)",
			 write_file("coll", text), sets[s].n, sets[s].v6 ? "IPv6" : "IPv4",
			 sets[s].plen);
		rc = pg("allow --file %s --subscriber", write_file("coll", text));
		cr_assert_eq(rc, 0, "%s: exit %d: %s", step, rc, out);
		cr_assert(overflowed(sets[s].v6, b), "%s: bucket %u not marked overflowed", step,
			  b);
		expect_consistent(step);
		expect_verdicts(step);
		/* the first (in a slot) and the last (behind the mark) go */
		for (i = 0; i < sets[s].n; i += sets[s].n - 1) {
			snprintf(step, sizeof(step), "disallow %s --subscriber", list[i].cidr);
			rc = pg("%s", step);
			cr_assert_eq(rc, 0, "%s: exit %d: %s", step, rc, out);
			model_ex_disallow(&M, &list[i]);
			expect_consistent(step);
			expect_verdicts(step);
		}
	}
	for (i = 0; i < 2; i++)
		close(prog_fd[i]);
}
