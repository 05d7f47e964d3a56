// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Safe on a shared host (issue 12): portgate removes only its own pins and
 * creates state only where nothing foreign is pinned; links of different
 * network namespaces never meet, a deleted interface shows under its old
 * name, `ip netns exec` is refused; `portgate upgrade` switches every link
 * to a new build without one unfiltered packet, rules and counters intact,
 * and refuses maps of another layout; --file input is bounded and broad
 * prefixes need --force.
 *
 * build/portgate and the test-only rebuilds build/variant1/portgate (a
 * changed program) and build/variant2/portgate (a changed map layout) run
 * via nsenter in three private network namespaces. Every name carries the
 * pid; .fini removes what the test created, even after a failure.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "pkt.h"
#include "testlib.h"

#define PORTGATE "build/portgate"
#define VARIANT1 "build/variant1/portgate" /* walks 3 VLAN tags instead of 2 */
#define VARIANT2 "build/variant2/portgate" /* pg_rules with 1024 slots */
#define HOST_ROOT "/sys/fs/bpf"

static char nsa[32], nsb[32], nsc[32], pin[96], mnt[96], hostdir[96];
/* portgate's names absent from the host's bpffs root before the test */
static const char *const pg_names[] = {
	"pg_ports",	  "pg_rules",	     "pg_rule_stats", "pg_stats",     "pg_exempt_v4",
	"pg_exempt_v6",	  "pg_exempt_kinds", "pg_exempt_t4",  "pg_exempt_t6", "pg_exempt_sum",
	"pg_exempt_refs", "pg_meta",	     "prog_uplink",   "prog_access",  "pg_ctl"};
static bool host_absent[sizeof(pg_names) / sizeof(pg_names[0])];

static struct tl_run R; /* the last command's result */

/* sh -c CMD with `in` on standard input (may be NULL); stdout and stderr into r. */
static int vsh(struct tl_run *r, const char *in, const char *fmt, va_list ap)
{
	char cmd[4096];
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	return tl_run_argv(r, argv, in, NULL);
}

__attribute__((format(printf, 3, 4))) static int sh_in(struct tl_run *r, const char *in,
						       const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsh(r, in, fmt, ap);
	va_end(ap);
	return rc;
}

/* BIN --pin-path PINP ARGS in network namespace NS; `in` on stdin. */
__attribute__((format(printf, 5, 6))) static int
pgx(const char *ns, const char *bin, const char *pinp, const char *in, const char *fmt, ...)
{
	char args[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return sh_in(&R, in, "exec nsenter --net=/run/netns/%s %s --pin-path %s %s", ns, bin, pinp,
		     args);
}

#define PG_A(...) pgx(nsa, PORTGATE, pin, NULL, __VA_ARGS__)
#define PG_OK(ns, ...)                                                                 \
	do {                                                                           \
		int rc_ = pgx(ns, PORTGATE, pin, NULL, __VA_ARGS__);                   \
		cr_assert_eq(rc_, 0, "portgate " __VA_ARGS__ " in %s: %s", ns, R.err); \
	} while (0)

/* jq -c FILTER over json, without the newline. */
static const char *jq(const char *json, const char *filter)
{
	static struct tl_run jr;

	cr_assert_eq(sh_in(&jr, json, "jq -c '%s'", filter), 0, "jq '%s' failed on:\n%s\n%s",
		     filter, json, jr.err);
	jr.out[strcspn(jr.out, "\n")] = '\0';
	return jr.out;
}

static unsigned long long jq_u64(const char *json, const char *filter)
{
	return strtoull(jq(json, filter), NULL, 10);
}

/* stderr is exactly one line */
static bool one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0';
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Id of the XDP program on IFACE in NS (0 = none), via iproute2. */
static unsigned int xdp_id(const char *ns, const char *ifname)
{
	struct tl_run r;

	cr_assert_eq(sh_in(&r, NULL,
			   "ip -n %s -j -d link show %s | jq '.[0].xdp.prog.id // "
			   ".[0].xdp.attached[0].prog.id // 0'",
			   ns, ifname),
		     0, "%s", r.err);
	return strtoul(r.out, NULL, 10);
}

static unsigned int ifindex_of(const char *ns, const char *ifname)
{
	struct tl_run r;

	cr_assert_eq(sh_in(&r, NULL, "ip -n %s -j link show %s | jq '.[0].ifindex'", ns, ifname), 0,
		     "%s", r.err);
	return strtoul(r.out, NULL, 10);
}

/* Another tool's map, pinned at path. */
static void foreign_pin(const char *path)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "foreign", 4, 4, 1, NULL);

	cr_assert_geq(fd, 0, "bpf_map_create: %s", strerror(errno));
	cr_assert_eq(bpf_obj_pin(fd, path), 0, "pin %s: %s", path, strerror(errno));
	close(fd);
}

static void setup(void)
{
	int pid = getpid();
	size_t i;
	char p[256];

	snprintf(nsa, sizeof(nsa), "pgshA%d", pid);
	snprintf(nsb, sizeof(nsb), "pgshB%d", pid);
	snprintf(nsc, sizeof(nsc), "pgshC%d", pid);
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgsh%d", pid);
	snprintf(mnt, sizeof(mnt), "/tmp/pgsh%d.bpf", pid);
	snprintf(hostdir, sizeof(hostdir), "%s/pgsh%dforeign", HOST_ROOT, pid);
	for (i = 0; i < sizeof(pg_names) / sizeof(pg_names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", HOST_ROOT, pg_names[i]);
		host_absent[i] = !exists(p);
	}
	/* the first device of each namespace: the same ifindex in all three */
	cr_assert_eq(tl_sh(NULL, 0,
			   "for n in %s %s %s; do ip netns add $n && "
			   "ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
			   "net.ipv6.conf.default.disable_ipv6=1 || exit 1; done && "
			   "ip -n %s link add va type veth peer name vb && "
			   "ip -n %s link add gx type veth peer name gy && "
			   "ip -n %s link add ub type veth peer name ub2 && "
			   "ip -n %s link add c0 type veth peer name c1 && "
			   "for i in va vb gx gy; do ip -n %s link set $i up || exit 1; done && "
			   "ip -n %s link set ub up && ip -n %s link set c0 up",
			   nsa, nsb, nsc, nsa, nsa, nsb, nsc, nsa, nsb, nsc),
		     0, "test namespaces");
}

static void teardown(void)
{
	char p[256];
	size_t i;

	/* each namespace detaches its own links; the last detach removes the state */
	pgx(nsa, PORTGATE, pin, NULL, "detach --all");
	pgx(nsb, PORTGATE, pin, NULL, "detach --all");
	pgx(nsc, PORTGATE, pin, NULL, "detach --all");
	tl_sh(NULL, 0, "ip netns del %s; ip netns del %s; ip netns del %s", nsa, nsb, nsc);
	tl_sh(NULL, 0, "rm -rf %s", pin);
	/* the test's own bpffs instance: unmounting drops every pin in it */
	tl_sh(NULL, 0, "umount %s 2>/dev/null; rmdir %s 2>/dev/null", mnt, mnt);
	tl_sh(NULL, 0, "rmdir %s 2>/dev/null", hostdir);
	/* what a portgate without the fix left on the host's root (only those names) */
	for (i = 0; i < sizeof(pg_names) / sizeof(pg_names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", HOST_ROOT, pg_names[i]);
		if (host_absent[i])
			unlink(p);
	}
	tl_sh(NULL, 0, "rm -f /tmp/pgsh%d.*", getpid());
}

TestSuite(shared, .init = setup, .fini = teardown, .timeout = 180);

/* ------------------------------------------------ 1. only portgate's pins */

struct refusal {
	const char *name;
	const char *dir; /* under the test's bpffs instance; "" = its root */
	const char *args;
};

static const struct refusal refusals[] = {
	{"another tool's pin in the directory", "/op04", "attach va --role uplink"},
	{"a bpffs root with other pins", "", "attach va --role uplink"},
	{"staging rules at a bpffs root", "", "block tcp 99"},
	{"staging an exemption next to another tool's pin", "/op04", "allow 192.0.2.0/24 --peer"},
};

Test(shared, only_portgate_pins_are_touched)
{
	char path[256], p[320];
	size_t i;

	/* a bpffs instance of the test's own: its root may be tested destructively */
	cr_assert_eq(tl_sh(NULL, 0, "mkdir -p %s && mount -t bpf bpf %s && mkdir %s/op04", mnt, mnt,
			   mnt),
		     0, "mount a bpffs on %s", mnt);
	snprintf(p, sizeof(p), "%s/foreign", mnt);
	foreign_pin(p);
	snprintf(p, sizeof(p), "%s/op04/other", mnt);
	foreign_pin(p);

	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *v = &refusals[i];

		snprintf(path, sizeof(path), "%s%s", mnt, v->dir);
		pgx(nsa, PORTGATE, path, NULL, "%s", v->args);
		cr_expect_eq(R.code, 1,
			     "%s: 'portgate --pin-path %s %s' exited %d, expected 1 (%s)", v->name,
			     path, v->args, R.code, R.err);
		cr_expect(one_line(R.err) && strstr(R.err, "not portgate's"),
			  "%s: expected one line saying the pins are not portgate's, got: %s",
			  v->name, R.err);
		snprintf(p, sizeof(p), "%s/pg_ports", path);
		cr_expect(!exists(p), "%s: state created next to foreign pins", v->name);
		snprintf(p, sizeof(p), "%s/prog_uplink", path);
		cr_expect(!exists(p), "%s: program pinned next to foreign pins", v->name);
		cr_expect_eq(xdp_id(nsa, "va"), 0, "%s: va was attached", v->name);
	}

	/* an existing state: a pin another tool adds later survives the last detach */
	snprintf(path, sizeof(path), "%s/st", mnt);
	cr_assert_eq(pgx(nsa, PORTGATE, path, NULL, "attach va --role uplink"), 0, "%s", R.err);
	snprintf(p, sizeof(p), "%s/late", path);
	foreign_pin(p);
	cr_expect_eq(pgx(nsa, PORTGATE, path, NULL, "block tcp 99"), 0,
		     "an existing state with a foreign pin: %s", R.err);
	cr_assert_eq(pgx(nsa, PORTGATE, path, NULL, "detach va"), 0, "%s", R.err);
	cr_expect(exists(p), "the last detach removed another tool's pin %s", p);
	for (i = 0; i < sizeof(pg_names) / sizeof(pg_names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", path, pg_names[i]);
		cr_expect(!exists(p), "the last detach left portgate's %s", p);
	}
	cr_expect(exists(path), "a directory holding another tool's pin was removed");
	/* now it is another tool's directory: no new state there */
	cr_expect_eq(pgx(nsa, PORTGATE, path, NULL, "attach va --role uplink"), 1,
		     "attach next to a foreign pin: %s", R.err);

	/* detach --all at a bpffs root removes nothing of others' */
	cr_expect_eq(pgx(nsa, PORTGATE, mnt, NULL, "detach --all"), 0, "%s", R.err);
	snprintf(p, sizeof(p), "%s/foreign", mnt);
	cr_expect(exists(p), "detach --all at a bpffs root removed %s", p);
	snprintf(p, sizeof(p), "%s/op04/other", mnt);
	cr_expect(exists(p), "detach --all at a bpffs root removed %s", p);

	/* the host's bpffs root (never empty: the test adds an entry): refused */
	cr_assert_eq(mkdir(hostdir, 0700), 0, "%s: %s", hostdir, strerror(errno));
	cr_expect_eq(pgx(nsa, PORTGATE, HOST_ROOT, NULL, "block tcp 99"), 1,
		     "state at the host's bpffs root: %s", R.err);
	cr_expect(one_line(R.err) && strstr(R.err, "not portgate's"), "%s", R.err);
	for (i = 0; i < sizeof(pg_names) / sizeof(pg_names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", HOST_ROOT, pg_names[i]);
		cr_expect(!host_absent[i] || !exists(p), "portgate pinned %s", p);
	}
}

/* ------------------------------------------------ 2. links per netns */

Test(shared, links_are_keyed_by_network_namespace)
{
	unsigned int a, b, c;

	a = ifindex_of(nsa, "va");
	b = ifindex_of(nsb, "ub");
	c = ifindex_of(nsc, "c0");
	cr_assert(a == b && b == c, "premise: one ifindex in all three namespaces (%u %u %u)", a, b,
		  c);

	PG_OK(nsa, "attach va --role uplink");
	PG_OK(nsb, "attach ub --role uplink");
	cr_expect_neq(xdp_id(nsb, "ub"), 0,
		      "attach ub --role uplink in %s exited 0 but ub is unfiltered", nsb);
	cr_expect_neq(xdp_id(nsa, "va"), 0);

	/* each namespace sees its own link, and counts the others */
	PG_OK(nsb, "status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .gone]]"), "[[\"ub\",false]]",
			 "status in %s: %s", nsb, R.out);
	cr_expect_eq(jq_u64(R.out, ".other_netns.links"), 1);
	PG_OK(nsa, "status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[].ifname]"), "[\"va\"]");
	PG_OK(nsc, "status -j");
	cr_expect_str_eq(jq(R.out, ".interfaces"), "[]", "status in %s: %s", nsc, R.out);
	cr_expect_eq(jq_u64(R.out, ".other_netns.links"), 2);

	/* a namespace never changes another's links, whatever the ifindex */
	cr_expect_eq(pgx(nsc, PORTGATE, pin, NULL, "detach c0"), 1,
		     "detach c0 in %s (not attached) exited %d", nsc, R.code);
	cr_expect(strstr(R.err, "'c0' is not attached") && one_line(R.err), "%s", R.err);
	cr_expect_neq(xdp_id(nsa, "va"), 0, "detach c0 in %s detached va in %s", nsc, nsa);
	cr_expect_neq(xdp_id(nsb, "ub"), 0, "detach c0 in %s detached ub in %s", nsc, nsb);
	PG_OK(nsb, "detach ub");
	cr_expect_eq(xdp_id(nsb, "ub"), 0);
	cr_expect_neq(xdp_id(nsa, "va"), 0, "detach ub in %s removed the filter of va in %s", nsb,
		      nsa);
	cr_expect(exists(pin), "the state went while va in %s is attached", nsa);
	/* detach --all is per namespace too */
	PG_OK(nsb, "attach ub --role uplink");
	PG_OK(nsc, "detach --all");
	cr_expect_neq(xdp_id(nsa, "va"), 0);
	cr_expect_neq(xdp_id(nsb, "ub"), 0);
	PG_OK(nsa, "detach --all");
	cr_expect_neq(xdp_id(nsb, "ub"), 0, "detach --all in %s detached ub in %s", nsa, nsb);
	PG_OK(nsb, "detach --all");
	cr_expect(!exists(pin), "the last detach (of all namespaces) must remove %s", pin);
}

Test(shared, deleted_interface_shows_gone_under_its_old_name)
{
	PG_OK(nsa, "attach va --role uplink");
	PG_OK(nsa, "attach gx --role access --outbound-only --mode generic");
	cr_assert_eq(tl_sh(NULL, 0, "ip -n %s link del gx", nsa), 0);

	/* a monitoring script sees it: exit 1, one line on stderr naming it */
	cr_expect_eq(pgx(nsa, PORTGATE, pin, NULL, "status"), 1, "status with a gone link: %s",
		     R.err);
	cr_expect(one_line(R.err) && strstr(R.err, "warning") && strstr(R.err, "(gx)"), "%s",
		  R.err);
	cr_expect(strstr(R.out, "gx ") && strstr(R.out, "gone"), "%s", R.out);
	cr_expect_eq(pgx(nsa, PORTGATE, pin, NULL, "status -j"), 1);
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .role, .mode, .gone]] | sort"),
			 "[[\"gx\",\"access\",\"gone\",true],[\"va\",\"uplink\",\"native\",false]]",
			 "%s", R.out);

	/* detach takes the old name; then status is clean again */
	PG_OK(nsa, "detach gx");
	PG_OK(nsa, "status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[].ifname]"), "[\"va\"]");
	cr_expect_str_empty(R.err);
	cr_expect_eq(pgx(nsa, PORTGATE, pin, NULL, "detach gx"), 1, "gx is gone and detached");
	cr_expect(strstr(R.err, "'gx'") && one_line(R.err), "%s", R.err);
}

Test(shared, ip_netns_exec_is_refused)
{
	/* ip netns exec mounts a private /sys: a bpffs there vanishes on exit */
	sh_in(&R, NULL, "ip netns exec %s %s --pin-path %s attach va --role uplink", nsa, PORTGATE,
	      pin);
	cr_expect_eq(R.code, 1, "attach under ip netns exec exited %d (%s)", R.code, R.err);
	cr_expect(one_line(R.err) && strstr(R.err, "nsenter --net=/run/netns/"),
		  "expected one line pointing at nsenter, got: %s", R.err);
	cr_expect_eq(xdp_id(nsa, "va"), 0, "a refused attach left va filtered");
	sh_in(&R, NULL, "ip netns exec %s %s --pin-path %s block tcp 99", nsa, PORTGATE, pin);
	cr_expect_eq(R.code, 1, "block under ip netns exec: %s", R.err);
	/* the same through nsenter works and stays */
	PG_OK(nsa, "attach va --role uplink");
	cr_expect_neq(xdp_id(nsa, "va"), 0);
	PG_OK(nsa, "status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[].ifname]"), "[\"va\"]");
}

/* ------------------------------------------------ 3. upgrade */

static __u32 test_run(int prog_fd, const struct pkt_spec *s)
{
	static uint8_t buf[PKT_MAX], out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, t);
	size_t len = pkt_build(s, buf, sizeof(buf));

	cr_assert_gt(len, 0);
	t.data_in = buf;
	t.data_size_in = len;
	t.data_out = out;
	t.data_size_out = sizeof(out);
	cr_assert_eq(bpf_prog_test_run_opts(prog_fd, &t), 0, "test run: %s", strerror(errno));
	return t.retval;
}

static int pinned_prog(const char *name)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", pin, name);
	fd = bpf_obj_get(p);
	cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
	return fd;
}

static const char *verdict_name(__u32 v)
{
	return v == XDP_PASS ? "PASS" : v == XDP_DROP ? "DROP" : "other";
}

/* 3 VLAN tags: the old build passes it (too deep), variant 1 walks it and drops tcp/25. */
static const struct pkt_spec deep = {
	.nvlan = 3, .vid = {10, 20, 30}, .ip = 4, .proto = IPPROTO_TCP, .dport = 25};
static const struct pkt_spec blocked = {
	.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .src = "203.0.113.9", .payload = 20};
static const struct pkt_spec marker = {.ip = 4, .proto = IPPROTO_UDP, .dport = 9};

struct traffic {
	unsigned long sent;   /* blocked frames sent */
	unsigned long leaked; /* blocked frames that got past XDP */
	int err;
};

static bool is_blocked_frame(const uint8_t *f, ssize_t n)
{
	return n >= 38 && f[12] == 0x08 && f[13] == 0x00 && f[23] == IPPROTO_TCP && f[36] == 0 &&
	       f[37] == 25;
}

static bool is_marker(const uint8_t *f, ssize_t n)
{
	return n >= 38 && f[12] == 0x08 && f[13] == 0x00 && f[23] == IPPROTO_UDP && f[36] == 0 &&
	       f[37] == 9;
}

/*
 * In the netns: batches of blocked frames from vb into va, each closed by
 * a marker frame that passes; the marker arriving on va's packet socket
 * means the whole batch went through XDP (one ring, in order), so the
 * ring never overflows and nothing is judged by timing. Runs until `stop`
 * is readable, a few batches after `ready` was written.
 */
static void traffic_child(int ready, int stop, int result)
{
	static uint8_t frame[PKT_MAX], mark[PKT_MAX], rx[PKT_MAX];
	struct sockaddr_ll tx = {.sll_family = AF_PACKET, .sll_halen = 6};
	struct sockaddr_ll bind_rx = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct timeval tmo = {.tv_sec = 5};
	struct traffic t = {};
	size_t flen = pkt_build(&blocked, frame, sizeof(frame));
	size_t mlen = pkt_build(&marker, mark, sizeof(mark));
	char path[128];
	int nsfd, sfd, rfd, batch, i, after_stop = -1;

	snprintf(path, sizeof(path), "/run/netns/%s", nsa);
	nsfd = open(path, O_RDONLY);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET))
		_exit(10);
	sfd = socket(AF_PACKET, SOCK_RAW, 0);
	rfd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	tx.sll_ifindex = if_nametoindex("vb");
	bind_rx.sll_ifindex = if_nametoindex("va");
	if (sfd < 0 || rfd < 0 || !tx.sll_ifindex || !bind_rx.sll_ifindex ||
	    bind(rfd, (struct sockaddr *)&bind_rx, sizeof(bind_rx)) ||
	    setsockopt(rfd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)))
		_exit(11);
	memcpy(tx.sll_addr, frame, 6);
	for (batch = 0; after_stop < 20; batch++) {
		struct pollfd p = {.fd = stop, .events = POLLIN};

		for (i = 0; i < 32; i++, t.sent++)
			if (sendto(sfd, frame, flen, 0, (struct sockaddr *)&tx, sizeof(tx)) !=
			    (ssize_t)flen)
				_exit(12);
		if (sendto(sfd, mark, mlen, 0, (struct sockaddr *)&tx, sizeof(tx)) != (ssize_t)mlen)
			_exit(12);
		for (;;) {
			ssize_t n = recv(rfd, rx, sizeof(rx), 0);

			if (n < 0) {
				t.err = errno; /* 5 s without the marker: report, don't hang */
				goto done;
			}
			if (is_blocked_frame(rx, n))
				t.leaked++;
			if (is_marker(rx, n))
				break;
		}
		if (batch == 20 && write(ready, "r", 1) != 1)
			_exit(13);
		if (after_stop >= 0)
			after_stop++;
		else if (poll(&p, 1, 0) == 1)
			after_stop = 0;
	}
done:
	if (write(result, &t, sizeof(t)) != sizeof(t))
		_exit(14);
	_exit(0);
}

Test(shared, upgrade_switches_every_link_without_a_gap)
{
	static char rules0[sizeof(R.out)], ex0[sizeof(R.out)];
	unsigned long long blocked0, blocked1, up0, link0, tc0;
	int ready[2], stop[2], result[2], fd, st;
	struct traffic t;
	pid_t pid;
	char c;

	PG_OK(nsa, "attach va --role uplink");
	/* gx with its tc egress half too (--force: va judges inbound already) */
	PG_OK(nsa, "attach gx --role access --force");
	PG_OK(nsa, "block tcp 99");
	PG_OK(nsa, "allow 192.0.2.0/24 --peer --rule tcp/25");
	PG_OK(nsa, "rules -j");
	snprintf(rules0, sizeof(rules0), "%s", jq(R.out, "[.[] | [.dir, .proto, .port, .action]]"));
	PG_OK(nsa, "exemptions -j");
	snprintf(ex0, sizeof(ex0), "%s", R.out);

	/* counters before: the old program's verdicts */
	fd = pinned_prog("prog_uplink");
	cr_expect_eq(test_run(fd, &blocked), XDP_DROP);
	cr_expect_eq(test_run(fd, &deep), XDP_PASS, "premise: the old build passes 3 tags");
	close(fd);
	PG_OK(nsa, "stats -j");
	blocked0 = jq_u64(R.out, ".totals.blocked");
	cr_expect_eq(blocked0, 1);
	PG_OK(nsa, "status -j");
	up0 = jq_u64(R.out, ".programs.uplink");
	tc0 = jq_u64(R.out, ".interfaces[] | select(.ifname == \"gx\") | .tc_prog_id");
	cr_expect(tc0 && tc0 == jq_u64(R.out, ".programs.access_in"), "premise: gx runs tc");
	link0 = jq_u64(R.out, ".interfaces[] | select(.ifname == \"va\") | .link_id");
	cr_expect_str_eq(jq(R.out, ".build.current"), "true");

	/* the new build sees the old one run */
	cr_expect_eq(pgx(nsa, VARIANT1, pin, NULL, "status -j"), 0, "%s", R.err);
	cr_expect_str_eq(jq(R.out, ".build.current"), "false", "%s", R.out);

	/* traffic through va while the new build upgrades */
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(stop), 0);
	cr_assert_eq(pipe(result), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid)
		traffic_child(ready[1], stop[0], result[1]);
	close(ready[1]);
	close(stop[0]);
	close(result[1]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the traffic never started");
	pgx(nsa, VARIANT1, pin, NULL, "upgrade");
	cr_expect_eq(R.code, 0, "upgrade: %s", R.err);
	cr_expect(strstr(R.out, "upgraded 2 links"), "%s", R.out);
	cr_assert_eq(write(stop[1], "s", 1), 1);
	cr_assert_eq(read(result[0], &t, sizeof(t)), (ssize_t)sizeof(t), "no traffic result");
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && !WEXITSTATUS(st), "traffic child status %d", st);
	cr_expect_eq(t.err, 0, "a batch marker never arrived: %s", strerror(t.err));
	cr_expect_gt(t.sent, 32 * 40);
	cr_expect_eq(t.leaked, 0, "%lu of %lu blocked frames got through during the upgrade",
		     t.leaked, t.sent);

	/* every frame counted as blocked, the counters before included */
	PG_OK(nsa, "stats -j");
	blocked1 = jq_u64(R.out, ".totals.blocked");
	cr_expect_eq(blocked1, blocked0 + t.sent, "blocked %llu, expected %llu + %lu sent",
		     blocked1, blocked0, t.sent);

	/* the same links now run the new program; rules and exemptions untouched */
	cr_expect_eq(pgx(nsa, VARIANT1, pin, NULL, "status -j"), 0, "%s", R.err);
	cr_expect_str_eq(jq(R.out, ".build.current"), "true");
	cr_expect_neq(jq_u64(R.out, ".programs.uplink"), up0,
		      "the uplink program was not replaced");
	cr_expect_eq(xdp_id(nsa, "va"), jq_u64(R.out, ".programs.uplink"));
	cr_expect_eq(xdp_id(nsa, "gx"), jq_u64(R.out, ".programs.access"));
	/* the tc egress filter replaced in place, the pin follows */
	cr_expect_neq(jq_u64(R.out, ".programs.access_in"), tc0, "the tc program was not replaced");
	cr_expect_eq(jq_u64(R.out, ".interfaces[] | select(.ifname == \"gx\") | .tc_prog_id"),
		     jq_u64(R.out, ".programs.access_in"), "gx's tc filter runs the old program");
	cr_expect_eq(jq_u64(R.out, ".interfaces[] | select(.ifname == \"va\") | .link_id"), link0,
		     "the link was replaced (a gap) instead of updated");
	PG_OK(nsa, "rules -j");
	cr_expect_str_eq(jq(R.out, "[.[] | [.dir, .proto, .port, .action]]"), rules0);
	PG_OK(nsa, "exemptions -j");
	cr_expect_str_eq(R.out, ex0);
	fd = pinned_prog("prog_uplink");
	cr_expect_eq(test_run(fd, &deep), XDP_DROP, "the new build walks 3 tags: verdict %s",
		     verdict_name(test_run(fd, &deep)));
	close(fd);

	/* the old binary now sees a different build run; upgrading again is a no-op */
	PG_OK(nsa, "status -j");
	cr_expect_str_eq(jq(R.out, ".build.current"), "false");
	cr_expect_eq(pgx(nsa, VARIANT1, pin, NULL, "upgrade"), 0, "%s", R.err);
	cr_expect(strstr(R.out, "nothing changed"), "%s", R.out);
}

Test(shared, upgrade_refuses_another_map_layout)
{
	static char status0[sizeof(R.out)], rules0[sizeof(R.out)], pins0[sizeof(R.out)];
	char p[256];
	struct pg_meta_rec head;
	__u32 zero = 0;
	struct tl_run r;
	int fd, step;

	PG_OK(nsa, "attach va --role uplink");
	PG_OK(nsa, "block tcp 99");
	PG_OK(nsa, "status -j");
	snprintf(status0, sizeof(status0), "%s", jq(R.out, "[.programs, .interfaces]"));
	PG_OK(nsa, "rules -j");
	snprintf(rules0, sizeof(rules0), "%s", R.out);
	cr_assert_eq(sh_in(&r, NULL, "ls %s", pin), 0);
	snprintf(pins0, sizeof(pins0), "%s", r.out);

	snprintf(p, sizeof(p), "%s/pg_meta", pin);
	for (step = 0; step < 2; step++) {
		if (step == 0) {
			/* variant 2: pg_rules with other max_entries, same ABI number */
			pgx(nsa, VARIANT2, pin, NULL, "upgrade");
			cr_expect(strstr(R.err, "'pg_rules'") && strstr(R.err, "max_entries"),
				  "expected the map and what differs: %s", R.err);
		} else {
			/* maps of another ABI version (as a future build would leave them) */
			fd = bpf_obj_get(p);
			cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
			cr_assert_eq(bpf_map_lookup_elem(fd, &zero, &head), 0);
			head.head.abi_version = 99;
			cr_assert_eq(bpf_map_update_elem(fd, &zero, &head, BPF_ANY), 0);
			close(fd);
			pgx(nsa, VARIANT1, pin, NULL, "upgrade");
			cr_expect(strstr(R.err, "ABI version 99"), "%s", R.err);
		}
		cr_expect_eq(R.code, 1, "step %d: upgrade exited %d", step, R.code);
		cr_expect(one_line(R.err) && strstr(R.err, "nothing changed"), "step %d: %s", step,
			  R.err);
		PG_OK(nsa, "status -j");
		cr_expect_str_eq(jq(R.out, "[.programs, .interfaces]"), status0,
				 "step %d: a refused upgrade changed programs or links", step);
		cr_expect_eq(xdp_id(nsa, "va"), jq_u64(R.out, ".programs.uplink"));
		cr_assert_eq(sh_in(&r, NULL, "ls %s", pin), 0);
		cr_expect_str_eq(r.out, pins0, "step %d: a refused upgrade changed the pins", step);
	}
	/* map-only commands refuse maps of another ABI too; rules are unchanged */
	cr_expect_eq(PG_A("block tcp 100"), 1, "block on ABI 99 maps: %s", R.err);
	cr_expect(one_line(R.err) && strstr(R.err, "ABI version 99"), "%s", R.err);
	fd = bpf_obj_get(p);
	cr_assert_geq(fd, 0);
	head.head.abi_version = PG_ABI_VERSION;
	cr_assert_eq(bpf_map_update_elem(fd, &zero, &head, BPF_ANY), 0);
	close(fd);
	PG_OK(nsa, "rules -j");
	cr_expect_str_eq(R.out, rules0);
}

/* ------------------------------------------------ 4. bounded, honest input */

struct input_vec {
	const char *name;
	const char *gen;  /* shell producing standard input, or NULL */
	const char *args; /* portgate arguments */
	int code;
	const char *msg; /* stderr contains it */
};

static const struct input_vec inputs[] = {
	{"a 300 MB line under ulimit -v 400000",
	 "printf '192.0.2.0/24\\n'; head -c 300000000 /dev/zero | tr '\\0' a; "
	 "printf '\\n198.51.100.0/24\\n'",
	 "allow --file - --peer", 2, "<stdin>:2: line longer than 1024 bytes"},
	{"/dev/zero", NULL, "allow --file /dev/zero --peer", 2,
	 "/dev/zero:1: line longer than 1024 bytes"},
	{"a file over 128 MiB",
	 "yes '# a comment line, padding the file to its size limit ...............' | "
	 "head -c 140000000",
	 "allow --file - --subscriber", 2, "file larger than 128 MiB"},
	{"a read error (a directory)", NULL, "allow --file /tmp --peer", 1, "cannot read '/tmp'"},
	{"IPv4 /0 subscriber", NULL, "allow 0.0.0.0/0 --subscriber", 2,
	 "'0.0.0.0/0' is shorter than /8"},
	{"IPv6 ::/0 peer", NULL, "allow ::/0 --peer", 2, "'::/0' is shorter than /32"},
	{"IPv4 /7 with --rule", NULL, "allow 10.0.0.0/7 --subscriber --rule tcp/25", 2,
	 "'10.0.0.0/7' is shorter than /8"},
	{"IPv6 /31", NULL, "allow 2001:db8::/31 --peer", 2, "'2001:db8::/31' is shorter than /32"},
	{"a /6 line in a file", "printf '192.0.2.0/24\\n100.0.0.0/6\\n'",
	 "allow --file - --subscriber", 2, "<stdin>:2: prefix '100.0.0.0/6' is shorter than /8"},
};

Test(shared, bounded_input_and_broad_prefixes)
{
	static char before[sizeof(R.out)];
	size_t i;

	PG_OK(nsa, "allow 203.0.113.0/24 --peer");
	PG_OK(nsa, "exemptions -j");
	snprintf(before, sizeof(before), "%s", R.out);
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		const struct input_vec *v = &inputs[i];

		/* bounded memory for the whole pipeline: a portgate without limits fails, not the host */
		sh_in(&R, NULL,
		      "ulimit -v 400000; (%s) | nsenter --net=/run/netns/%s %s --pin-path %s %s",
		      v->gen ? v->gen : ":", nsa, PORTGATE, pin, v->args);
		cr_expect_eq(R.code, v->code, "%s: 'portgate %s' exited %d, expected %d (%s)",
			     v->name, v->args, R.code, v->code, R.err);
		cr_expect(strstr(R.err, v->msg) && one_line(R.err),
			  "%s: expected one line with \"%s\", got: %s", v->name, v->msg, R.err);
		PG_OK(nsa, "exemptions -j");
		cr_expect_str_eq(R.out, before, "%s: a refused command changed the exemptions",
				 v->name);
	}

	/* the limits are exact: a /8 and a v6 /32 are fine; --force takes anything */
	PG_OK(nsa, "allow 10.0.0.0/8 --subscriber");
	cr_expect_str_empty(R.err);
	PG_OK(nsa, "allow 2001:db8::/32 --peer");
	PG_OK(nsa, "allow 0.0.0.0/0 --subscriber --force");
	cr_expect_eq(pgx(nsa, PORTGATE, pin, "::/0\n", "allow --file - --peer --force"), 0, "%s",
		     R.err);
	PG_OK(nsa, "exemptions -j");
	cr_expect_str_eq(jq(R.out, "[.[] | select(.prefix | test(\"/0$\")) | .prefix] | sort"),
			 "[\"0.0.0.0/0\",\"::/0\"]");
	/* removing a broad prefix needs no --force */
	PG_OK(nsa, "disallow 0.0.0.0/0 --subscriber");
	PG_OK(nsa, "disallow ::/0 --peer");

	/* host bits: stored masked, one warning line, exit 0 */
	PG_OK(nsa, "allow 100.64.7.1/24 --subscriber");
	cr_expect_str_eq(
		R.err,
		"portgate: warning: '100.64.7.1/24' has host bits set, taken as 100.64.7.0/24\n");
	cr_expect_eq(pgx(nsa, PORTGATE, pin, "192.0.2.0/24\n2001:db8:1::1/48\n",
			 "allow --file - --peer"),
		     0, "%s", R.err);
	cr_expect_str_eq(
		R.err,
		"portgate: <stdin>:2: warning: '2001:db8:1::1/48' has host bits set, taken as 2001:db8:1::/48\n");
	PG_OK(nsa, "exemptions -j");
	cr_expect_str_eq(
		jq(R.out, "[.[].prefix] | map(select(test(\"^100.64|^2001:db8:1\"))) | sort"),
		"[\"100.64.7.0/24\",\"2001:db8:1::/48\"]");
}
