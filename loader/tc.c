// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The tc egress half of an access interface: the sched_cls program
 * (prog_access_in) judging inbound traffic on its way out to the
 * subscribers. libbpf's bpf_tc_* API (netlink, clsact), so it works on
 * every kernel portgate supports (5.15, 6.1; tcx would need 6.6).
 *
 * The filter's identity is fixed (PG_TC_HANDLE, PG_TC_PRIO on the clsact
 * egress hook): detach, status, check and upgrade find it with one query.
 * A tc filter is not a bpf_link: it lives as long as the interface, in the
 * network namespace of the interface. The clsact qdisc is left in place on
 * detach (other tools may have filters on it; an empty one costs nothing).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

static void pg_tc_hook(struct bpf_tc_hook *h, int ifindex)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->ifindex = ifindex;
	h->attach_point = BPF_TC_EGRESS;
}

static void pg_tc_opts(struct bpf_tc_opts *t, int prog_fd, __u32 flags)
{
	memset(t, 0, sizeof(*t));
	t->sz = sizeof(*t);
	t->handle = PG_TC_HANDLE;
	t->priority = PG_TC_PRIO;
	t->prog_fd = prog_fd;
	t->flags = flags;
}

int pg_tc_query(int ifindex, __u32 *prog_id)
{
	struct bpf_tc_hook h;
	struct bpf_tc_opts t;
	int err;

	*prog_id = 0;
	pg_tc_hook(&h, ifindex);
	pg_tc_opts(&t, 0, 0);
	err = bpf_tc_query(&h, &t);
	if (err)
		return err == -EINVAL || err == -ENOENT ? -ENOENT : err;
	*prog_id = t.prog_id;
	return 0;
}

int pg_tc_attach(const char *ifname, int ifindex, int prog_fd)
{
	struct bpf_tc_hook h;
	struct bpf_tc_opts t;
	int err;

	pg_tc_hook(&h, ifindex);
	err = bpf_tc_hook_create(&h);
	if (err && err != -EEXIST)
		return pg_sys_err(err, "cannot add a clsact qdisc to '%s'", ifname);
	/* ours (same handle and priority) is replaced in place: never unfiltered */
	pg_tc_opts(&t, prog_fd, BPF_TC_F_REPLACE);
	err = bpf_tc_attach(&h, &t);
	if (err)
		return pg_sys_err(err, "cannot attach the tc egress filter to '%s'", ifname);
	return 0;
}

int pg_tc_detach(int ifindex)
{
	struct bpf_tc_hook h;
	struct bpf_tc_opts t;
	int err;

	pg_tc_hook(&h, ifindex);
	pg_tc_opts(&t, 0, 0);
	err = bpf_tc_detach(&h, &t);
	return err == -ENOENT || err == -EINVAL || err == -ENODEV ? 0 : err;
}
