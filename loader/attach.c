// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * attach/detach/status. Each interface holds a bpf_link pinned as
 * link_<netns id>_<ifindex> (ifindex numbers repeat in every network
 * namespace), so the filter outlives the CLI and a command only ever sees
 * and changes the links of the namespace it runs in; pg_meta keeps each
 * link's interface name, role and mode. Every interface of a role runs
 * the one pinned program (prog_uplink / prog_access), so they all share
 * the pinned maps. A role change is bpf_link_update(): atomic, the
 * interface is never unfiltered.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

const char *const pg_role_names[] = {"uplink", "access", "unknown"};
static const char *const pg_role_pins[] = {PG_PIN_PROG_UPLINK, PG_PIN_PROG_ACCESS};

static __u32 pg_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Id of a pinned program, 0 if not pinned. */
static __u32 pg_pinned_prog_id(const struct pg_opts *o, const char *name)
{
	char path[PATH_MAX];
	__u32 id;
	int fd;

	if (pg_pin_path(o, name, path, sizeof(path)))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	id = pg_prog_id(fd);
	close(fd);
	return id;
}

static int pg_link_info(int fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, len);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static const char *pg_xdp_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return "unknown";
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "hw";
	case XDP_ATTACHED_MULTI:
		return "multi";
	default:
		return "none";
	}
}

static int pg_ifindex(const char *ifname)
{
	int ifindex = if_nametoindex(ifname);

	if (!ifindex)
		pg_err("unknown interface '%s' (expected an existing network interface)", ifname);
	return ifindex;
}

/* Put back the foreign program --force removed, so a failed attach changes nothing. */
static void pg_restore_foreign(int ifindex, int fd, __u32 id, __u32 flags)
{
	if (fd < 0 || bpf_xdp_attach(ifindex, fd, flags, NULL))
		pg_err("could not restore the previous XDP program id %u", id);
}

/* Link pins of the pin directory, with their namespace and ifindex. */
struct pg_link_iter {
	DIR *d;
	const struct pg_opts *o;
	char name[NAME_MAX + 1];
	char path[PATH_MAX];
	__u64 netns_id;
	__u32 ifindex;
};

static bool pg_link_next(struct pg_link_iter *it)
{
	struct dirent *de;

	while (it->d && (de = readdir(it->d))) {
		if (!pg_link_pin_parse(de->d_name, &it->netns_id, &it->ifindex) ||
		    pg_pin_path(it->o, de->d_name, it->path, sizeof(it->path)))
			continue;
		snprintf(it->name, sizeof(it->name), "%s", de->d_name);
		return true;
	}
	return false;
}

static void pg_link_iter_init(struct pg_link_iter *it, const struct pg_opts *o)
{
	memset(it, 0, sizeof(*it));
	it->o = o;
	it->d = opendir(o->pin_path);
}

static void pg_link_iter_done(struct pg_link_iter *it)
{
	if (it->d)
		closedir(it->d);
	it->d = NULL;
}

static int pg_count_links(const struct pg_opts *o, const struct pg_netns *ns, bool detach_all);

static int pg_attach_new(const char *ifname, int ifindex, int prog_fd, bool native, bool force,
			 const char *link_path, __u32 *link_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	__u32 old_id = 0, old_flags = 0;
	struct bpf_link_info li;
	int link_fd, old_fd, err;

	if (bpf_xdp_query(ifindex, 0, &q))
		return pg_sys_err(-errno, "cannot query XDP on '%s'", ifname);
	if (q.drv_prog_id) {
		old_id = q.drv_prog_id;
		old_flags = XDP_FLAGS_DRV_MODE;
	} else if (q.skb_prog_id) {
		old_id = q.skb_prog_id;
		old_flags = XDP_FLAGS_SKB_MODE;
	} else if (q.hw_prog_id) {
		old_id = q.hw_prog_id;
		old_flags = XDP_FLAGS_HW_MODE;
	}
	if (old_id && !force) {
		pg_err("'%s' already runs another XDP program (id %u); expected none, or use --force to replace it",
		       ifname, old_id);
		return -EBUSY;
	}
	/* hold a reference: the attachment may be the program's only one */
	old_fd = old_id ? bpf_prog_get_fd_by_id(old_id) : -1;
	if (old_id && bpf_xdp_detach(ifindex, old_flags, NULL)) {
		err = -errno;
		if (old_fd >= 0)
			close(old_fd);
		return pg_sys_err(err, "cannot remove XDP program id %u from '%s'%s", old_id,
				  ifname, err == -EBUSY ? " (held by another bpf_link)" : "");
	}

	/* Never flags 0: the kernel would fall back to generic mode silently. */
	lo.flags = native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	link_fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);
	if (link_fd < 0) {
		err = -errno;
		if (native && (err == -EOPNOTSUPP || err == -EINVAL || err == -ERANGE))
			pg_err("cannot attach to '%s' in native mode: %s (expected a driver with native XDP for this MTU; --mode generic works everywhere)",
			       ifname, strerror(-err));
		else
			pg_sys_err(err, "cannot attach to '%s'", ifname);
		goto restore;
	}
	if (bpf_obj_pin(link_fd, link_path)) {
		err = pg_sys_err(-errno, "cannot pin '%s'", link_path);
		bpf_link_detach(link_fd);
		close(link_fd);
		goto restore;
	}
	*link_id = pg_link_info(link_fd, &li) ? 0 : li.id;
	close(link_fd);
	if (old_fd >= 0)
		close(old_fd);
	return 0;
restore:
	if (old_id)
		pg_restore_foreign(ifindex, old_fd, old_id, old_flags);
	if (old_fd >= 0)
		close(old_fd);
	return err;
}

/*
 * Detach one link pin of this network namespace (synchronously:
 * BPF_LINK_DETACH, then unpin), the tc egress filter of its interface, and
 * forget it. The tc filter goes first: inbound is never judged by nothing
 * while outbound still is, and a failure leaves the pin for a retry.
 */
static int pg_detach_pin(const char *path, struct pg_meta *meta, __u64 netns_id, __u32 ifindex)
{
	struct pg_meta_link *l = meta ? pg_meta_link_find(meta, netns_id, ifindex) : NULL;
	int fd, err;

	if (!l || (l->hooks & PG_HOOK_TC) || l->role == PG_ROLE_ACCESS) {
		err = pg_tc_detach(ifindex);
		if (err)
			return pg_sys_err(err, "cannot remove the tc egress filter of ifindex %u",
					  ifindex);
	}
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_link_detach(fd); /* fails harmlessly if already defunct */
		close(fd);
	}
	if (unlink(path) && errno != ENOENT)
		return pg_sys_err(-errno, "cannot unpin '%s'", path);
	if (meta)
		pg_meta_link_del(meta, netns_id, ifindex);
	return 0;
}

/* A link whose interface was deleted: it filters nothing any more. */
static bool pg_link_defunct(const char *path)
{
	struct bpf_link_info li;
	int fd = bpf_obj_get(path);
	bool gone;

	if (fd < 0)
		return false;
	gone = !pg_link_info(fd, &li) && !li.xdp.ifindex;
	close(fd);
	return gone;
}

int pg_parse_attach(int argc, char **argv, struct pg_attach_req *r)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val;

	memset(r, 0, sizeof(*r));
	r->role = PG_ROLE_UNKNOWN;
	r->native = true;
	while (pg_args_next(&a, &opt, &val)) {
		if (!opt) {
			if (r->ifname)
				return pg_usage_err(a.cmd,
						    "unexpected argument '%s' (expected one IFACE)",
						    val);
			r->ifname = val;
		} else if (!strcmp(opt, "--role")) {
			if (pg_args_value(&a, opt, &val))
				return -EINVAL;
			if (!strcmp(val, "uplink"))
				r->role = PG_ROLE_UPLINK;
			else if (!strcmp(val, "access"))
				r->role = PG_ROLE_ACCESS;
			else
				return pg_usage_err(
					NULL, "bad role '%s': expected uplink or access", val);
		} else if (!strcmp(opt, "--mode")) {
			if (pg_args_value(&a, opt, &val))
				return -EINVAL;
			if (!strcmp(val, "native"))
				r->native = true;
			else if (!strcmp(val, "generic"))
				r->native = false;
			else
				return pg_usage_err(
					NULL, "bad mode '%s': expected native or generic", val);
			r->mode_given = true;
		} else if (!strcmp(opt, "--force") && !val) {
			r->force = true;
		} else if (!strcmp(opt, "--outbound-only") && !val) {
			r->outbound_only = true;
		} else {
			return pg_usage_err(
				a.cmd, "unknown option '%s', try 'portgate attach --help'", opt);
		}
	}
	if (!r->ifname)
		return pg_usage_err(a.cmd, "expected IFACE, e.g. 'attach eth0 --role access'");
	if (r->role == PG_ROLE_UNKNOWN)
		return pg_usage_err(a.cmd, "%s", PG_ROLE_HELP);
	if (r->outbound_only && r->role != PG_ROLE_ACCESS)
		return pg_usage_err(
			a.cmd,
			"--outbound-only is for --role access (an uplink filters inbound only)");
	return 0;
}

/*
 * No packet judged twice: inbound is judged either at XDP ingress of the
 * uplinks or at tc egress of the access interfaces, never both. Another
 * interface of this network namespace filtering inbound the other way
 * refuses the attach (-EEXIST) unless --force.
 */
static int pg_check_double(const struct pg_attach_req *r, struct pg_meta *meta,
			   const struct pg_netns *ns, int ifindex)
{
	bool tc = r->role == PG_ROLE_ACCESS && !r->outbound_only;
	unsigned int i;

	if (r->force || r->file_checked || (r->role == PG_ROLE_ACCESS && !tc))
		return 0;
	for (i = 1; i < PG_META_SLOTS; i++) {
		const struct pg_meta_rec *rec = &meta->recs[i];
		const struct pg_meta_link *l = &rec->link;
		bool other_tc = l->role == PG_ROLE_ACCESS && (l->hooks & PG_HOOK_TC);

		if (rec->kind != PG_META_LINK || l->netns_id != ns->id ||
		    l->ifindex == (__u32)ifindex)
			continue;
		if (!if_indextoname(l->ifindex, (char[IF_NAMESIZE]){0}))
			continue; /* its interface is gone: it filters nothing */
		if (tc && l->role == PG_ROLE_UPLINK) {
			pg_err("'%s' would judge inbound traffic at tc egress, but uplink '%.16s' already judges it at XDP ingress: no packet is judged twice (expected --outbound-only here, 'portgate detach %.16s', or --force)",
			       r->ifname, l->ifname, l->ifname);
			return -EEXIST;
		}
		if (r->role == PG_ROLE_UPLINK && other_tc) {
			pg_err("'%s' would judge inbound traffic at XDP ingress, but access interface '%.16s' already judges it at tc egress: no packet is judged twice (expected 'portgate attach %.16s --role access --outbound-only' first, or --force)",
			       r->ifname, l->ifname, l->ifname);
			return -EEXIST;
		}
	}
	return 0;
}

/* The tc half of an access interface: attached, or removed for an uplink/--outbound-only. */
static int pg_tc_sync(const struct pg_opts *o, const struct pg_attach_req *r, int ifindex,
		      struct pg_meta_link *rec)
{
	char path[PATH_MAX];
	int fd, err;

	rec->hooks = PG_HOOK_XDP;
	if (r->role != PG_ROLE_ACCESS || r->outbound_only)
		return pg_tc_detach(ifindex);
	err = pg_pin_path(o, PG_PIN_PROG_ACCESS_IN, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return pg_sys_err(-errno, "cannot open '%s'", path);
	err = pg_tc_attach(r->ifname, ifindex, fd);
	close(fd);
	if (!err)
		rec->hooks |= PG_HOOK_TC;
	return err;
}

int pg_attach_locked(const struct pg_opts *o, const struct pg_attach_req *r, int ifindex)
{
	char link_path[PATH_MAX], prog_path[PATH_MAX], name[64];
	const char *ifname = r->ifname;
	enum pg_role role = r->role;
	bool native = r->native;
	int prog_fd = -1, link_fd = -1, err;
	struct pg_meta meta = {.fd = -1};
	struct pg_meta_link rec = {};
	struct bpf_link_info li;
	struct pg_netns ns;
	__u32 prog_id;

	err = pg_netns_self(&ns) ?: pg_meta_open(o, true, &meta);
	if (err)
		goto out;
	err = pg_check_double(r, &meta, &ns, ifindex);
	if (err)
		goto out;
	err = pg_link_pin_name(&ns, ifindex, name, sizeof(name))
		      ?: pg_pin_path(o, name, link_path, sizeof(link_path))
		      ?: pg_pin_path(o, pg_role_pins[role], prog_path, sizeof(prog_path));
	if (err)
		goto out;
	prog_fd = bpf_obj_get(prog_path);
	if (prog_fd < 0) {
		err = pg_sys_err(-errno, "cannot open '%s'", prog_path);
		goto out;
	}
	prog_id = pg_prog_id(prog_fd);

	/* A link whose interface went away is defunct: drop it, attach afresh. */
	if (pg_link_defunct(link_path))
		pg_detach_pin(link_path, &meta, ns.id, ifindex);
	link_fd = bpf_obj_get(link_path);
	rec.netns_id = ns.id;
	rec.netns_ino = ns.ino;
	rec.ifindex = ifindex;
	rec.role = role;
	rec.mode = native ? 0 : 1;
	rec.hooks = PG_HOOK_XDP;
	snprintf(rec.ifname, sizeof(rec.ifname), "%s", ifname);
	if (link_fd < 0) {
		/* the record first: no link without one (the table may be full) */
		err = pg_meta_link_set(&meta, &rec);
		if (!err)
			err = pg_attach_new(ifname, ifindex, prog_fd, native, r->force, link_path,
					    &rec.link_id);
		if (!err) {
			/* a tc half that fails takes the XDP half with it: all or nothing */
			err = pg_tc_sync(o, r, ifindex, &rec);
			if (err)
				pg_detach_pin(link_path, NULL, ns.id, ifindex);
		}
		if (err)
			pg_meta_link_del(&meta, ns.id, ifindex);
		else
			err = pg_meta_link_set(&meta, &rec);
		goto out;
	}
	/* Already ours: same role is a no-op, the other role an atomic swap. */
	err = pg_link_info(link_fd, &li);
	if (err) {
		pg_sys_err(err, "cannot read '%s'", link_path);
		goto out;
	}
	if (r->mode_given && strcmp(pg_xdp_mode(ifindex), native ? "native" : "generic")) {
		pg_err("'%s' is attached in %s mode, not %s (expected 'portgate detach %s' first)",
		       ifname, pg_xdp_mode(ifindex), native ? "native" : "generic", ifname);
		err = -EEXIST;
		goto out;
	}
	rec.link_id = li.id;
	rec.mode = strcmp(pg_xdp_mode(ifindex), "generic") ? 0 : 1;
	if (li.prog_id == prog_id) {
		if (pg_verbose)
			pg_err("'%s' already attached as %s", ifname, pg_role_names[role]);
		/* the name may have changed, and --outbound-only may have */
		err = pg_tc_sync(o, r, ifindex, &rec) ?: pg_meta_link_set(&meta, &rec);
		goto out;
	}
	/*
	 * A role change: to access, the tc half comes first (inbound is then
	 * judged by both for an instant, never by neither); to uplink, it
	 * goes after the XDP program switched.
	 */
	if (role == PG_ROLE_ACCESS) {
		err = pg_tc_sync(o, r, ifindex, &rec);
		if (err)
			goto out;
	}
	if (bpf_link_update(link_fd, prog_fd, NULL)) {
		err = pg_sys_err(-errno, "cannot switch '%s' to role %s", ifname,
				 pg_role_names[role]);
		goto out;
	}
	if (role != PG_ROLE_ACCESS)
		err = pg_tc_sync(o, r, ifindex, &rec);
	if (!err)
		err = pg_meta_link_set(&meta, &rec);
out:
	if (link_fd >= 0)
		close(link_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	pg_meta_close(&meta);
	return err;
}

int cmd_attach(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_attach_req r;
	int ifindex, lock_fd = -1, err;
	bool created = false;
	struct pg_netns ns;

	if (pg_parse_attach(argc, argv, &r))
		return PG_EXIT_USAGE;
	ifindex = pg_ifindex(r.ifname);
	if (!ifindex)
		return PG_EXIT_RUNTIME;
	if (pg_netns_self(&ns))
		return PG_EXIT_RUNTIME;

	err = pg_lock_dir(o->pin_path, true, true, &lock_fd);
	if (err)
		return PG_EXIT_RUNTIME;
	if (!pg_pinned(o, pg_role_pins[r.role]) || !pg_pinned(o, pg_map_names[PG_M_PORTS])) {
		created = !pg_pinned(o, pg_map_names[PG_M_PORTS]);
		err = pg_state_create_locked(o);
		if (err)
			goto out;
	} else {
		pg_warn_build(o, "this interface runs the pinned program");
	}
	err = pg_attach_locked(o, &r, ifindex);
out:
	/* A first attach that failed leaves nothing behind (staged rules stay). */
	if (err && created && pg_count_links(o, &ns, false) == 0)
		pg_state_remove(o);
	close(lock_fd);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

/*
 * Live links in every namespace: the state stays while any is left.
 * Links of this namespace whose interface was deleted are pruned (or
 * every link of this namespace detached); other namespaces' links are
 * theirs: never touched here, and only live ones count.
 */
static int pg_count_links(const struct pg_opts *o, const struct pg_netns *ns, bool detach_all)
{
	struct pg_meta meta = {.fd = -1}, *mp;
	struct pg_link_iter it;
	int n = 0, err = 0;

	mp = pg_meta_open(o, false, &meta) ? NULL : &meta;
	pg_link_iter_init(&it, o);
	while (!err && pg_link_next(&it)) {
		bool gone = pg_link_defunct(it.path);

		if (it.netns_id != ns->id)
			n += !gone;
		else if (detach_all || gone)
			err = pg_detach_pin(it.path, mp, it.netns_id, it.ifindex);
		else
			n++;
	}
	pg_link_iter_done(&it);
	if (mp)
		pg_meta_close(mp);
	return err ?: n;
}

/*
 * Links of this namespace recorded under ifname whose interface was
 * deleted: `detach NAME` takes the name the interface had.
 */
static int pg_detach_gone(const struct pg_opts *o, const struct pg_netns *ns, const char *ifname,
			  struct pg_meta *meta, int *n)
{
	struct pg_link_iter it;
	int err = 0;

	*n = 0;
	pg_link_iter_init(&it, o);
	while (!err && pg_link_next(&it)) {
		struct pg_meta_link *l;

		if (it.netns_id != ns->id || !pg_link_defunct(it.path))
			continue;
		l = meta ? pg_meta_link_find(meta, it.netns_id, it.ifindex) : NULL;
		if (!l || strncmp(l->ifname, ifname, sizeof(l->ifname)))
			continue;
		err = pg_detach_pin(it.path, meta, it.netns_id, it.ifindex);
		++*n;
	}
	pg_link_iter_done(&it);
	return err;
}

int cmd_detach(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val, *ifname = NULL;
	struct pg_meta meta = {.fd = -1}, *mp;
	char path[PATH_MAX], name[64];
	struct pg_netns ns;
	bool all = false;
	int ifindex = 0, lock_fd, gone = 0, err;

	while (pg_args_next(&a, &opt, &val)) {
		if (!opt && !ifname)
			ifname = val;
		else if (opt && !strcmp(opt, "--all") && !val)
			all = true;
		else
			return pg_usage_err(a.cmd,
					    "unexpected argument '%s' (expected IFACE or --all)",
					    opt ?: val),
			       PG_EXIT_USAGE;
	}
	if (!!ifname == all)
		return pg_usage_err(a.cmd, "expected IFACE or --all"), PG_EXIT_USAGE;
	if (pg_netns_self(&ns))
		return PG_EXIT_RUNTIME;
	if (ifname)
		ifindex = if_nametoindex(ifname); /* 0: maybe a deleted interface's old name */
	err = pg_lock_dir(o->pin_path, false, true, &lock_fd);
	if (err == -ENOENT) {
		if (all)
			return PG_EXIT_OK;
		if (!ifindex)
			return pg_ifindex(ifname), PG_EXIT_RUNTIME;
		pg_err("'%s' is not attached (nothing loaded under '%s')", ifname, o->pin_path);
		return PG_EXIT_RUNTIME;
	}
	if (err)
		return PG_EXIT_RUNTIME;
	mp = pg_meta_open(o, false, &meta) ? NULL : &meta;
	if (ifname) {
		err = pg_detach_gone(o, &ns, ifname, mp, &gone);
		if (!err && ifindex) {
			err = pg_link_pin_name(&ns, ifindex, name, sizeof(name))
				      ?: pg_pin_path(o, name, path, sizeof(path));
			if (!err && access(path, F_OK) && !gone) {
				pg_err("'%s' is not attached (expected an interface listed by 'portgate status')",
				       ifname);
				err = -ENOENT;
			} else if (!err && !access(path, F_OK)) {
				err = pg_detach_pin(path, mp, ns.id, ifindex);
			}
		} else if (!err && !gone) {
			pg_ifindex(ifname); /* says: unknown interface */
			err = -ENOENT;
		}
	}
	if (mp)
		pg_meta_close(mp);
	if (!err && all) {
		err = pg_count_links(o, &ns, true);
		err = err < 0 ? err : 0;
	}
	/* The last detach removes portgate's pins: nothing of portgate stays behind. */
	if (!err && pg_count_links(o, &ns, false) == 0) {
		err = pg_state_remove(o);
		if (err)
			pg_sys_err(err, "cannot remove '%s'", o->pin_path);
	}
	close(lock_fd);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

__u32 pg_map_capacity(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

/*
 * Which direction each hook filters: an uplink's XDP ingress judges
 * inbound; an access interface's XDP ingress outbound and its tc egress
 * (when present) inbound.
 */
static void pg_attachment_hooks(struct pg_attachment *a)
{
	__u32 tc_id = 0;

	a->in = a->out = NULL;
	if (a->gone)
		return;
	if (!pg_tc_query(a->ifindex, &tc_id) && tc_id)
		a->tc_prog_id = tc_id;
	if (!strcmp(a->role, "uplink")) {
		a->in = "xdp ingress";
	} else if (!strcmp(a->role, "access")) {
		a->out = "xdp ingress";
		if (a->tc_prog_id)
			a->in = "tc egress";
	}
}

/*
 * Every pinned link of this network namespace as an attachment (role
 * from the pinned program ids, else the record): what `status` lists and
 * `metrics` exports. A link whose interface was deleted has the name it
 * had (pg_meta) and mode "gone".
 */
int pg_attachments_each(const struct pg_opts *o, pg_attachment_cb cb, void *ctx)
{
	__u32 up_id = pg_pinned_prog_id(o, PG_PIN_PROG_UPLINK);
	__u32 acc_id = pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS);
	struct pg_meta meta = {.fd = -1}, *mp;
	struct pg_link_iter it;
	struct pg_attachment a;
	struct bpf_link_info li;
	struct pg_netns ns;
	int fd, err;

	err = pg_netns_self(&ns);
	if (err)
		return err;
	mp = pg_meta_open(o, false, &meta) ? NULL : &meta;
	pg_link_iter_init(&it, o);
	while (!err && pg_link_next(&it)) {
		const struct pg_meta_link *l;

		if (it.netns_id != ns.id)
			continue;
		fd = bpf_obj_get(it.path);
		if (fd < 0 || pg_link_info(fd, &li)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		memset(&a, 0, sizeof(a));
		l = mp ? pg_meta_link_find(mp, it.netns_id, it.ifindex) : NULL;
		a.gone = !li.xdp.ifindex;
		a.ifindex = a.gone ? it.ifindex : li.xdp.ifindex;
		a.role = li.prog_id == up_id	? "uplink"
			 : li.prog_id == acc_id ? "access"
			 : l			? pg_role_names[l->role & 1]
						: "unknown";
		if (a.gone || !if_indextoname(li.xdp.ifindex, a.ifname))
			snprintf(a.ifname, sizeof(a.ifname), "%.*s", (int)sizeof(a.ifname) - 1,
				 l && l->ifname[0] ? l->ifname : "?");
		a.mode = a.gone ? "gone" : pg_xdp_mode(li.xdp.ifindex);
		a.prog_id = li.prog_id;
		pg_attachment_hooks(&a);
		a.link_id = li.id;
		err = cb(&a, ctx);
	}
	pg_link_iter_done(&it);
	if (mp)
		pg_meta_close(mp);
	return err;
}

/* Links of other network namespaces: how many, how many of them gone. */
static void pg_links_elsewhere(const struct pg_opts *o, unsigned int *n, unsigned int *gone)
{
	struct pg_link_iter it;
	struct pg_netns ns;

	*n = *gone = 0;
	if (pg_netns_self(&ns))
		return;
	pg_link_iter_init(&it, o);
	while (pg_link_next(&it)) {
		if (it.netns_id == ns.id)
			continue;
		++*n;
		*gone += pg_link_defunct(it.path);
	}
	pg_link_iter_done(&it);
}

/* The build line of status: what runs, what this binary would load. */
static void pg_status_build(const struct pg_opts *o, struct pg_json *j)
{
	struct pg_meta meta;
	__u64 running = 0;
	__u32 abi = 0;
	char run[24] = "unknown", mine[24];

	if (!pg_meta_open(o, false, &meta)) {
		running = meta.recs[0].head.build_id;
		abi = meta.recs[0].head.abi_version;
		pg_meta_close(&meta);
	}
	if (running)
		snprintf(run, sizeof(run), "%016llx", (unsigned long long)running);
	snprintf(mine, sizeof(mine), "%016llx", (unsigned long long)pg_build_id());
	if (j) {
		pg_json_obj(j, "build");
		pg_json_str(j, "running", run);
		pg_json_str(j, "binary", mine);
		pg_json_bool(j, "current", running == pg_build_id());
		if (abi)
			pg_json_u64(j, "abi", abi);
		else
			pg_json_null(j, "abi");
		pg_json_u64(j, "binary_abi", PG_ABI_VERSION);
		pg_json_end_obj(j);
		return;
	}
	printf("build      running %s, this binary %s (%s)\n", run, mine,
	       running == pg_build_id() ? "same"
					: "differs: 'portgate upgrade' switches to this binary's");
	if (abi == PG_ABI_VERSION)
		printf("map ABI    %u\n", abi);
	else if (abi)
		printf("map ABI    %u, this binary %u (incompatible)\n", abi, PG_ABI_VERSION);
	else
		printf("map ABI    unknown, this binary %u\n", PG_ABI_VERSION);
}

struct pg_status_ctx {
	struct pg_json *j;
	unsigned int ngone;
	char gone_names[128];
};

static int pg_status_one(const struct pg_attachment *a, void *ctx)
{
	struct pg_status_ctx *c = ctx;
	size_t len = strlen(c->gone_names);

	if (a->gone) {
		c->ngone++;
		if (len + strlen(a->ifname) + 3 < sizeof(c->gone_names))
			snprintf(c->gone_names + len, sizeof(c->gone_names) - len, "%s%s",
				 c->ngone > 1 ? ", " : "", a->ifname);
	}
	if (c->j) {
		pg_json_obj(c->j, NULL);
		pg_json_str(c->j, "ifname", a->ifname);
		pg_json_u64(c->j, "ifindex", a->ifindex);
		pg_json_str(c->j, "role", a->role);
		pg_json_str(c->j, "mode", a->mode);
		pg_json_bool(c->j, "gone", a->gone);
		pg_json_u64(c->j, "prog_id", a->prog_id);
		pg_json_u64(c->j, "link_id", a->link_id);
		pg_json_obj(c->j, "filters");
		if (a->in)
			pg_json_str(c->j, "in", a->in);
		else
			pg_json_null(c->j, "in");
		if (a->out)
			pg_json_str(c->j, "out", a->out);
		else
			pg_json_null(c->j, "out");
		pg_json_end_obj(c->j);
		if (a->tc_prog_id)
			pg_json_u64(c->j, "tc_prog_id", a->tc_prog_id);
		else
			pg_json_null(c->j, "tc_prog_id");
		pg_json_end_obj(c->j);
	} else {
		char tc[32] = "";

		if (a->tc_prog_id)
			snprintf(tc, sizeof(tc), ", tc id %u", a->tc_prog_id);
		printf("  %-16s ifindex %-5u %-7s %-8s prog id %u%s%s\n", a->ifname, a->ifindex,
		       a->role, a->mode, a->prog_id, tc,
		       a->gone ? "  (interface deleted, filters nothing)" : "");
		if (!a->gone)
			printf("  %-16s in: %s, out: %s\n", "", a->in ? a->in : "not filtered here",
			       a->out ? a->out : "not filtered here");
	}
	return 0;
}

int cmd_status(const struct pg_opts *o, int argc, char **argv)
{
	__u32 up_id, acc_id;
	unsigned int nrules = 0, n4 = 0, n6 = 0, others, others_gone;
	struct pg_status_ctx c = {};
	struct pg_kernel k;
	struct pg_maps m;
	struct pg_json j;

	if (argc > 1)
		return pg_usage_err(argv[0], "unexpected argument '%s' (expected [-j])", argv[1]),
		       PG_EXIT_USAGE;
	if (!pg_pinned(o, pg_map_names[PG_M_PORTS])) {
		if (o->json) {
			pg_json_init(&j, stdout);
			pg_json_obj(&j, NULL);
			pg_json_str(&j, "pin_path", o->pin_path);
			pg_json_bool(&j, "loaded", false);
			pg_json_arr(&j, "interfaces");
			pg_json_end_arr(&j);
			pg_kernel_probe(&k);
			pg_kernel_json(&j, &k);
			pg_json_end_obj(&j);
			pg_json_done(&j);
		} else {
			printf("not loaded (nothing pinned under %s)\n", o->pin_path);
			pg_kernel_probe(&k);
			pg_kernel_print(stdout, &k);
		}
		return PG_EXIT_OK;
	}
	if (pg_maps_open(o, PG_MAPS_ANY_ABI, &m))
		return PG_EXIT_RUNTIME;
	pg_rules_count(&m, &nrules);
	pg_exempt_count(&m, false, &n4);
	pg_exempt_count(&m, true, &n6);
	up_id = pg_pinned_prog_id(o, PG_PIN_PROG_UPLINK);
	acc_id = pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS);
	pg_links_elsewhere(o, &others, &others_gone);

	if (o->json) {
		pg_json_init(&j, stdout);
		pg_json_obj(&j, NULL);
		pg_json_str(&j, "pin_path", o->pin_path);
		pg_json_bool(&j, "loaded", true);
		pg_status_build(o, &j);
		pg_json_obj(&j, "programs");
		pg_json_u64(&j, "uplink", up_id);
		pg_json_u64(&j, "access", acc_id);
		pg_json_u64(&j, "access_in", pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS_IN));
		pg_json_end_obj(&j);
		pg_json_arr(&j, "interfaces");
		c.j = &j;
	} else {
		printf("pin path   %s\n", o->pin_path);
		pg_status_build(o, NULL);
		printf("programs   uplink id %u, access id %u, access_in (tc) id %u\ninterfaces\n",
		       up_id, acc_id, pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS_IN));
	}
	pg_attachments_each(o, pg_status_one, &c);
	if (o->json) {
		pg_json_end_arr(&j);
		pg_json_obj(&j, "other_netns");
		pg_json_u64(&j, "links", others);
		pg_json_u64(&j, "gone", others_gone);
		pg_json_end_obj(&j);
		pg_json_u64(&j, "rules", nrules);
		pg_json_obj(&j, "exemptions");
		pg_json_u64(&j, "v4", n4);
		pg_json_u64(&j, "v6", n6);
		pg_json_end_obj(&j);
		pg_json_obj(&j, "capacity");
		pg_json_u64(&j, "rules", pg_map_capacity(m.fd[PG_M_RULES]) - 1);
		pg_json_u64(&j, "port_entries", pg_map_capacity(m.fd[PG_M_PORTS]));
		pg_json_u64(&j, "exemptions_v4", PG_MAX_EXEMPT);
		pg_json_u64(&j, "exemptions_v6", PG_MAX_EXEMPT);
		pg_json_end_obj(&j);
		pg_kernel_probe(&k);
		pg_kernel_json(&j, &k);
		pg_json_end_obj(&j);
		pg_json_done(&j);
	} else {
		if (others)
			printf("  (%u more in other network namespaces%s, not shown)\n", others,
			       others_gone ? ", some with deleted interfaces" : "");
		printf("rules      %u of %u\nexemptions %u of %u IPv4, %u of %u IPv6\n", nrules,
		       pg_map_capacity(m.fd[PG_M_RULES]) - 1, n4, PG_MAX_EXEMPT, n6, PG_MAX_EXEMPT);
		pg_kernel_probe(&k);
		pg_kernel_print(stdout, &k);
	}
	pg_maps_close(&m);
	/* what a monitoring script sees: exit 1 and one line on stderr */
	if (c.ngone) {
		pg_err("warning: %u attached interface%s deleted (%s): %s nothing; 'portgate detach NAME' removes %s",
		       c.ngone, c.ngone == 1 ? " was" : "s were", c.gone_names,
		       c.ngone == 1 ? "its link filters" : "their links filter",
		       c.ngone == 1 ? "it" : "them");
		return PG_EXIT_RUNTIME;
	}
	return PG_EXIT_OK;
}

/* ---- for apply and save: the links of this network namespace ---- */

int pg_links_list(const struct pg_opts *o, struct pg_link **out, unsigned int *n)
{
	__u32 up_id = pg_pinned_prog_id(o, PG_PIN_PROG_UPLINK);
	__u32 acc_id = pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS);
	struct pg_link *l = NULL, *nl;
	struct pg_link_iter it;
	struct bpf_link_info li;
	struct pg_netns ns;
	unsigned int cap = 0;
	int fd, err;

	*out = NULL;
	*n = 0;
	err = pg_netns_self(&ns);
	if (err)
		return err;
	pg_link_iter_init(&it, o);
	while (pg_link_next(&it)) {
		if (it.netns_id != ns.id || strlen(it.name) >= sizeof(l->pin))
			continue;
		fd = bpf_obj_get(it.path);
		if (fd < 0 || pg_link_info(fd, &li)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			nl = realloc(l, cap * sizeof(*l));
			if (!nl) {
				pg_link_iter_done(&it);
				free(l);
				return -ENOMEM;
			}
			l = nl;
		}
		nl = &l[(*n)++];
		memset(nl, 0, sizeof(*nl));
		snprintf(nl->pin, sizeof(nl->pin), "%s", it.name);
		nl->ifindex = li.xdp.ifindex;
		nl->role = li.prog_id == up_id	  ? PG_ROLE_UPLINK
			   : li.prog_id == acc_id ? PG_ROLE_ACCESS
						  : PG_ROLE_UNKNOWN;
		nl->native = li.xdp.ifindex && !strcmp(pg_xdp_mode(li.xdp.ifindex), "native");
		if (nl->role == PG_ROLE_ACCESS && li.xdp.ifindex) {
			__u32 tc_id = 0;

			nl->outbound_only = pg_tc_query(li.xdp.ifindex, &tc_id) || !tc_id;
		}
	}
	pg_link_iter_done(&it);
	*out = l;
	return 0;
}

int pg_link_remove(const struct pg_opts *o, const char *pin)
{
	struct pg_meta meta = {.fd = -1}, *mp;
	char path[PATH_MAX];
	__u64 netns_id;
	__u32 ifindex;
	int err;

	if (!pg_link_pin_parse(pin, &netns_id, &ifindex))
		return -EINVAL;
	err = pg_pin_path(o, pin, path, sizeof(path));
	if (err)
		return err;
	mp = pg_meta_open(o, false, &meta) ? NULL : &meta;
	err = pg_detach_pin(path, mp, netns_id, ifindex);
	if (mp)
		pg_meta_close(mp);
	return err;
}

int pg_link_remove_ifindex(const struct pg_opts *o, int ifindex)
{
	struct pg_netns ns;
	char name[64];

	return pg_netns_self(&ns) ?: pg_link_pin_name(&ns, ifindex, name, sizeof(name))
						?: pg_link_remove(o, name);
}
