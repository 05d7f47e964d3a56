/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Harness for tests/test_xdp.c: a vector describes one frame, the map
 * setup it needs and what the XDP program must answer; run_vec() builds
 * the frame, installs the setup, runs it through BPF_PROG_TEST_RUN and
 * compares verdict and every counter (per-CPU sums, before/after).
 */
#ifndef PORTGATE_XDP_HARNESS_H
#define PORTGATE_XDP_HARNESS_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/types.h>

#include "portgate.h"
#include "pkt.h"

#define VEC_MAX_RULES 8
#define VEC_MAX_EXEMPT 4
#define VEC_MAX_POKE 4
#define VEC_NAME_MAX 96

/* Addresses of the generated tables: subscriber and network side. */
#define SUB4 "100.64.0.10"
#define NET4 "198.51.100.10"
#define SUB6 "2001:db8:64::10"
#define NET6 "2001:db8:100::10"

/* Rule ids of the default policy (PG defaults: inbound mail + SNMP). */
enum {
	R_SMTP = 1,	/* TCP 25 */
	R_SMTPS = 2,	/* TCP 465 */
	R_SUBMIT = 3,	/* TCP 587 */
	R_SMTP_ALT = 4, /* TCP 2525 */
	R_SNMP = 5,	/* UDP 161 */
	R_DEFAULTS = 5,
};

/* One rule; rule id explicit so vectors can name the counter that moves. */
struct rule_spec {
	__u16 id;
	__u8 dir;    /* enum pg_dir */
	__u8 proto;  /* enum pg_proto */
	__u8 action; /* enum pg_action; PG_ACTION_NONE ends the list */
	__u16 port;
	__u16 port_end; /* 0 = single port */
	__u8 flags;	/* PG_RULE_F_*: TCP rules match SYN-only unless ALL_SEGMENTS */
};

/* One exemption; cidr NULL ends the list. */
struct exempt_spec {
	const char *cidr; /* "100.64.0.0/10", "2001:db8:64::/64" */
	__u8 side;	  /* enum pg_side */
	__u8 dir;	  /* enum pg_dir */
	__u8 proto;	  /* enum pg_proto, or PG_EXEMPT_ALL_RULES */
	__u16 port;	  /* the rule's first port; 0 with ALL_RULES */
};

#define EX_ALL(s, d, c)                                                            \
	{                                                                          \
		.cidr = (c), .side = (s), .dir = (d), .proto = PG_EXEMPT_ALL_RULES \
	}
#define EX_ONE(s, d, p, port_, c)                                                   \
	{                                                                           \
		.cidr = (c), .side = (s), .dir = (d), .proto = (p), .port = (port_) \
	}
#define RULE(id_, d, p, lo, hi, act)                                                   \
	{                                                                              \
		.id = (id_), .dir = (d), .proto = (p), .port = (lo), .port_end = (hi), \
		.action = (act)                                                        \
	}

#define RULE_ALLSEG(id_, d, lo, hi, act)                                                        \
	{                                                                                       \
		.id = (id_), .dir = (d), .proto = PG_PROTO_TCP, .port = (lo), .port_end = (hi), \
		.action = (act), .flags = PG_RULE_F_ALL_SEGMENTS                                \
	}

/* Byte overwrite applied after building (bad versions, lengths, ...). */
struct poke {
	__u16 off;
	__u8 val;
	__u8 used;
};

#define POKE(o, v)                                \
	{                                         \
		.off = (o), .val = (v), .used = 1 \
	}

struct vec {
	char name[VEC_NAME_MAX];
	struct pkt_spec pkt;
	struct poke poke[VEC_MAX_POKE];
	size_t len;    /* >0: cut the built frame to this many bytes */
	bool defaults; /* install the default policy (rule ids 1..5) first */
	struct rule_spec rules[VEC_MAX_RULES];
	struct exempt_spec exempt[VEC_MAX_EXEMPT];
	enum pg_dir dir; /* PG_DIR_IN runs portgate_uplink, OUT portgate_access */
	bool tc;	 /* run portgate_access_in (tc egress, PG_DIR_IN) instead */
	int verdict;	 /* XDP_PASS or XDP_DROP */
	enum pg_reason reason;
	__u16 rule; /* rule whose pg_rule_stats must move by one, 0 = none */
};

/*
 * Builds a vector's frame into buf (cap bytes): pkt_build, then the pokes,
 * then the cut. Returns its length, or 0 if the vector is inconsistent
 * (does not fit, pokes or cuts beyond the frame).
 */
static inline size_t vec_build(const struct vec *v, __u8 *buf, size_t cap)
{
	size_t n = pkt_build(&v->pkt, buf, cap);

	if (!n)
		return 0;
	for (int i = 0; i < VEC_MAX_POKE && v->poke[i].used; i++) {
		if (v->poke[i].off >= n)
			return 0;
		buf[v->poke[i].off] = v->poke[i].val;
	}
	if (v->len) {
		if (v->len > n)
			return 0;
		n = v->len;
	}
	return n;
}

#endif /* PORTGATE_XDP_HARNESS_H */
