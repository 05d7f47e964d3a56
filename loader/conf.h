/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Shared by apply.c and save.c: the live state of one generation read
 * back from the maps, and its lines in the configuration grammar.
 */
#ifndef PORTGATE_CONF_H
#define PORTGATE_CONF_H

#include <limits.h>
#include <net/if.h>

#include "loader.h"

/*
 * One exemption without its generation: the trie key with the
 * generation bit of its scope clear (v4 keys zero-padded to the v6
 * size), its origin, and the config line it came from (0 if live).
 */
struct pg_cx {
	__u8 key[sizeof(struct pg_exempt_v6_key)];
	__u8 v6;
	__u8 flags; /* PG_EXEMPT_F_* */
	__u16 pad;
	__u32 line;
};

struct pg_cxv {
	struct pg_cx *e;
	size_t n, cap;
};

int pg_cxv_add(struct pg_cxv *v, const struct pg_cx *x);
/* Sort (the order save prints) and drop repeated keys, keeping the first. */
void pg_cxv_sort(struct pg_cxv *v);
int pg_cx_cmp(const void *a, const void *b);

/* What the maps hold now. */
struct pg_live {
	__u32 gen;	       /* the live generation */
	struct pg_rule *rules; /* live generation, sorted by pg_rule_cmp_full */
	unsigned int nrules;
	struct pg_cxv stat, dyn; /* live generation: static, dynamic (generation bit clear) */
	struct pg_cxv other;	 /* the other generation's keys as they are: leftovers */
	struct pg_link *links;
	unsigned int nlinks;
};

int pg_live_read(const struct pg_opts *o, struct pg_maps *m, struct pg_live *lv);
void pg_live_free(struct pg_live *lv);

int pg_rule_cmp_full(const void *a, const void *b);

/* "192.0.2.0/24 --peer --rule udp/161 --dir out" (what follows `allow`). */
const char *pg_cx_args(const struct pg_cx *e, char *buf, size_t len);
/* "eth0 --role uplink --mode native" (what follows `attach`). */
const char *pg_link_args(const struct pg_link *l, char *buf, size_t len);

/* ---- the configuration file (apply.c): apply, test --config ---- */

struct ap_rule {
	struct pg_rule r;
	unsigned int line;
};

struct ap_att {
	struct pg_attach_req req;
	char ifname[IF_NAMESIZE];
	int ifindex;
	unsigned int line;
};

/* An allow line, resolved once every rule of the file is known. */
struct ap_allow {
	struct pg_exempt x;
	char *file;
	unsigned int line;
};

struct ap_conf {
	const char *path;
	struct ap_rule *rules;
	unsigned int nrules, rcap;
	struct ap_att *att;
	unsigned int natt, acap;
	struct ap_allow *al;
	unsigned int nal, alcap;
	struct pg_cxv ex; /* static exemptions, sorted, generation bit clear */
	char where[PATH_MAX + 16];
};

/*
 * Read and check c->path completely, with the commands' own parsers:
 * every line, the --file lists it names, overlaps, rules the allow lines
 * refer to. Interfaces are not looked up. Errors name FILE:LINE.
 */
int pg_conf_read(struct ap_conf *c);
/* The read file's rules and exemptions as the live generation of private maps m. */
int pg_conf_load(struct pg_maps *m, const struct ap_conf *c);
void pg_conf_free(struct ap_conf *c);

#endif /* PORTGATE_CONF_H */
