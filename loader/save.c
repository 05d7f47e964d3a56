// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate save`: the live state in the grammar `apply` reads, so that
 * `portgate save > f && portgate apply f` reports no changes. Attachments
 * with role and mode, the rules of the live generation, and every static
 * exemption inline; dynamic exemptions (allow --dynamic) are left out, as
 * apply leaves them alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>

#include "conf.h"

static int pg_link_cmp(const void *pa, const void *pb)
{
	const struct pg_link *a = pa, *b = pb;

	return (a->ifindex > b->ifindex) - (a->ifindex < b->ifindex);
}

/* An exemption of a rule that no longer exists cannot be applied: say so. */
static bool pg_cx_orphan(struct pg_maps *m, const struct pg_cx *e)
{
	const struct pg_exempt_v4_key *k = (const void *)e->key;
	__u16 port = (k->port_hi << 8) | k->port_lo, first, last;

	if (k->proto == PG_EXEMPT_ALL_RULES)
		return false;
	return pg_rule_lookup(m, k->scope & 1, k->proto, port, &first, &last) || first != port;
}

int cmd_save(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_live lv;
	struct pg_maps m;
	unsigned int i, orphans = 0;
	bool up = false, tc = false;
	char buf[256];
	size_t k;
	int err;

	if (argc > 1)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected none)", argv[1]),
		       PG_EXIT_USAGE;
	if (o->json)
		return pg_usage_err(
			       argv[0],
			       "no JSON output (expected 'rules -j', 'exemptions -j', 'status -j')"),
		       PG_EXIT_USAGE;
	/* the lock: never half of an apply */
	if (pg_maps_open(o, PG_MAPS_LOCK, &m))
		return PG_EXIT_RUNTIME;
	err = pg_live_read(o, &m, &lv);
	if (err)
		goto out;
	printf("# portgate save: the live state of %s ('portgate apply FILE' reads it back)\n",
	       o->pin_path);
	if (lv.nlinks) /* links is NULL then: qsort's argument must not be */
		qsort(lv.links, lv.nlinks, sizeof(*lv.links), pg_link_cmp);
	/* uplinks next to access interfaces with a tc half were attached with --force */
	for (i = 0; i < lv.nlinks; i++) {
		up |= lv.links[i].ifindex && lv.links[i].role == PG_ROLE_UPLINK;
		tc |= lv.links[i].ifindex && lv.links[i].role == PG_ROLE_ACCESS &&
		      !lv.links[i].outbound_only;
	}
	for (i = 0; i < lv.nlinks; i++) {
		if (!lv.links[i].ifindex)
			continue; /* the interface went away: nothing to attach */
		printf("attach %s%s\n", pg_link_args(&lv.links[i], buf, sizeof(buf)),
		       up && tc && lv.links[i].role == PG_ROLE_UPLINK ? " --force" : "");
	}
	for (i = 0; i < lv.nrules; i++)
		printf("block %s\n", pg_rule_args(&lv.rules[i], buf, sizeof(buf)));
	for (k = 0; k < lv.stat.n; k++) {
		bool orphan = pg_cx_orphan(&m, &lv.stat.e[k]);

		orphans += orphan;
		printf("%sallow %s\n", orphan ? "# no such rule: " : "",
		       pg_cx_args(&lv.stat.e[k], buf, sizeof(buf)));
	}
	if (lv.dyn.n)
		printf("# %zu dynamic exemptions (allow --dynamic) are not part of the file\n",
		       lv.dyn.n);
	if (orphans)
		pg_err("%u exemptions name a rule that no longer exists: saved as comments",
		       orphans);
out:
	pg_live_free(&lv);
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}
