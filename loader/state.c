// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pin directory: bpffs mount, the lock every mutating command holds,
 * and loading the skeleton with the pinned maps reused so that every
 * invocation and every interface shares one rule set and one set of
 * counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "portgate.skel.h"

const char *const pg_map_names[PG_M_COUNT] = {
	[PG_M_PORTS] = PG_STR(PG_MAP_PORTS),
	[PG_M_RULES] = PG_STR(PG_MAP_RULES),
	[PG_M_RULE_STATS] = PG_STR(PG_MAP_RULE_STATS),
	[PG_M_STATS] = PG_STR(PG_MAP_STATS),
	[PG_M_EXEMPT_V4] = PG_STR(PG_MAP_EXEMPT_V4),
	[PG_M_EXEMPT_V6] = PG_STR(PG_MAP_EXEMPT_V6),
	[PG_M_EXEMPT_KINDS] = PG_STR(PG_MAP_EXEMPT_KINDS),
	[PG_M_CTL] = PG_STR(PG_MAP_CTL),
	[PG_M_TRACE_RINGS] = PG_STR(PG_MAP_TRACE_RINGS),
	[PG_M_TRACE_CFG] = PG_STR(PG_MAP_TRACE_CFG),
	[PG_M_TRACE_RL] = PG_STR(PG_MAP_TRACE_RL),
	[PG_M_EXEMPT_SUM] = PG_STR(PG_MAP_EXEMPT_SUM),
	[PG_M_EXEMPT_REFS] = PG_STR(PG_MAP_EXEMPT_REFS),
	[PG_M_EXEMPT_TAB_V4] = PG_STR(PG_MAP_EXEMPT_TAB_V4),
	[PG_M_EXEMPT_TAB_V6] = PG_STR(PG_MAP_EXEMPT_TAB_V6),
};

struct bpf_map *pg_skel_map(struct bpf_object *obj, int i)
{
	/* pg_ctl is a data section: libbpf names the map after the section */
	return bpf_object__find_map_by_name(obj, i == PG_M_CTL ? PG_SEC_CTL : pg_map_names[i]);
}

int pg_pin_path(const struct pg_opts *o, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", o->pin_path, name);

	if (n < 0 || (size_t)n >= len) {
		pg_err("pin path '%s' is too long", o->pin_path);
		return -ENAMETOOLONG;
	}
	return 0;
}

bool pg_pinned(const struct pg_opts *o, const char *name)
{
	char path[PATH_MAX];

	return !pg_pin_path(o, name, path, sizeof(path)) && access(path, F_OK) == 0;
}

/* FNV-1a 64 of the BPF object this binary embeds: the program's build identity. */
__u64 pg_build_id(void)
{
	static __u64 id;
	const unsigned char *p;
	size_t i, n;

	if (id)
		return id;
	p = portgate__elf_bytes(&n);
	id = 0xcbf29ce484222325ULL;
	for (i = 0; i < n; i++)
		id = (id ^ p[i]) * 0x100000001b3ULL;
	return id ?: 1;
}

int pg_state_prog_fd(struct pg_state *st, int role)
{
	return bpf_program__fd(role == 2   ? st->skel->progs.PG_PROG_ACCESS_IN
			       : role == 1 ? st->skel->progs.PG_PROG_ACCESS
					   : st->skel->progs.PG_PROG_UPLINK);
}

/* Parent of pid (/proc/PID/stat), 0 if unknown. */
static pid_t pg_ppid(pid_t pid)
{
	char path[64], buf[1024], *p;
	pid_t ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f) || !(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %d", &ppid) != 1)
		ppid = 0;
	fclose(f);
	return ppid;
}

/*
 * Does a process other than us and our ancestors live in the mount
 * namespace `self`? Then it outlives this command (a container's), and so
 * do mounts made in it.
 */
static bool pg_mntns_held(const struct stat *self, const pid_t *anc, int nanc)
{
	char path[64];
	struct dirent *de;
	struct stat ns;
	bool held = false;
	DIR *d;
	int i;

	d = opendir("/proc");
	while (d && !held && (de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid <= 0 || pid == getpid())
			continue;
		for (i = 0; i < nanc && anc[i] != pid; i++)
			;
		if (i < nanc)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		held = !stat(path, &ns) && ns.st_ino == self->st_ino && ns.st_dev == self->st_dev;
	}
	if (d)
		closedir(d);
	return held;
}

/*
 * Is the file system at p (absolute, existing) private to this mount
 * namespace, and will it vanish when this command exits? `ip netns exec`
 * runs its command in a new mount namespace with a fresh /sys: a bpffs
 * mounted there, and every pin in it, is gone when the command exits.
 * Compare p with p as seen by the nearest ancestor process in another
 * mount namespace; a namespace other processes live in (a container's)
 * persists. True only when sure.
 */
static bool pg_fs_private(const char *p)
{
	struct stat self, ns, mine, theirs;
	char path[PATH_MAX + 32];
	pid_t pid = getppid(), anc[64];
	int depth;

	if (stat("/proc/self/ns/mnt", &self) || stat(p, &mine))
		return false;
	for (depth = 0; pid > 0 && depth < 64; depth++, pid = pg_ppid(pid)) {
		anc[depth] = pid;
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		if (stat(path, &ns))
			return false; /* cannot tell */
		if (ns.st_ino == self.st_ino && ns.st_dev == self.st_dev)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, p);
		if (stat(path, &theirs)) {
			if (errno != ENOENT)
				return false; /* cannot tell */
		} else if (theirs.st_dev == mine.st_dev) {
			return false; /* the same file system: shared */
		}
		return !pg_mntns_held(&self, anc, depth + 1);
	}
	return false;
}

/* The deepest existing ancestor of dir must be bpffs; mount /sys/fs/bpf if needed. */
static int pg_ensure_bpffs(const char *dir)
{
	char p[PATH_MAX], abs[PATH_MAX];
	struct statfs fs;
	char *slash;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	while (statfs(p, &fs)) {
		if (errno != ENOENT)
			return pg_sys_err(-errno, "pin path '%s'", p);
		slash = strrchr(p, '/');
		if (!slash || slash == p) {
			strcpy(p, "/");
			break;
		}
		*slash = '\0';
	}
	if (statfs(p, &fs))
		return pg_sys_err(-errno, "pin path '%s'", p);
	if (realpath(p, abs) && pg_fs_private(abs)) {
		pg_err("pin path '%s' is on a bpf filesystem private to this mount namespace (as under 'ip netns exec'): pins would vanish when the command exits; expected 'nsenter --net=/run/netns/NS portgate ...' or a bpffs shared with the host",
		       dir);
		return -EXDEV;
	}
	if (fs.f_type == BPF_FS_MAGIC)
		return 0;
	if (!strcmp(p, "/sys/fs/bpf")) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"))
			return pg_sys_err(-errno, "cannot mount bpffs on /sys/fs/bpf");
		return 0;
	}
	pg_err("pin path '%s' is not on a bpf filesystem (expected a directory under /sys/fs/bpf)",
	       dir);
	return -EINVAL;
}

static int pg_mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	char *s;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * flock() on the directory itself: bpffs holds no regular files. The last
 * detach removes the directory, so after waiting for the lock check that
 * the directory we locked is still the one at that path.
 */
int pg_lock_dir(const char *dir, bool create, bool excl, int *lock_fd)
{
	struct stat a, b;
	int fd, err;

	*lock_fd = -1;
	if (create) {
		err = pg_ensure_bpffs(dir);
		if (err)
			return err;
	}
	for (;;) {
		if (create) {
			err = pg_mkdir_p(dir);
			if (err)
				return pg_sys_err(err, "cannot create pin directory '%s'", dir);
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT && !create)
				return -ENOENT;
			return pg_sys_err(-errno, "cannot open pin directory '%s'", dir);
		}
		if (flock(fd, excl ? LOCK_EX : LOCK_SH)) {
			err = -errno;
			close(fd);
			return pg_sys_err(err, "cannot lock '%s'", dir);
		}
		if (!fstat(fd, &a) && !stat(dir, &b) && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*lock_fd = fd;
			return 0;
		}
		close(fd); /* removed (last detach) while we waited: start over */
		if (!create)
			return -ENOENT;
	}
}

static int pg_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
	return -1;
}

/*
 * A pinned map this build's program is to use must have this build's
 * definition: name what differs (the map ABI changed) instead of passing
 * on a libbpf error, and change nothing.
 */
static int pg_map_compat(const struct pg_opts *o, const struct bpf_map *map, int fd,
			 const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), have = 0, want = 0;
	const char *what = NULL;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return pg_sys_err(-errno, "cannot read pinned map '%s'", name);
	if (info.type != (__u32)bpf_map__type(map))
		what = "type", have = info.type, want = bpf_map__type(map);
	else if (info.key_size != bpf_map__key_size(map))
		what = "key size", have = info.key_size, want = bpf_map__key_size(map);
	else if (info.value_size != bpf_map__value_size(map))
		what = "value size", have = info.value_size, want = bpf_map__value_size(map);
	else if (info.max_entries != bpf_map__max_entries(map))
		what = "max_entries", have = info.max_entries, want = bpf_map__max_entries(map);
	else if (info.map_flags != bpf_map__map_flags(map))
		what = "flags", have = info.map_flags, want = bpf_map__map_flags(map);
	if (!what)
		return 0;
	pg_err("pinned map '%s' under '%s' has %s %u, this build %u: the map ABI changed, nothing changed (expected a build with the same map layouts)",
	       name, o->pin_path, what, have, want);
	return -EPROTO;
}

static int pg_load_skel(const struct pg_opts *o, struct pg_state *st, const int *reuse, bool frags,
			bool no_trace)
{
	struct portgate *skel;
	int i, err;

	skel = portgate__open();
	if (!skel)
		return -errno ? -errno : -ENOMEM;
	skel->rodata->pg_frags = frags;
	skel->rodata->pg_trace_off = no_trace;
	if (frags) {
		bpf_program__set_flags(skel->progs.PG_PROG_UPLINK,
				       bpf_program__flags(skel->progs.PG_PROG_UPLINK) |
					       BPF_F_XDP_HAS_FRAGS);
		bpf_program__set_flags(skel->progs.PG_PROG_ACCESS,
				       bpf_program__flags(skel->progs.PG_PROG_ACCESS) |
					       BPF_F_XDP_HAS_FRAGS);
	}
	for (i = 0; i < PG_M_COUNT; i++) {
		struct bpf_map *map;

		if (reuse[i] < 0)
			continue;
		map = pg_skel_map(skel->obj, i);
		err = map ? pg_map_compat(o, map, reuse[i], pg_map_names[i])
				      ?: bpf_map__reuse_fd(map, reuse[i])
			  : -ENOENT;
		if (err)
			goto fail;
	}
	err = portgate__load(skel);
	if (err)
		goto fail;
	st->skel = skel;
	st->frags = frags;
	return 0;
fail:
	portgate__destroy(skel);
	return err;
}

static int pg_skel_map_fd(struct pg_state *st, int i)
{
	struct bpf_map *map = pg_skel_map(st->skel->obj, i);

	return map ? bpf_map__fd(map) : -1;
}

/*
 * Maps of another ABI version are never used: their layouts may differ
 * in ways a definition check cannot see. *exists: the metadata is pinned.
 */
static int pg_meta_abi_check(const struct pg_opts *o, bool *exists)
{
	struct pg_meta_rec head;
	char path[PATH_MAX];
	__u32 zero = 0;
	int fd, err;

	*exists = false;
	err = pg_pin_path(o, PG_PIN_META, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : pg_sys_err(-errno, "cannot open '%s'", path);
	*exists = true;
	err = bpf_map_lookup_elem(fd, &zero, &head) ? -errno : 0;
	close(fd);
	if (err)
		return pg_sys_err(err, "cannot read '%s'", path);
	if (head.kind != PG_META_HEAD || head.head.magic != PG_META_MAGIC) {
		pg_err("'%s' is not portgate's metadata (no portgate header)", path);
		return -EIO;
	}
	if (head.head.abi_version != PG_ABI_VERSION) {
		pg_err("the maps under '%s' have map ABI version %u, this build %u: refusing to use them, nothing changed (expected a build of ABI %u)",
		       o->pin_path, head.head.abi_version, PG_ABI_VERSION, head.head.abi_version);
		return -EPROTO;
	}
	return 0;
}

/*
 * New state goes only where nothing but portgate's own names is pinned:
 * another tool's pins in the same directory would be at the mercy of
 * portgate's removal (and portgate's at theirs).
 */
static int pg_check_foreign(const struct pg_opts *o)
{
	char first[NAME_MAX + 1] = "";
	struct dirent *de;
	unsigned int n = 0;
	DIR *d;

	d = opendir(o->pin_path);
	if (!d)
		return errno == ENOENT ? 0 : pg_sys_err(-errno, "cannot read '%s'", o->pin_path);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    pg_pin_is_ours(de->d_name))
			continue;
		if (!n++)
			snprintf(first, sizeof(first), "%s", de->d_name);
	}
	closedir(d);
	if (!n)
		return 0;
	pg_err("pin path '%s' holds %u entr%s that %s not portgate's (e.g. '%s'): refusing to create state there (expected a directory of portgate's own: new, empty or an existing portgate state)",
	       o->pin_path, n, n == 1 ? "y" : "ies", n == 1 ? "is" : "are", first);
	return -EEXIST;
}

/* The body of pg_state_open(); the caller holds the lock (or nothing exists). */
static int pg_state_load(const struct pg_opts *o, unsigned int flags, struct pg_state *st)
{
	bool create = flags & PG_OPEN_CREATE;
	bool priv_stats = flags & PG_OPEN_PRIVATE_STATS;
	bool upgrade = flags & PG_OPEN_UPGRADE;
	bool exists = false, meta_now = false;
	int reuse[PG_M_COUNT];
	char pinned_now[PG_M_COUNT + PG_NPROGS] = {};
	char path[PATH_MAX];
	struct pg_meta meta;
	int i, err;

	for (i = 0; i < PG_M_COUNT; i++)
		reuse[i] = -1;

	for (i = 0; st->lock_fd >= 0 && i < PG_M_COUNT; i++) {
		if (priv_stats && (i == PG_M_STATS || i == PG_M_RULE_STATS))
			continue;
		err = pg_pin_path(o, pg_map_names[i], path, sizeof(path));
		if (err)
			goto fail;
		reuse[i] = bpf_obj_get(path);
		if (reuse[i] < 0) {
			err = -errno;
			reuse[i] = -1;
			if (err != -ENOENT) {
				pg_sys_err(err, "cannot open pinned map '%s'", path);
				goto fail;
			}
		}
	}

	if (upgrade) {
		for (i = 0; i < PG_M_COUNT; i++) {
			if (reuse[i] >= 0)
				continue;
			pg_err("map '%s' is not pinned under '%s': the map ABI changed (this build adds it), nothing changed",
			       pg_map_names[i], o->pin_path);
			err = -EPROTO;
			goto fail;
		}
	}
	/* own maps (PG_OPEN_PRIVATE) ignore whatever is pinned */
	err = st->lock_fd >= 0 ? pg_meta_abi_check(o, &exists) : 0;
	if (err)
		goto fail;
	exists = exists || reuse[PG_M_PORTS] >= 0;
	if (create && !exists) {
		err = pg_check_foreign(o);
		if (err)
			goto fail;
	}

	/* BPF_F_XDP_HAS_FRAGS lets jumbo-MTU interfaces attach; older kernels reject it. */
	/* a private-counters copy (portgate test) never feeds the live tracers */
	err = pg_load_skel(o, st, reuse, true, priv_stats);
	if (err && err != -EPROTO)
		err = pg_load_skel(o, st, reuse, false, priv_stats);
	if (err == -EPROTO)
		goto fail; /* pg_map_compat said why */
	if (err) {
		pg_sys_err(err, "cannot load the XDP program");
		goto fail;
	}

	st->pinned = reuse[PG_M_PORTS] >= 0;
	if (reuse[PG_M_PORTS] < 0) {
		struct pg_maps m;

		for (i = 0; i < PG_M_COUNT; i++)
			m.fd[i] = pg_skel_map_fd(st, i);
		m.lock_fd = -1;
		m.gen = 0; /* new maps: generation 0 is live */
		err = pg_rules_defaults_maps(&m);
		if (err)
			goto fail;
		st->created = true;
	}

	if (create) {
		for (i = 0; i < PG_M_COUNT; i++) {
			if (reuse[i] >= 0)
				continue;
			if (priv_stats && (i == PG_M_STATS || i == PG_M_RULE_STATS))
				continue;
			err = pg_pin_path(o, pg_map_names[i], path, sizeof(path));
			if (err || bpf_obj_pin(pg_skel_map_fd(st, i), path)) {
				err = err ? err : pg_sys_err(-errno, "cannot pin '%s'", path);
				goto unpin;
			}
			pinned_now[i] = 1;
		}
		/* Programs pinned once: every interface attaches the same program id. */
		if (!priv_stats) {
			const char *pn[PG_NPROGS] = {PG_PIN_PROG_UPLINK, PG_PIN_PROG_ACCESS,
						     PG_PIN_PROG_ACCESS_IN};
			int pfd[PG_NPROGS];

			for (i = 0; i < PG_NPROGS; i++)
				pfd[i] = pg_state_prog_fd(st, i);
			for (i = 0; i < PG_NPROGS; i++) {
				if (pg_pinned(o, pn[i]))
					continue;
				err = pg_pin_path(o, pn[i], path, sizeof(path));
				if (err || bpf_obj_pin(pfd[i], path)) {
					err = err ? err
						  : pg_sys_err(-errno, "cannot pin '%s'", path);
					goto unpin;
				}
				pinned_now[PG_M_COUNT + i] = 1;
			}
			/* the metadata record: ABI version, and the build that now runs */
			meta_now = !pg_pinned(o, PG_PIN_META);
			err = pg_meta_open(o, true, &meta);
			if (err)
				goto unpin;
			if (pinned_now[PG_M_COUNT] || pinned_now[PG_M_COUNT + 1] ||
			    pinned_now[PG_M_COUNT + 2])
				meta.recs[0].head.build_id = pg_build_id();
			pg_meta_close(&meta);
		}
		st->pinned = true;
	}

	for (i = 0; i < PG_M_COUNT; i++)
		if (reuse[i] >= 0)
			close(reuse[i]);
	return 0;

unpin:
	for (i = 0; i < PG_M_COUNT + PG_NPROGS; i++) {
		const char *name = i < PG_M_COUNT	 ? pg_map_names[i]
				   : i == PG_M_COUNT	 ? PG_PIN_PROG_UPLINK
				   : i == PG_M_COUNT + 1 ? PG_PIN_PROG_ACCESS
							 : PG_PIN_PROG_ACCESS_IN;

		if (pinned_now[i] && !pg_pin_path(o, name, path, sizeof(path)))
			unlink(path);
	}
	if (meta_now && !pg_pin_path(o, PG_PIN_META, path, sizeof(path)))
		unlink(path);
fail:
	for (i = 0; i < PG_M_COUNT; i++)
		if (reuse[i] >= 0)
			close(reuse[i]);
	if (st->skel)
		portgate__destroy(st->skel);
	st->skel = NULL;
	return err;
}

int pg_state_open(const struct pg_opts *o, unsigned int flags, struct pg_state *st)
{
	bool create = flags & PG_OPEN_CREATE;
	int err;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	/* shared lock for readers (the test command): writers wait for them */
	err = flags & PG_OPEN_PRIVATE
		      ? -ENOENT
		      : pg_lock_dir(o->pin_path, create, create || (flags & PG_OPEN_UPGRADE),
				    &st->lock_fd);
	if (err && err != -ENOENT)
		return err;
	if (err && (flags & PG_OPEN_UPGRADE)) {
		pg_err("nothing loaded under '%s' (expected 'portgate attach IFACE' first)",
		       o->pin_path);
		return err;
	}
	err = pg_state_load(o, flags, st);
	if (err) {
		pg_state_close(st);
		return err;
	}
	if (!(flags & (PG_OPEN_CREATE | PG_OPEN_UPGRADE | PG_OPEN_PRIVATE)))
		pg_warn_build(o, "verdicts are this binary's");
	return 0;
}

/* One line on stderr when the program that runs is not this binary's. */
void pg_warn_build(const struct pg_opts *o, const char *what)
{
	struct pg_meta m;
	__u64 running;

	if (pg_meta_open(o, false, &m))
		return;
	running = m.recs[0].head.build_id;
	pg_meta_close(&m);
	if (running && running != pg_build_id())
		pg_err("warning: the running program is build %016llx, this binary's is %016llx: %s ('portgate upgrade' switches every interface to this build)",
		       (unsigned long long)running, (unsigned long long)pg_build_id(), what);
}

void pg_state_close(struct pg_state *st)
{
	if (st->skel)
		portgate__destroy(st->skel);
	st->skel = NULL;
	st->lock_fd = pg_unlock(st->lock_fd);
}

int pg_state_create_locked(const struct pg_opts *o)
{
	struct pg_state st = {.lock_fd = -1};
	int err;

	/* lock_fd only tells pg_state_load that the directory exists */
	st.lock_fd = open(o->pin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = pg_state_load(o, PG_OPEN_CREATE, &st);
	if (st.lock_fd >= 0)
		close(st.lock_fd);
	if (!err)
		portgate__destroy(st.skel);
	return err;
}

int pg_gen_read(int ctl_fd, __u32 *gen)
{
	struct pg_ctl c;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(ctl_fd, &zero, &c))
		return pg_sys_err(-errno, "cannot read '%s'", pg_map_names[PG_M_CTL]);
	*gen = c.gen & 1;
	return 0;
}

int pg_maps_open(const struct pg_opts *o, unsigned int flags, struct pg_maps *m)
{
	bool create = flags & PG_OPEN_CREATE;
	bool lock = flags & PG_MAPS_LOCK;
	char path[PATH_MAX];
	int i, err;

	memset(m, 0, sizeof(*m));
	m->lock_fd = -1;
	for (i = 0; i < PG_M_COUNT; i++)
		m->fd[i] = -1;

	if (lock || create) {
		err = pg_lock_dir(o->pin_path, create, true, &m->lock_fd);
		if (err == -ENOENT)
			goto not_loaded;
		if (err)
			return err;
	}
	if (create && !pg_pinned(o, pg_map_names[PG_M_PORTS])) {
		err = pg_state_create_locked(o);
		if (err)
			goto fail;
		m->created = true;
	}
	if (!(flags & PG_MAPS_ANY_ABI)) {
		bool meta;

		err = pg_meta_abi_check(o, &meta);
		if (err)
			goto fail;
	}
	for (i = 0; i < PG_M_COUNT; i++) {
		err = pg_pin_path(o, pg_map_names[i], path, sizeof(path));
		if (err)
			goto fail;
		m->fd[i] = bpf_obj_get(path);
		if (m->fd[i] < 0) {
			err = -errno;
			if (err == -ENOENT) {
				pg_maps_close(m);
				goto not_loaded;
			}
			pg_sys_err(err, "cannot open pinned map '%s'", path);
			goto fail;
		}
	}
	err = pg_gen_read(m->fd[PG_M_CTL], &m->gen);
	if (err)
		goto fail;
	return 0;
not_loaded:
	pg_err("nothing loaded under '%s' (expected 'portgate attach IFACE' or 'portgate block ...' first)",
	       o->pin_path);
	return -ENOENT;
fail:
	pg_maps_close(m);
	return err;
}

void pg_maps_close(struct pg_maps *m)
{
	int i;

	for (i = 0; i < PG_M_COUNT; i++) {
		if (m->fd[i] >= 0)
			close(m->fd[i]);
		m->fd[i] = -1;
	}
	m->lock_fd = pg_unlock(m->lock_fd);
}

/*
 * Only the names portgate creates go (maps, programs, links, metadata);
 * the directory goes only if that leaves it empty. Another tool's pins in
 * the same directory, or a bpffs root, stay as they are.
 */
int pg_state_remove(const struct pg_opts *o)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d;

	d = opendir(o->pin_path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!pg_pin_is_ours(de->d_name))
			continue;
		if (!pg_pin_path(o, de->d_name, path, sizeof(path)))
			unlink(path);
	}
	closedir(d);
	/* not empty (another tool's pins) or a mount point (a bpffs root): it stays */
	if (rmdir(o->pin_path) && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST &&
	    errno != EBUSY)
		return -errno;
	return 0;
}
