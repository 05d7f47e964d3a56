// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Rules: block/unblock/rules/defaults. pg_rules holds the rule as written,
 * pg_ports its expansion (one entry per port). Both maps are mmapped, so a
 * range as wide as 1-65535 is a loop of stores, and each entry is written
 * with one 8-byte store so the fast path never reads half an entry.
 *
 * Write order, so the fast path never sees a half rule: add = rule slot,
 * its counters reset, then the port entries; remove = port entries first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "portgate.skel.h"

/* The default policy: the only place it is written down. */
static const struct pg_rule pg_default_rules[] = {
	{.dir = PG_DIR_IN, .proto = PG_PROTO_TCP, .port = 25, .port_end = 25},
	{.dir = PG_DIR_IN, .proto = PG_PROTO_TCP, .port = 465, .port_end = 465},
	{.dir = PG_DIR_IN, .proto = PG_PROTO_TCP, .port = 587, .port_end = 587},
	{.dir = PG_DIR_IN, .proto = PG_PROTO_TCP, .port = 2525, .port_end = 2525},
	{.dir = PG_DIR_IN, .proto = PG_PROTO_UDP, .port = 161, .port_end = 161},
};

#define PG_PORTS_SIZE ((size_t)PG_PORTS_ENTRIES * sizeof(struct pg_port_entry))
#define PG_RULES_SIZE ((size_t)(PG_MAX_RULES + 1) * sizeof(struct pg_rule))

/* Rule slots (shared by the generations) and the port table of both. */
struct pg_tables {
	struct pg_port_entry *all_ports;
	struct pg_rule *rules;
	__u32 gen; /* the generation this command reads and writes */
};

static struct pg_port_entry *pg_tport(struct pg_tables *t, __u32 dir, __u32 proto, __u32 port)
{
	return &t->all_ports[pg_port_index(t->gen, dir, proto, port)];
}

static bool pg_rule_live(const struct pg_tables *t, __u32 id)
{
	return t->rules[id].action != PG_ACTION_NONE && (t->rules[id].gens & (1U << t->gen));
}

static void pg_tables_unmap(struct pg_tables *t)
{
	if (t->all_ports)
		munmap(t->all_ports, PG_PORTS_SIZE);
	if (t->rules)
		munmap(t->rules, PG_RULES_SIZE);
	t->all_ports = NULL;
	t->rules = NULL;
}

static int pg_tables_map(struct pg_maps *m, bool write, struct pg_tables *t)
{
	int prot = PROT_READ | (write ? PROT_WRITE : 0);
	void *p;

	t->all_ports = NULL;
	t->rules = NULL;
	t->gen = m->gen;
	p = mmap(NULL, PG_PORTS_SIZE, prot, MAP_SHARED, m->fd[PG_M_PORTS], 0);
	if (p == MAP_FAILED)
		return pg_sys_err(-errno, "cannot map %s", pg_map_names[PG_M_PORTS]);
	t->all_ports = p;
	p = mmap(NULL, PG_RULES_SIZE, prot, MAP_SHARED, m->fd[PG_M_RULES], 0);
	if (p == MAP_FAILED) {
		int err = pg_sys_err(-errno, "cannot map %s", pg_map_names[PG_M_RULES]);

		pg_tables_unmap(t);
		return err;
	}
	t->rules = p;
	return 0;
}

/* One 8-byte store: the fast path reads rule_id and action of one entry. */
static void pg_store8(void *dst, const void *src)
{
	__u64 v;

	memcpy(&v, src, sizeof(v));
	__atomic_store_n((__u64 *)dst, v, __ATOMIC_RELEASE);
}

_Static_assert(sizeof(struct pg_port_entry) == 8, "pg_port_entry is one 8-byte store");
_Static_assert(sizeof(struct pg_rule) == 8, "pg_rule is one 8-byte store");

static void pg_set_ports(struct pg_tables *t, const struct pg_rule *r, __u16 id)
{
	struct pg_port_entry e = {.rule_id = id,
				  .rule_port = id ? r->port : 0,
				  .action = id ? r->action : PG_ACTION_NONE,
				  .flags = id ? r->flags : 0};
	__u32 p;

	for (p = r->port; p <= r->port_end; p++)
		pg_store8(pg_tport(t, r->dir, r->proto, p), &e);
}

static const char *pg_rule_str(const struct pg_rule *r, char *buf, size_t len)
{
	if (r->port == r->port_end)
		snprintf(buf, len, "%s %u --dir %s", pg_proto_name(r->proto), r->port,
			 pg_dir_name(r->dir));
	else
		snprintf(buf, len, "%s %u-%u --dir %s", pg_proto_name(r->proto), r->port,
			 r->port_end, pg_dir_name(r->dir));
	return buf;
}

static bool pg_rule_same(const struct pg_rule *a, const struct pg_rule *b)
{
	return a->dir == b->dir && a->proto == b->proto && a->port == b->port &&
	       a->port_end == b->port_end;
}

int pg_rule_stats_reset(int fd, __u32 id)
{
	int ncpus = libbpf_num_possible_cpus();
	struct pg_counter *zero;
	int err = 0;

	if (ncpus < 0)
		return ncpus;
	zero = calloc(ncpus, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &id, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

/*
 * Test hook: PORTGATE_RACE_DELAY_US widens the read-modify-write window so
 * the concurrency test fails reliably if the pin-directory lock is broken.
 */
static void pg_race_window(void)
{
	const char *s = getenv("PORTGATE_RACE_DELAY_US");

	if (s)
		usleep(strtoul(s, NULL, 10));
}

/*
 * The slot holding exactly r in this generation, 0 if none. Found by its
 * slot, not its port entries: a block or unblock killed half-way leaves
 * a rule with only some of them, and running it again must finish it.
 */
static __u32 pg_rule_find(const struct pg_tables *t, const struct pg_rule *r)
{
	__u32 id;

	for (id = 1; id <= PG_MAX_RULES; id++)
		if (pg_rule_live(t, id) && pg_rule_same(&t->rules[id], r))
			return id;
	return 0;
}

/* Add r, or change the action of the identical rule; refuse overlaps. */
static int pg_rule_add(struct pg_maps *m, struct pg_tables *t, const struct pg_rule *r)
{
	const struct pg_port_entry *e;
	struct pg_rule nr;
	char a[64], b[64];
	__u32 p, id = pg_rule_find(t, r);
	int err;

	if (id) {
		/* the identical rule: its action, and every port entry (re)written */
		nr = t->rules[id];
		nr.action = r->action;
		nr.flags = r->flags;
		pg_store8(&t->rules[id], &nr);
		pg_set_ports(t, &nr, id);
		return 0;
	}
	for (p = r->port; p <= r->port_end; p++) {
		e = pg_tport(t, r->dir, r->proto, p);
		if (e->rule_id) {
			pg_err("rule %s overlaps the existing rule %s (expected a disjoint range, or unblock it first)",
			       pg_rule_str(r, a, sizeof(a)),
			       pg_rule_str(&t->rules[e->rule_id], b, sizeof(b)));
			return -EEXIST;
		}
	}
	for (id = 1; id <= PG_MAX_RULES; id++)
		if (t->rules[id].action == PG_ACTION_NONE)
			break;
	pg_race_window();
	if (id > PG_MAX_RULES) {
		pg_err("no free rule slot for %s (all %u in use)", pg_rule_str(r, a, sizeof(a)),
		       PG_MAX_RULES);
		return -ENOSPC;
	}
	nr = *r;
	nr.gens = 1U << t->gen;
	pg_store8(&t->rules[id], &nr);
	err = pg_rule_stats_reset(m->fd[PG_M_RULE_STATS], id);
	if (err) {
		struct pg_rule none = {};

		pg_store8(&t->rules[id], &none);
		return pg_sys_err(err, "cannot reset counters of rule %u", id);
	}
	pg_set_ports(t, r, id);
	return 0;
}

/* Out of this generation; the slot is free once no generation holds it. */
static void pg_rule_del(struct pg_tables *t, __u16 id)
{
	struct pg_rule r = t->rules[id];

	pg_set_ports(t, &r, 0);
	r.gens &= ~(1U << t->gen);
	if (!r.gens)
		memset(&r, 0, sizeof(r));
	pg_store8(&t->rules[id], &r);
}

int pg_rules_defaults_maps(struct pg_maps *m)
{
	struct pg_tables t;
	size_t i;
	__u32 id;
	int err;

	err = pg_tables_map(m, true, &t);
	if (err)
		return err;
	/*
	 * Keep the default rules that exist (pg_rule_add only fixes their
	 * action): deleting and re-adding them would open a window in which
	 * inbound SMTP or SNMP passes.
	 */
	for (id = 1; id <= PG_MAX_RULES; id++) {
		bool keep = false;

		if (!pg_rule_live(&t, id))
			continue;
		for (i = 0; i < sizeof(pg_default_rules) / sizeof(pg_default_rules[0]); i++)
			keep |= pg_rule_same(&t.rules[id], &pg_default_rules[i]);
		if (!keep)
			pg_rule_del(&t, id);
	}
	for (i = 0; i < sizeof(pg_default_rules) / sizeof(pg_default_rules[0]); i++) {
		struct pg_rule r = pg_default_rules[i];

		r.action = PG_ACTION_DROP;
		err = pg_rule_add(m, &t, &r);
		if (err)
			break;
	}
	pg_tables_unmap(&t);
	return err;
}

int pg_rules_defaults(struct pg_state *st)
{
	struct pg_maps m = {.lock_fd = -1};
	int i, err;

	if (!st->skel)
		return -EINVAL;
	for (i = 0; i < PG_M_COUNT; i++) {
		struct bpf_map *map = pg_skel_map(st->skel->obj, i);

		m.fd[i] = map ? bpf_map__fd(map) : -1;
	}
	err = pg_gen_read(m.fd[PG_M_CTL], &m.gen);
	return err ?: pg_rules_defaults_maps(&m);
}

int pg_rules_count(struct pg_maps *m, unsigned int *n)
{
	struct pg_tables t;
	__u32 id;
	int err;

	err = pg_tables_map(m, false, &t);
	if (err)
		return err;
	*n = 0;
	for (id = 1; id <= PG_MAX_RULES; id++)
		*n += pg_rule_live(&t, id);
	pg_tables_unmap(&t);
	return 0;
}

int pg_rule_lookup(struct pg_maps *m, __u8 dir, __u8 proto, __u16 port, __u16 *first, __u16 *last)
{
	__u32 idx = pg_port_index(m->gen, dir, proto, port);
	struct pg_port_entry e;
	struct pg_rule r;
	__u32 id;

	if (bpf_map_lookup_elem(m->fd[PG_M_PORTS], &idx, &e))
		return pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_PORTS]);
	if (!e.rule_id)
		return -ENOENT;
	id = e.rule_id;
	if (bpf_map_lookup_elem(m->fd[PG_M_RULES], &id, &r))
		return pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_RULES]);
	*first = r.port;
	*last = r.port_end;
	return 0;
}

/* PROTO PORT[-PORT] [--dir in|out] [--monitor]: parsed fully before any change. */
int pg_parse_rule(int argc, char **argv, bool allow_monitor, struct pg_rule *r)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val;
	int npos = 0;

	memset(r, 0, sizeof(*r));
	r->dir = PG_DIR_IN;
	r->action = PG_ACTION_DROP;
	while (pg_args_next(&a, &opt, &val)) {
		if (!opt) {
			if (npos == 0 && pg_parse_proto(val, &r->proto))
				return -EINVAL;
			if (npos == 1 && pg_parse_ports(val, &r->port, &r->port_end))
				return -EINVAL;
			if (npos >= 2)
				return pg_usage_err(a.cmd, "unexpected argument '%s' (expected %s)",
						    val, "PROTO PORT[-PORT]");
			npos++;
		} else if (!strcmp(opt, "--dir")) {
			if (pg_args_value(&a, opt, &val) || pg_parse_dir(val, &r->dir))
				return -EINVAL;
		} else if (allow_monitor && !strcmp(opt, "--monitor") && !val) {
			r->action = PG_ACTION_MONITOR;
		} else if (allow_monitor && !strcmp(opt, "--all-segments") && !val) {
			r->flags |= PG_RULE_F_ALL_SEGMENTS;
		} else {
			return pg_usage_err(a.cmd, "unknown option '%s', try 'portgate %s --help'",
					    opt, a.cmd);
		}
	}
	if (npos < 2)
		return pg_usage_err(a.cmd, "expected PROTO PORT[-PORT], e.g. '%s tcp 25'", a.cmd);
	if ((r->flags & PG_RULE_F_ALL_SEGMENTS) && r->proto != PG_PROTO_TCP)
		return pg_usage_err(
			a.cmd,
			"--all-segments is for tcp rules (a udp rule matches every datagram)");
	return 0;
}

int cmd_block(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_tables t;
	struct pg_maps m;
	struct pg_rule r;
	int err;

	if (pg_parse_rule(argc, argv, true, &r))
		return PG_EXIT_USAGE;
	/* Nothing pinned yet: create the state so rules can be staged before attach. */
	err = pg_maps_open(o, PG_OPEN_CREATE | PG_MAPS_LOCK, &m);
	if (err)
		return PG_EXIT_RUNTIME;
	err = pg_tables_map(&m, true, &t);
	if (!err) {
		err = pg_rule_add(&m, &t, &r);
		pg_tables_unmap(&t);
	}
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

/* Remove exactly the rule r; -ENOENT (naming a covering rule) if absent. */
static int pg_rule_remove(struct pg_tables *t, const struct pg_rule *r)
{
	const struct pg_port_entry *e;
	__u32 p, id = pg_rule_find(t, r);
	char a[64], b[64];

	if (id) {
		pg_rule_del(t, id);
		return 0;
	}
	for (p = r->port; p <= r->port_end; p++) {
		e = pg_tport(t, r->dir, r->proto, p);
		if (e->rule_id) {
			pg_err("no rule %s (expected the exact rule: %s exists)",
			       pg_rule_str(r, a, sizeof(a)),
			       pg_rule_str(&t->rules[e->rule_id], b, sizeof(b)));
			return -ENOENT;
		}
	}
	pg_err("no rule %s (expected a rule listed by 'portgate rules')",
	       pg_rule_str(r, a, sizeof(a)));
	return -ENOENT;
}

int cmd_unblock(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_tables t;
	struct pg_maps m;
	struct pg_rule r;
	int err;

	if (pg_parse_rule(argc, argv, false, &r))
		return PG_EXIT_USAGE;
	err = pg_maps_open(o, PG_MAPS_LOCK, &m);
	if (err)
		return PG_EXIT_RUNTIME;
	err = pg_tables_map(&m, true, &t);
	if (!err) {
		err = pg_rule_remove(&t, &r);
		pg_tables_unmap(&t);
	}
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

int pg_rules_cmd_maps(struct pg_maps *m, int argc, char **argv)
{
	bool block = !strcmp(argv[0], "block");
	struct pg_tables t;
	struct pg_rule r;
	int err;

	if (!strcmp(argv[0], "defaults")) {
		if (argc > 1)
			return pg_usage_err(argv[0], "unexpected argument '%s' (expected none)",
					    argv[1]);
		return pg_rules_defaults_maps(m);
	}
	if (pg_parse_rule(argc, argv, block, &r))
		return -EINVAL;
	err = pg_tables_map(m, true, &t);
	if (err)
		return err;
	err = block ? pg_rule_add(m, &t, &r) : pg_rule_remove(&t, &r);
	pg_tables_unmap(&t);
	return err;
}

int cmd_defaults(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_maps m;
	int err;

	if (argc > 1)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected none)", argv[1]),
		       PG_EXIT_USAGE;
	err = pg_maps_open(o, PG_OPEN_CREATE | PG_MAPS_LOCK, &m);
	if (err)
		return PG_EXIT_RUNTIME;
	if (!m.created)
		err = pg_rules_defaults_maps(&m);
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

static int pg_rule_cmp(const void *a, const void *b)
{
	const struct pg_rule *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir - y->dir;
	if (x->proto != y->proto)
		return x->proto - y->proto;
	return x->port - y->port;
}

/*
 * Every rule, sorted by dir, proto, port, with its counters summed over
 * the CPUs: cb(rule, packets, bytes, ctx) once per rule, stops at the
 * first non-zero return. Shared by `rules`, `stats` and `metrics`.
 */
int pg_rules_each(struct pg_maps *m, pg_rule_cb cb, void *ctx)
{
	int ncpus = libbpf_num_possible_cpus();
	struct pg_counter *pc = NULL;
	struct pg_rule *list = NULL;
	struct pg_tables t;
	unsigned int n = 0, i;
	__u32 id;
	int c, err;

	err = pg_tables_map(m, false, &t);
	if (err)
		return err;
	list = calloc(PG_MAX_RULES, sizeof(*list));
	pc = calloc(ncpus > 0 ? ncpus : 1, sizeof(*pc));
	if (!list || !pc) {
		err = -ENOMEM;
		goto out;
	}
	for (id = 1; id <= PG_MAX_RULES; id++)
		if (pg_rule_live(&t, id))
			list[n++] = t.rules[id];
	qsort(list, n, sizeof(*list), pg_rule_cmp);

	for (i = 0; !err && i < n; i++) {
		const struct pg_rule *r = &list[i];
		struct pg_port_entry e = *pg_tport(&t, r->dir, r->proto, r->port);
		unsigned long long pk = 0, by = 0;

		id = e.rule_id;
		if (id && !bpf_map_lookup_elem(m->fd[PG_M_RULE_STATS], &id, pc)) {
			for (c = 0; c < ncpus; c++) {
				pk += pc[c].packets;
				by += pc[c].bytes;
			}
		}
		err = cb(r, pk, by, ctx);
	}
out:
	pg_tables_unmap(&t);
	free(list);
	free(pc);
	return err;
}

/* What a rule matches: "syn" (TCP connection attempts), "all-segments", "all" (UDP). */
const char *pg_rule_match_name(const struct pg_rule *r)
{
	if (r->proto != PG_PROTO_TCP)
		return "all";
	return r->flags & PG_RULE_F_ALL_SEGMENTS ? "all-segments" : "syn";
}

static int pg_rule_emit_one(const struct pg_rule *r, unsigned long long pk, unsigned long long by,
			    void *ctx)
{
	struct pg_json *j = ctx;
	char ports[16];

	if (j) {
		pg_json_obj(j, NULL);
		pg_json_str(j, "dir", pg_dir_name(r->dir));
		pg_json_str(j, "proto", pg_proto_name(r->proto));
		pg_json_u64(j, "port", r->port);
		pg_json_u64(j, "port_end", r->port_end);
		pg_json_str(j, "action", pg_action_name(r->action));
		pg_json_str(j, "match", pg_rule_match_name(r));
		pg_json_u64(j, "packets", pk);
		pg_json_u64(j, "bytes", by);
		pg_json_end_obj(j);
		return 0;
	}
	pg_rule_ports(r, ports, sizeof(ports));
	printf("%-4s %-5s %-12s %-8s %-12s %12llu %14llu\n", pg_dir_name(r->dir),
	       pg_proto_name(r->proto), ports, pg_action_name(r->action), pg_rule_match_name(r), pk,
	       by);
	return 0;
}

/*
 * The rule list, sorted, with counters: a JSON array member `key` of j
 * (NULL key: the top-level array), or a table when j is NULL. Shared by
 * `rules` and `stats`.
 */
int pg_rules_emit(struct pg_maps *m, struct pg_json *j, const char *key)
{
	int err;

	if (j)
		pg_json_arr(j, key);
	else
		printf("%-4s %-5s %-12s %-8s %-12s %12s %14s\n", "DIR", "PROTO", "PORTS", "ACTION",
		       "MATCH", "PACKETS", "BYTES");
	err = pg_rules_each(m, pg_rule_emit_one, j);
	if (j)
		pg_json_end_arr(j);
	return err;
}

/* "25" or "6660-6669": how listings and metrics name a rule's ports. */
void pg_rule_ports(const struct pg_rule *r, char *buf, size_t len)
{
	if (r->port == r->port_end)
		snprintf(buf, len, "%u", r->port);
	else
		snprintf(buf, len, "%u-%u", r->port, r->port_end);
}

int cmd_rules(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_json j;
	struct pg_maps m;
	int err;

	if (argc > 1)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected [-j])", argv[1]),
		       PG_EXIT_USAGE;
	if (pg_maps_open(o, 0, &m))
		return PG_EXIT_RUNTIME;
	pg_json_init(&j, stdout);
	err = pg_rules_emit(&m, o->json ? &j : NULL, NULL);
	if (!err && o->json)
		pg_json_done(&j);
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

/* ---- generations, for apply: the whole rule set of one generation ---- */

bool pg_rule_equal(const struct pg_rule *a, const struct pg_rule *b)
{
	struct pg_rule x = *a, y = *b;

	x.gens = y.gens = 0;
	return !memcmp(&x, &y, sizeof(x));
}

const char *pg_rule_args(const struct pg_rule *r, char *buf, size_t len)
{
	char ports[16];

	if (r->port == r->port_end)
		snprintf(ports, sizeof(ports), "%u", r->port);
	else
		snprintf(ports, sizeof(ports), "%u-%u", r->port, r->port_end);
	snprintf(buf, len, "%s %s%s%s%s", pg_proto_name(r->proto), ports,
		 r->dir == PG_DIR_OUT ? " --dir out" : "",
		 r->action == PG_ACTION_MONITOR ? " --monitor" : "",
		 r->flags & PG_RULE_F_ALL_SEGMENTS ? " --all-segments" : "");
	return buf;
}

unsigned int pg_rules_default_list(struct pg_rule *out, unsigned int cap)
{
	unsigned int i, n = sizeof(pg_default_rules) / sizeof(pg_default_rules[0]);

	for (i = 0; i < n && i < cap; i++) {
		out[i] = pg_default_rules[i];
		out[i].action = PG_ACTION_DROP;
	}
	return n;
}

int pg_gen_rules_read(struct pg_maps *m, __u32 gen, struct pg_rule *out, __u16 *ids,
		      unsigned int *n)
{
	struct pg_tables t;
	__u32 id;
	int err;

	err = pg_tables_map(m, false, &t);
	if (err)
		return err;
	t.gen = gen;
	*n = 0;
	for (id = 1; id <= PG_MAX_RULES; id++) {
		if (!pg_rule_live(&t, id))
			continue;
		if (ids)
			ids[*n] = id;
		out[(*n)++] = t.rules[id];
	}
	pg_tables_unmap(&t);
	return 0;
}

int pg_gen_rules_clear(struct pg_maps *m, __u32 gen, bool *dirty)
{
	static const struct pg_port_entry none;
	struct pg_port_entry *half;
	struct pg_tables t;
	struct pg_rule r;
	__u32 i, id;
	int err;

	err = pg_tables_map(m, true, &t);
	if (err)
		return err;
	*dirty = false;
	/* the port entries first: no entry names a slot about to be freed */
	half = &t.all_ports[pg_port_index(gen, 0, 0, 0)];
	for (i = 0; i < PG_PORTS_PER_GEN; i++) {
		if (!half[i].rule_id && !half[i].action)
			continue;
		pg_store8(&half[i], &none);
		*dirty = true;
	}
	for (id = 1; id <= PG_MAX_RULES; id++) {
		r = t.rules[id];
		/* in this generation, or a slot in use that no generation holds */
		if (!(r.gens & (1U << gen)) && !(r.action != PG_ACTION_NONE && !r.gens))
			continue;
		r.gens &= ~(1U << gen);
		if (!r.gens)
			memset(&r, 0, sizeof(r));
		pg_store8(&t.rules[id], &r);
		*dirty = true;
	}
	pg_tables_unmap(&t);
	return 0;
}

int pg_gen_rules_write(struct pg_maps *m, __u32 gen, const struct pg_rule *rules, unsigned int n,
		       unsigned int *reused)
{
	struct pg_tables t;
	struct pg_rule nr;
	__u32 i, id, g, slot = 1;
	char a[64];
	int err;

	err = pg_tables_map(m, true, &t);
	if (err)
		return err;
	*reused = 0;
	for (i = 0; i < n; i++) {
		const struct pg_rule *r = &rules[i];

		/* the identical rule of another generation: share its slot and counters */
		id = 0;
		for (g = 0; g < PG_GENS && !id; g++) {
			const struct pg_port_entry *e;

			if (g == gen)
				continue;
			e = &t.all_ports[pg_port_index(g, r->dir, r->proto, r->port)];
			if (e->rule_id && pg_rule_equal(&t.rules[e->rule_id], r))
				id = e->rule_id;
		}
		if (id) {
			nr = t.rules[id];
			nr.gens |= 1U << gen;
			pg_store8(&t.rules[id], &nr);
			(*reused)++;
		} else {
			while (slot <= PG_MAX_RULES &&
			       (t.rules[slot].action != PG_ACTION_NONE || t.rules[slot].gens))
				slot++;
			if (slot > PG_MAX_RULES) {
				pg_err("no free rule slot for %s (all %u in use)",
				       pg_rule_str(r, a, sizeof(a)), PG_MAX_RULES);
				err = -ENOSPC;
				break;
			}
			id = slot;
			nr = *r;
			nr.gens = 1U << gen;
			pg_store8(&t.rules[id], &nr);
			err = pg_rule_stats_reset(m->fd[PG_M_RULE_STATS], id);
			if (err) {
				pg_sys_err(err, "cannot reset counters of rule %u", id);
				break;
			}
		}
		t.gen = gen;
		pg_set_ports(&t, r, id);
	}
	pg_tables_unmap(&t);
	return err;
}
