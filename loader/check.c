// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate check`: cross-check the pinned state after an incident (a
 * killed command, a crash, a hand-edited map). Read only; under the
 * pin-directory lock, so no writer is half-way and the generation the
 * fast path does not read must be empty (an interrupted `apply` leaves
 * it dirty until the next apply cleans it).
 *
 * One line per inconsistency on standard output, exit 1 if there is any.
 * A run of ports with the same fault is one line.
 *
 * The checks are a table (pg_checks[]): each gets the mapped state and
 * reports through pg_check_fail(). A new per-generation structure (an
 * exemption hash, a summary) is one more function and one more line.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "exempt_maps.h"

#define PG_CHECK_PORTS_SIZE ((size_t)PG_PORTS_ENTRIES * sizeof(struct pg_port_entry))
#define PG_CHECK_RULES_SIZE ((size_t)(PG_MAX_RULES + 1) * sizeof(struct pg_rule))
#define PG_CHECK_MAX_KEY_LINES 20 /* bad trie keys named one by one, then a count */

struct pg_check {
	struct pg_maps *m;
	const struct pg_port_entry *ports; /* both generations, mmapped */
	const struct pg_rule *rules;
	__u32 live;   /* pg_ctl.gen */
	bool idle;    /* lock held: no apply is between its steps */
	bool repair;  /* rewrite kinds, table slots and summary from the tries */
	__u16 *owner; /* scratch: rule id that should own each port entry */
	/* what the tries hold, per generation and kind (pg_exempt_kind()) */
	unsigned long trie_host[PG_GENS][PG_EXEMPT_KINDS];
	unsigned long trie_prefix[PG_GENS][PG_EXEMPT_KINDS];
	unsigned long trie_wide[PG_GENS][2];
	__u32 *refs; /* the summary reference key of every entry that has one */
	size_t nrefs, refs_cap;
	unsigned long trie_level[PG_GENS][PG_EXEMPT_KINDS][32]; /* prefix entries per table level */
	struct pg_exm_tab tab;					/* the exemption table, mapped */
	struct pg_exm x;
	unsigned long slot_bad, stray_bad;
	unsigned long trie_n[PG_GENS][2]; /* per generation and family */
	unsigned int rules_live[PG_GENS];
	unsigned int problems;
	pg_check_report_fn report;
	void *ctx;
};

static void __attribute__((format(printf, 2, 3)))
pg_check_fail(struct pg_check *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->problems++;
	c->report(line, c->ctx);
}

static const char *pg_check_rule_str(const struct pg_rule *r, char *buf, size_t len)
{
	if (r->port == r->port_end)
		snprintf(buf, len, "%s %u --dir %s", pg_proto_name(r->proto), r->port,
			 pg_dir_name(r->dir));
	else
		snprintf(buf, len, "%s %u-%u --dir %s", pg_proto_name(r->proto), r->port,
			 r->port_end, pg_dir_name(r->dir));
	return buf;
}

/* ---- pg_ctl */

static int pg_check_ctl(struct pg_check *c)
{
	struct pg_ctl ctl;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(c->m->fd[PG_M_CTL], &zero, &ctl))
		return pg_sys_err(-errno, "cannot read '%s'", pg_map_names[PG_M_CTL]);
	if (ctl.gen > 1)
		pg_check_fail(c, "pg_ctl: live generation %u (expected 0 or 1)", ctl.gen);
	c->live = ctl.gen & 1;
	return 0;
}

/* ---- rule slots */

static bool pg_check_slot_valid(const struct pg_rule *r)
{
	return (r->action == PG_ACTION_DROP || r->action == PG_ACTION_MONITOR) &&
	       r->dir < PG_DIR_COUNT && r->proto < PG_PROTO_COUNT && r->port <= r->port_end &&
	       r->gens && !(r->gens & ~((1U << PG_GENS) - 1)) && !(r->flags & ~PG_RULE_F_MASK) &&
	       (r->proto == PG_PROTO_TCP || !r->flags);
}

static int pg_check_rules(struct pg_check *c)
{
	static const struct pg_rule none;
	char a[64];
	__u32 id, g;

	if (memcmp(&c->rules[0], &none, sizeof(none)))
		pg_check_fail(c, "rule slot 0 is not empty (0 means \"no rule\")");
	for (id = 1; id <= PG_MAX_RULES; id++) {
		const struct pg_rule *r = &c->rules[id];

		if (r->action == PG_ACTION_NONE) {
			if (memcmp(r, &none, sizeof(none)))
				pg_check_fail(c, "rule slot %u: free (no action) but not zeroed",
					      id);
			continue;
		}
		if (!pg_check_slot_valid(r)) {
			pg_check_fail(
				c,
				"rule slot %u: invalid rule (action %u, dir %u, proto %u, ports "
				"%u-%u, generations %#x)",
				id, r->action, r->dir, r->proto, r->port, r->port_end, r->gens);
			continue;
		}
		for (g = 0; g < PG_GENS; g++) {
			if (!(r->gens & (1U << g)))
				continue;
			c->rules_live[g]++;
			if (g != c->live && c->idle)
				pg_check_fail(
					c,
					"rule %u (%s) is in generation %u, which is not live "
					"(left by an interrupted apply; the next apply cleans it)",
					id, pg_check_rule_str(r, a, sizeof(a)), g);
		}
	}
	return 0;
}

/* ---- port table against the rule slots, per generation */

enum pg_port_fault {
	PF_OK,
	PF_FREE_SLOT,	/* entry names a free rule slot */
	PF_OTHER_GEN,	/* entry names a rule of the other generation only */
	PF_NOT_COVERED, /* entry names a rule whose range does not hold the port */
	PF_STALE,	/* right rule, but rule_port/action differ from the slot */
	PF_MISSING,	/* a rule's port has no entry */
	PF_JUNK,	/* no rule, but rule_port/action set */
};

static const char *const pg_port_fault_str[] = {
	[PF_FREE_SLOT] = "entries point at free rule slot %u",
	[PF_OTHER_GEN] = "entries point at rule %u, which is not in this generation",
	[PF_NOT_COVERED] = "entries point at rule %u, whose ports do not include them",
	[PF_STALE] = "entries point at rule %u with a stale first port, action or flags",
	[PF_MISSING] = "no entries, but rule %u covers them",
	[PF_JUNK] = "entries without a rule hold a first port or action",
};

/* idx: a pg_port_index(), whose bits say generation, direction, protocol, port */
static enum pg_port_fault pg_port_check(const struct pg_check *c, __u32 idx, __u32 *id)
{
	const struct pg_port_entry *e = &c->ports[idx];
	__u32 want = c->owner[idx], g = idx >> 18 & 1, dir = idx >> 17 & 1, proto = idx >> 16 & 1;
	__u32 port = idx & 0xffff;
	const struct pg_rule *r;

	*id = e->rule_id;
	if (!e->rule_id) {
		*id = want;
		if (want)
			return PF_MISSING;
		return e->rule_port || e->action || e->flags ? PF_JUNK : PF_OK;
	}
	r = &c->rules[e->rule_id];
	if (r->action == PG_ACTION_NONE)
		return PF_FREE_SLOT;
	if (!(r->gens & (1U << g)))
		return PF_OTHER_GEN;
	if (r->dir != dir || r->proto != proto || port < r->port || port > r->port_end)
		return PF_NOT_COVERED;
	if (e->rule_port != r->port || e->action != r->action || e->flags != r->flags)
		return PF_STALE;
	return PF_OK;
}

/* ports lo..hi (indices of one generation, direction and protocol) share fault f */
static void pg_port_report(struct pg_check *c, __u32 lo, __u32 hi, enum pg_port_fault f, __u32 id)
{
	char what[96], ports[32];

	snprintf(what, sizeof(what), pg_port_fault_str[f], id);
	if (lo == hi)
		snprintf(ports, sizeof(ports), "port %u", lo & 0xffff);
	else
		snprintf(ports, sizeof(ports), "ports %u-%u", lo & 0xffff, hi & 0xffff);
	pg_check_fail(c, "generation %u %s/%s %s: %s", lo >> 18 & 1, pg_proto_name(lo >> 16 & 1),
		      pg_dir_name(lo >> 17 & 1), ports, what);
}

/* Who should own each entry: the valid slots of each generation, in one pass. */
static void pg_port_owners(struct pg_check *c)
{
	char a[64], b[64];
	__u32 id, g, port;

	memset(c->owner, 0, PG_PORTS_ENTRIES * sizeof(*c->owner));
	for (id = 1; id <= PG_MAX_RULES; id++) {
		const struct pg_rule *r = &c->rules[id];

		if (!pg_check_slot_valid(r))
			continue;
		for (g = 0; g < PG_GENS; g++) {
			__u32 base = pg_port_index(g, r->dir, r->proto, 0);

			if (!(r->gens & (1U << g)))
				continue;
			for (port = r->port; port <= r->port_end; port++) {
				__u16 other = c->owner[base + port];

				if (other) {
					pg_check_fail(
						c,
						"generation %u: rules %u (%s) and %u (%s) overlap at port %u",
						g, other,
						pg_check_rule_str(&c->rules[other], a, sizeof(a)),
						id, pg_check_rule_str(r, b, sizeof(b)), port);
					break;
				}
				c->owner[base + port] = id;
			}
		}
	}
}

static int pg_check_ports(struct pg_check *c)
{
	enum pg_port_fault run = PF_OK, f;
	__u32 idx, run_id = 0, run_lo = 0, fid;

	pg_port_owners(c);
	for (idx = 0; idx <= PG_PORTS_ENTRIES; idx++) {
		if (idx == PG_PORTS_ENTRIES) {
			f = PF_OK; /* flush the last run */
			fid = 0;
		} else if (!c->owner[idx] && !c->ports[idx].rule_id && !c->ports[idx].rule_port &&
			   !c->ports[idx].action) {
			f = PF_OK; /* the common case: no rule, empty entry */
			fid = 0;
		} else {
			f = pg_port_check(c, idx, &fid);
		}
		/* a run ends at a fault change or at the end of one port table */
		if (f == run && (f == PF_OK || fid == run_id) && (idx & 0xffff))
			continue;
		if (run != PF_OK)
			pg_port_report(c, run_lo, idx - 1, run, run_id);
		run = f;
		run_id = fid;
		run_lo = idx;
	}
	return 0;
}

/* ---- exemption tries and the kind counts */

static const char *pg_kind_str(__u32 kind, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %s --dir %s", kind >> 3 & 1 ? "IPv6" : "IPv4",
		 kind >> 2 & 1 ? "--peer" : "--subscriber",
		 kind >> 1 & 1 ? "all-rules" : "one-rule", pg_dir_name(kind & 1));
	return buf;
}

/* A key the loader could have written: sane header, host bits clear. */
static const char *pg_key_fault(const struct pg_exempt_v6_key *k, bool v6,
				const struct pg_exempt_val *v)
{
	unsigned int bits = v6 ? 128 : 32, plen, i;

	if (k->prefixlen < PG_LPM_META_BITS || k->prefixlen > PG_LPM_META_BITS + bits)
		return "prefix length out of range";
	plen = k->prefixlen - PG_LPM_META_BITS;
	if (k->scope >> 3)
		return "unknown scope bits";
	if (k->proto != PG_PROTO_TCP && k->proto != PG_PROTO_UDP && k->proto != PG_EXEMPT_ALL_RULES)
		return "unknown protocol";
	if (k->proto == PG_EXEMPT_ALL_RULES && (k->port_hi || k->port_lo))
		return "all-rules entry with a port";
	for (i = plen; i < bits; i++)
		if (k->addr[i / 8] & (0x80 >> (i % 8)))
			return "host bits set beyond the prefix length";
	if (v->addr_prefixlen != plen)
		return "value names another prefix length";
	if (v->flags & ~PG_EXEMPT_F_DYNAMIC)
		return "unknown flags in the value";
	return NULL;
}

static const char *pg_tab_name(bool v6)
{
	return pg_map_names[v6 ? PG_M_EXEMPT_TAB_V6 : PG_M_EXEMPT_TAB_V4];
}

/* The table slots of a trie entry: each in its bucket, or its bucket marked overflowed. */
static void pg_check_slots(struct pg_check *c, const struct pg_exempt_v6_key *k, bool v6)
{
	struct pg_exm_slot s[PG_EXM_MAX_SLOTS];
	struct pg_exempt_v6_key sk;
	char addr[INET6_ADDRSTRLEN], line[200];
	int n = pg_exm_slots(k, v6, s), i;

	for (i = 0; i < n; i++) {
		if (pg_exm_slot_find(&c->tab, &s[i]))
			continue;
		pg_exm_slot_key(&s[i], &sk);
		inet_ntop(v6 ? AF_INET6 : AF_INET, sk.addr, addr, sizeof(addr));
		if (c->repair) {
			pg_exm_slot_put(&c->tab, &s[i]);
			snprintf(line, sizeof(line),
				 "repaired: generation %u: slot %s/%u put back into %s", s[i].gen,
				 addr, sk.prefixlen - PG_LPM_META_BITS, pg_tab_name(v6));
			c->report(line, c->ctx);
		} else if (++c->slot_bad <= PG_CHECK_MAX_KEY_LINES) {
			pg_check_fail(c,
				      "generation %u: exemption slot %s/%u (scope %#x, proto %#x, "
				      "port %u) is not in %s (the fast path misses it)",
				      s[i].gen, addr, sk.prefixlen - PG_LPM_META_BITS, sk.scope,
				      sk.proto, sk.port_hi << 8 | sk.port_lo, pg_tab_name(v6));
		}
	}
}

/* A used slot no exemption implies (or in the other generation's half). */
static int pg_check_stray(const struct pg_exm_slot *s, void *ctx)
{
	struct pg_check *c = ctx;
	struct pg_exempt_v6_key sk;
	char addr[INET6_ADDRSTRLEN], line[200];
	bool wanted = false;
	int err = 0;

	pg_exm_slot_key(s, &sk);
	if ((sk.scope >> 2 & 1) == s->gen &&
	    (s->meta >> 25 & 0x3f) <= (s->v6 ? PG_XT_LEVELS_V6 : PG_XT_LEVELS_V4))
		err = pg_exm_slot_wanted(&c->x, s, &wanted);
	if (err)
		return pg_sys_err(err, "cannot read '%s'",
				  pg_map_names[s->v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4]);
	if (wanted)
		return 0;
	inet_ntop(s->v6 ? AF_INET6 : AF_INET, sk.addr, addr, sizeof(addr));
	if (c->repair) {
		snprintf(line, sizeof(line),
			 "repaired: generation %u: slot %s/%u removed from %s (no exemption "
			 "implies it)",
			 s->gen, addr, sk.prefixlen - PG_LPM_META_BITS, pg_tab_name(s->v6));
		c->report(line, c->ctx);
		return 1;
	}
	if (++c->stray_bad <= PG_CHECK_MAX_KEY_LINES)
		pg_check_fail(c,
			      "generation %u: slot %s/%u (scope %#x, proto %#x, port %u) in %s is "
			      "implied by no exemption (the fast path exempts what it should not)",
			      s->gen, addr, sk.prefixlen - PG_LPM_META_BITS, sk.scope, sk.proto,
			      sk.port_hi << 8 | sk.port_lo, pg_tab_name(s->v6));
	return 0;
}

static int pg_check_table(struct pg_check *c)
{
	unsigned long over[2];
	int err;

	err = pg_exm_tab_walk(&c->tab, pg_check_stray, c, over);
	if (err)
		return err;
	if (c->slot_bad > PG_CHECK_MAX_KEY_LINES)
		pg_check_fail(c, "%lu more exemption slots missing from the table",
			      c->slot_bad - PG_CHECK_MAX_KEY_LINES);
	if (c->stray_bad > PG_CHECK_MAX_KEY_LINES)
		pg_check_fail(c, "%lu more slots no exemption implies",
			      c->stray_bad - PG_CHECK_MAX_KEY_LINES);
	return 0;
}

/* What one well-formed trie entry implies: kind counts, a summary count, table slots. */
static int pg_check_entry(struct pg_check *c, const struct pg_exempt_v6_key *k, bool v6)
{
	__u32 g = k->scope >> 2 & 1, ref[2];
	int nref, i;
	__u32 kind = pg_exempt_kind(v6, k->scope >> 1 & 1, k->proto == PG_EXEMPT_ALL_RULES,
				    k->scope & 1);

	nref = pg_exm_ref_keys(k, v6, ref);
	if (nref) {
		if (c->nrefs + 2 > c->refs_cap) {
			size_t cap = c->refs_cap ? 2 * c->refs_cap : 4096;
			__u32 *r = realloc(c->refs, cap * sizeof(*r));

			if (!r)
				return pg_sys_err(-ENOMEM, "cannot check the exemptions");
			c->refs = r;
			c->refs_cap = cap;
		}
		for (i = 0; i < nref; i++)
			c->refs[c->nrefs++] = ref[i];
	} else {
		c->trie_wide[g][v6]++;
	}
	pg_check_slots(c, k, v6);
	if (pg_exm_is_host(k, v6))
		c->trie_host[g][kind]++;
	else
		c->trie_prefix[g][kind]++;
	if (nref && !pg_exm_is_host(k, v6))
		c->trie_level[g][kind][pg_xt_level(v6, k->prefixlen - PG_LPM_META_BITS)]++;
	return 0;
}

static int pg_check_trie(struct pg_check *c, bool v6)
{
	int fd = c->m->fd[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4];
	size_t klen = v6 ? sizeof(struct pg_exempt_v6_key) : sizeof(struct pg_exempt_v4_key);
	struct pg_exempt_v6_key k, next; /* the v4 key is its prefix */
	unsigned long bad = 0;
	struct pg_exempt_val v;
	const char *why;
	void *prev = NULL;
	char addr[INET6_ADDRSTRLEN];
	int err;

	memset(&k, 0, sizeof(k));
	memset(&next, 0, sizeof(next));
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		__u32 g = next.scope >> 2 & 1;

		memcpy(&k, &next, klen);
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v)) {
			if (errno == ENOENT)
				continue; /* removed under us: only without the lock */
			return pg_sys_err(-errno, "cannot read '%s'",
					  pg_map_names[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4]);
		}
		why = pg_key_fault(&k, v6, &v);
		if (why) {
			if (++bad <= PG_CHECK_MAX_KEY_LINES) {
				inet_ntop(v6 ? AF_INET6 : AF_INET, k.addr, addr, sizeof(addr));
				pg_check_fail(c,
					      "exemption %s/%d (scope %#x, proto %#x, port %u) in "
					      "%s: %s",
					      addr, (int)k.prefixlen - PG_LPM_META_BITS, k.scope,
					      k.proto, k.port_hi << 8 | k.port_lo,
					      pg_map_names[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4],
					      why);
			}
			continue;
		}
		c->trie_n[g][v6]++;
		err = pg_check_entry(c, &k, v6);
		if (err)
			return err;
	}
	if (errno != ENOENT)
		return pg_sys_err(-errno, "cannot walk '%s'",
				  pg_map_names[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4]);
	if (bad > PG_CHECK_MAX_KEY_LINES)
		pg_check_fail(c, "%s: %lu more malformed entries",
			      pg_map_names[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4],
			      bad - PG_CHECK_MAX_KEY_LINES);
	return 0;
}

/* One count of pg_exempt_kinds against the tries (repaired with c->repair). */
static void pg_check_count(struct pg_check *c, __u32 g, const char *what, __u32 *have,
			   unsigned long want, bool *dirty)
{
	if (*have == want)
		return;
	if (c->repair) {
		char line[200];

		snprintf(line, sizeof(line), "repaired: generation %u: %s counted %u, now %lu", g,
			 what, *have, want);
		*have = want;
		*dirty = true;
		c->report(line, c->ctx);
		return;
	}
	pg_check_fail(c, "generation %u: %s counted %u, the trie holds %lu%s", g, what, *have, want,
		      *have < want && !*have ? " (the fast path skips them: they do not apply)"
					     : "");
}

static int pg_check_kinds(struct pg_check *c)
{
	struct pg_exempt_kinds k;
	char a[64], what[128];
	bool dirty;
	__u32 g, i;

	for (g = 0; g < PG_GENS; g++) {
		if (bpf_map_lookup_elem(c->m->fd[PG_M_EXEMPT_KINDS], &g, &k))
			return pg_sys_err(-errno, "cannot read '%s'",
					  pg_map_names[PG_M_EXEMPT_KINDS]);
		dirty = false;
		for (i = 0; i < PG_EXEMPT_KINDS; i++) {
			snprintf(what, sizeof(what), "%s host exemptions",
				 pg_kind_str(i, a, sizeof(a)));
			pg_check_count(c, g, what, &k.host[i], c->trie_host[g][i], &dirty);
			snprintf(what, sizeof(what), "%s prefix exemptions",
				 pg_kind_str(i, a, sizeof(a)));
			pg_check_count(c, g, what, &k.prefix[i], c->trie_prefix[g][i], &dirty);
		}
		for (i = 0; i < 2; i++) {
			snprintf(what, sizeof(what), "%s exemptions wider than the summary",
				 i ? "IPv6" : "IPv4");
			pg_check_count(c, g, what, &k.wide[i], c->trie_wide[g][i], &dirty);
		}
		for (i = 0; i < PG_EXEMPT_KINDS; i++) {
			__u32 l, mask = 0;

			for (l = 0; l < 32; l++) {
				snprintf(what, sizeof(what),
					 "%s prefix exemptions of table level %u",
					 pg_kind_str(i, a, sizeof(a)), l);
				pg_check_count(c, g, what, &k.level_n[i][l], c->trie_level[g][i][l],
					       &dirty);
				mask |= (__u32)(c->trie_level[g][i][l] != 0) << l;
			}
			snprintf(what, sizeof(what), "%s table levels in use (a mask)",
				 pg_kind_str(i, a, sizeof(a)));
			pg_check_count(c, g, what, &k.levels[i], mask, &dirty);
		}
		if (dirty && bpf_map_update_elem(c->m->fd[PG_M_EXEMPT_KINDS], &g, &k, BPF_ANY))
			return pg_sys_err(-errno, "cannot write '%s'",
					  pg_map_names[PG_M_EXEMPT_KINDS]);
		if (g != c->live && c->idle)
			for (i = 0; i < 2; i++)
				if (c->trie_n[g][i])
					pg_check_fail(
						c,
						"%lu %s exemptions in generation %u, which is "
						"not live (left by an interrupted apply; the "
						"next apply cleans them)",
						c->trie_n[g][i], i ? "IPv6" : "IPv4", g);
	}
	return 0;
}

struct pg_ref {
	__u32 key, n;
};

static int pg_ref_cmp(const void *a, const void *b)
{
	__u32 x = ((const struct pg_ref *)a)->key, y = ((const struct pg_ref *)b)->key;

	return (x > y) - (x < y);
}

static int pg_u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return (x > y) - (x < y);
}

/*
 * The summary: the reference counts the tries imply (one per entry's
 * bucket and level, and the per-level totals, level 31) against
 * pg_exempt_refs, and the bits they imply against pg_exempt_sum.
 */
static int pg_check_summary(struct pg_check *c)
{
	int rfd = c->m->fd[PG_M_EXEMPT_REFS];
	struct pg_ref *want = NULL, *have = NULL;
	size_t nw = 0, nh = 0, cap = 0, i, j, a, b;
	unsigned long bad_refs = 0, bad_words[PG_GENS][2] = {};
	size_t c2;
	__u64 *bits = NULL, *sum = NULL;
	__u32 key, next, val, lv[2][PG_GENS][2][32] = {};
	void *prev = NULL;
	int err = 0;

	want = calloc(c->nrefs + 2 * PG_GENS * 2 * 32 + 1, sizeof(*want));
	bits = calloc(PG_SUM_ENTRIES, sizeof(*bits));
	if (!want || !bits) {
		err = pg_sys_err(-ENOMEM, "cannot check the exemption summary");
		goto out;
	}
	if (c->nrefs)
		qsort(c->refs, c->nrefs, sizeof(*c->refs), pg_u32_cmp);
	for (i = 0; i < c->nrefs; i = j) {
		__u32 first, count, bk;

		for (j = i + 1; j < c->nrefs && c->refs[j] == c->refs[i]; j++)
			;
		want[nw].key = c->refs[i];
		want[nw++].n = j - i;
		pg_exm_ref_buckets(c->refs[i], &first, &count);
		if ((c->refs[i] >> 24 & 31) == PG_SUM_BLOOM_LEVEL) {
			bits[pg_sum_bloom_index(c->refs[i] >> 30 & 1, c->refs[i] >> 29 & 1,
						first)] |= 1ULL << (first & 63);
			continue;
		}
		lv[c->refs[i] >> 31][c->refs[i] >> 30 & 1][c->refs[i] >> 29 & 1]
		  [c->refs[i] >> 24 & 31] += j - i;
		for (bk = first; bk < first + count; bk++)
			bits[pg_sum_index(c->refs[i] >> 30 & 1, c->refs[i] >> 29 & 1, bk)] |=
				1ULL << pg_sum_bit(c->refs[i] >> 31, bk);
	}
	for (c2 = 0; c2 < 2; c2++)
		for (a = 0; a < PG_GENS; a++)
			for (b = 0; b < 2; b++)
				for (i = 0; i < 31; i++)
					if (lv[c2][a][b][i]) {
						want[nw].key = pg_sum_ref_key(a, b, c2, 31, i);
						want[nw++].n = lv[c2][a][b][i];
					}
	qsort(want, nw, sizeof(*want), pg_ref_cmp);
	/* what pg_exempt_refs holds */
	while (!bpf_map_get_next_key(rfd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(rfd, &key, &val))
			continue;
		if (nh == cap) {
			struct pg_ref *r = realloc(have, (cap ? 2 * cap : 4096) * sizeof(*r));

			if (!r) {
				err = pg_sys_err(-ENOMEM, "cannot check the exemption summary");
				goto out;
			}
			have = r;
			cap = cap ? 2 * cap : 4096;
		}
		have[nh].key = key;
		have[nh++].n = val;
	}
	if (nh)
		qsort(have, nh, sizeof(*have), pg_ref_cmp);
	for (a = 0, b = 0; a < nw || b < nh;) {
		int cmp = a == nw ? 1 : b == nh ? -1 : pg_ref_cmp(&want[a], &have[b]);

		if (!cmp && want[a].n == have[b].n) {
			a++, b++;
			continue;
		}
		bad_refs++;
		if (!c->repair && bad_refs <= PG_CHECK_MAX_KEY_LINES)
			pg_check_fail(c, "%s: count %#x is %u, the tries imply %u",
				      pg_map_names[PG_M_EXEMPT_REFS],
				      cmp > 0 ? have[b].key : want[a].key, cmp < 0 ? 0 : have[b].n,
				      cmp > 0 ? 0 : want[a].n);
		if (cmp <= 0)
			a++;
		if (cmp >= 0)
			b++;
	}
	if (!c->repair && bad_refs > PG_CHECK_MAX_KEY_LINES)
		pg_check_fail(c, "%s: %lu more counts differ", pg_map_names[PG_M_EXEMPT_REFS],
			      bad_refs - PG_CHECK_MAX_KEY_LINES);
	if (c->repair && bad_refs) {
		char line[160];

		for (i = 0; i < nh; i++)
			if (bpf_map_delete_elem(rfd, &have[i].key) && errno != ENOENT)
				break;
		for (j = 0; j < nw && i == nh; j++)
			if (bpf_map_update_elem(rfd, &want[j].key, &want[j].n, BPF_ANY))
				break;
		if (i < nh || j < nw) {
			err = pg_sys_err(-errno, "cannot write '%s'",
					 pg_map_names[PG_M_EXEMPT_REFS]);
			goto out;
		}
		snprintf(line, sizeof(line), "repaired: %s: %lu counts rewritten from the tries",
			 pg_map_names[PG_M_EXEMPT_REFS], bad_refs);
		c->report(line, c->ctx);
	}
	/* the bits */
	sum = pg_exm_sum_map(c->m->fd[PG_M_EXEMPT_SUM]);
	if (!sum) {
		err = pg_sys_err(-errno, "cannot map '%s'", pg_map_names[PG_M_EXEMPT_SUM]);
		goto out;
	}
	for (i = 0; i < PG_SUM_ENTRIES; i++) {
		__u64 w = __atomic_load_n(&sum[i], __ATOMIC_RELAXED);

		if (w == bits[i])
			continue;
		if (i >= PG_SUM_BLOOM_BASE)
			bad_words[i >> (PG_SUM_BUCKET_BITS - 5) & 1]
				 [i >> (PG_SUM_BUCKET_BITS - 6) & 1]++;
		else
			bad_words[i >> (PG_SUM_BUCKET_BITS - 4) & 1]
				 [i >> (PG_SUM_BUCKET_BITS - 5) & 1]++;
		/* gen: bit 20 of the index, family: bit 19 (pg_sum_index()) */
		if (c->repair)
			__atomic_store_n(&sum[i], bits[i], __ATOMIC_RELAXED);
	}
	for (a = 0; a < PG_GENS; a++)
		for (b = 0; b < 2; b++) {
			char line[200];

			if (!bad_words[a][b])
				continue;
			snprintf(line, sizeof(line),
				 "generation %u: %lu words of the %s summary in %s differ from the "
				 "tries",
				 (unsigned int)a, bad_words[a][b], b ? "IPv6" : "IPv4",
				 pg_map_names[PG_M_EXEMPT_SUM]);
			if (!c->repair) {
				pg_check_fail(c, "%s", line);
				continue;
			}
			snprintf(line, sizeof(line),
				 "repaired: generation %u: %lu words of the %s summary rewritten",
				 (unsigned int)a, bad_words[a][b], b ? "IPv6" : "IPv4");
			c->report(line, c->ctx);
		}
out:
	pg_exm_sum_unmap(sum);
	free(want);
	free(have);
	free(bits);
	return err;
}

static int pg_check_exempt(struct pg_check *c)
{
	int err;

	pg_maps_exm(c->m, &c->x);
	err = pg_exm_tab_map(&c->x, &c->tab);
	if (err)
		return pg_sys_err(err, "cannot map %s", pg_tab_name(false));
	err = pg_check_trie(c, false) ?: pg_check_trie(c, true) ?: pg_check_kinds(c) ?:
	      pg_check_summary(c) ?:
	      pg_check_table(c);
	pg_exm_tab_unmap(&c->tab);
	free(c->refs);
	c->refs = NULL;
	c->nrefs = c->refs_cap = 0;
	return err;
}

/* ---- the table: one line per check */

/* 1 MiB, reused: a fuzzer checks after every input (no fresh pages each time) */
static __u16 pg_check_owner[PG_PORTS_ENTRIES];

struct pg_check_step {
	const char *name;
	int (*fn)(struct pg_check *c);
};

static const struct pg_check_step pg_checks[] = {
	{"control word", pg_check_ctl},
	{"rule slots", pg_check_rules},
	{"port table", pg_check_ports},
	{"exemptions", pg_check_exempt},
};

int pg_check_maps(struct pg_maps *m, unsigned int flags, pg_check_report_fn report, void *ctx,
		  struct pg_check_sum *sum)
{
	struct pg_check c = {.m = m,
			     .idle = flags & PG_CHECK_IDLE,
			     .repair = flags & PG_CHECK_REPAIR,
			     .report = report,
			     .ctx = ctx};
	void *p;
	size_t i;
	int err = 0;

	p = mmap(NULL, PG_CHECK_PORTS_SIZE, PROT_READ, MAP_SHARED | MAP_POPULATE, m->fd[PG_M_PORTS],
		 0);
	if (p == MAP_FAILED)
		return pg_sys_err(-errno, "cannot map %s", pg_map_names[PG_M_PORTS]);
	c.ports = p;
	p = mmap(NULL, PG_CHECK_RULES_SIZE, PROT_READ, MAP_SHARED | MAP_POPULATE, m->fd[PG_M_RULES],
		 0);
	if (p == MAP_FAILED) {
		err = pg_sys_err(-errno, "cannot map %s", pg_map_names[PG_M_RULES]);
		goto out;
	}
	c.rules = p;
	c.owner = pg_check_owner;
	for (i = 0; i < sizeof(pg_checks) / sizeof(pg_checks[0]) && !err; i++)
		err = pg_checks[i].fn(&c);
	if (sum) {
		sum->problems = c.problems;
		sum->gen = c.live;
		sum->rules = c.rules_live[c.live];
		sum->exempt_v4 = c.trie_n[c.live][0];
		sum->exempt_v6 = c.trie_n[c.live][1];
	}
out:
	if (c.rules)
		munmap((void *)c.rules, PG_CHECK_RULES_SIZE);
	munmap((void *)c.ports, PG_CHECK_PORTS_SIZE);
	return err;
}

/* ---- pins: programs and links */

static int pg_check_prog_maps(const struct pg_opts *o, const char *pin, const struct pg_maps *m,
			      pg_check_report_fn report, void *ctx, unsigned int *problems,
			      __u32 *prog_id)
{
	__u32 map_ids[32], want[PG_M_COUNT], n, i, j, len;
	struct bpf_prog_info pi;
	struct bpf_map_info mi;
	char path[PATH_MAX], line[512];
	int fd, err;

	*prog_id = 0;
	err = pg_pin_path(o, pin, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		snprintf(line, sizeof(line), "program pin %s: %s", pin, strerror(errno));
		(*problems)++;
		report(line, ctx);
		return 0;
	}
	memset(&pi, 0, sizeof(pi));
	len = sizeof(pi);
	pi.nr_map_ids = sizeof(map_ids) / sizeof(map_ids[0]);
	pi.map_ids = (__u64)(unsigned long)map_ids;
	if (bpf_obj_get_info_by_fd(fd, &pi, &len)) {
		err = pg_sys_err(-errno, "cannot read program pin '%s'", path);
		close(fd);
		return err;
	}
	close(fd);
	*prog_id = pi.id;
	n = pi.nr_map_ids < sizeof(map_ids) / sizeof(map_ids[0])
		    ? pi.nr_map_ids
		    : sizeof(map_ids) / sizeof(map_ids[0]);
	for (i = 0; i < PG_M_COUNT; i++) {
		memset(&mi, 0, sizeof(mi));
		len = sizeof(mi);
		want[i] = bpf_obj_get_info_by_fd(m->fd[i], &mi, &len) ? 0 : mi.id;
	}
	for (i = 0; i < PG_M_COUNT; i++) {
		/* the program reads these; pg_rules and pg_exempt_refs are user space's own */
		if (i == PG_M_RULES || i == PG_M_EXEMPT_REFS)
			continue;
		for (j = 0; j < n && map_ids[j] != want[i]; j++)
			;
		if (j == n) {
			snprintf(line, sizeof(line),
				 "program pin %s (id %u) does not use the pinned map %s (id %u)",
				 pin, pi.id, pg_map_names[i], want[i]);
			(*problems)++;
			report(line, ctx);
		}
	}
	return 0;
}

/* One link pin: an XDP link of portgate's programs, on a live interface, with its record. */
static const char *pg_check_link(const struct pg_opts *o, const char *name,
				 const struct pg_netns *self, struct pg_meta *meta, __u32 up_id,
				 __u32 acc_id, __u32 tc_id, struct bpf_link_info *li)
{
	__u32 tc_run = 0;
	char path[PATH_MAX], ifname[IF_NAMESIZE];
	const struct pg_meta_link *rec;
	__u64 netns_id;
	__u32 ifindex, len = sizeof(*li);
	int fd, err;

	memset(li, 0, sizeof(*li));
	if (!pg_link_pin_parse(name, &netns_id, &ifindex))
		return "not a link pin name (link_<netns id>_<ifindex>)";
	if (pg_pin_path(o, name, path, sizeof(path)))
		return "path too long";
	fd = bpf_obj_get(path);
	if (fd < 0)
		return "cannot be opened (not a BPF object?)";
	err = bpf_obj_get_info_by_fd(fd, li, &len);
	close(fd);
	if (err || li->type != BPF_LINK_TYPE_XDP)
		return "not an XDP link";
	if (li->prog_id != up_id && li->prog_id != acc_id)
		return "it runs a program that is not portgate's pinned one";
	rec = meta ? pg_meta_link_find(meta, netns_id, ifindex) : NULL;
	if (!rec || rec->link_id != li->id)
		return "no link record in pg_meta for it";
	if (!li->xdp.ifindex)
		return "its interface is gone (defunct link; 'portgate detach' of it prunes it)";
	if (netns_id != self->id)
		return NULL; /* another namespace's interface: checked there */
	if (li->xdp.ifindex != ifindex)
		return "the pin's name names another interface";
	if (!if_indextoname(li->xdp.ifindex, ifname))
		return "its interface does not exist";
	/* an access interface's tc egress half: the record says it runs */
	pg_tc_query(li->xdp.ifindex, &tc_run);
	if ((rec->hooks & PG_HOOK_TC) && !tc_run)
		return "its tc egress filter is missing: inbound is not filtered here ('portgate attach' again restores it)";
	if ((rec->hooks & PG_HOOK_TC) && tc_run != tc_id)
		return "its tc egress filter runs a program that is not portgate's pinned one";
	if (!(rec->hooks & PG_HOOK_TC) && tc_run)
		return "a tc egress filter with portgate's handle runs here, but the record says outbound-only";
	return NULL;
}

int pg_check_pins(const struct pg_opts *o, const struct pg_maps *m, pg_check_report_fn report,
		  void *ctx, unsigned int *problems, unsigned int *links)
{
	struct pg_meta meta, *mp;
	struct bpf_link_info li;
	struct pg_netns self;
	__u32 up_id, acc_id, tc_id;
	char line[512];
	struct dirent *de;
	DIR *d;
	int err;

	*links = 0;
	err = pg_check_prog_maps(o, PG_PIN_PROG_UPLINK, m, report, ctx, problems, &up_id) ?:
	      pg_check_prog_maps(o, PG_PIN_PROG_ACCESS, m, report, ctx, problems, &acc_id) ?:
	      pg_check_prog_maps(o, PG_PIN_PROG_ACCESS_IN, m, report, ctx, problems, &tc_id) ?:
	      pg_netns_self(&self);
	if (err)
		return err;
	mp = pg_meta_open(o, false, &meta) ? NULL : &meta;
	d = opendir(o->pin_path);
	if (!d) {
		err = pg_sys_err(-errno, "cannot read '%s'", o->pin_path);
		goto out;
	}
	while ((de = readdir(d))) {
		const char *why;

		if (strncmp(de->d_name, PG_PIN_LINK_PREFIX, strlen(PG_PIN_LINK_PREFIX)))
			continue;
		(*links)++;
		why = pg_check_link(o, de->d_name, &self, mp, up_id, acc_id, tc_id, &li);
		if (!why)
			continue;
		snprintf(line, sizeof(line), "link pin %s (link id %u, ifindex %u, prog id %u): %s",
			 de->d_name, li.id, li.xdp.ifindex, li.prog_id, why);
		(*problems)++;
		report(line, ctx);
	}
	closedir(d);
out:
	if (mp)
		pg_meta_close(mp);
	return err;
}

/* ---- the command */

struct pg_check_out {
	struct pg_json *j;
};

static void pg_check_print(const char *line, void *ctx)
{
	struct pg_check_out *out = ctx;

	if (out->j)
		pg_json_str(out->j, NULL, line);
	else
		printf("%s\n", line);
}

/* During --repair's first pass: only what it repaired is said. */
static void pg_check_quiet(const char *line, void *ctx)
{
	if (!strncmp(line, "repaired: ", 10))
		pg_check_print(line, ctx);
}

int cmd_check(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_check_out out = {};
	struct pg_check_sum sum = {};
	unsigned int links = 0;
	struct pg_maps m;
	struct pg_json j;
	int err;

	bool repair = argc == 2 && !strcmp(argv[1], "--repair");

	if (argc > 1 && !repair)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected [-j] [--repair])",
				    argv[1]),
		       PG_EXIT_USAGE;
	err = pg_maps_open(o, PG_MAPS_LOCK, &m);
	if (err)
		return pg_exit_code(err);
	if (o->json) {
		pg_json_init(&j, stdout);
		pg_json_obj(&j, NULL);
		pg_json_arr(&j, "problems");
		out.j = &j;
	}
	/* --repair: the kind counts first (each a "repaired:" line), then the verdict */
	if (repair)
		err = pg_check_maps(&m, PG_CHECK_IDLE | PG_CHECK_REPAIR, pg_check_quiet, &out,
				    &sum);
	if (!err)
		err = pg_check_maps(&m, PG_CHECK_IDLE, pg_check_print, &out, &sum);
	if (!err)
		err = pg_check_pins(o, &m, pg_check_print, &out, &sum.problems, &links);
	pg_maps_close(&m);
	if (o->json) {
		pg_json_end_arr(&j);
		pg_json_bool(&j, "consistent", !err && !sum.problems);
		pg_json_u64(&j, "generation", sum.gen);
		pg_json_u64(&j, "rules", sum.rules);
		pg_json_u64(&j, "exemptions_v4", sum.exempt_v4);
		pg_json_u64(&j, "exemptions_v6", sum.exempt_v6);
		pg_json_u64(&j, "links", links);
		pg_json_end_obj(&j);
		pg_json_done(&j);
	}
	if (err)
		return pg_exit_code(err) ?: PG_EXIT_RUNTIME;
	if (sum.problems) {
		fflush(stdout);
		pg_err("check: %u inconsistencies under '%s'", sum.problems, o->pin_path);
		return PG_EXIT_RUNTIME;
	}
	if (!o->json)
		printf("consistent: generation %u, %u rules, %lu+%lu exemptions, %u links\n",
		       sum.gen, sum.rules, sum.exempt_v4, sum.exempt_v6, links);
	return PG_EXIT_OK;
}
