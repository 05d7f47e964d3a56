// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate upgrade`: put this binary's program in place of the one that
 * runs, without a gap. The new program is loaded against the pinned maps
 * (rules, exemptions and counters stay where they are), then every link,
 * in every network namespace, is switched to it with bpf_link_update():
 * atomic per interface, so no packet is ever unfiltered. The program pins
 * follow, then the build id in pg_meta. Maps of another ABI are refused
 * before anything changes (state.c names what differs); a link that
 * cannot be switched puts the ones already switched back.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

static const char *const pg_prog_pins[2] = {PG_PIN_PROG_UPLINK, PG_PIN_PROG_ACCESS};

struct pg_swap {
	int fd;	     /* the link */
	int role;    /* 0 uplink, 1 access */
	__u32 ifidx; /* for messages */
};

static __u32 pg_fd_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.id : 0;
}

static int pg_swap_one(int link_fd, int new_fd, int old_fd)
{
	LIBBPF_OPTS(bpf_link_update_opts, uo);

	if (old_fd >= 0) {
		uo.flags = BPF_F_REPLACE;
		uo.old_prog_fd = old_fd;
	}
	return bpf_link_update(link_fd, new_fd, &uo) ? -errno : 0;
}

/* Pin fd as NAME_new, ready to be renamed over NAME. */
static int pg_pin_new(const struct pg_opts *o, const char *name, int fd, char *path, size_t len)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%s_new", name); /* bpffs: no dots in names */
	if (pg_pin_path(o, tmp, path, len))
		return -ENAMETOOLONG;
	unlink(path); /* left by an interrupted upgrade */
	if (bpf_obj_pin(fd, path))
		return pg_sys_err(-errno, "cannot pin '%s'", path);
	return 0;
}

static void pg_build_str(__u64 id, char buf[24])
{
	if (id)
		snprintf(buf, 24, "%016llx", (unsigned long long)id);
	else
		snprintf(buf, 24, "unknown");
}

static void pg_upgrade_json(int n, const char *now, const char *was, const __u32 new_id[2])
{
	struct pg_json j;

	pg_json_init(&j, stdout);
	pg_json_obj(&j, NULL);
	pg_json_u64(&j, "upgraded", n);
	pg_json_str(&j, "build", now);
	pg_json_str(&j, "previous_build", was);
	pg_json_obj(&j, "programs");
	pg_json_u64(&j, "uplink", new_id[0]);
	pg_json_u64(&j, "access", new_id[1]);
	pg_json_end_obj(&j);
	pg_json_end_obj(&j);
	pg_json_done(&j);
}

int cmd_upgrade(const struct pg_opts *o, int argc, char **argv)
{
	char newp[2][PATH_MAX], path[PATH_MAX];
	int old_fd[2] = {-1, -1}, new_fd[2], i, n = 0, cap = 0, err;
	__u32 old_id[2], new_id[2];
	struct pg_swap *sw = NULL;
	struct pg_meta meta = {.fd = -1};
	char was_s[24], now_s[24];
	struct pg_state st;
	struct dirent *de;
	__u64 was;
	DIR *d;

	if (argc > 1)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected [-j])", argv[1]),
		       PG_EXIT_USAGE;
	/* exclusive lock; refuses maps of another ABI before loading anything */
	if (pg_state_open(o, PG_OPEN_UPGRADE, &st))
		return PG_EXIT_RUNTIME;
	newp[0][0] = newp[1][0] = '\0';
	err = pg_meta_open(o, true, &meta);
	if (err)
		goto out;
	was = meta.recs[0].head.build_id;
	for (i = 0; i < 2; i++) {
		new_fd[i] = pg_state_prog_fd(&st, i);
		new_id[i] = pg_fd_prog_id(new_fd[i]);
		if (!pg_pin_path(o, pg_prog_pins[i], path, sizeof(path)))
			old_fd[i] = bpf_obj_get(path);
		old_id[i] = pg_fd_prog_id(old_fd[i]);
	}
	pg_build_str(was, was_s);
	pg_build_str(pg_build_id(), now_s);
	if (was == pg_build_id() && old_id[0] && old_id[1]) {
		if (o->json)
			pg_upgrade_json(0, now_s, was_s, old_id);
		else
			printf("build %s already runs: nothing changed\n", now_s);
		goto out;
	}
	for (i = 0; i < 2 && !err; i++)
		err = pg_pin_new(o, pg_prog_pins[i], new_fd[i], newp[i], sizeof(newp[i]));
	if (err)
		goto out;

	/* every link of the state, whatever its namespace: they share the programs */
	d = opendir(o->pin_path);
	while (d && !err && (de = readdir(d))) {
		struct bpf_link_info li = {};
		__u32 len = sizeof(li), ifindex;
		struct pg_meta_link *l;
		__u64 netns_id;
		int fd, role;

		if (!pg_link_pin_parse(de->d_name, &netns_id, &ifindex) ||
		    pg_pin_path(o, de->d_name, path, sizeof(path)))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &li, &len) || !li.xdp.ifindex) {
			if (fd >= 0)
				close(fd); /* a deleted interface's link runs nothing */
			continue;
		}
		l = pg_meta_link_find(&meta, netns_id, ifindex);
		role = li.prog_id == old_id[0]	 ? 0
		       : li.prog_id == old_id[1] ? 1
		       : l			 ? l->role & 1
						 : 0;
		if (li.prog_id == new_id[role]) {
			close(fd);
			continue;
		}
		if (n == cap) {
			struct pg_swap *p = realloc(sw, (cap = cap ? 2 * cap : 16) * sizeof(*sw));

			if (!p) {
				close(fd);
				err = pg_sys_err(-ENOMEM, "cannot upgrade");
				break;
			}
			sw = p;
		}
		err = pg_swap_one(fd, new_fd[role], li.prog_id == old_id[role] ? old_fd[role] : -1);
		if (err) {
			pg_sys_err(err, "cannot switch link '%s' (ifindex %u) to the new program",
				   de->d_name, ifindex);
			close(fd);
			break;
		}
		sw[n++] = (struct pg_swap){.fd = fd, .role = role, .ifidx = ifindex};
	}
	if (d)
		closedir(d);

	/* the pins follow the links: rename is atomic on bpffs */
	for (i = 0; i < 2 && !err; i++) {
		if (pg_pin_path(o, pg_prog_pins[i], path, sizeof(path)) || rename(newp[i], path)) {
			err = pg_sys_err(-errno, "cannot replace '%s'", path);
			/* the uplink pin was replaced already: put the old program back */
			if (i == 1 && old_fd[0] >= 0 && !bpf_obj_pin(old_fd[0], newp[0]) &&
			    !pg_pin_path(o, pg_prog_pins[0], path, sizeof(path)))
				rename(newp[0], path);
		} else {
			newp[i][0] = '\0';
		}
	}
	if (err) {
		/* back to the program that ran: switched links only, in reverse */
		while (n > 0) {
			n--;
			if (old_fd[sw[n].role] < 0 ||
			    pg_swap_one(sw[n].fd, old_fd[sw[n].role], new_fd[sw[n].role]))
				pg_err("could not switch the link of ifindex %u back to program id %u",
				       sw[n].ifidx, old_id[sw[n].role]);
			close(sw[n].fd);
		}
		goto out;
	}
	/*
	 * The tc egress filters of this network namespace (a tc filter is
	 * reached by netlink, in its own namespace only): replaced in place,
	 * then the pin. Other namespaces' keep the old program until
	 * 'portgate upgrade' runs there (status shows the tc program id).
	 */
	if (!err) {
		int tc_fd = pg_state_prog_fd(&st, 2);
		struct pg_netns ns;
		unsigned int k;

		if (pg_netns_self(&ns))
			ns.id = 0;
		for (k = 1; k < PG_META_SLOTS && !err; k++) {
			const struct pg_meta_link *l = &meta.recs[k].link;
			__u32 tc_id;

			if (meta.recs[k].kind != PG_META_LINK || l->netns_id != ns.id ||
			    !(l->hooks & PG_HOOK_TC) || pg_tc_query(l->ifindex, &tc_id) || !tc_id)
				continue;
			err = pg_tc_attach(l->ifname, l->ifindex, tc_fd);
		}
		if (!err && !pg_pin_path(o, PG_PIN_PROG_ACCESS_IN, path, sizeof(path))) {
			unlink(path);
			if (bpf_obj_pin(tc_fd, path))
				err = pg_sys_err(-errno, "cannot pin '%s'", path);
		}
	}
	if (err)
		goto out;
	meta.recs[0].head.build_id = pg_build_id();
	if (o->json)
		pg_upgrade_json(n, now_s, was_s, new_id);
	else
		printf("upgraded %d link%s to build %s (was %s): uplink prog id %u -> %u, access prog id %u -> %u\n",
		       n, n == 1 ? "" : "s", now_s, was_s, old_id[0], new_id[0], old_id[1],
		       new_id[1]);
out:
	for (i = 0; i < n; i++)
		close(sw[i].fd);
	free(sw);
	for (i = 0; i < 2; i++) {
		if (newp[i][0])
			unlink(newp[i]);
		if (old_fd[i] >= 0)
			close(old_fd[i]);
	}
	pg_meta_close(&meta);
	pg_state_close(&st);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}
