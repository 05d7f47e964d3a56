// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * attach/detach/status. Each interface holds a bpf_link pinned as
 * link_<ifindex>, so the filter outlives the CLI; every interface of a
 * role runs the one pinned program (prog_uplink / prog_access), so they
 * all share the pinned maps. A role change is bpf_link_update(): atomic,
 * the interface is never unfiltered.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
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

static int pg_count_links(const struct pg_opts *o, bool detach_all);

static int pg_attach_new(const struct pg_opts *o, const char *ifname, int ifindex, int prog_fd,
			 bool native, bool force, const char *link_path)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	__u32 old_id = 0, old_flags = 0;
	int link_fd, old_fd, err;

	(void)o;
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

int pg_link_pin_name(int ifindex, char *buf, size_t len)
{
	int n = snprintf(buf, len, PG_PIN_LINK_PREFIX "%d", ifindex);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pg_parse_attach(int argc, char **argv, struct pg_attach_req *r)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val;

	memset(r, 0, sizeof(*r));
	r->role = PG_ROLE_UPLINK;
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
		} else {
			return pg_usage_err(
				a.cmd, "unknown option '%s', try 'portgate attach --help'", opt);
		}
	}
	if (!r->ifname)
		return pg_usage_err(a.cmd, "expected IFACE, e.g. 'attach eth0'");
	return 0;
}

int pg_attach_locked(const struct pg_opts *o, const struct pg_attach_req *r, int ifindex)
{
	char link_path[PATH_MAX], prog_path[PATH_MAX], name[32];
	int prog_fd = -1, link_fd = -1, err;
	struct bpf_link_info li;
	__u32 prog_id;

	err = pg_link_pin_name(ifindex, name, sizeof(name)) ?:
	      pg_pin_path(o, name, link_path, sizeof(link_path)) ?:
	      pg_pin_path(o, pg_role_pins[r->role], prog_path, sizeof(prog_path));
	if (err)
		goto out;
	prog_fd = bpf_obj_get(prog_path);
	if (prog_fd < 0) {
		err = pg_sys_err(-errno, "cannot open '%s'", prog_path);
		goto out;
	}
	prog_id = pg_prog_id(prog_fd);

	link_fd = bpf_obj_get(link_path);
	/* A link whose interface went away is defunct: drop it, attach afresh. */
	if (link_fd >= 0 && !pg_link_info(link_fd, &li) && !li.xdp.ifindex) {
		close(link_fd);
		unlink(link_path);
		link_fd = -1;
	}
	if (link_fd < 0) {
		err = pg_attach_new(o, r->ifname, ifindex, prog_fd, r->native, r->force, link_path);
		goto out;
	}
	/* Already ours: same role is a no-op, the other role an atomic swap. */
	err = pg_link_info(link_fd, &li);
	if (err) {
		pg_sys_err(err, "cannot read '%s'", link_path);
		goto out;
	}
	if (r->mode_given && strcmp(pg_xdp_mode(ifindex), r->native ? "native" : "generic")) {
		pg_err("'%s' is attached in %s mode, not %s (expected 'portgate detach %s' first)",
		       r->ifname, pg_xdp_mode(ifindex), r->native ? "native" : "generic",
		       r->ifname);
		err = -EEXIST;
		goto out;
	}
	if (li.prog_id == prog_id) {
		if (pg_verbose)
			pg_err("'%s' already attached as %s", r->ifname, pg_role_names[r->role]);
		goto out;
	}
	if (bpf_link_update(link_fd, prog_fd, NULL))
		err = pg_sys_err(-errno, "cannot switch '%s' to role %s", r->ifname,
				 pg_role_names[r->role]);
out:
	if (link_fd >= 0)
		close(link_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	return err;
}

int cmd_attach(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_attach_req r;
	int ifindex, lock_fd = -1, err;
	bool created = false;

	if (pg_parse_attach(argc, argv, &r))
		return PG_EXIT_USAGE;
	ifindex = pg_ifindex(r.ifname);
	if (!ifindex)
		return PG_EXIT_RUNTIME;

	err = pg_lock_dir(o->pin_path, true, true, &lock_fd);
	if (err)
		return PG_EXIT_RUNTIME;
	if (!pg_pinned(o, pg_role_pins[r.role]) || !pg_pinned(o, pg_map_names[PG_M_PORTS])) {
		created = !pg_pinned(o, pg_map_names[PG_M_PORTS]);
		err = pg_state_create_locked(o);
		if (err)
			goto out;
	}
	err = pg_attach_locked(o, &r, ifindex);
out:
	/* A first attach that failed leaves nothing behind (staged rules stay). */
	if (err && created && pg_count_links(o, false) == 0)
		pg_state_remove(o);
	close(lock_fd);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}

/* Detach one link pin (synchronously: BPF_LINK_DETACH, then unpin). */
static int pg_detach_pin(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		bpf_link_detach(fd); /* fails harmlessly if already defunct */
		close(fd);
	}
	if (unlink(path))
		return pg_sys_err(-errno, "cannot unpin '%s'", path);
	return 0;
}

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

/* Number of live link pins; prunes defunct ones, or detaches all. */
static int pg_count_links(const struct pg_opts *o, bool detach_all)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0, err;
	DIR *d;

	d = opendir(o->pin_path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, PG_PIN_LINK_PREFIX, strlen(PG_PIN_LINK_PREFIX)))
			continue;
		if (pg_pin_path(o, de->d_name, path, sizeof(path)))
			continue;
		/* links of interfaces that went away are defunct: prune them too */
		if (detach_all || pg_link_defunct(path)) {
			err = pg_detach_pin(path);
			if (err) {
				closedir(d);
				return err;
			}
			continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

int cmd_detach(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val, *ifname = NULL;
	char path[PATH_MAX], name[32];
	bool all = false;
	int ifindex = 0, lock_fd, err;

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
	if (ifname) {
		ifindex = pg_ifindex(ifname);
		if (!ifindex)
			return PG_EXIT_RUNTIME;
	}
	err = pg_lock_dir(o->pin_path, false, true, &lock_fd);
	if (err == -ENOENT) {
		if (all)
			return PG_EXIT_OK;
		pg_err("'%s' is not attached (nothing loaded under '%s')", ifname, o->pin_path);
		return PG_EXIT_RUNTIME;
	}
	if (err)
		return PG_EXIT_RUNTIME;
	if (ifname) {
		snprintf(name, sizeof(name), PG_PIN_LINK_PREFIX "%d", ifindex);
		err = pg_pin_path(o, name, path, sizeof(path));
		if (!err && access(path, F_OK)) {
			pg_err("'%s' is not attached (expected an interface listed by 'portgate status')",
			       ifname);
			err = -ENOENT;
		}
		if (!err)
			err = pg_detach_pin(path);
	} else {
		err = pg_count_links(o, true);
		err = err < 0 ? err : 0;
	}
	/* The last detach removes the pins: nothing of portgate stays behind. */
	if (!err && pg_count_links(o, false) == 0) {
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
 * Every pinned link of the pin path as an attachment (role from the
 * pinned program ids): what `status` lists and `metrics` exports.
 */
int pg_attachments_each(const struct pg_opts *o, pg_attachment_cb cb, void *ctx)
{
	__u32 up_id = pg_pinned_prog_id(o, PG_PIN_PROG_UPLINK);
	__u32 acc_id = pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS);
	struct pg_attachment a;
	struct bpf_link_info li;
	char path[PATH_MAX];
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	d = opendir(o->pin_path);
	while (!err && d && (de = readdir(d))) {
		if (strncmp(de->d_name, PG_PIN_LINK_PREFIX, strlen(PG_PIN_LINK_PREFIX)) ||
		    pg_pin_path(o, de->d_name, path, sizeof(path)))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0 || pg_link_info(fd, &li)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		a.ifindex = li.xdp.ifindex;
		a.role = li.prog_id == up_id	? "uplink"
			 : li.prog_id == acc_id ? "access"
						: "unknown";
		if (!li.xdp.ifindex || !if_indextoname(li.xdp.ifindex, a.ifname))
			snprintf(a.ifname, sizeof(a.ifname), "%s", "(gone)"); /* pruned by detach */
		a.mode = li.xdp.ifindex ? pg_xdp_mode(li.xdp.ifindex) : "none";
		a.prog_id = li.prog_id;
		a.link_id = li.id;
		err = cb(&a, ctx);
	}
	if (d)
		closedir(d);
	return err;
}

static int pg_status_one(const struct pg_attachment *a, void *ctx)
{
	struct pg_json *j = ctx;

	if (j) {
		pg_json_obj(j, NULL);
		pg_json_str(j, "ifname", a->ifname);
		pg_json_u64(j, "ifindex", a->ifindex);
		pg_json_str(j, "role", a->role);
		pg_json_str(j, "mode", a->mode);
		pg_json_u64(j, "prog_id", a->prog_id);
		pg_json_u64(j, "link_id", a->link_id);
		pg_json_end_obj(j);
	} else {
		printf("  %-16s ifindex %-5u %-7s %-8s prog id %u\n", a->ifname, a->ifindex,
		       a->role, a->mode, a->prog_id);
	}
	return 0;
}

int cmd_status(const struct pg_opts *o, int argc, char **argv)
{
	__u32 up_id, acc_id;
	unsigned int nrules = 0, n4 = 0, n6 = 0;
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
			pg_json_end_obj(&j);
			pg_json_done(&j);
		} else {
			printf("not loaded (nothing pinned under %s)\n", o->pin_path);
		}
		return PG_EXIT_OK;
	}
	if (pg_maps_open(o, 0, &m))
		return PG_EXIT_RUNTIME;
	pg_rules_count(&m, &nrules);
	pg_exempt_count(&m, false, &n4);
	pg_exempt_count(&m, true, &n6);
	up_id = pg_pinned_prog_id(o, PG_PIN_PROG_UPLINK);
	acc_id = pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS);

	if (o->json) {
		pg_json_init(&j, stdout);
		pg_json_obj(&j, NULL);
		pg_json_str(&j, "pin_path", o->pin_path);
		pg_json_bool(&j, "loaded", true);
		pg_json_obj(&j, "programs");
		pg_json_u64(&j, "uplink", up_id);
		pg_json_u64(&j, "access", acc_id);
		pg_json_end_obj(&j);
		pg_json_arr(&j, "interfaces");
	} else {
		printf("pin path   %s\nprograms   uplink id %u, access id %u\ninterfaces\n",
		       o->pin_path, up_id, acc_id);
	}
	pg_attachments_each(o, pg_status_one, o->json ? &j : NULL);
	if (o->json) {
		pg_json_end_arr(&j);
		pg_json_u64(&j, "rules", nrules);
		pg_json_obj(&j, "exemptions");
		pg_json_u64(&j, "v4", n4);
		pg_json_u64(&j, "v6", n6);
		pg_json_end_obj(&j);
		pg_json_obj(&j, "capacity");
		pg_json_u64(&j, "rules", pg_map_capacity(m.fd[PG_M_RULES]) - 1);
		pg_json_u64(&j, "port_entries", pg_map_capacity(m.fd[PG_M_PORTS]));
		pg_json_u64(&j, "exemptions_v4", pg_map_capacity(m.fd[PG_M_EXEMPT_V4]));
		pg_json_u64(&j, "exemptions_v6", pg_map_capacity(m.fd[PG_M_EXEMPT_V6]));
		pg_json_end_obj(&j);
		pg_json_end_obj(&j);
		pg_json_done(&j);
	} else {
		printf("rules      %u of %u\nexemptions %u of %u IPv4, %u of %u IPv6\n", nrules,
		       pg_map_capacity(m.fd[PG_M_RULES]) - 1, n4,
		       pg_map_capacity(m.fd[PG_M_EXEMPT_V4]), n6,
		       pg_map_capacity(m.fd[PG_M_EXEMPT_V6]));
	}
	pg_maps_close(&m);
	return PG_EXIT_OK;
}

/* ---- for apply and save: the links of the pin path ---- */

int pg_links_list(const struct pg_opts *o, struct pg_link **out, unsigned int *n)
{
	__u32 up_id = pg_pinned_prog_id(o, PG_PIN_PROG_UPLINK);
	__u32 acc_id = pg_pinned_prog_id(o, PG_PIN_PROG_ACCESS);
	struct pg_link *l = NULL, *nl;
	struct bpf_link_info li;
	char path[PATH_MAX];
	unsigned int cap = 0;
	struct dirent *de;
	int fd;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(o->pin_path);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, PG_PIN_LINK_PREFIX, strlen(PG_PIN_LINK_PREFIX)) ||
		    strlen(de->d_name) >= sizeof(l->pin) ||
		    pg_pin_path(o, de->d_name, path, sizeof(path)))
			continue;
		fd = bpf_obj_get(path);
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
				closedir(d);
				free(l);
				return -ENOMEM;
			}
			l = nl;
		}
		nl = &l[(*n)++];
		memset(nl, 0, sizeof(*nl));
		snprintf(nl->pin, sizeof(nl->pin), "%s", de->d_name);
		nl->ifindex = li.xdp.ifindex;
		nl->role = li.prog_id == up_id	  ? PG_ROLE_UPLINK
			   : li.prog_id == acc_id ? PG_ROLE_ACCESS
						  : PG_ROLE_UNKNOWN;
		nl->native = li.xdp.ifindex && !strcmp(pg_xdp_mode(li.xdp.ifindex), "native");
	}
	if (d)
		closedir(d);
	*out = l;
	return 0;
}

int pg_link_remove(const struct pg_opts *o, const char *pin)
{
	char path[PATH_MAX];

	return pg_pin_path(o, pin, path, sizeof(path)) ?: pg_detach_pin(path);
}
