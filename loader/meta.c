// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What portgate keeps next to its pins to be safe on a shared host: the
 * names it creates (and so the only ones it ever removes), the identity of
 * a link (network namespace and ifindex, in its pin name), and pg_meta,
 * the one metadata record (layout in portgate.h): map ABI version and
 * build id of the running program, and one record per link with the
 * interface name, role and mode, so a link whose interface was deleted
 * still shows under its old name.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "loader.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

_Static_assert(sizeof(struct pg_meta_rec) == 56, "pg_meta_rec: 8-byte header + 48-byte record");

int pg_netns_self(struct pg_netns *ns)
{
	socklen_t len = sizeof(ns->id);
	struct stat st;
	int fd;

	memset(ns, 0, sizeof(*ns));
	if (stat("/proc/self/ns/net", &st))
		return pg_sys_err(-errno, "cannot identify the network namespace");
	ns->ino = st.st_ino;
	/* a cookie is never reused; an inode may be, once its namespace is gone */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &ns->id, &len) ||
	    len != sizeof(ns->id))
		ns->id = 0;
	if (fd >= 0)
		close(fd);
	if (!ns->id)
		ns->id = ns->ino;
	return 0;
}

int pg_link_pin_name(const struct pg_netns *ns, unsigned int ifindex, char *buf, size_t len)
{
	int n = snprintf(buf, len, PG_PIN_LINK_PREFIX "%" PRIu64 "_%u", (uint64_t)ns->id, ifindex);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Digits only, no sign, no leading zero: exactly what pg_link_pin_name writes. */
static const char *pg_parse_u64(const char *s, __u64 *v)
{
	const char *p = s;

	*v = 0;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (*v > (UINT64_MAX - (*p - '0')) / 10)
			return NULL;
		*v = *v * 10 + (*p - '0');
	}
	return p;
}

bool pg_link_pin_parse(const char *name, __u64 *netns_id, __u32 *ifindex)
{
	const char *p;
	__u64 idx;

	if (strncmp(name, PG_PIN_LINK_PREFIX, strlen(PG_PIN_LINK_PREFIX)))
		return false;
	p = pg_parse_u64(name + strlen(PG_PIN_LINK_PREFIX), netns_id);
	if (!p || *p != '_')
		return false;
	p = pg_parse_u64(p + 1, &idx);
	if (!p || *p || !idx || idx > UINT32_MAX)
		return false;
	*ifindex = idx;
	return true;
}

bool pg_pin_is_ours(const char *name)
{
	static const char *const fixed[] = {
		PG_PIN_PROG_UPLINK,	      PG_PIN_PROG_ACCESS,	 PG_PIN_META,
		PG_PIN_PROG_UPLINK "_new",    PG_PIN_PROG_ACCESS "_new", PG_PIN_PROG_ACCESS_IN,
		PG_PIN_PROG_ACCESS_IN "_new",
	};
	__u64 id;
	__u32 ifindex;
	size_t i;

	for (i = 0; i < PG_M_COUNT; i++)
		if (!strcmp(name, pg_map_names[i]))
			return true;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!strcmp(name, fixed[i]))
			return true;
	return pg_link_pin_parse(name, &id, &ifindex);
}

static size_t pg_meta_size(void)
{
	size_t page = sysconf(_SC_PAGESIZE);

	return (PG_META_SLOTS * sizeof(struct pg_meta_rec) + page - 1) / page * page;
}

static int pg_meta_create(const char *path)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
	struct pg_meta_rec head = {.kind = PG_META_HEAD};
	__u32 zero = 0;
	int fd, err;

	head.head.magic = PG_META_MAGIC;
	head.head.abi_version = PG_ABI_VERSION;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, PG_PIN_META, sizeof(__u32),
			    sizeof(struct pg_meta_rec), PG_META_SLOTS, &mo);
	if (fd < 0)
		return pg_sys_err(-errno, "cannot create '%s'", path);
	if (bpf_map_update_elem(fd, &zero, &head, BPF_ANY) || bpf_obj_pin(fd, path)) {
		err = pg_sys_err(-errno, "cannot pin '%s'", path);
		close(fd);
		return err;
	}
	return fd;
}

int pg_meta_open(const struct pg_opts *o, bool create, struct pg_meta *m)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	void *p;
	int err;

	m->fd = -1;
	m->recs = NULL;
	err = pg_pin_path(o, PG_PIN_META, path, sizeof(path));
	if (err)
		return err;
	m->fd = bpf_obj_get(path);
	if (m->fd < 0 && errno == ENOENT && create)
		m->fd = pg_meta_create(path);
	else if (m->fd < 0 && errno == ENOENT)
		return -ENOENT;
	else if (m->fd < 0)
		return pg_sys_err(-errno, "cannot open '%s'", path);
	if (m->fd < 0)
		return m->fd;
	if (bpf_obj_get_info_by_fd(m->fd, &info, &len) || info.type != BPF_MAP_TYPE_ARRAY ||
	    info.value_size != sizeof(struct pg_meta_rec) || info.max_entries != PG_META_SLOTS ||
	    !(info.map_flags & BPF_F_MMAPABLE)) {
		pg_err("'%s' is not portgate's metadata (expected an array of %u records of %zu bytes)",
		       path, PG_META_SLOTS, sizeof(struct pg_meta_rec));
		err = -EINVAL;
		goto fail;
	}
	p = mmap(NULL, pg_meta_size(), PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (p == MAP_FAILED) {
		err = pg_sys_err(-errno, "cannot map '%s'", path);
		goto fail;
	}
	m->recs = p;
	if (m->recs[0].kind != PG_META_HEAD || m->recs[0].head.magic != PG_META_MAGIC) {
		pg_err("'%s' is not portgate's metadata (no portgate header)", path);
		err = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	pg_meta_close(m);
	return err == -EINVAL ? -EIO : err; /* a runtime error, not a usage error */
}

void pg_meta_close(struct pg_meta *m)
{
	if (m->recs)
		munmap(m->recs, pg_meta_size());
	if (m->fd >= 0)
		close(m->fd);
	m->recs = NULL;
	m->fd = -1;
}

struct pg_meta_link *pg_meta_link_find(struct pg_meta *m, __u64 netns_id, __u32 ifindex)
{
	int i;

	for (i = 1; m->recs && i < PG_META_SLOTS; i++) {
		struct pg_meta_rec *r = &m->recs[i];

		if (r->kind == PG_META_LINK && r->link.netns_id == netns_id &&
		    r->link.ifindex == ifindex)
			return &r->link;
	}
	return NULL;
}

/* Writers hold the pin-directory lock; readers may see a record being written. */
int pg_meta_link_set(struct pg_meta *m, const struct pg_meta_link *l)
{
	struct pg_meta_link *old = pg_meta_link_find(m, l->netns_id, l->ifindex);
	int i;

	if (old) {
		*old = *l;
		return 0;
	}
	for (i = 1; m->recs && i < PG_META_SLOTS; i++) {
		if (m->recs[i].kind != PG_META_FREE)
			continue;
		m->recs[i].link = *l;
		__atomic_store_n(&m->recs[i].kind, PG_META_LINK, __ATOMIC_RELEASE);
		return 0;
	}
	pg_err("too many links (expected at most %d interfaces per pin path)", PG_META_SLOTS - 1);
	return -ENOSPC;
}

void pg_meta_link_del(struct pg_meta *m, __u64 netns_id, __u32 ifindex)
{
	struct pg_meta_link *l;

	while ((l = pg_meta_link_find(m, netns_id, ifindex))) {
		struct pg_meta_rec *r = (void *)((char *)l - offsetof(struct pg_meta_rec, link));

		__atomic_store_n(&r->kind, PG_META_FREE, __ATOMIC_RELEASE);
		memset(&r->link, 0, sizeof(r->link));
	}
}
