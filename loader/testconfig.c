// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate test --config FILE`: the policy of a configuration file, for
 * what-if runs. FILE is exactly what `portgate apply` reads (attach,
 * block, allow, defaults; the whole desired state), read and checked by
 * apply's own reader (apply.c: pg_conf_read), so a file that test accepts
 * is one apply accepts and means the same policy:
 *
 *   defaults
 *   block tcp 8080 --dir in
 *   allow 192.0.2.0/24 --peer --rule udp/161   # the NMS
 *
 * Its rules and exemptions are written (pg_conf_load) into maps private
 * to this process; attach lines are checked, not acted on; nothing pinned
 * is read or changed. Any error names FILE:LINE.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "conf.h"
#include "testrun.h"
#include "portgate.skel.h"

int tr_policy_config(const struct pg_opts *o, const char *file, struct tr_policy *p)
{
	struct pg_maps m = {.lock_fd = -1};
	struct ap_conf c = {.path = file};
	int i, err;

	memset(p, 0, sizeof(*p));
	/* the file first: its errors are the input's (exit 2), before any BPF */
	err = pg_conf_read(&c);
	if (err) {
		pg_conf_free(&c);
		return err == -ENOMEM ? err : -EINVAL;
	}
	err = pg_state_open(o, PG_OPEN_PRIVATE | PG_OPEN_PRIVATE_STATS, &p->st);
	if (err) {
		pg_conf_free(&c);
		return err == -EINVAL ? -EIO : err; /* pg_state_open said why */
	}
	p->loaded = true;
	for (i = 0; i < PG_M_COUNT; i++) {
		struct bpf_map *map = pg_skel_map(p->st.skel->obj, i);

		m.fd[i] = map ? bpf_map__fd(map) : -1;
	}
	err = pg_gen_read(m.fd[PG_M_CTL], &m.gen) ?: pg_conf_load(&m, &c);
	pg_conf_free(&c);
	if (err) {
		tr_policy_close(p);
		return err == -EINVAL ? -EIO : err; /* the maps' fault, said already */
	}
	p->kind = "config";
	snprintf(p->label, sizeof(p->label), "config file %s (private maps; live state untouched)",
		 file);
	return 0;
}
