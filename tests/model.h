/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Host model of the XDP program's decision, shared by tests/test_xdp.c
 * (it judges the random frames and cross-checks every table vector) and
 * tests/fuzz/fuzz_xdp.c (differential fuzzing against the real program).
 *
 * The frame goes through the shared parser compiled for the host (as
 * `portgate test` uses it); the rule and exemption lookup is derived
 * independently from the documented semantics over a list of rules and
 * exemptions (struct rule_spec, struct exempt_spec of the harness), not
 * from the maps. No test framework here: errors are return values.
 */
#ifndef PORTGATE_MODEL_H
#define PORTGATE_MODEL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portgate.h"
#include "parse.h"
#include "xdp_harness.h"

/* The default policy (rule ids of the harness): inbound SMTP and SNMP. */
static const struct rule_spec model_default_rules[] = {
	RULE(R_SMTP, PG_DIR_IN, PG_PROTO_TCP, 25, 0, PG_ACTION_DROP),
	RULE(R_SMTPS, PG_DIR_IN, PG_PROTO_TCP, 465, 0, PG_ACTION_DROP),
	RULE(R_SUBMIT, PG_DIR_IN, PG_PROTO_TCP, 587, 0, PG_ACTION_DROP),
	RULE(R_SMTP_ALT, PG_DIR_IN, PG_PROTO_TCP, 2525, 0, PG_ACTION_DROP),
	RULE(R_SNMP, PG_DIR_IN, PG_PROTO_UDP, 161, 0, PG_ACTION_DROP),
};

#define MODEL_N_DEFAULTS (sizeof(model_default_rules) / sizeof(model_default_rules[0]))
#define MODEL_SETUP_MAX_RULES (VEC_MAX_RULES + R_DEFAULTS)

static inline __u16 model_rule_end(const struct rule_spec *r)
{
	return r->port_end ? r->port_end : r->port;
}

/* All rules of a vector's setup, defaults first; returns the count. */
static inline int model_setup_rules(const struct vec *v, struct rule_spec *out)
{
	int n = 0;

	if (v->defaults)
		for (size_t i = 0; i < MODEL_N_DEFAULTS; i++)
			out[n++] = model_default_rules[i];
	for (int i = 0; i < VEC_MAX_RULES && v->rules[i].action != PG_ACTION_NONE; i++)
		out[n++] = v->rules[i];
	return n;
}

/* Number of exemptions of a vector's setup (the list ends at cidr NULL). */
static inline int model_setup_exempt(const struct vec *v)
{
	int n = 0;

	while (n < VEC_MAX_EXEMPT && v->exempt[n].cidr)
		n++;
	return n;
}

/*
 * "addr/len" of an exemption: family, address masked to the prefix and
 * prefix length. 0, or -1 if the text is not a prefix.
 */
static inline int model_exempt_prefix(const struct exempt_spec *x, bool *v6, __u8 addr[16],
				      __u8 *plen)
{
	char text[INET6_ADDRSTRLEN];
	const char *slash = strchr(x->cidr, '/');
	int bits, len;
	char *end;

	if (!slash || (size_t)(slash - x->cidr) >= sizeof(text))
		return -1;
	memcpy(text, x->cidr, slash - x->cidr);
	text[slash - x->cidr] = 0;
	*v6 = strchr(text, ':') != NULL;
	bits = *v6 ? 128 : 32;
	len = (int)strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || len < 0 || len > bits)
		return -1;
	memset(addr, 0, 16);
	if (inet_pton(*v6 ? AF_INET6 : AF_INET, text, addr) != 1)
		return -1;
	for (int i = 0; i < bits / 8; i++) {
		int keep = len - i * 8;

		if (keep <= 0)
			addr[i] = 0;
		else if (keep < 8)
			addr[i] &= (__u8)(0xff << (8 - keep));
	}
	*plen = (__u8)len;
	return 0;
}

/* Does the exemption's prefix hold this address (family and bits)? */
static inline bool model_exempt_covers(const struct exempt_spec *x, int ip_version,
				       const __u8 *addr)
{
	__u8 net[16], plen;
	bool v6;

	if (model_exempt_prefix(x, &v6, net, &plen) || ip_version != (v6 ? 6 : 4))
		return false;
	for (int i = 0; i < plen; i++) {
		__u8 bit = 0x80 >> (i % 8);

		if ((addr[i / 8] & bit) != (net[i / 8] & bit))
			return false;
	}
	return true;
}

/*
 * The expected reason for a frame of len bytes at f, through the program
 * of direction dir, under rules[nrules] (a later rule overrides an earlier
 * one on the ports they share, as the port table does) and ex[nex]. *rule
 * is the rule whose counters move (0 = none).
 */
static inline int model_decide(const struct rule_spec *rules, int nrules,
			       const struct exempt_spec *ex, int nex, enum pg_dir dir,
			       const __u8 *f, size_t len, __u16 *rule)
{
	const struct rule_spec *hit = NULL;
	const __u8 *saddr, *daddr;
	struct pg_pkt pkt;
	__u8 proto;
	int r;

	memset(&pkt, 0, sizeof(pkt));
	*rule = 0;
	r = pg_parse((void *)f, (void *)(f + len), &pkt);
	if (r != PG_R_PORTS)
		return r;
	proto = pkt.l4proto == IPPROTO_UDP ? PG_PROTO_UDP : PG_PROTO_TCP;
	for (int i = 0; i < nrules; i++)
		if (rules[i].dir == dir && rules[i].proto == proto && pkt.dport >= rules[i].port &&
		    pkt.dport <= model_rule_end(&rules[i]))
			hit = &rules[i];
	if (!hit)
		return PG_R_NO_MATCH;
	/*
	 * TCP rules match connection attempts: SYN (0x02) without ACK (0x10),
	 * or a header that ends before the flags byte (fail closed).
	 */
	if (proto == PG_PROTO_TCP && !(hit->flags & PG_RULE_F_ALL_SEGMENTS) && pkt.tcp_seen &&
	    (pkt.tcp_flags & 0x12) != 0x02)
		return PG_R_TCP_NOT_SYN;
	if (pkt.ip_version == 4) {
		saddr = (const __u8 *)&((const pg_iphdr *)pkt.l3)->saddr;
		daddr = (const __u8 *)&((const pg_iphdr *)pkt.l3)->daddr;
	} else {
		saddr = (const __u8 *)&((const pg_ipv6hdr *)pkt.l3)->saddr;
		daddr = (const __u8 *)&((const pg_ipv6hdr *)pkt.l3)->daddr;
	}
	for (int i = 0; i < nex; i++) {
		const struct exempt_spec *x = &ex[i];
		bool sub_is_dst = dir == PG_DIR_IN;
		const __u8 *a = (x->side == PG_SIDE_SUBSCRIBER) == sub_is_dst ? daddr : saddr;

		if (x->dir != dir)
			continue;
		if (x->proto != PG_EXEMPT_ALL_RULES && (x->proto != proto || x->port != hit->port))
			continue;
		if (model_exempt_covers(x, pkt.ip_version, a))
			return PG_R_EXEMPT;
	}
	*rule = hit->id;
	return hit->action == PG_ACTION_MONITOR ? PG_R_MONITORED : PG_R_BLOCKED;
}

/* The same for a vector's setup (default policy, rules, exemptions). */
static inline int model(const struct vec *setup, enum pg_dir dir, const __u8 *f, size_t len,
			__u16 *rule)
{
	struct rule_spec rules[MODEL_SETUP_MAX_RULES];
	int nrules = model_setup_rules(setup, rules);

	return model_decide(rules, nrules, setup->exempt, model_setup_exempt(setup), dir, f, len,
			    rule);
}

/*
 * The exemption set as the loader keeps it (tests/test_exempt.c drives
 * the CLI and compares): allow adds an exemption that is not there yet
 * (idempotent), disallow removes one that is, apply replaces the static
 * ones with a file's and keeps the dynamic ones the file does not list
 * (a listed one becomes static). An exemption is its masked prefix, side,
 * direction and rule (the rule's first port); cidr is canonical text.
 */
#define MODEL_EX_MAX 4096

struct model_ex {
	char cidr[INET6_ADDRSTRLEN + 4];
	__u8 side, dir, proto;
	__u16 port;
	bool dynamic;
};

struct model_exset {
	struct model_ex e[MODEL_EX_MAX];
	int n;
};

/* The canonical "addr/len" (host bits cleared, as the loader prints it). */
static inline int model_ex_canon(const char *cidr, char *out, size_t len)
{
	struct exempt_spec x = {.cidr = cidr};
	char a[INET6_ADDRSTRLEN];
	__u8 addr[16], plen;
	bool v6;

	if (model_exempt_prefix(&x, &v6, addr, &plen) ||
	    !inet_ntop(v6 ? AF_INET6 : AF_INET, addr, a, sizeof(a)))
		return -1;
	snprintf(out, len, "%s/%u", a, plen);
	return 0;
}

static inline bool model_ex_same(const struct model_ex *a, const struct model_ex *b)
{
	return !strcmp(a->cidr, b->cidr) && a->side == b->side && a->dir == b->dir &&
	       a->proto == b->proto && a->port == b->port;
}

static inline int model_ex_find(const struct model_exset *s, const struct model_ex *x)
{
	for (int i = 0; i < s->n; i++)
		if (model_ex_same(&s->e[i], x))
			return i;
	return -1;
}

/* allow: false if it was there already (nothing changes). */
static inline bool model_ex_allow(struct model_exset *s, const struct model_ex *x)
{
	if (model_ex_find(s, x) >= 0 || s->n == MODEL_EX_MAX)
		return false;
	s->e[s->n++] = *x;
	return true;
}

/* disallow: false if it was not there. */
static inline bool model_ex_disallow(struct model_exset *s, const struct model_ex *x)
{
	int i = model_ex_find(s, x);

	if (i < 0)
		return false;
	s->e[i] = s->e[--s->n];
	return true;
}

/* apply: the file's exemptions (static), and the dynamic ones it does not list. */
static inline void model_ex_apply(struct model_exset *s, const struct model_ex *file, int n)
{
	struct model_exset *old = malloc(sizeof(*old));

	if (!old)
		abort();
	*old = *s;
	s->n = 0;
	for (int i = 0; i < n; i++) {
		struct model_ex x = file[i];

		x.dynamic = false;
		model_ex_allow(s, &x);
	}
	for (int i = 0; i < old->n; i++)
		if (old->e[i].dynamic)
			model_ex_allow(s, &old->e[i]);
	free(old);
}

/* The set as model_decide() takes it: specs[i].cidr points into s. */
static inline int model_ex_specs(const struct model_exset *s, struct exempt_spec *specs)
{
	for (int i = 0; i < s->n; i++)
		specs[i] = (struct exempt_spec){.cidr = s->e[i].cidr,
						.side = s->e[i].side,
						.dir = s->e[i].dir,
						.proto = s->e[i].proto,
						.port = s->e[i].port};
	return s->n;
}

#endif /* PORTGATE_MODEL_H */
