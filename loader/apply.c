// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate apply [FILE] [--check] [--dry-run] [--exit-code]`: the file is
 * the whole desired state, written in the CLI's own grammar (one command
 * per line: attach, block, allow, defaults) and checked by the CLI's own
 * parsers. Nothing changes until every line (and every --file it names)
 * is read and checked.
 *
 * The new policy is written into the generation the fast path does not
 * read, then one 4-byte store to pg_ctl.gen switches every packet to it:
 *   1. clean the inactive generation (leftovers of a killed apply)
 *   2. write the new rules and exemptions (static from the file, dynamic
 *      ones carried over) into it
 *   3. attach the interfaces the file adds or changes (a refusal undoes
 *      them and cleans the inactive generation: nothing changed)
 *   4. flip pg_ctl.gen
 *   5. detach the interfaces the file no longer lists
 *   6. after an RCU grace period, clean the old generation
 * A kill -9 at any point leaves the old generation live (before 4) or the
 * new one (after 4), never a mix; the next apply starts with step 1.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/membarrier.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conf.h"
#include "exempt_maps.h"

#define AP_CHUNK 1024 /* trie entries per batch syscall */

/* -v: how long each phase took, on stderr (what docs/bench/report.md quotes). */
static void ap_phase(const char *what)
{
	static double last_wall, last_cpu;
	struct timespec now, cpu;
	double wall, c;

	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	wall = now.tv_sec + now.tv_nsec / 1e9;
	c = cpu.tv_sec + cpu.tv_nsec / 1e9;
	if (pg_verbose && last_wall)
		fprintf(stderr, "portgate: apply: %-28s %8.3f s (cpu %.3f s)\n", what,
			wall - last_wall, c - last_cpu);
	last_wall = wall;
	last_cpu = c;
}
#define AP_MAX_ARGS 64

/* ---- exemptions without a generation ---- */

static void pg_key_set_gen(__u8 *key, __u32 gen)
{
	struct pg_exempt_v4_key *k = (void *)key;

	k->scope = (k->scope & ~(1U << 2)) | ((gen & 1) << 2);
}

static __u32 pg_key_gen(const __u8 *key)
{
	const struct pg_exempt_v4_key *k = (const void *)key;

	return (k->scope >> 2) & 1;
}

static int pg_cxv_reserve(struct pg_cxv *v, size_t more)
{
	struct pg_cx *e;

	if (v->n + more <= v->cap)
		return 0;
	e = realloc(v->e, (v->n + more) * sizeof(*e));
	if (!e)
		return pg_sys_err(-ENOMEM, "cannot hold the exemptions");
	v->e = e;
	v->cap = v->n + more;
	return 0;
}

int pg_cxv_add(struct pg_cxv *v, const struct pg_cx *x)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 256;
		struct pg_cx *e = realloc(v->e, cap * sizeof(*e));

		if (!e)
			return pg_sys_err(-ENOMEM, "cannot hold the exemptions");
		v->e = e;
		v->cap = cap;
	}
	v->e[v->n++] = *x;
	return 0;
}

/* Family, then scope/rule/address, then the prefix length. */
int pg_cx_cmp(const void *pa, const void *pb)
{
	const struct pg_cx *a = pa, *b = pb;
	int c = (int)a->v6 - (int)b->v6;

	if (!c)
		c = memcmp(a->key + 4, b->key + 4, sizeof(a->key) - 4);
	if (!c)
		c = memcmp(a->key, b->key, 4);
	return c;
}

void pg_cxv_sort(struct pg_cxv *v)
{
	size_t i, n = 0;

	if (v->n > 1)
		qsort(v->e, v->n, sizeof(*v->e), pg_cx_cmp);
	for (i = 0; i < v->n; i++)
		if (!n || pg_cx_cmp(&v->e[n - 1], &v->e[i]))
			v->e[n++] = v->e[i];
	v->n = n;
}

static void pg_cxv_free(struct pg_cxv *v)
{
	free(v->e);
	memset(v, 0, sizeof(*v));
}

const char *pg_cx_args(const struct pg_cx *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], rule[24] = "", plen[8] = "";
	struct pg_exempt x;
	__u16 port;

	pg_exempt_decode(e->key, e->v6, &x, &port);
	inet_ntop(x.v6 ? AF_INET6 : AF_INET, x.addr, a, sizeof(a));
	if (x.plen != (x.v6 ? 128 : 32))
		snprintf(plen, sizeof(plen), "/%u", x.plen);
	if (x.proto != PG_EXEMPT_ALL_RULES)
		snprintf(rule, sizeof(rule), " --rule %s/%u", pg_proto_name(x.proto), port);
	/* a prefix that allow takes only with --force is saved with it */
	snprintf(buf, len, "%s%s --%s%s%s%s", a, plen,
		 x.side == PG_SIDE_PEER ? "peer" : "subscriber", rule,
		 x.dir == PG_DIR_OUT ? " --dir out" : "",
		 pg_exempt_broad(x.v6, x.plen) ? " --force" : "");
	return buf;
}

const char *pg_link_args(const struct pg_link *l, char *buf, size_t len)
{
	char ifname[IF_NAMESIZE];

	if (!l->ifindex || !if_indextoname(l->ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "%s", "(gone)");
	snprintf(buf, len, "%s --role %s%s --mode %s", ifname, pg_role_names[l->role],
		 l->outbound_only ? " --outbound-only" : "", l->native ? "native" : "generic");
	return buf;
}

/* Rules: direction, protocol, ports, then every other field. */
int pg_rule_cmp_full(const void *pa, const void *pb)
{
	struct pg_rule a = *(const struct pg_rule *)pa, b = *(const struct pg_rule *)pb;

	if (a.dir != b.dir)
		return a.dir - b.dir;
	if (a.proto != b.proto)
		return a.proto - b.proto;
	if (a.port != b.port)
		return a.port - b.port;
	a.gens = b.gens = 0;
	return memcmp(&a, &b, sizeof(a));
}

/* ---- the tries: read, write and delete in batches ---- */

static size_t pg_ksize(bool v6)
{
	return v6 ? sizeof(struct pg_exempt_v6_key) : sizeof(struct pg_exempt_v4_key);
}

/* Sort one trie entry into the live state. */
static int pg_live_add(struct pg_live *lv, const __u8 *key, bool v6, const struct pg_exempt_val *v)
{
	struct pg_cx x = {.v6 = v6, .flags = v->flags};

	memcpy(x.key, key, pg_ksize(v6));
	if (pg_key_gen(x.key) != lv->gen)
		return pg_cxv_add(&lv->other, &x);
	pg_key_set_gen(x.key, 0);
	return pg_cxv_add(x.flags & PG_EXEMPT_F_DYNAMIC ? &lv->dyn : &lv->stat, &x);
}

/* Every entry of one trie; batched where the kernel can, else one by one. */
static int pg_trie_read(int fd, bool v6, struct pg_live *lv)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t ks = pg_ksize(v6);
	__u8 *keys = malloc(AP_CHUNK * ks), in[sizeof(struct pg_exempt_v6_key)], out[sizeof(in)];
	struct pg_exempt_val *vals = malloc(AP_CHUNK * sizeof(*vals));
	bool first = true, batch = true, last;
	void *prev = NULL;
	__u32 count, i;
	int err = 0;

	if (!keys || !vals) {
		err = pg_sys_err(-ENOMEM, "cannot read the exemptions");
		goto out;
	}
	while (batch) {
		count = AP_CHUNK;
		err = bpf_map_lookup_batch(fd, first ? NULL : in, out, keys, vals, &count, &opts);
		if (err && first && err != -ENOENT) {
			batch = false; /* no batch support: one by one below */
			err = 0;
			break;
		}
		if (err && err != -ENOENT) {
			err = pg_sys_err(err, "cannot read the exemptions");
			goto out;
		}
		last = err == -ENOENT; /* the end: count may still hold entries */
		for (err = 0, i = 0; i < count && !err; i++)
			err = pg_live_add(lv, keys + i * ks, v6, &vals[i]);
		if (err || last || !count)
			goto out;
		memcpy(in, out, ks);
		first = false;
	}
	while (!bpf_map_get_next_key(fd, prev, out)) {
		memcpy(in, out, ks);
		prev = in;
		if (bpf_map_lookup_elem(fd, in, vals))
			continue; /* removed meanwhile (a writer without the lock) */
		err = pg_live_add(lv, in, v6, vals);
		if (err)
			break;
	}
out:
	free(keys);
	free(vals);
	return err;
}

/*
 * Crash points, for the kill -9 test: PORTGATE_APPLY_CRASH_AT=N kills
 * apply with SIGKILL at the N-th point (every batch written or deleted,
 * every step); apply tells how many it passed when it was not reached.
 */
static long pg_crash_left = -1;
static long pg_crash_passed;

static void pg_crash_point(void)
{
	pg_crash_passed++;
	if (pg_crash_left > 0 && --pg_crash_left == 0)
		kill(getpid(), SIGKILL);
}

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's "operation not supported" */
#endif

static void pg_trie_err(int err, bool add, bool v6, size_t n)
{
	if (add && (err == -ENOSPC || err == -E2BIG || err == -ENOMEM))
		pg_err("exemption table full (%zu %s exemptions to write)", n,
		       v6 ? "IPv6" : "IPv4");
	else
		pg_sys_err(err, "cannot %s %s exemptions", add ? "write" : "delete",
			   v6 ? "IPv6" : "IPv4");
}

/*
 * Write (add) or delete the entries of v in generation gen, through the
 * one writer (tools/lib/exempt_maps.c): tries, table slots, summary and
 * kind counts together, in batches where the kernel has them; a delete
 * skips entries already gone. fresh: an addition to a generation just
 * cleaned, or a removal the caller follows with pg_exm_gen_reset().
 */
static int pg_trie_write(struct pg_maps *m, const struct pg_cxv *v, __u32 gen, bool add, bool fresh)
{
	size_t ks = sizeof(struct pg_exempt_v6_key), i, j, failed, total[2] = {};
	__u8 *keys = malloc((v->n + 1) * ks);
	struct pg_exm_ent *e = calloc(v->n + 1, sizeof(*e));
	struct pg_exm x;
	int err;

	if (!keys || !e) {
		err = pg_sys_err(-ENOMEM, "cannot write the exemptions");
		goto out;
	}
	pg_maps_exm(m, &x);
	/* v4 first, then v6: batches of one family */
	for (j = 0; j < 2; j++)
		for (i = 0; i < v->n; i++) {
			const struct pg_cx *c = &v->e[i];
			size_t k = total[0] + total[1];

			if (c->v6 != j)
				continue;
			memcpy(keys + k * ks, c->key, ks);
			pg_key_set_gen(keys + k * ks, gen);
			e[k].key = keys + k * ks;
			e[k].v6 = c->v6;
			e[k].val.addr_prefixlen =
				((const struct pg_exempt_v4_key *)c->key)->prefixlen -
				PG_LPM_META_BITS;
			e[k].val.flags = c->flags;
			total[j]++;
		}
	err = pg_exm_write(&x, e, total[0] + total[1],
			   PG_EXM_BATCH | (add ? PG_EXM_ADD : 0) |
				   (add && fresh ? PG_EXM_FRESH : 0) |
				   (!add && fresh ? PG_EXM_RESET_AFTER : 0),
			   &failed);
	if (err) {
		bool v6 = failed < total[0] + total[1] && e[failed].v6;

		pg_trie_err(err, add, v6, total[v6]);
	}
	pg_crash_point();
out:
	free(keys);
	free(e);
	return err;
}

int pg_live_read(const struct pg_opts *o, struct pg_maps *m, struct pg_live *lv)
{
	int err;

	memset(lv, 0, sizeof(*lv));
	lv->gen = m->gen;
	lv->rules = calloc(PG_MAX_RULES, sizeof(*lv->rules));
	if (!lv->rules)
		return pg_sys_err(-ENOMEM, "cannot read the rules");
	err = pg_gen_rules_read(m, lv->gen, lv->rules, NULL, &lv->nrules) ?:
	      pg_trie_read(m->fd[PG_M_EXEMPT_V4], false, lv) ?:
	      pg_trie_read(m->fd[PG_M_EXEMPT_V6], true, lv) ?:
	      pg_links_list(o, &lv->links, &lv->nlinks);
	if (err)
		return err;
	qsort(lv->rules, lv->nrules, sizeof(*lv->rules), pg_rule_cmp_full);
	pg_cxv_sort(&lv->stat);
	pg_cxv_sort(&lv->dyn);
	return 0;
}

void pg_live_free(struct pg_live *lv)
{
	free(lv->rules);
	pg_cxv_free(&lv->stat);
	pg_cxv_free(&lv->dyn);
	pg_cxv_free(&lv->other);
	free(lv->links);
	memset(lv, 0, sizeof(*lv));
}

/* ---- the configuration file ---- */

static void *ap_grow(void *p, unsigned int n, unsigned int *cap, size_t size)
{
	void *q;

	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 16;
	q = realloc(p, *cap * size);
	if (!q)
		pg_sys_err(-ENOMEM, "cannot read the configuration");
	return q;
}

static int ap_add_rule(struct ap_conf *c, const struct pg_rule *r, unsigned int line)
{
	struct ap_rule *p = ap_grow(c->rules, c->nrules, &c->rcap, sizeof(*p));

	if (!p)
		return -ENOMEM;
	c->rules = p;
	c->rules[c->nrules].r = *r;
	c->rules[c->nrules++].line = line;
	return 0;
}

static const char *ap_where(struct ap_conf *c, unsigned int line)
{
	snprintf(c->where, sizeof(c->where), "%s:%u", c->path, line);
	return c->where;
}

/* One line, split into argv: the command's own parser checks it. */
static int ap_line(struct ap_conf *c, int argc, char **argv, unsigned int line)
{
	const char *cmd = argv[0], *file;
	struct pg_rule r, defs[16];
	struct pg_exempt x;
	unsigned int i, n;

	if (!strcmp(cmd, "block")) {
		return pg_parse_rule(argc, argv, true, &r) ?: ap_add_rule(c, &r, line);
	} else if (!strcmp(cmd, "defaults")) {
		if (argc > 1)
			return pg_usage_err(cmd, "unexpected argument '%s' (expected none)",
					    argv[1]);
		n = pg_rules_default_list(defs, sizeof(defs) / sizeof(defs[0]));
		for (i = 0; i < n; i++)
			if (ap_add_rule(c, &defs[i], line))
				return -ENOMEM;
		return 0;
	} else if (!strcmp(cmd, "attach")) {
		struct ap_att *a = ap_grow(c->att, c->natt, &c->acap, sizeof(*a));

		if (!a)
			return -ENOMEM;
		c->att = a;
		a = &c->att[c->natt];
		memset(a, 0, sizeof(*a));
		if (pg_parse_attach(argc, argv, &a->req))
			return -EINVAL;
		if (strlen(a->req.ifname) >= sizeof(a->ifname))
			return pg_usage_err(cmd, "bad interface name '%s' (longer than %d)",
					    a->req.ifname, IF_NAMESIZE - 1);
		snprintf(a->ifname, sizeof(a->ifname), "%s", a->req.ifname);
		a->req.ifname = NULL; /* points into the line: ifname is the copy */
		a->line = line;
		c->natt++;
		return 0;
	} else if (!strcmp(cmd, "allow")) {
		struct ap_allow *al = ap_grow(c->al, c->nal, &c->alcap, sizeof(*al));

		if (!al)
			return -ENOMEM;
		c->al = al;
		if (pg_parse_exempt(argc, argv, &x, &file))
			return -EINVAL;
		if (x.dynamic)
			return pg_usage_err(
				cmd,
				"option '--dynamic' in a configuration file (expected it only at run time: 'portgate allow ... --dynamic')");
		if (file && !strcmp(file, "-"))
			return pg_usage_err(
				cmd,
				"bad file '-': standard input is not a list in a configuration file (expected a path)");
		al = &c->al[c->nal];
		al->x = x;
		al->line = line;
		al->file = NULL;
		if (file && !(al->file = strdup(file)))
			return pg_sys_err(-ENOMEM, "cannot read the configuration");
		c->nal++;
		return 0;
	}
	return pg_usage_err(
		NULL, "unknown command '%s' (expected attach, block, allow or defaults)", cmd);
}

static int ap_read(struct ap_conf *c)
{
	char line[PG_FILE_MAX_LINE + 1], *s, *argv[AP_MAX_ARGS + 1];
	struct pg_lines *rd;
	unsigned int no = 0;
	size_t len;
	bool nul;
	int argc, r, err;

	err = pg_lines_open(c->path, &rd);
	if (err)
		return err;
	while (!err && (r = pg_lines_next(rd, line, &len, &nul)) != 0) {
		no++;
		pg_err_where = ap_where(c, no);
		if (r == -E2BIG) {
			err = pg_usage_err(
				NULL, "line longer than %d bytes (expected one command per line)",
				PG_FILE_MAX_LINE);
			break;
		}
		if (r == -EFBIG) {
			err = pg_usage_err(NULL,
					   "file larger than %lu MiB (expected a configuration)",
					   PG_FILE_MAX_BYTES >> 20);
			break;
		}
		if (r < 0) {
			err = r;
			pg_err("cannot read '%s': %s", c->path, strerror(-err));
			break;
		}
		if (nul) {
			err = pg_usage_err(NULL, "bad line: a NUL byte (expected a command)");
			break;
		}
		line[strcspn(line, "#")] = '\0';
		argc = 0;
		for (s = strtok(line, " \t\r\n\v\f"); s; s = strtok(NULL, " \t\r\n\v\f")) {
			if (argc == AP_MAX_ARGS) {
				err = pg_usage_err(NULL, "bad line: more than %d words",
						   AP_MAX_ARGS);
				break;
			}
			argv[argc++] = s;
		}
		argv[argc] = NULL;
		if (!err && argc)
			err = ap_line(c, argc, argv, no);
	}
	pg_err_where = NULL;
	pg_lines_close(rd);
	return err;
}

static int ap_rule_line_cmp(const void *a, const void *b)
{
	const struct ap_rule *x = a, *y = b;

	return pg_rule_cmp_full(&x->r, &y->r) ?: (x->line > y->line) - (x->line < y->line);
}

/* Rules: the same rule twice is one; overlapping different ones are an error. */
static int ap_check_rules(struct ap_conf *c)
{
	unsigned int i, n = 0;
	char a[64], b[64];

	if (c->nrules) /* no rules: c->rules is NULL, which qsort may not take */
		qsort(c->rules, c->nrules, sizeof(*c->rules), ap_rule_line_cmp);
	for (i = 0; i < c->nrules; i++) {
		struct ap_rule *p = n ? &c->rules[n - 1] : NULL, *r = &c->rules[i];

		if (p && pg_rule_equal(&p->r, &r->r))
			continue;
		if (p && p->r.dir == r->r.dir && p->r.proto == r->r.proto &&
		    r->r.port <= p->r.port_end) {
			unsigned int late = p->line > r->line ? p->line : r->line;

			pg_err_where = ap_where(c, late);
			pg_usage_err(
				"block",
				"rule '%s' overlaps the rule '%s' of line %u (expected disjoint port ranges)",
				pg_rule_args(late == r->line ? &r->r : &p->r, a, sizeof(a)),
				pg_rule_args(late == r->line ? &p->r : &r->r, b, sizeof(b)),
				late == r->line ? p->line : r->line);
			pg_err_where = NULL;
			return -EINVAL;
		}
		c->rules[n++] = *r;
	}
	c->nrules = n;
	return 0;
}

/* The file's rule covering (dir, proto, port): its first port. */
static int ap_rule_first(const struct ap_conf *c, const struct pg_exempt *x, __u16 *first)
{
	unsigned int i;

	for (i = 0; i < c->nrules; i++) {
		const struct pg_rule *r = &c->rules[i].r;

		if (r->dir == x->dir && r->proto == x->proto && r->port <= x->port &&
		    x->port <= r->port_end) {
			*first = r->port;
			return 0;
		}
	}
	return -ENOENT;
}

static int ap_add_exempt(struct ap_conf *c, const struct pg_exempt *x, __u16 first,
			 unsigned int line)
{
	struct pg_cx e = {.v6 = x->v6, .line = line};
	size_t klen;

	pg_exempt_key(0, x, first, e.key, &klen);
	return pg_cxv_add(&c->ex, &e);
}

/* A relative --file is relative to the configuration file's directory. */
static int ap_list_path(const struct ap_conf *c, const char *file, char *buf, size_t len)
{
	const char *slash = strrchr(c->path, '/');
	int n;

	if (file[0] == '/' || !slash)
		n = snprintf(buf, len, "%s", file);
	else
		n = snprintf(buf, len, "%.*s/%s", (int)(slash - c->path), c->path, file);
	if (n < 0 || (size_t)n >= len)
		return pg_usage_err("allow", "bad file '%s': path too long", file);
	return 0;
}

static int ap_resolve_allows(struct ap_conf *c)
{
	char path[PATH_MAX];
	unsigned int i;
	size_t j;
	int err = 0;

	for (i = 0; i < c->nal && !err; i++) {
		struct ap_allow *al = &c->al[i];
		struct pg_exempt_list l = {};
		__u16 first = 0;

		pg_err_where = ap_where(c, al->line);
		if (al->x.proto != PG_EXEMPT_ALL_RULES && ap_rule_first(c, &al->x, &first)) {
			err = pg_usage_err(
				"allow",
				"no rule of this file covers %s/%u --dir %s (expected a 'block' line for it)",
				pg_proto_name(al->x.proto), al->x.port, pg_dir_name(al->x.dir));
			break;
		}
		if (!al->file) {
			err = ap_add_exempt(c, &al->x, first, al->line);
			continue;
		}
		err = ap_list_path(c, al->file, path, sizeof(path)) ?:
		      pg_exempt_read(path, &al->x, &l) ?: pg_cxv_reserve(&c->ex, l.n);
		for (j = 0; j < l.n && !err; j++) {
			struct pg_exempt x = al->x;

			memcpy(x.addr, l.e[j].addr, sizeof(x.addr));
			x.plen = l.e[j].plen;
			x.v6 = l.e[j].v6;
			err = ap_add_exempt(c, &x, first, al->line);
		}
		free(l.e);
	}
	pg_err_where = NULL;
	pg_cxv_sort(&c->ex);
	return err;
}

static int ap_check_attach(struct ap_conf *c)
{
	unsigned int i, j;

	/*
	 * No packet judged twice, for the file as a whole: uplinks and access
	 * interfaces with their tc egress half do not mix unless a line says
	 * --force. The attaches then skip attach's own check against the live
	 * links: those the file drops go in step 5.
	 */
	for (i = 0; i < c->natt; i++)
		for (j = 0; j < c->natt; j++) {
			const struct pg_attach_req *u = &c->att[i].req, *a = &c->att[j].req;

			if (u->role != PG_ROLE_UPLINK || a->role != PG_ROLE_ACCESS ||
			    a->outbound_only || u->force || a->force)
				continue;
			pg_err_where = ap_where(c, c->att[i > j ? i : j].line);
			pg_usage_err(
				"attach",
				"uplink '%s' (line %u) and access '%s' (line %u) would both judge inbound traffic: no packet is judged twice (expected --outbound-only on the access line, or --force)",
				c->att[i].ifname, c->att[i].line, c->att[j].ifname, c->att[j].line);
			pg_err_where = NULL;
			return -EINVAL;
		}
	for (i = 0; i < c->natt; i++)
		c->att[i].req.file_checked = true;
	for (i = 0; i < c->natt; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(c->att[i].ifname, c->att[j].ifname)) {
				pg_err_where = ap_where(c, c->att[i].line);
				pg_usage_err(
					"attach",
					"'%s' is attached on line %u already (expected one line per interface)",
					c->att[i].ifname, c->att[j].line);
				pg_err_where = NULL;
				return -EINVAL;
			}
	return 0;
}

int pg_conf_read(struct ap_conf *c)
{
	return ap_read(c) ?: ap_check_rules(c) ?: ap_check_attach(c) ?: ap_resolve_allows(c);
}

/* Interfaces exist now: a missing one fails the apply before any change. */
static int ap_resolve_ifaces(struct ap_conf *c)
{
	unsigned int i;

	for (i = 0; i < c->natt; i++) {
		struct ap_att *a = &c->att[i];

		a->req.ifname = a->ifname;
		a->ifindex = if_nametoindex(a->ifname);
		if (!a->ifindex) {
			pg_err_where = ap_where(c, a->line);
			pg_err("unknown interface '%s' (expected an existing network interface); nothing changed",
			       a->ifname);
			pg_err_where = NULL;
			return -ENODEV;
		}
	}
	return 0;
}

void pg_conf_free(struct ap_conf *c)
{
	unsigned int i;

	for (i = 0; i < c->nal; i++)
		free(c->al[i].file);
	free(c->al);
	free(c->rules);
	free(c->att);
	pg_cxv_free(&c->ex);
}

/* ---- the difference ---- */

enum ap_att_op { AP_ATT_KEEP, AP_ATT_NEW, AP_ATT_ROLE, AP_ATT_MODE };

struct ap_diff {
	unsigned int rules_add, rules_del;
	size_t ex_add, ex_del;
	unsigned int if_add, if_del, if_chg;
	enum ap_att_op *att_op; /* per file attachment */
	int *att_link;		/* per file attachment: its live link, or -1 */
	bool *link_del;		/* per live link: not in the file */
	bool changed;
};

static bool ap_link_matches(const struct pg_link *l, const struct ap_att *a)
{
	return l->ifindex && (int)l->ifindex == a->ifindex;
}

/*
 * Compare, and with out set print each change as a line of the file's
 * grammar ("+ block tcp 2526", "- allow 192.0.2.0/24 --peer").
 */
static int ap_diff(const struct ap_conf *c, const struct pg_live *lv, struct ap_diff *d,
		   struct pg_json *j, FILE *out)
{
	char buf[256], line[300];
	unsigned int i, k;
	size_t a, b;

	memset(d, 0, sizeof(*d));
	d->att_op = calloc(c->natt + 1, sizeof(*d->att_op));
	d->att_link = calloc(c->natt + 1, sizeof(*d->att_link));
	d->link_del = calloc(lv->nlinks + 1, sizeof(*d->link_del));
	if (!d->att_op || !d->att_link || !d->link_del)
		return pg_sys_err(-ENOMEM, "cannot compare");

#define AP_EMIT(sign, fmt, ...)                                             \
	do {                                                                \
		snprintf(line, sizeof(line), "%c " fmt, sign, __VA_ARGS__); \
		if (j)                                                      \
			pg_json_str(j, NULL, line);                         \
		else if (out)                                               \
			fprintf(out, "%s\n", line);                         \
	} while (0)

	/* interfaces: removed, then added or changed */
	for (k = 0; k < lv->nlinks; k++) {
		d->link_del[k] = true;
		for (i = 0; i < c->natt; i++)
			if (ap_link_matches(&lv->links[k], &c->att[i]))
				d->link_del[k] = false;
	}
	for (i = 0; i < c->natt; i++) {
		const struct ap_att *at = &c->att[i];

		d->att_link[i] = -1;
		for (k = 0; k < lv->nlinks; k++)
			if (ap_link_matches(&lv->links[k], at))
				d->att_link[i] = k;
		if (d->att_link[i] < 0)
			d->att_op[i] = AP_ATT_NEW;
		else if (at->req.mode_given && lv->links[d->att_link[i]].native != at->req.native)
			d->att_op[i] = AP_ATT_MODE;
		else if (lv->links[d->att_link[i]].role != at->req.role ||
			 lv->links[d->att_link[i]].outbound_only != at->req.outbound_only)
			d->att_op[i] = AP_ATT_ROLE;
		else
			d->att_op[i] = AP_ATT_KEEP;
		if (d->att_op[i] != AP_ATT_NEW && d->att_op[i] != AP_ATT_KEEP)
			AP_EMIT('-', "attach %s",
				pg_link_args(&lv->links[d->att_link[i]], buf, sizeof(buf)));
	}
	for (k = 0; k < lv->nlinks; k++)
		if (d->link_del[k]) {
			AP_EMIT('-', "attach %s", pg_link_args(&lv->links[k], buf, sizeof(buf)));
			d->if_del++;
		}
	for (i = 0; i < c->natt; i++) {
		const struct ap_att *at = &c->att[i];
		bool native = at->req.native;

		if (d->att_op[i] == AP_ATT_KEEP)
			continue;
		if (d->att_op[i] == AP_ATT_ROLE)
			native = lv->links[d->att_link[i]].native;
		AP_EMIT('+', "attach %s --role %s%s --mode %s", at->ifname,
			pg_role_names[at->req.role],
			at->req.outbound_only ? " --outbound-only" : "",
			native ? "native" : "generic");
		if (d->att_op[i] == AP_ATT_NEW)
			d->if_add++;
		else
			d->if_chg++;
	}

	/* rules: both lists sorted by pg_rule_cmp_full */
	for (a = 0, b = 0; a < lv->nrules || b < c->nrules;) {
		int cmp = a == lv->nrules  ? 1
			  : b == c->nrules ? -1
					   : pg_rule_cmp_full(&lv->rules[a], &c->rules[b].r);

		if (cmp < 0) {
			AP_EMIT('-', "block %s", pg_rule_args(&lv->rules[a++], buf, sizeof(buf)));
			d->rules_del++;
		} else if (cmp > 0) {
			AP_EMIT('+', "block %s", pg_rule_args(&c->rules[b++].r, buf, sizeof(buf)));
			d->rules_add++;
		} else {
			a++, b++;
		}
	}

	/* static exemptions: both sorted by pg_cx_cmp */
	for (a = 0, b = 0; a < lv->stat.n || b < c->ex.n;) {
		int cmp = a == lv->stat.n ? 1
			  : b == c->ex.n  ? -1
					  : pg_cx_cmp(&lv->stat.e[a], &c->ex.e[b]);

		if (cmp < 0) {
			AP_EMIT('-', "allow %s", pg_cx_args(&lv->stat.e[a++], buf, sizeof(buf)));
			d->ex_del++;
		} else if (cmp > 0) {
			AP_EMIT('+', "allow %s", pg_cx_args(&c->ex.e[b++], buf, sizeof(buf)));
			d->ex_add++;
		} else {
			a++, b++;
		}
	}
#undef AP_EMIT
	d->changed = d->rules_add || d->rules_del || d->ex_add || d->ex_del || d->if_add ||
		     d->if_del || d->if_chg;
	return 0;
}

static void ap_diff_free(struct ap_diff *d)
{
	free(d->att_op);
	free(d->att_link);
	free(d->link_del);
}

/* ---- applying ---- */

/*
 * Wait until no packet still runs with the generation read before the
 * flip: XDP runs inside an RCU read-side section, and MEMBARRIER_CMD_GLOBAL
 * is synchronize_rcu(). Kernels without it (nohz_full): a generous pause.
 */
static void ap_grace(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(100000);
}

/*
 * Empty generation gen: rules, port half, trie entries
 * (those in keys), then its summary, reference and kind counts.
 */
static int ap_clean(struct pg_maps *m, __u32 gen, const struct pg_cxv *keys)
{
	struct pg_exm x;
	bool dirty;
	int err;

	err = pg_gen_rules_clear(m, gen, &dirty);
	pg_crash_point();
	if (!err)
		err = pg_trie_write(m, keys, gen, false, true);
	pg_maps_exm(m, &x);
	if (!err) {
		err = pg_exm_gen_reset(&x, gen);
		if (err)
			pg_sys_err(err, "cannot reset the exemption summary of generation %u", gen);
	}
	pg_crash_point();
	return err;
}

/* The new generation's exemptions: the file's, and the dynamic ones it does not list. */
static int ap_merge_exempts(const struct pg_cxv *stat, const struct pg_cxv *dyn, struct pg_cxv *out)
{
	size_t a = 0, b = 0;
	int err = 0;

	out->cap = stat->n + dyn->n + 1;
	out->e = malloc(out->cap * sizeof(*out->e));
	if (!out->e)
		return pg_sys_err(-ENOMEM, "cannot hold the exemptions");
	while (!err && (a < stat->n || b < dyn->n)) {
		int cmp = a == stat->n ? 1 : b == dyn->n ? -1 : pg_cx_cmp(&stat->e[a], &dyn->e[b]);

		if (cmp <= 0) {
			struct pg_cx x = stat->e[a++];

			x.flags = 0; /* listed in the file: static */
			err = pg_cxv_add(out, &x);
			b += !cmp;
		} else {
			err = pg_cxv_add(out, &dyn->e[b++]);
		}
	}
	return err;
}

/* The file's rules and the exemptions all into generation gen (empty). */
static int ap_write_gen(struct pg_maps *m, const struct ap_conf *c, const struct pg_cxv *all,
			__u32 gen)
{
	struct pg_rule *rules;
	unsigned int i, reused;
	size_t fam[2] = {};
	int err;

	for (i = 0; i < all->n; i++)
		fam[all->e[i].v6]++;
	if (fam[0] > PG_MAX_EXEMPT || fam[1] > PG_MAX_EXEMPT) {
		pg_err("exemption table full: %zu IPv4 and %zu IPv6 exemptions (file and dynamic), at most %u per family",
		       fam[0], fam[1], PG_MAX_EXEMPT);
		return -ENOSPC;
	}
	rules = calloc(c->nrules + 1, sizeof(*rules));
	if (!rules)
		return pg_sys_err(-ENOMEM, "cannot write the rules");
	for (i = 0; i < c->nrules; i++)
		rules[i] = c->rules[i].r;
	err = pg_gen_rules_write(m, gen, rules, c->nrules, &reused);
	free(rules);
	pg_crash_point();
	if (!err)
		err = pg_trie_write(m, all, gen, true, true);
	pg_crash_point();
	return err;
}

/* The live generation's keys (static and dynamic), to clean it once it is old. */
static int ap_live_keys(const struct pg_live *lv, struct pg_cxv *old)
{
	old->e = malloc((lv->stat.n + lv->dyn.n + 1) * sizeof(*old->e));
	if (!old->e)
		return pg_sys_err(-ENOMEM, "cannot clean the old policy");
	/* either may be empty, its pointer NULL: memcpy may not take that */
	if (lv->stat.n)
		memcpy(old->e, lv->stat.e, lv->stat.n * sizeof(*old->e));
	if (lv->dyn.n)
		memcpy(old->e + lv->stat.n, lv->dyn.e, lv->dyn.n * sizeof(*old->e));
	old->n = old->cap = lv->stat.n + lv->dyn.n;
	return 0;
}

struct ap_undo {
	int idx; /* file attachment */
	enum ap_att_op op;
};

static int ap_mapped_flip(struct pg_maps *m, __u32 gen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct pg_ctl *ctl;

	ctl = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd[PG_M_CTL], 0);
	if (ctl == MAP_FAILED)
		return pg_sys_err(-errno, "cannot map '%s'", pg_map_names[PG_M_CTL]);
	/* the one store that switches every packet to the new policy */
	__atomic_store_n(&ctl->gen, gen, __ATOMIC_RELEASE);
	munmap(ctl, page);
	return 0;
}

/* Put a live link back as it was (undo of step 3). */
static void ap_link_restore(const struct pg_opts *o, const struct pg_link *l, const char *ifname)
{
	struct pg_attach_req r = {.ifname = ifname,
				  .role = l->role == PG_ROLE_UNKNOWN ? PG_ROLE_UPLINK : l->role,
				  .native = l->native,
				  .outbound_only = l->outbound_only,
				  .file_checked = true};

	if (pg_attach_locked(o, &r, l->ifindex))
		pg_err("could not restore '%s' as %s", ifname, pg_role_names[r.role]);
}

static int ap_attach_all(const struct pg_opts *o, const struct ap_conf *c, const struct pg_live *lv,
			 const struct ap_diff *d)
{
	struct ap_undo *undo = calloc(c->natt + 1, sizeof(*undo));
	unsigned int i, nu = 0;
	int err = 0;

	if (!undo)
		return pg_sys_err(-ENOMEM, "cannot attach");
	/* the role programs must be pinned: a state created by 'block' has them */
	if (!pg_pinned(o, PG_PIN_PROG_UPLINK) || !pg_pinned(o, PG_PIN_PROG_ACCESS) ||
	    !pg_pinned(o, PG_PIN_PROG_ACCESS_IN))
		err = pg_state_create_locked(o);
	for (i = 0; i < c->natt && !err; i++) {
		const struct ap_att *at = &c->att[i];
		struct pg_attach_req r = at->req;

		if (d->att_op[i] == AP_ATT_KEEP)
			continue;
		if (d->att_op[i] == AP_ATT_MODE)
			err = pg_link_remove(o, lv->links[d->att_link[i]].pin);
		if (d->att_op[i] == AP_ATT_ROLE)
			r.mode_given = false;
		if (!err)
			err = pg_attach_locked(o, &r, at->ifindex);
		if (err) {
			pg_err_where = NULL;
			if (d->att_op[i] == AP_ATT_MODE)
				ap_link_restore(o, &lv->links[d->att_link[i]], at->ifname);
			break;
		}
		undo[nu].idx = i;
		undo[nu++].op = d->att_op[i];
		pg_crash_point();
	}
	while (err && nu--) {
		const struct ap_att *at = &c->att[undo[nu].idx];

		if (undo[nu].op != AP_ATT_ROLE)
			pg_link_remove_ifindex(o, at->ifindex);
		if (undo[nu].op != AP_ATT_NEW)
			ap_link_restore(o, &lv->links[d->att_link[undo[nu].idx]], at->ifname);
	}
	free(undo);
	return err;
}

/* Steps 1-6 (see the top of the file). */
static int ap_commit(const struct pg_opts *o, struct pg_maps *m, const struct ap_conf *c,
		     struct pg_live *lv, const struct ap_diff *d)
{
	__u32 live = lv->gen, next = !live;
	struct pg_cxv all = {}, old = {};
	unsigned int i;
	int err;

	/* 1: leftovers of a killed apply; nothing reads them, but a packet might still */
	if (lv->other.n)
		ap_grace();
	err = ap_clean(m, next, &lv->other);
	ap_phase("1 clean leftovers");
	if (err)
		goto fail;

	/* 2: the new policy into the inactive generation */
	err = ap_merge_exempts(&c->ex, &lv->dyn, &all);
	if (err)
		goto fail;
	err = ap_write_gen(m, c, &all, next);
	ap_phase("2 write the new generation");
	if (err)
		goto fail_clean;

	/* 3: interfaces the file adds or changes; a refusal undoes them */
	err = ap_attach_all(o, c, lv, d);
	ap_phase("3 attach");
	if (err)
		goto fail_clean;

	/* 4: every packet from now on sees the new policy */
	err = ap_mapped_flip(m, next);
	if (err)
		goto fail_clean;
	pg_crash_point();
	ap_phase("4 flip");

	/* 5: interfaces the file no longer lists */
	for (i = 0; i < lv->nlinks; i++)
		if (d->link_del[i]) {
			if (pg_link_remove(o, lv->links[i].pin))
				err = -EIO;
			pg_crash_point();
		}

	ap_phase("5 detach");

	/* 6: the old generation, once no packet reads it */
	ap_grace();
	ap_phase("6 grace period");
	err = ap_live_keys(lv, &old);
	if (err)
		goto out;
	if (ap_clean(m, live, &old))
		err = -EIO; /* the new policy is live; the next apply cleans up */
	ap_phase("6 clean the old generation");
	goto out;

fail_clean:
	if (ap_clean(m, next, &all))
		pg_err("could not clean the unused generation (the next apply does)");
fail:
	pg_err("%s: nothing changed (the live policy is the old one)", c->path);
out:
	pg_cxv_free(&all);
	pg_cxv_free(&old);
	return err;
}

/*
 * The file's policy as the live generation of maps private to the caller
 * (test --config, the fuzzer): written into the other generation, which
 * then becomes live, and the old one emptied. No interface is touched.
 */
int pg_conf_load(struct pg_maps *m, const struct ap_conf *c)
{
	struct pg_live lv = {.gen = m->gen};
	struct pg_cxv old = {};
	__u32 next = !m->gen;
	int err;

	err = pg_trie_read(m->fd[PG_M_EXEMPT_V4], false, &lv)
		      ?: pg_trie_read(m->fd[PG_M_EXEMPT_V6], true, &lv)
		      ?: ap_clean(m, next, &lv.other) ?: ap_write_gen(m, c, &c->ex, next)
		      ?: ap_mapped_flip(m, next);
	if (!err) {
		m->gen = next;
		err = ap_live_keys(&lv, &old) ?: ap_clean(m, !next, &old);
	}
	pg_cxv_free(&old);
	pg_live_free(&lv);
	return err;
}

static void ap_summary(const struct ap_conf *c, const struct ap_diff *d, const struct pg_opts *o,
		       bool dry_run, struct pg_json *j)
{
	if (o->json) {
		pg_json_str(j, "file", c->path);
		pg_json_bool(j, "changed", d->changed);
		pg_json_bool(j, "dry_run", dry_run);
		pg_json_obj(j, "rules");
		pg_json_u64(j, "added", d->rules_add);
		pg_json_u64(j, "removed", d->rules_del);
		pg_json_end_obj(j);
		pg_json_obj(j, "exemptions");
		pg_json_u64(j, "added", d->ex_add);
		pg_json_u64(j, "removed", d->ex_del);
		pg_json_end_obj(j);
		pg_json_obj(j, "interfaces");
		pg_json_u64(j, "added", d->if_add);
		pg_json_u64(j, "removed", d->if_del);
		pg_json_u64(j, "changed", d->if_chg);
		pg_json_end_obj(j);
		return;
	}
	if (!d->changed) {
		printf("no changes\n");
		return;
	}
	printf("%s: rules +%u -%u, exemptions +%zu -%zu, interfaces +%u -%u ~%u\n",
	       dry_run ? "would change" : "applied", d->rules_add, d->rules_del, d->ex_add,
	       d->ex_del, d->if_add, d->if_del, d->if_chg);
}

/* Nothing pinned: compare with the state apply would create (the defaults). */
static void ap_live_defaults(struct pg_live *lv)
{
	memset(lv, 0, sizeof(*lv));
	lv->rules = calloc(16, sizeof(*lv->rules));
	if (!lv->rules)
		return;
	lv->nrules = pg_rules_default_list(lv->rules, 16);
	qsort(lv->rules, lv->nrules, sizeof(*lv->rules), pg_rule_cmp_full);
}

int cmd_apply(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	bool check = false, dry_run = false, exit_code = false, loaded;
	struct ap_conf c = {.path = PG_DEFAULT_CONF};
	const char *opt, *val, *file = NULL, *s;
	struct pg_maps m = {.lock_fd = -1};
	struct pg_live lv = {};
	struct ap_diff d = {};
	struct pg_json j;
	int err, rc = PG_EXIT_RUNTIME;

	while (pg_args_next(&a, &opt, &val)) {
		if (!opt && !file)
			file = val;
		else if (opt && !strcmp(opt, "--check") && !val)
			check = true;
		else if (opt && !strcmp(opt, "--dry-run") && !val)
			dry_run = true;
		else if (opt && !strcmp(opt, "--exit-code") && !val)
			exit_code = true;
		else
			return pg_usage_err(
				       a.cmd,
				       "unexpected argument '%s' (expected [FILE] [--check] [--dry-run] [--exit-code])",
				       opt ?: val),
			       PG_EXIT_USAGE;
	}
	if (file)
		c.path = file;
	ap_phase("start");
	s = getenv("PORTGATE_APPLY_CRASH_AT");
	if (s)
		pg_crash_left = strtol(s, NULL, 10);

	/* read and check everything before taking the lock */
	err = pg_conf_read(&c);
	if (err) {
		rc = pg_exit_code(err);
		goto out;
	}
	ap_phase("read and check the file");
	err = ap_resolve_ifaces(&c);
	if (err)
		goto out;
	if (check) {
		if (o->json) {
			pg_json_init(&j, stdout);
			pg_json_obj(&j, NULL);
			pg_json_str(&j, "file", c.path);
			pg_json_bool(&j, "valid", true);
			pg_json_u64(&j, "rules", c.nrules);
			pg_json_u64(&j, "exemptions", c.ex.n);
			pg_json_u64(&j, "interfaces", c.natt);
			pg_json_end_obj(&j);
			pg_json_done(&j);
		} else {
			printf("%s: ok (%u rules, %zu exemptions, %u interfaces)\n", c.path,
			       c.nrules, c.ex.n, c.natt);
		}
		rc = PG_EXIT_OK;
		goto out;
	}

	loaded = pg_pinned(o, pg_map_names[PG_M_PORTS]);
	if (dry_run && !loaded) {
		ap_live_defaults(&lv);
	} else {
		err = pg_maps_open(o, PG_MAPS_LOCK | (dry_run ? 0 : PG_OPEN_CREATE), &m);
		if (err)
			goto out;
		ap_phase("lock and open");
		err = pg_live_read(o, &m, &lv);
		ap_phase("read the live state");
		if (err)
			goto out_close;
	}

	pg_json_init(&j, stdout);
	if (o->json) {
		pg_json_obj(&j, NULL);
		if (dry_run)
			pg_json_arr(&j, "changes");
	}
	err = ap_diff(&c, &lv, &d, o->json && dry_run ? &j : NULL, dry_run ? stdout : NULL);
	if (o->json && dry_run)
		pg_json_end_arr(&j);
	ap_phase("compare");
	if (err)
		goto out_close;
	if (!dry_run && d.changed) {
		err = ap_commit(o, &m, &c, &lv, &d);
	} else if (!dry_run) {
		/* no change; a killed apply may have left the other generation dirty */
		if (lv.other.n)
			ap_grace();
		err = ap_clean(&m, !lv.gen, &lv.other);
	}
	if (err) {
		if (o->json)
			pg_json_end_obj(&j);
		goto out_close;
	}
	ap_summary(&c, &d, o, dry_run, &j);
	if (o->json) {
		pg_json_end_obj(&j);
		pg_json_done(&j);
	}
	rc = exit_code && d.changed ? PG_EXIT_CHANGED : PG_EXIT_OK;
out_close:
	if (err && m.created && !lv.nlinks) {
		unsigned int n = 0;
		struct pg_link *l = NULL;

		/* an apply that created the state and failed leaves nothing behind */
		if (!pg_links_list(o, &l, &n) && !n)
			pg_state_remove(o);
		free(l);
	}
	pg_maps_close(&m);
out:
	if (pg_crash_left > 0)
		pg_err("apply: %ld crash points", pg_crash_passed);
	ap_diff_free(&d);
	pg_live_free(&lv);
	pg_conf_free(&c);
	return rc;
}
