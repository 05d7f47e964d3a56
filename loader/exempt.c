// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Exemptions: allow/disallow/exemptions on the LPM tries pg_exempt_v4/v6.
 * The key is 32 exact bits of metadata (scope, proto, rule's first port)
 * followed by the masked address, so one trie serves every rule.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "loader.h"

struct pg_exempt {
	bool v6;
	__u8 addr[16];
	__u8 plen; /* address prefix length */
	__u8 side; /* enum pg_side */
	__u8 dir;
	__u8 proto; /* enum pg_proto or PG_EXEMPT_ALL_RULES */
	__u16 port; /* the rule's port as given, resolved to its first port */
};

static int pg_parse_prefix(const char *s, struct pg_exempt *x)
{
	const char *slash = strchr(s, '/');
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned long len;
	unsigned int max, i;
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
			return pg_usage_err(NULL, "bad prefix length '%s' in '%s': expected 0-%u",
					    slash + 1, s, max);
	}
	x->plen = len;
	/* mask: the trie compares prefixes, host bits must be zero */
	for (i = 0; i < max / 8; i++) {
		int keep = (int)len - (int)i * 8;

		if (keep <= 0)
			x->addr[i] = 0;
		else if (keep < 8)
			x->addr[i] &= (__u8)(0xff << (8 - keep));
	}
	return 0;
bad:
	return pg_usage_err(NULL,
			    "bad prefix '%s': expected an IPv4 or IPv6 address, optionally "
			    "with /LEN (e.g. 192.0.2.0/24, 2001:db8::/64)",
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
		return pg_usage_err(NULL,
				    "bad rule '%s': expected PROTO/PORT with one port (any "
				    "port of the rule)",
				    s);
	{
		__u16 lo, hi;

		if (pg_parse_ports(slash + 1, &lo, &hi))
			return -EINVAL;
		x->port = lo;
	}
	return 0;
}

/* PREFIX --subscriber|--peer [--rule PROTO/PORT] [--dir in|out] */
static int pg_parse_exempt(int argc, char **argv, struct pg_exempt *x)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val, *prefix = NULL;
	int sides = 0;

	memset(x, 0, sizeof(*x));
	x->dir = PG_DIR_IN;
	x->proto = PG_EXEMPT_ALL_RULES;
	while (pg_args_next(&a, &opt, &val)) {
		if (!opt) {
			if (prefix)
				return pg_usage_err(
					a.cmd, "unexpected argument '%s' (expected one PREFIX)",
					val);
			prefix = val;
			if (pg_parse_prefix(val, x))
				return -EINVAL;
		} else if (!strcmp(opt, "--subscriber") && !val) {
			x->side = PG_SIDE_SUBSCRIBER;
			sides++;
		} else if (!strcmp(opt, "--peer") && !val) {
			x->side = PG_SIDE_PEER;
			sides++;
		} else if (!strcmp(opt, "--dir")) {
			if (pg_args_value(&a, opt, &val) || pg_parse_dir(val, &x->dir))
				return -EINVAL;
		} else if (!strcmp(opt, "--rule")) {
			if (pg_args_value(&a, opt, &val) || pg_parse_rule_ref(val, x))
				return -EINVAL;
		} else {
			return pg_usage_err(a.cmd, "unknown option '%s', try 'portgate %s --help'",
					    opt, a.cmd);
		}
	}
	if (!prefix)
		return pg_usage_err(a.cmd, "expected PREFIX, e.g. '%s 192.0.2.0/24 --peer'", a.cmd);
	if (sides != 1)
		return pg_usage_err(a.cmd, "expected exactly one of --subscriber or --peer");
	return 0;
}

/* The key as the fast path builds it; port = the rule's first port. */
static void pg_exempt_key(const struct pg_exempt *x, __u16 first, void *key, size_t *klen)
{
	struct pg_exempt_v6_key k = {
		.prefixlen = PG_LPM_META_BITS + x->plen,
		.scope = pg_exempt_scope(x->side, x->dir),
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
	snprintf(buf, len, "%s/%u --%s --dir %s --rule %s", a, x->plen,
		 x->side == PG_SIDE_PEER ? "peer" : "subscriber", pg_dir_name(x->dir), rule);
	return buf;
}

/* Keep pg_exempt_kinds exact: the fast path skips kinds counted zero. */
static int pg_exempt_kind_add(struct pg_maps *m, const struct pg_exempt *x, int delta)
{
	int fd = m->fd[PG_M_EXEMPT_KINDS];
	struct pg_exempt_kinds k;
	__u32 zero = 0;
	__u32 i = pg_exempt_kind(x->v6, x->side, x->proto == PG_EXEMPT_ALL_RULES, x->dir);

	if (bpf_map_lookup_elem(fd, &zero, &k))
		return pg_sys_err(-errno, "cannot read '%s'", pg_map_names[PG_M_EXEMPT_KINDS]);
	k.n[i] += delta;
	if (bpf_map_update_elem(fd, &zero, &k, BPF_ANY))
		return pg_sys_err(-errno, "cannot update '%s'", pg_map_names[PG_M_EXEMPT_KINDS]);
	return 0;
}

static int pg_exempt_change(const struct pg_opts *o, int argc, char **argv, bool add)
{
	struct pg_exempt_val v = {};
	struct pg_exempt x;
	struct pg_maps m;
	__u8 key[sizeof(struct pg_exempt_v6_key)];
	__u16 first, last;
	char desc[128];
	size_t klen;
	int fd, err;

	if (pg_parse_exempt(argc, argv, &x))
		return PG_EXIT_USAGE;
	err = pg_maps_open(o, PG_MAPS_LOCK | (add ? PG_OPEN_CREATE : 0), &m);
	if (err)
		return PG_EXIT_RUNTIME;
	first = x.port;
	if (x.proto != PG_EXEMPT_ALL_RULES) {
		err = pg_rule_lookup(&m, x.dir, x.proto, x.port, &first, &last);
		if (err == -ENOENT && !add) {
			/* the rule is gone: its exemptions can still be removed by its port */
			first = x.port;
			err = 0;
		} else if (err == -ENOENT) {
			pg_err("no rule covers %s/%u --dir %s (expected a rule listed by 'portgate "
			       "rules')",
			       pg_proto_name(x.proto), x.port, pg_dir_name(x.dir));
		}
		if (err)
			goto out;
	}
	pg_exempt_key(&x, first, key, &klen);
	fd = m.fd[x.v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4];
	v.addr_prefixlen = x.plen;
	/* count before inserting, uncount after deleting: never an uncounted entry */
	if (add) {
		err = pg_exempt_kind_add(&m, &x, 1);
		if (err)
			goto out;
		if (bpf_map_update_elem(fd, key, &v, BPF_NOEXIST)) {
			err = -errno;
			pg_exempt_kind_add(&m, &x, -1);
			if (err == -EEXIST)
				err = 0; /* already there: allow is idempotent */
		}
	}
	if (add && err) {
		if (err == -ENOSPC || err == -E2BIG)
			pg_err("exemption table full, %s not added",
			       pg_exempt_str(&x, first, desc, sizeof(desc)));
		else
			pg_sys_err(err, "cannot add %s",
				   pg_exempt_str(&x, first, desc, sizeof(desc)));
	} else if (!add && bpf_map_delete_elem(fd, key)) {
		err = -errno;
		if (err == -ENOENT)
			pg_err("no exemption %s (expected one listed by 'portgate exemptions')",
			       pg_exempt_str(&x, first, desc, sizeof(desc)));
		else
			pg_sys_err(err, "cannot remove %s",
				   pg_exempt_str(&x, first, desc, sizeof(desc)));
	} else if (!add) {
		err = pg_exempt_kind_add(&m, &x, -1);
	}
out:
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
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
static void pg_exempt_decode(const void *key, bool v6, struct pg_exempt *x, __u16 *port)
{
	struct pg_exempt_v6_key k = {};

	memcpy(&k, key, v6 ? sizeof(struct pg_exempt_v6_key) : sizeof(struct pg_exempt_v4_key));
	memset(x, 0, sizeof(*x));
	x->v6 = v6;
	x->plen = k.prefixlen - PG_LPM_META_BITS;
	x->side = k.scope >> 1;
	x->dir = k.scope & 1;
	x->proto = k.proto;
	memcpy(x->addr, k.addr, 16);
	*port = (k.port_hi << 8) | k.port_lo;
}

int pg_exempt_count(int fd, bool v6, unsigned int *n)
{
	__u8 key[sizeof(struct pg_exempt_v6_key)], next[sizeof(key)];
	void *prev = NULL;

	(void)v6;
	*n = 0;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, sizeof(key));
		prev = key;
		++*n;
	}
	return 0;
}

int cmd_exemptions(const struct pg_opts *o, int argc, char **argv)
{
	__u8 key[sizeof(struct pg_exempt_v6_key)], next[sizeof(key)];
	char a[INET6_ADDRSTRLEN + 8], rule[16];
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
		printf("%-44s %-10s %-4s %s\n", "PREFIX", "SIDE", "DIR", "RULE");
	}
	for (v6 = 0; v6 <= 1; v6++) {
		int fd = m.fd[v6 ? PG_M_EXEMPT_V6 : PG_M_EXEMPT_V4];

		for (prev = NULL; !bpf_map_get_next_key(fd, prev, next); prev = key) {
			memcpy(key, next, sizeof(key));
			pg_exempt_decode(key, v6, &x, &port);
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
				pg_json_end_obj(&j);
			} else {
				printf("%-44s %-10s %-4s %s\n", a,
				       x.side == PG_SIDE_PEER ? "peer" : "subscriber",
				       pg_dir_name(x.dir), rule);
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
