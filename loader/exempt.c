// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Exemptions: allow/disallow/exemptions on the LPM tries pg_exempt_v4/v6.
 * The key is 32 exact bits of metadata (scope, proto, rule's first port)
 * followed by the masked address, so one trie serves every rule.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "loader.h"
#include "exempt_maps.h"

/*
 * Shorter prefixes exempt (nearly) everyone from filtering: allow takes
 * them only with --force. --file input is bounded (lines.c: a line of at
 * most PG_FILE_MAX_LINE bytes, a file of at most PG_FILE_MAX_BYTES) and
 * holds at most PG_FILE_MAX_PREFIXES prefixes (both tables full).
 */
#define PG_MIN_PLEN_V4 8
#define PG_MIN_PLEN_V6 32
#define PG_FILE_MAX_PREFIXES (2UL * PG_MAX_EXEMPT)

bool pg_exempt_broad(bool v6, unsigned int plen)
{
	return plen < (v6 ? PG_MIN_PLEN_V6 : PG_MIN_PLEN_V4);
}

/* where: "FILE:LINE" for a --file line, NULL for the PREFIX argument */
static int pg_parse_prefix(const char *s, struct pg_exempt *x, const char *where)
{
	const char *slash = strchr(s, '/');
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned long len;
	unsigned int max, i;
	bool masked = false;
	char *end;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	if (slash)
		buf[slash - s] = '\0';
	if (inet_pton(AF_INET, buf, x->addr) == 1)
		x->v6 = false;
	else if (inet_pton(AF_INET6, buf, x->addr) == 1)
		x->v6 = true;
	else
		goto bad;
	max = x->v6 ? 128 : 32;
	len = max;
	if (slash) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || slash[1] < '0' || slash[1] > '9' || len > max)
			return pg_usage_err(where, "bad prefix length '%s' in '%s': expected 0-%u",
					    slash + 1, s, max);
	}
	x->plen = len;
	/* mask: the trie compares prefixes, host bits must be zero */
	for (i = 0; i < max / 8; i++) {
		int keep = (int)len - (int)i * 8;
		__u8 was = x->addr[i];

		if (keep <= 0)
			x->addr[i] = 0;
		else if (keep < 8)
			x->addr[i] &= (__u8)(0xff << (8 - keep));
		masked |= was != x->addr[i];
	}
	if (!x->broad && len < (x->v6 ? PG_MIN_PLEN_V6 : PG_MIN_PLEN_V4))
		return pg_usage_err(
			where,
			"prefix '%s' is shorter than /%u: it would exempt %s from filtering (expected a longer prefix, or --force)",
			s, x->v6 ? PG_MIN_PLEN_V6 : PG_MIN_PLEN_V4,
			len ? "a large part of the Internet" : "every address");
	/* a typo (10.0.0.1/8 for 10.0.0.1/32?) must not pass unnoticed */
	if (masked) {
		inet_ntop(x->v6 ? AF_INET6 : AF_INET, x->addr, buf, sizeof(buf));
		fprintf(stderr, "portgate: %s%swarning: '%s' has host bits set, taken as %s/%u\n",
			where ?: "", where ? ": " : "", s, buf, x->plen);
	}
	return 0;
bad:
	return pg_usage_err(
		where,
		"bad prefix '%s': expected an IPv4 or IPv6 address, optionally with /LEN (e.g. 192.0.2.0/24, 2001:db8::/64)",
		s);
}

static int pg_parse_rule_ref(const char *s, struct pg_exempt *x)
{
	const char *slash = strchr(s, '/');
	char proto[8];

	if (!slash || (size_t)(slash - s) >= sizeof(proto))
		return pg_usage_err(NULL, "bad rule '%s': expected PROTO/PORT, e.g. tcp/25", s);
	memcpy(proto, s, slash - s);
	proto[slash - s] = '\0';
	if (pg_parse_proto(proto, &x->proto))
		return -EINVAL;
	if (strchr(slash + 1, '-'))
		return pg_usage_err(
			NULL,
			"bad rule '%s': expected PROTO/PORT with one port (any port of the rule)",
			s);
	{
		__u16 lo, hi;

		if (pg_parse_ports(slash + 1, &lo, &hi))
			return -EINVAL;
		x->port = lo;
	}
	return 0;
}

/*
 * (PREFIX | --file FILE) --subscriber|--peer [--rule PROTO/PORT] [--dir in|out] [--dynamic].
 * The options go to x; a PREFIX is parsed into x, a FILE is only named.
 */
int pg_parse_exempt(int argc, char **argv, struct pg_exempt *x, const char **file)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val, *prefix = NULL;
	int sides = 0;

	memset(x, 0, sizeof(*x));
	*file = NULL;
	x->dir = PG_DIR_IN;
	x->proto = PG_EXEMPT_ALL_RULES;
	x->broad = strcmp(a.cmd, "allow") != 0; /* removing a broad prefix is always fine */
	while (pg_args_next(&a, &opt, &val)) {
		if (!opt) {
			if (prefix)
				return pg_usage_err(
					a.cmd, "unexpected argument '%s' (expected one PREFIX)",
					val);
			prefix = val;
		} else if (!strcmp(opt, "--force") && !val) {
			x->broad = true;
		} else if (!strcmp(opt, "--subscriber") && !val) {
			x->side = PG_SIDE_SUBSCRIBER;
			sides++;
		} else if (!strcmp(opt, "--peer") && !val) {
			x->side = PG_SIDE_PEER;
			sides++;
		} else if (!strcmp(opt, "--dynamic") && !val) {
			x->dynamic = true;
		} else if (!strcmp(opt, "--dir")) {
			if (pg_args_value(&a, opt, &val) || pg_parse_dir(val, &x->dir))
				return -EINVAL;
		} else if (!strcmp(opt, "--rule")) {
			if (pg_args_value(&a, opt, &val) || pg_parse_rule_ref(val, x))
				return -EINVAL;
		} else if (!strcmp(opt, "--file")) {
			if (pg_args_value(&a, opt, &val))
				return -EINVAL;
			if (*file)
				return pg_usage_err(
					a.cmd, "option '--file' given twice (expected one FILE)");
			*file = val;
		} else {
			return pg_usage_err(a.cmd, "unknown option '%s', try 'portgate %s --help'",
					    opt, a.cmd);
		}
	}
	/* after the options: --force may follow the PREFIX */
	if (prefix && !*file && pg_parse_prefix(prefix, x, NULL))
		return -EINVAL;
	if (prefix && *file)
		return pg_usage_err(a.cmd,
				    "expected PREFIX or --file FILE, not both ('%s' and '%s')",
				    prefix, *file);
	if (!prefix && !*file)
		return pg_usage_err(a.cmd,
				    "expected PREFIX or --file FILE, e.g. '%s 192.0.2.0/24 --peer'",
				    a.cmd);
	if (sides != 1)
		return pg_usage_err(a.cmd, "expected exactly one of --subscriber or --peer");
	return 0;
}

/* The key as the fast path builds it; port = the rule's first port. */
void pg_exempt_key(__u32 gen, const struct pg_exempt *x, __u16 first, void *key, size_t *klen)
{
	struct pg_exempt_v6_key k = {
		.prefixlen = PG_LPM_META_BITS + x->plen,
		.scope = pg_exempt_scope(gen, x->side, x->dir),
		.proto = x->proto,
		.port_hi = x->proto == PG_EXEMPT_ALL_RULES ? 0 : first >> 8,
		.port_lo = x->proto == PG_EXEMPT_ALL_RULES ? 0 : first & 0xff,
	};

	/* the v4 key is the v6 key's prefix: same header, shorter address */
	memcpy(k.addr, x->addr, 16);
	*klen = x->v6 ? sizeof(struct pg_exempt_v6_key) : sizeof(struct pg_exempt_v4_key);
	memcpy(key, &k, *klen);
}

_Static_assert(sizeof(struct pg_exempt_v4_key) == 12 && sizeof(struct pg_exempt_v6_key) == 24,
	       "exemption keys: 8-byte header + address");

static const char *pg_exempt_str(const struct pg_exempt *x, __u16 port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], rule[16];

	inet_ntop(x->v6 ? AF_INET6 : AF_INET, x->addr, a, sizeof(a));
	if (x->proto == PG_EXEMPT_ALL_RULES)
		snprintf(rule, sizeof(rule), "all");
	else
		snprintf(rule, sizeof(rule), "%s/%u", pg_proto_name(x->proto), port);
	snprintf(buf, len, "%s/%u --%s --dir %s --rule %s%s", a, x->plen,
		 x->side == PG_SIDE_PEER ? "peer" : "subscriber", pg_dir_name(x->dir), rule,
		 x->dynamic ? " --dynamic" : "");
	return buf;
}

/* Entries per family in the live generation: the sum of its kind counts. */
static int pg_exempt_live(struct pg_maps *m, long live[2])
{
	struct pg_exempt_kinds k;
	__u32 gen = m->gen;
	int i;

	if (bpf_map_lookup_elem(m->fd[PG_M_EXEMPT_KINDS], &gen, &k))
		return pg_sys_err(-errno, "cannot read '%s'", pg_map_names[PG_M_EXEMPT_KINDS]);
	live[0] = live[1] = 0;
	for (i = 0; i < PG_EXEMPT_KINDS; i++)
		live[(i >> 3) & 1] += (long)k.prefix[i] + k.host[i];
	return 0;
}

void pg_maps_exm(const struct pg_maps *m, struct pg_exm *x)
{
	x->trie[0] = m->fd[PG_M_EXEMPT_V4];
	x->trie[1] = m->fd[PG_M_EXEMPT_V6];
	x->kinds = m->fd[PG_M_EXEMPT_KINDS];
	x->sum = m->fd[PG_M_EXEMPT_SUM];
	x->refs = m->fd[PG_M_EXEMPT_REFS];
	x->tab[0] = m->fd[PG_M_EXEMPT_TAB_V4];
	x->tab[1] = m->fd[PG_M_EXEMPT_TAB_V6];
}

int pg_exempt_list_add(struct pg_exempt_list *l, const struct pg_exempt *x, unsigned int line)
{
	struct pg_exempt_ent *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return pg_sys_err(-ENOMEM, "cannot read the prefixes");
		l->e = e;
		l->cap = cap;
	}
	e = &l->e[l->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->addr, x->addr, 16);
	e->plen = x->plen;
	e->v6 = x->v6;
	e->line = line;
	return 0;
}

/* "FILE:LINE" of an entry for messages, NULL for the PREFIX argument. */
static const char *pg_exempt_where(const struct pg_exempt_list *l, const struct pg_exempt_ent *e,
				   char *buf, size_t len)
{
	if (!l->name)
		return NULL;
	snprintf(buf, len, "%s:%u", l->name, e->line);
	return buf;
}

/* The entry with the command's options, for messages. */
static const char *pg_exempt_ent_str(const struct pg_exempt *opt, const struct pg_exempt_ent *e,
				     __u16 first, char *buf, size_t len)
{
	struct pg_exempt x = *opt;

	memcpy(x.addr, e->addr, 16);
	x.plen = e->plen;
	x.v6 = e->v6;
	return pg_exempt_str(&x, first, buf, len);
}

/*
 * Read FILE ("-": standard input): one prefix per line, '#' starts a
 * comment, blank lines and surrounding whitespace are ignored. Every line
 * is parsed before anything changes; a bad one is a usage error naming
 * FILE:LINE and the value, so is a line or a file beyond the limits. A
 * failed read fails the command (exit 1): the file is all or nothing.
 */
int pg_exempt_read(const char *file, const struct pg_exempt *opt, struct pg_exempt_list *l)
{
	char line[PG_FILE_MAX_LINE + 1], *s, *end, where[PATH_MAX + 16];
	struct pg_lines *rd;
	unsigned int no = 0;
	bool nul;
	size_t len;
	int err = 0, r;

	l->name = strcmp(file, "-") ? file : "<stdin>";
	err = pg_lines_open(file, &rd);
	if (err)
		return err;
	while ((r = pg_lines_next(rd, line, &len, &nul)) > 0 || r == -E2BIG || r == -EFBIG) {
		struct pg_exempt x = *opt;

		no++;
		if (r < 0 || nul)
			snprintf(where, sizeof(where), "%s:%u", l->name, no);
		if (r == -E2BIG) {
			err = pg_usage_err(
				where, "line longer than %d bytes (expected one prefix per line)",
				PG_FILE_MAX_LINE);
			break;
		}
		if (r == -EFBIG) {
			err = pg_usage_err(
				where, "file larger than %lu MiB (expected at most %lu prefixes)",
				PG_FILE_MAX_BYTES >> 20, PG_FILE_MAX_PREFIXES);
			break;
		}
		if (nul) {
			err = pg_usage_err(where,
					   "bad line: a NUL byte (expected one prefix per line)");
			break;
		}
		s = line + strcspn(line, "#");
		*s = '\0';
		for (s = line; isspace((unsigned char)*s); s++)
			;
		for (end = s + strlen(s); end > s && isspace((unsigned char)end[-1]); end--)
			;
		*end = '\0';
		if (!*s)
			continue;
		snprintf(where, sizeof(where), "%s:%u", l->name, no);
		if (l->n == PG_FILE_MAX_PREFIXES) {
			err = pg_usage_err(
				where,
				"more than %lu prefixes (the exemption tables hold %u per family)",
				PG_FILE_MAX_PREFIXES, PG_MAX_EXEMPT);
			break;
		}
		err = pg_parse_prefix(s, &x, where) ?: pg_exempt_list_add(l, &x, no);
		if (err)
			break;
	}
	if (!err && r < 0) {
		err = r;
		pg_err("%s:%u: cannot read '%s': %s (nothing changed)", l->name, no + 1, file,
		       strerror(-err));
	}
	pg_lines_close(rd);
	return err;
}

static int pg_exempt_ent_cmp(const void *pa, const void *pb)
{
	const struct pg_exempt_ent *a = pa, *b = pb;
	int c = (int)a->v6 - (int)b->v6;

	if (!c)
		c = memcmp(a->key, b->key, sizeof(a->key));
	return c ?: (a->line > b->line) - (a->line < b->line);
}

/*
 * Is exactly this key in the trie? A lookup on an LPM trie is a
 * longest-prefix match: it may return a shorter prefix covering ours. The
 * value holds the entry's address prefix length: equal to ours means the
 * match is our key itself (same length, and it matches our masked bits).
 */
static int pg_exempt_exists(int fd, struct pg_exempt_ent *e, bool dynamic_only, bool *exists)
{
	struct pg_exempt_val v;

	*exists = false;
	if (bpf_map_lookup_elem(fd, e->key, &v)) {
		if (errno == ENOENT)
			return 0;
		return pg_sys_err(-errno, "cannot read the exemptions");
	}
	/* disallow --dynamic removes only what an ip-up hook added */
	*exists = v.addr_prefixlen == e->plen && (!dynamic_only || v.flags & PG_EXEMPT_F_DYNAMIC);
	e->flags = v.flags;
	return 0;
}

#define PG_EXEMPT_BATCH_MIN 256 /* entries of a command written in batches */
#define PG_EXEMPT_FD(m, e) ((m)->fd[(e)->v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4])

struct pg_exempt_sum {
	unsigned long changed; /* added or removed */
	unsigned long present; /* allow: already there (or repeated in the file) */
};

/*
 * All or nothing, under the lock: build every key, drop duplicates, check
 * every entry, then change through the one writer (tools/lib/exempt_maps.c);
 * if a change fails midway, undo this command's changes the same way.
 */
static int pg_exempt_apply(struct pg_maps *m, const struct pg_exempt *opt, __u16 first,
			   struct pg_exempt_list *l, bool add, struct pg_exempt_sum *sum)
{
	char desc[128], wbuf[PATH_MAX + 16];
	struct pg_exempt_ent *e, *bad = NULL;
	struct pg_exm_ent *w = NULL, *heal = NULL;
	size_t *idx = NULL, nh = 0;
	long live[2] = {}, want[2] = {};
	unsigned long absent = 0, undone = 0;
	size_t i, nw = 0, limit, failed, nd;
	const char *where;
	struct pg_exm x;
	size_t klen;
	bool exists;
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	pg_maps_exm(m, &x);
	for (i = 0; i < l->n; i++) {
		struct pg_exempt ex = *opt;

		e = &l->e[i];
		memcpy(ex.addr, e->addr, 16);
		ex.plen = e->plen;
		ex.v6 = e->v6;
		pg_exempt_key(m->gen, &ex, first, e->key, &klen);
	}
	/* a prefix listed twice (or twice after masking) is one change */
	if (l->n > 1)
		qsort(l->e, l->n, sizeof(*l->e), pg_exempt_ent_cmp);
	for (i = 1; i < l->n; i++)
		if (l->e[i].v6 == l->e[i - 1].v6 &&
		    !memcmp(l->e[i].key, l->e[i - 1].key, sizeof(l->e[i].key))) {
			l->e[i].skip = true;
			sum->present += add;
		}
	w = calloc(l->n + 1, sizeof(*w));
	heal = calloc(l->n + 1, sizeof(*heal));
	idx = calloc(l->n + 1, sizeof(*idx));
	if (!w || !idx || !heal) {
		err = pg_sys_err(-ENOMEM, "cannot hold the exemptions");
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		e = &l->e[i];
		if (e->skip)
			continue;
		err = pg_exempt_exists(PG_EXEMPT_FD(m, e), e, !add && opt->dynamic, &exists);
		if (err)
			goto out;
		if (add && exists) {
			e->skip = true; /* allow is idempotent */
			sum->present++;
			/* its table slots are put again: a killed writer may have missed them */
			heal[nh].key = e->key;
			heal[nh].v6 = e->v6;
			heal[nh].val.addr_prefixlen = e->plen;
			heal[nh++].val.flags = e->flags;
			continue;
		} else if (!add && !exists) {
			absent++;
			if (!bad || e->line < bad->line)
				bad = e;
			continue;
		}
		w[nw].key = e->key;
		w[nw].v6 = e->v6;
		w[nw].val.addr_prefixlen = e->plen;
		w[nw].val.flags = add ? (opt->dynamic ? PG_EXEMPT_F_DYNAMIC : 0) : e->flags;
		idx[nw++] = i;
	}
	/* entries there already: only their slots, put again (counted net zero) */
	if (nh && (err = pg_exm_write(&x, heal, nh, PG_EXM_ADD | PG_EXM_NOEXIST, &failed))) {
		pg_sys_err(err, "cannot write the exemptions");
		goto out;
	}
	if (bad) {
		where = pg_exempt_where(l, bad, wbuf, sizeof(wbuf));
		pg_err("%s%sno exemption %s (expected one listed by 'portgate exemptions')%s",
		       where ?: "", where ? ": " : "",
		       pg_exempt_ent_str(opt, bad, first, desc, sizeof(desc)),
		       absent > 1 ? "; more are missing too, nothing removed"
		       : l->name  ? "; nothing removed"
				  : "");
		err = -ENOENT;
		goto out;
	}
	/* the tries hold two generations: each gets PG_MAX_EXEMPT per family */
	limit = nw;
	if (add) {
		err = pg_exempt_live(m, live);
		if (err)
			goto out;
		for (i = 0; i < nw && limit == nw; i++) {
			if (l->e[idx[i]].skip)
				continue;
			if (live[w[i].v6] + want[w[i].v6]++ >= PG_MAX_EXEMPT)
				limit = i;
		}
	}
	/*
	 * Long lists in batches (checked absent or present above, under the
	 * lock); a short one entry by entry, so that an entry a writer
	 * without the lock added meanwhile is found there, not overwritten.
	 */
	failed = limit;
	err = pg_exm_write(&x, w, limit,
			   limit > PG_EXEMPT_BATCH_MIN ? (add ? PG_EXM_ADD : 0) | PG_EXM_BATCH
						       : (add ? PG_EXM_ADD | PG_EXM_NOEXIST : 0),
			   &failed);
	if (err)
		bad = &l->e[idx[failed < limit ? failed : 0]];
	else if (limit < nw)
		err = -ENOSPC, bad = &l->e[idx[limit]];
	for (i = 0, nd = 0; i < limit; i++) {
		if (w[i].done)
			l->e[idx[i]].done = true, nd++;
		else if (w[i].present && !l->e[idx[i]].skip)
			sum->present++; /* a writer without the lock was first */
	}
	if (err && nd) {
		/* undo: the other direction of the same change, for what was done */
		struct pg_exm_ent *u = calloc(nd, sizeof(*u));
		size_t nu = 0, uf;

		for (i = 0; u && i < limit; i++)
			if (w[i].done)
				u[nu++] = w[i];
		if (!u || pg_exm_write(&x, u, nu, add ? 0 : PG_EXM_ADD, &uf))
			for (i = 0; i < nu; i++)
				undone += !u || !u[i].done;
		for (i = 0; u && i < nu; i++)
			nd -= u[i].done;
		free(u);
		if (!undone)
			nd = 0;
	}
	if (err && bad) {
		char tail[96] = "";

		where = pg_exempt_where(l, bad, wbuf, sizeof(wbuf));
		if (undone)
			snprintf(tail, sizeof(tail),
				 "; rollback failed, %lu changes of this command remain", undone);
		else if (l->n > 1)
			snprintf(tail, sizeof(tail), "; rolled back, nothing %s",
				 add ? "added" : "removed");
		if (add && (err == -ENOSPC || err == -E2BIG))
			pg_err("%s%sexemption table full, %s not added%s", where ?: "",
			       where ? ": " : "",
			       pg_exempt_ent_str(opt, bad, first, desc, sizeof(desc)), tail);
		else
			pg_err("%s%scannot %s %s: %s%s", where ?: "", where ? ": " : "",
			       add ? "add" : "remove",
			       pg_exempt_ent_str(opt, bad, first, desc, sizeof(desc)),
			       strerror(-err), tail);
	} else if (err) {
		pg_sys_err(err, "cannot %s the exemptions", add ? "add" : "remove");
	}
	sum->changed = nd;
out:
	free(w);
	free(heal);
	free(idx);
	return err;
}

/* The rule x names (if any) resolved to its first port, then the change. */
static int pg_exempt_on(struct pg_maps *m, const struct pg_exempt *x, struct pg_exempt_list *l,
			bool add, struct pg_exempt_sum *sum)
{
	__u16 first = x->port, last;
	int err = 0;

	if (x->proto != PG_EXEMPT_ALL_RULES) {
		err = pg_rule_lookup(m, x->dir, x->proto, x->port, &first, &last);
		if (err == -ENOENT && !add) {
			/* the rule is gone: its exemptions can still be removed by its port */
			first = x->port;
			err = 0;
		} else if (err == -ENOENT) {
			pg_err("no rule covers %s/%u --dir %s (expected a rule listed by 'portgate rules')",
			       pg_proto_name(x->proto), x->port, pg_dir_name(x->dir));
		}
	}
	if (!err)
		err = pg_exempt_apply(m, x, first, l, add, sum);
	return err;
}

int pg_exempt_cmd_maps(struct pg_maps *m, int argc, char **argv)
{
	bool add = !strcmp(argv[0], "allow");
	struct pg_exempt_list l = {};
	struct pg_exempt_sum sum;
	struct pg_exempt x;
	const char *file;
	int err;

	if (pg_parse_exempt(argc, argv, &x, &file))
		return -EINVAL;
	err = file ? pg_exempt_read(file, &x, &l) : pg_exempt_list_add(&l, &x, 0);
	if (!err)
		err = pg_exempt_on(m, &x, &l, add, &sum);
	free(l.e);
	return err;
}

static int pg_exempt_change(const struct pg_opts *o, int argc, char **argv, bool add)
{
	struct pg_exempt_list l = {};
	struct pg_exempt_sum sum;
	struct pg_exempt x;
	struct pg_maps m;
	const char *file;
	struct pg_json j;
	int err;

	if (pg_parse_exempt(argc, argv, &x, &file))
		return PG_EXIT_USAGE;
	/* read and check the whole file before taking the lock or creating anything */
	err = file ? pg_exempt_read(file, &x, &l) : pg_exempt_list_add(&l, &x, 0);
	if (err) {
		free(l.e);
		return pg_exit_code(err);
	}
	err = pg_maps_open(o, PG_MAPS_LOCK | (add ? PG_OPEN_CREATE : 0), &m);
	if (err) {
		free(l.e);
		return PG_EXIT_RUNTIME;
	}
	err = pg_exempt_on(&m, &x, &l, add, &sum);
	pg_maps_close(&m);
	free(l.e);
	if (err)
		return PG_EXIT_RUNTIME;
	if (file && o->json) {
		pg_json_init(&j, stdout);
		pg_json_obj(&j, NULL);
		pg_json_u64(&j, add ? "added" : "removed", sum.changed);
		if (add)
			pg_json_u64(&j, "present", sum.present);
		pg_json_end_obj(&j);
		pg_json_done(&j);
	} else if (file) {
		printf("%s %lu exemption%s", add ? "added" : "removed", sum.changed,
		       sum.changed == 1 ? "" : "s");
		if (add)
			printf(" (%lu already present)", sum.present);
		putchar('\n');
	}
	return PG_EXIT_OK;
}

int cmd_allow(const struct pg_opts *o, int argc, char **argv)
{
	return pg_exempt_change(o, argc, argv, true);
}

int cmd_disallow(const struct pg_opts *o, int argc, char **argv)
{
	return pg_exempt_change(o, argc, argv, false);
}

/* Decode a trie key back into the exemption it stands for. */
void pg_exempt_decode(const void *key, bool v6, struct pg_exempt *x, __u16 *port)
{
	struct pg_exempt_v6_key k = {};

	memcpy(&k, key, v6 ? sizeof(struct pg_exempt_v6_key) : sizeof(struct pg_exempt_v4_key));
	memset(x, 0, sizeof(*x));
	x->v6 = v6;
	x->plen = k.prefixlen - PG_LPM_META_BITS;
	x->side = (k.scope >> 1) & 1;
	x->dir = k.scope & 1;
	x->proto = k.proto;
	memcpy(x->addr, k.addr, 16);
	*port = (k.port_hi << 8) | k.port_lo;
}

/* The generation a trie key belongs to. */
static __u32 pg_exempt_key_gen(const void *key)
{
	const struct pg_exempt_v4_key *k = key;

	return (k->scope >> 2) & 1;
}

int pg_exempt_count(const struct pg_maps *m, bool v6, unsigned int *n)
{
	__u8 key[sizeof(struct pg_exempt_v6_key)], next[sizeof(key)];
	int fd = m->fd[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4];
	void *prev = NULL;

	*n = 0;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, sizeof(key));
		prev = key;
		*n += pg_exempt_key_gen(key) == m->gen;
	}
	return 0;
}

int cmd_exemptions(const struct pg_opts *o, int argc, char **argv)
{
	__u8 key[sizeof(struct pg_exempt_v6_key)], next[sizeof(key)];
	char a[INET6_ADDRSTRLEN + 8], rule[16];
	struct pg_exempt_val val;
	const char *origin;
	struct pg_exempt x;
	struct pg_json j;
	struct pg_maps m;
	void *prev;
	__u16 port;
	int v6;

	if (argc > 1)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected [-j])", argv[1]),
		       PG_EXIT_USAGE;
	if (pg_maps_open(o, 0, &m))
		return PG_EXIT_RUNTIME;
	if (o->json) {
		pg_json_init(&j, stdout);
		pg_json_arr(&j, NULL);
	} else {
		printf("%-44s %-10s %-4s %-10s %s\n", "PREFIX", "SIDE", "DIR", "RULE", "ORIGIN");
	}
	for (v6 = 0; v6 <= 1; v6++) {
		int fd = m.fd[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4];

		for (prev = NULL; !bpf_map_get_next_key(fd, prev, next); prev = key) {
			memcpy(key, next, sizeof(key));
			if (pg_exempt_key_gen(key) != m.gen)
				continue;
			pg_exempt_decode(key, v6, &x, &port);
			/* origin: static (config, allow) or dynamic (allow --dynamic, ip-up) */
			if (bpf_map_lookup_elem(fd, key, &val))
				val.flags = 0;
			origin = val.flags & PG_EXEMPT_F_DYNAMIC ? "dynamic" : "static";
			inet_ntop(v6 ? AF_INET6 : AF_INET, x.addr, a, INET6_ADDRSTRLEN);
			snprintf(a + strlen(a), 8, "/%u", x.plen);
			if (x.proto == PG_EXEMPT_ALL_RULES)
				snprintf(rule, sizeof(rule), "all");
			else
				snprintf(rule, sizeof(rule), "%s/%u", pg_proto_name(x.proto), port);
			if (o->json) {
				pg_json_obj(&j, NULL);
				pg_json_str(&j, "prefix", a);
				pg_json_str(&j, "side",
					    x.side == PG_SIDE_PEER ? "peer" : "subscriber");
				pg_json_str(&j, "dir", pg_dir_name(x.dir));
				pg_json_str(&j, "rule", rule);
				pg_json_str(&j, "origin", origin);
				pg_json_end_obj(&j);
			} else {
				printf("%-44s %-10s %-4s %-10s %s\n", a,
				       x.side == PG_SIDE_PEER ? "peer" : "subscriber",
				       pg_dir_name(x.dir), rule, origin);
			}
		}
	}
	if (o->json) {
		pg_json_end_arr(&j);
		pg_json_done(&j);
	}
	pg_maps_close(&m);
	return PG_EXIT_OK;
}

/* PREFIX as allow/disallow read it (masked), for other commands' filters. */
int pg_parse_prefix_arg(const char *s, bool *v6, __u8 addr[16], __u8 *plen)
{
	struct pg_exempt x = {};

	if (pg_parse_prefix(s, &x, NULL))
		return -EINVAL;
	*v6 = x.v6;
	memcpy(addr, x.addr, 16);
	*plen = x.plen;
	return 0;
}

/* --rule PROTO/PORT as allow/disallow read it. */
int pg_parse_rule_arg(const char *s, __u8 *proto, __u16 *port)
{
	struct pg_exempt x = {};

	if (pg_parse_rule_ref(s, &x))
		return -EINVAL;
	*proto = x.proto;
	*port = x.port;
	return 0;
}
