// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The portgate CLI as scripts use it: build/portgate run via fork/exec in
 * a private netns (veth pairs) with a private --pin-path, exit codes and
 * stderr checked, JSON checked with jq. Every test tears down its netns
 * and pins in .fini, so a failing test leaves nothing behind.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "pkt.h"
#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"
#define OUT_MAX TL_OUT_MAX

static char ns[64], ns_path[128], pin[128];

static struct tl_run R; /* the last command's result */

/*
 * portgate ARGS (space-separated) inside the test netns with the test pin
 * path; standard input from `in` (may be NULL).
 */
static int pgv(struct tl_run *r, const char *in, const char *fmt, va_list ap)
{
	return tl_vpg(r, ns_path, PORTGATE, pin, in, NULL, fmt, ap);
}

__attribute__((format(printf, 2, 3))) static int pg_into(struct tl_run *r, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = pgv(r, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

__attribute__((format(printf, 1, 2))) static int pg(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = pgv(&R, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* portgate ARGS with `in` on its standard input (for --file -). */
__attribute__((format(printf, 2, 3))) static int pg_stdin(const char *in, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = pgv(&R, in, fmt, ap);
	va_end(ap);
	return rc;
}

/* Run and require exit 0, printing stderr otherwise. */
#define PG_OK(...)                                             \
	do {                                                   \
		int rc_ = pg(__VA_ARGS__);                     \
		cr_assert_eq(rc_, 0, "portgate " __VA_ARGS__); \
	} while (0)

/* jq FILTER over json; the compact (-c) result without the newline. */
static const char *jq(const char *json, const char *filter)
{
	static struct tl_run jr;
	char *argv[] = {"jq", "-c", (char *)filter, NULL};

	cr_assert_eq(tl_run_argv(&jr, argv, json, NULL), 0, "jq '%s' failed on:\n%s\n%s", filter,
		     json, jr.err);
	jr.out[strcspn(jr.out, "\n")] = '\0';
	return jr.out;
}

static unsigned long long jq_u64(const char *json, const char *filter)
{
	return strtoull(jq(json, filter), NULL, 10);
}

static void setup(void)
{
	snprintf(ns, sizeof(ns), "pgcli%d", getpid());
	snprintf(ns_path, sizeof(ns_path), "--net=/run/netns/%s", ns);
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgcli%d", getpid());
	cr_assert_eq(tl_sh(NULL, 0, "ip netns add %s", ns), 0);
	/* no IPv6 autoconf chatter (ND, MLD) on the veths: stats must equal what we send */
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
			   "net.ipv6.conf.default.disable_ipv6=1",
			   ns),
		     0);
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip -n %s link add va type veth peer name vb && "
			   "ip -n %s link add vc type veth peer name vd && "
			   "for i in va vb vc vd; do ip -n %s link set $i up || exit 1; done",
			   ns, ns, ns),
		     0);
}

static void teardown(void)
{
	/* pins first (links), then the netns, then anything left in the pin dir */
	pg("detach --all");
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	tl_sh(NULL, 0, "rm -rf %s", pin);
	tl_sh(NULL, 0, "rm -f /tmp/pgcli%d.*", getpid()); /* --file lists */
}

TestSuite(cli, .init = setup, .fini = teardown);

static bool pin_exists(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s%s%s", pin, name ? "/" : "", name ? name : "");
	return access(p, F_OK) == 0;
}

/* stderr is exactly one line */
static bool one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && nl[1] == '\0';
}

/* Id of the XDP program on IFACE in the test netns (0 = none), via iproute2. */
static unsigned int xdp_id(const char *ifname)
{
	struct tl_run r;
	char cmd[256];
	char *argv[] = {"sh", "-c", cmd, NULL};

	snprintf(cmd, sizeof(cmd),
		 "ip -n %s -j -d link show %s | jq '.[0].xdp.prog.id // "
		 ".[0].xdp.attached[0].prog.id "
		 "// 0'",
		 ns, ifname);
	cr_assert_eq(tl_run_argv(&r, argv, NULL, NULL), 0, "%s: %s", cmd, r.err);
	return strtoul(r.out, NULL, 10);
}

Test(cli, attach_detach_reattach)
{
	unsigned int id;
	char link0[32];

	PG_OK("attach va --role uplink");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .role, .mode]]"),
			 "[[\"va\",\"uplink\",\"native\"]]");
	id = jq_u64(R.out, ".programs.uplink");
	cr_expect_eq(xdp_id("va"), id, "va runs prog %u, expected portgate's %u", xdp_id("va"), id);

	/* same role again: nothing changes, same link */
	snprintf(link0, sizeof(link0), "%s", jq(R.out, ".interfaces[0].link_id"));
	PG_OK("attach va --role uplink");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, ".interfaces[0].link_id"), link0,
			 "same-role attach changed the link");
	cr_expect_eq(jq_u64(R.out, ".interfaces[0].prog_id"), id);

	/* a second interface shares the program (and so the maps) */
	PG_OK("attach vc --role uplink");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[].prog_id] | unique | length"), "1");

	PG_OK("detach va");
	cr_expect_eq(xdp_id("va"), 0, "va still has XDP after detach");
	cr_expect(pin_exists(NULL), "pins removed while vc is still attached");
	PG_OK("detach vc");
	cr_expect_eq(xdp_id("vc"), 0);
	cr_expect(!pin_exists(NULL), "the last detach must remove %s", pin);

	PG_OK("attach va --role uplink");
	cr_expect_neq(xdp_id("va"), 0, "re-attach after the last detach");
	PG_OK("detach --all");
	cr_expect(!pin_exists(NULL));
}

Test(cli, role_change_is_atomic)
{
	const char *link;
	char link0[32];

	PG_OK("attach va --role uplink");
	PG_OK("status -j");
	snprintf(link0, sizeof(link0), "%s", jq(R.out, ".interfaces[0].link_id"));
	PG_OK("attach va --role access");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, ".interfaces[0].role"), "\"access\"");
	/* one command, both directions: XDP ingress outbound, tc egress inbound */
	cr_expect_str_eq(jq(R.out, "[.interfaces[0].filters.in, .interfaces[0].filters.out]"),
			 "[\"tc egress\",\"xdp ingress\"]");
	cr_expect_neq(jq_u64(R.out, ".interfaces[0].tc_prog_id"), 0);
	cr_expect_eq(jq_u64(R.out, ".interfaces[0].prog_id"), jq_u64(R.out, ".programs.access"));
	/* the same link, its program replaced by bpf_link_update: no unfiltered gap */
	link = jq(R.out, ".interfaces[0].link_id");
	cr_expect_str_eq(link, link0, "role change created a new link (gap) instead of updating");
	cr_expect_eq(xdp_id("va"), jq_u64(R.out, ".programs.access"));
	PG_OK("attach va --role uplink");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, ".interfaces[0].role"), "\"uplink\"");
	cr_expect_str_eq(jq(R.out, "[.interfaces[0].filters.in, .interfaces[0].tc_prog_id]"),
			 "[\"xdp ingress\",null]", "back to uplink: the tc egress half must go");
	PG_OK("status");
	cr_expect(strstr(R.out, "in: xdp ingress, out: not filtered here"), "status text: %s",
		  R.out);
}

/* attach without --role: refused (exit 2) with one line naming both roles */
Test(cli, attach_needs_a_role)
{
	cr_expect_eq(pg("attach va"), 2, "stderr: %s", R.err);
	cr_expect(strstr(R.err, "--role uplink") && strstr(R.err, "--role access") &&
			  strstr(R.err, "inbound") && strstr(R.err, "outbound"),
		  "the refusal must explain both roles: %s", R.err);
	cr_expect_eq(strchr(R.err, '\n'), R.err + strlen(R.err) - 1, "one line: %s", R.err);
	cr_expect_eq(xdp_id("va"), 0, "a refused attach attached");
	cr_expect(!pin_exists(NULL), "a refused attach left pins behind");
	cr_expect_eq(pg("attach va --role uplink --outbound-only"), 2, "stderr: %s", R.err);
}

/* No packet judged twice: inbound at uplinks' XDP or at access tc egress, not both. */
Test(cli, no_double_judging)
{
	PG_OK("attach va --role uplink");
	cr_expect_eq(pg("attach vb --role access"), 1, "stderr: %s", R.err);
	cr_expect(strstr(R.err, "judged twice") && strstr(R.err, "'va'"), "stderr: %s", R.err);
	cr_expect_eq(xdp_id("vb"), 0, "a refused access attach attached");
	PG_OK("attach vb --role access --outbound-only");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .filters.in, .filters.out]] | sort"),
			 "[[\"va\",\"xdp ingress\",null],[\"vb\",null,\"xdp ingress\"]]");
	PG_OK("detach va");
	PG_OK("attach vb --role access");
	cr_expect_eq(pg("attach va --role uplink"), 1, "stderr: %s", R.err);
	cr_expect(strstr(R.err, "judged twice") && strstr(R.err, "'vb'"), "stderr: %s", R.err);
	PG_OK("attach va --role uplink --force");
	PG_OK("detach --all");
	cr_expect_eq(tl_sh(NULL, 0, "tc -n %s filter show dev vb egress | grep -q bpf", ns), 1,
		     "detach left the tc egress filter on vb");
}

/* --all-segments: per rule, listed, round-trips through save; tcp only */
Test(cli, all_segments_rule)
{
	PG_OK("block tcp 6000 --all-segments");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, "[.[] | select(.port == 6000 or .port == 25) | .match]"),
			 "[\"syn\",\"all-segments\"]");
	PG_OK("save");
	cr_expect(strstr(R.out, "block tcp 6000 --all-segments\n"), "save: %s", R.out);
	cr_expect_eq(pg("block udp 53 --all-segments"), 2, "stderr: %s", R.err);
	/* the identical rule takes the new flag */
	PG_OK("block tcp 6000");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, "[.[] | select(.port == 6000) | .match]"), "[\"syn\"]");
}

/* Load a one-instruction XDP_PASS program and attach it (legacy netlink) in the netns. */
static unsigned int attach_foreign(const char *ifname, __u32 mode)
{
	int p[2];
	unsigned int id = 0;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		struct bpf_insn insns[] = {
			{.code = BPF_ALU64 | BPF_MOV | BPF_K,
			 .dst_reg = BPF_REG_0,
			 .imm = XDP_PASS},
			{.code = BPF_JMP | BPF_EXIT},
		};
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int nsfd = open(ns_path + strlen("--net="), O_RDONLY), fd;

		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET))
			_exit(1);
		fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "foreign", "GPL", insns, 2, NULL);
		if (fd < 0 || bpf_xdp_attach(if_nametoindex(ifname), fd, mode, NULL) ||
		    bpf_obj_get_info_by_fd(fd, &info, &len))
			_exit(2);
		if (write(p[1], &info.id, sizeof(info.id)) != sizeof(info.id))
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &id, sizeof(id)), (ssize_t)sizeof(id), "foreign XDP program");
	close(p[0]);
	waitpid(pid, NULL, 0);
	return id;
}

Test(cli, foreign_program_needs_force)
{
	unsigned int foreign = attach_foreign("va", XDP_FLAGS_DRV_MODE);
	char idstr[32];

	cr_assert_neq(foreign, 0);
	cr_expect_eq(pg("attach va --role uplink"), 1, "stderr: %s", R.err);
	snprintf(idstr, sizeof(idstr), "%u", foreign);
	cr_expect(strstr(R.err, idstr) && strstr(R.err, "--force") && one_line(R.err),
		  "message should name prog id %u and --force: %s", foreign, R.err);
	cr_expect_eq(xdp_id("va"), foreign, "refused attach changed the interface");
	cr_expect(!pin_exists(NULL), "a refused first attach left pins behind");

	PG_OK("attach va --role uplink --force");
	PG_OK("status -j");
	cr_expect_eq(xdp_id("va"), jq_u64(R.out, ".programs.uplink"));
	cr_expect_str_eq(jq(R.out, ".interfaces[0].ifname"), "\"va\"");
}

/*
 * lo has no native XDP: native mode must fail loudly (never fall back to
 * generic), and a --force that then fails puts the foreign program back.
 */
Test(cli, native_never_falls_back_and_failed_attach_changes_nothing)
{
	unsigned int foreign;

	cr_expect_eq(pg("attach lo --role uplink"), 1, "stderr: %s", R.err);
	cr_expect(strstr(R.err, "native") && strstr(R.err, "--mode generic") && one_line(R.err),
		  "%s", R.err);
	cr_expect_eq(xdp_id("lo"), 0, "failed native attach left a program on lo");
	cr_expect(!pin_exists(NULL), "failed first attach left pins behind");

	foreign = attach_foreign("lo", XDP_FLAGS_SKB_MODE);
	cr_assert_neq(foreign, 0);
	cr_expect_eq(pg("attach lo --role uplink --force"), 1, "stderr: %s", R.err);
	cr_expect_eq(xdp_id("lo"), foreign, "failed --force attach must restore the program");

	PG_OK("attach lo --role uplink --mode generic --force");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .mode]]"), "[[\"lo\",\"generic\"]]");
	cr_expect_eq(xdp_id("lo"), jq_u64(R.out, ".programs.uplink"));
}

Test(cli, jumbo_mtu)
{
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip -n %s link set va mtu 9000 && ip -n %s link set vb mtu 9000", ns,
			   ns),
		     0);
	PG_OK("attach va --role uplink");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, ".interfaces[0].mode"), "\"native\"");
	cr_expect_eq(xdp_id("va"), jq_u64(R.out, ".programs.uplink"));
	PG_OK("attach va --role access --outbound-only");
	PG_OK("attach vb --role uplink");
	cr_expect_neq(xdp_id("vb"), 0);
}

/* status and --version -v name the running kernel and its BPF features */
Test(cli, status_names_the_kernel)
{
	char want[160], quoted[80];
	struct utsname u;

	cr_assert_eq(uname(&u), 0);
	snprintf(quoted, sizeof(quoted), "\"%s\"", u.release);
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, ".kernel.release"), quoted);
	/* both tested kernels (6.1, 6.18) have XDP frags and bpf_link XDP */
	cr_expect_str_eq(jq(R.out, "[.kernel.xdp_frags, .kernel.xdp_link, .kernel.tc_bpf]"),
			 "[true,true,true]");
	cr_expect_str_eq(jq(R.out, ".kernel.tcx | type"), "\"boolean\"");

	snprintf(want, sizeof(want), "kernel     Linux %s: XDP frags yes, bpf_link XDP yes",
		 u.release);
	PG_OK("attach va --role uplink");
	PG_OK("status");
	cr_expect(strstr(R.out, want), "status lacks '%s':\n%s", want, R.out);
	PG_OK("--version -v");
	cr_expect(strstr(R.out, want), "--version -v lacks '%s':\n%s", want, R.out);
	PG_OK("--version");
	cr_expect(!strstr(R.out, "kernel"), "--version without -v: %s", R.out);
}

#define DEFAULT_RULES                                                        \
	"[\"in\",\"tcp\",25,25,\"drop\"],[\"in\",\"tcp\",465,465,\"drop\"]," \
	"[\"in\",\"tcp\",587,587,\"drop\"],[\"in\",\"tcp\",2525,2525,\"drop\"]"
#define RULE_TUPLES "[.[] | [.dir, .proto, .port, .port_end, .action]]"

Test(cli, rules_round_trip)
{
	/* rules staged before any attach create the state with the defaults */
	PG_OK("block tcp 8080-8090");
	PG_OK("block udp 53 --dir out --monitor");
	PG_OK("block tcp 1-24 --dir out");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, RULE_TUPLES),
			 "[" DEFAULT_RULES ",[\"in\",\"tcp\",8080,8090,\"drop\"],"
			 "[\"in\",\"udp\",161,161,\"drop\"],[\"out\",\"tcp\",1,24,\"drop\"],"
			 "[\"out\",\"udp\",53,53,\"monitor\"]]");
	cr_expect_str_eq(jq(R.out, "[.[] | [.packets, .bytes]] | flatten | unique"), "[0]");

	/* identical rule again: only the action changes */
	PG_OK("block udp 53 --dir out");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, "[.[] | select(.port == 53)] | [length, .[0].action]"),
			 "[1,\"drop\"]");

	/* overlap refused, naming the existing rule; nothing changed */
	cr_expect_eq(pg("block tcp 8085-9000"), 1);
	cr_expect(strstr(R.err, "8080-8090") && one_line(R.err), "%s", R.err);
	/* unblock must name the rule exactly */
	cr_expect_eq(pg("unblock tcp 8085"), 1);
	cr_expect(strstr(R.err, "8080-8090") && one_line(R.err), "%s", R.err);

	PG_OK("unblock tcp 8080-8090");
	PG_OK("unblock tcp 1-24 --dir out");
	PG_OK("unblock udp 53 --dir out");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, RULE_TUPLES),
			 "[" DEFAULT_RULES ",[\"in\",\"udp\",161,161,\"drop\"]]");

	/* a full range is quick and exact */
	PG_OK("unblock udp 161");
	PG_OK("block udp 1-65535 --dir out");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, "[.[] | select(.dir == \"out\") | [.port, .port_end]]"),
			 "[[1,65535]]");
	PG_OK("defaults");
	PG_OK("rules -j");
	cr_expect_str_eq(jq(R.out, RULE_TUPLES),
			 "[" DEFAULT_RULES ",[\"in\",\"udp\",161,161,\"drop\"]]");
}

Test(cli, exemptions_round_trip)
{
	PG_OK("attach va --role uplink");
	PG_OK("allow 100.64.1.7 --subscriber");
	PG_OK("allow 192.0.2.77/24 --peer --rule tcp/25");
	PG_OK("allow 2001:db8:64::1 --subscriber --dir out");
	PG_OK("allow 2001:db8:192::/48 --peer --rule udp/161");
	PG_OK("allow 100.64.1.7 --subscriber"); /* idempotent */
	/* --rule names any port of a range; keyed by the rule's first port */
	PG_OK("block tcp 6000-6010");
	PG_OK("allow 203.0.113.0/24 --peer --rule tcp/6005");
	PG_OK("exemptions -j");
	cr_expect_str_eq(jq(R.out, "[.[] | [.prefix, .side, .dir, .rule]] | sort"),
			 "[[\"100.64.1.7/32\",\"subscriber\",\"in\",\"all\"],"
			 "[\"192.0.2.0/24\",\"peer\",\"in\",\"tcp/25\"],"
			 "[\"2001:db8:192::/48\",\"peer\",\"in\",\"udp/161\"],"
			 "[\"2001:db8:64::1/128\",\"subscriber\",\"out\",\"all\"],"
			 "[\"203.0.113.0/24\",\"peer\",\"in\",\"tcp/6000\"]]");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.exemptions.v4, .exemptions.v6]"), "[3,2]");

	/* no rule covers tcp/26: refused */
	cr_expect_eq(pg("allow 192.0.2.0/24 --peer --rule tcp/26"), 1);
	cr_expect(strstr(R.err, "tcp/26") && one_line(R.err), "%s", R.err);

	PG_OK("disallow 192.0.2.0/24 --peer --rule tcp/25");
	PG_OK("disallow 2001:db8:64::1 --subscriber --dir out");
	cr_expect_eq(pg("disallow 2001:db8:64::1 --subscriber --dir out"), 1);
	cr_expect(strstr(R.err, "2001:db8:64::1/128") && one_line(R.err), "%s", R.err);
	PG_OK("exemptions -j");
	cr_expect_str_eq(jq(R.out, "[.[].prefix] | sort"),
			 "[\"100.64.1.7/32\",\"2001:db8:192::/48\",\"203.0.113.0/24\"]");
}

/* Run one frame `repeat` times through the pinned program on CPU `cpu`; the verdict. */
static __u32 test_run(int prog_fd, int cpu, const struct pkt_spec *s, int repeat, size_t *len)
{
	static uint8_t buf[PKT_MAX], out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, t);
	cpu_set_t set;

	*len = pkt_build(s, buf, sizeof(buf));
	cr_assert_gt(*len, 0);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* pin to a CPU so the counters land in several per-CPU slots */
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	t.data_in = buf;
	t.data_size_in = *len;
	t.data_out = out;
	t.data_size_out = sizeof(out);
	t.repeat = repeat;
	cr_assert_eq(bpf_prog_test_run_opts(prog_fd, &t), 0, "test run: %s", strerror(errno));
	return t.retval;
}

Test(cli, stats_equal_traffic_summed_over_cpus)
{
	struct pkt_spec blocked = {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .payload = 10};
	struct pkt_spec passed = {.ip = 6, .proto = IPPROTO_UDP, .dport = 53, .payload = 100};
	struct pkt_spec exempt = {
		.ip = 4, .proto = IPPROTO_TCP, .dport = 587, .src = "192.0.2.10", .payload = 1};
	struct pkt_spec monitored = {.ip = 4, .proto = IPPROTO_UDP, .dport = 5000};
	int ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN), cpu, fd;
	unsigned long long rx = 0, bytes = 0;
	size_t lb, lp, le, lm;
	char path[256];

	PG_OK("attach va --role uplink");
	PG_OK("allow 192.0.2.0/24 --peer --rule tcp/587");
	PG_OK("block udp 5000 --monitor");
	PG_OK("stats --reset");
	snprintf(path, sizeof(path), "%s/prog_uplink", pin);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	if (ncpus < 1)
		ncpus = 1;
	for (cpu = 0; cpu < ncpus && cpu < 4; cpu++) {
		test_run(fd, cpu, &blocked, 3, &lb);
		test_run(fd, cpu, &passed, 5, &lp);
		test_run(fd, cpu, &exempt, 2, &le);
		test_run(fd, cpu, &monitored, 1, &lm);
		rx += 3 + 5 + 2 + 1;
		bytes += 3 * lb + 5 * lp + 2 * le + lm;
	}
	close(fd);
	cpu = cpu ? cpu : 1;

	PG_OK("stats -j --per-cpu");
	cr_expect_eq(jq_u64(R.out, ".totals.rx"), rx, "rx");
	cr_expect_eq(jq_u64(R.out, ".totals.dropped"), 3ULL * cpu, "dropped");
	cr_expect_eq(jq_u64(R.out, ".totals.blocked"), 3ULL * cpu, "blocked");
	cr_expect_eq(jq_u64(R.out, ".totals.passed"), 8ULL * cpu, "passed");
	cr_expect_eq(jq_u64(R.out, ".totals.exempt"), 2ULL * cpu, "exempt");
	cr_expect_eq(jq_u64(R.out, ".totals.monitored"), 1ULL * cpu, "monitored");
	cr_expect_eq(jq_u64(R.out, ".totals.no_match"), 5ULL * cpu, "no_match");
	cr_expect_eq(jq_u64(R.out, ".bytes.rx"), bytes, "rx bytes");
	cr_expect_eq(jq_u64(R.out, ".bytes.dropped"), 3ULL * cpu * lb, "dropped bytes");
	cr_expect_eq(jq_u64(R.out, ".rules[] | select(.port == 25) | .packets"), 3ULL * cpu,
		     "rule tcp/25 packets");
	cr_expect_eq(jq_u64(R.out, ".rules[] | select(.port == 25) | .bytes"), 3ULL * cpu * lb);
	cr_expect_eq(jq_u64(R.out, ".rules[] | select(.port == 5000) | .packets"), 1ULL * cpu,
		     "monitor rule");
	cr_expect_eq(jq_u64(R.out, ".rules[] | select(.port == 587) | .packets"), 0,
		     "exempt packets are not the rule's");
	/* per-CPU slots add up to the totals, and traffic really was spread */
	cr_expect_eq(jq_u64(R.out, "[.per_cpu[].totals.rx] | add"), rx);
	if (cpu > 1)
		cr_expect_eq(jq_u64(R.out, "[.per_cpu[] | select(.totals.rx > 0)] | length"),
			     (unsigned long long)cpu);

	/* defaults keeps the default rules in place (no unfiltered window):
	 * their counters survive, the extra rule goes */
	PG_OK("defaults");
	PG_OK("stats -j");
	cr_expect_eq(jq_u64(R.out, ".rules[] | select(.port == 25) | .packets"), 3ULL * cpu,
		     "defaults re-created rule tcp/25");
	cr_expect_str_eq(jq(R.out, "[.rules[] | select(.port == 5000)] | length"), "0");

	PG_OK("stats --reset");
	PG_OK("stats -j");
	cr_expect_str_eq(jq(R.out, "[.totals.rx, .bytes.rx, ([.rules[].packets] | add)]"),
			 "[0,0,0]");
}

struct bad_input {
	const char *name;
	const char *args;
	int code;
	const char *msg; /* stderr must contain this */
};

static const struct bad_input bad_inputs[] = {
	{"port 0", "block tcp 0", 2, "'0'"},
	{"port 65536", "block tcp 65536", 2, "'65536'"},
	{"port abc", "block tcp abc", 2, "'abc'"},
	{"reversed range", "block tcp 10-5", 2, "'10-5'"},
	{"range with one bad bound", "block tcp 1000-70000", 2, "'70000'"},
	{"proto icmp", "block icmp 25", 2, "'icmp'"},
	{"bad direction", "block tcp 25 --dir sideways", 2, "'sideways'"},
	{"missing port", "block tcp", 2, "PORT"},
	{"unblock port 0", "unblock udp 0", 2, "'0'"},
	{"bad IPv4 prefix", "allow 300.1.1.1/8 --peer", 2, "'300.1.1.1/8'"},
	{"IPv6 prefix too long", "allow ::/129 --peer", 2, "'129'"},
	{"IPv4 prefix too long", "allow 192.0.2.0/33 --subscriber", 2, "'33'"},
	{"no side", "allow 192.0.2.0/24", 2, "--subscriber"},
	{"bad --rule", "allow 192.0.2.0/24 --peer --rule tcp25", 2, "'tcp25'"},
	{"unknown interface", "attach nosuch0 --role uplink", 1, "'nosuch0'"},
	{"detach not attached", "detach vb", 1, "'vb'"},
	{"detach unknown interface", "detach nosuch0", 1, "'nosuch0'"},
	{"role bogus", "attach va --role bogus", 2, "'bogus'"},
	{"mode bogus", "attach va --role uplink --mode turbo", 2, "'turbo'"},
	{"unknown command", "frobnicate", 2, "unknown command 'frobnicate'"},
	{"unknown option", "rules --frob", 2, "'--frob'"},
	{"watch 0", "stats --watch 0", 2, "'0'"},
	{"overlapping rule", "block tcp 20-30", 1, "tcp 25"},
	{"unblock missing rule", "unblock tcp 26", 1, "tcp 26"},
	{"allow without a rule", "allow 192.0.2.0/24 --peer --rule udp/53", 1, "udp/53"},
	{"disallow missing", "disallow 192.0.2.0/24 --peer", 1, "192.0.2.0/24"},
};

Test(cli, bad_inputs)
{
	char before[OUT_MAX];
	size_t i;

	PG_OK("attach va --role uplink");
	PG_OK("rules -j");
	snprintf(before, sizeof(before), "%s", R.out);
	for (i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		const struct bad_input *b = &bad_inputs[i];

		pg("%s", b->args);
		cr_expect_eq(R.code, b->code,
			     "%s: 'portgate %s' exited %d, expected %d (stderr: %s)", b->name,
			     b->args, R.code, b->code, R.err);
		cr_expect(strstr(R.err, b->msg), "%s: stderr should name %s, got: %s", b->name,
			  b->msg, R.err);
		cr_expect(one_line(R.err), "%s: expected one line on stderr, got: %s", b->name,
			  R.err);
		cr_expect(!strncmp(R.err, "portgate: ", 10), "%s: %s", b->name, R.err);
		cr_expect_str_empty(R.out, "%s: nothing on stdout", b->name);
	}
	/* nothing half-applied */
	PG_OK("rules -j");
	cr_expect_str_eq(R.out, before, "a rejected command changed the rules");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[].ifname]"), "[\"va\"]");
}

Test(cli, unprivileged_says_which_privileges)
{
	char *argv[] = {"setpriv",
			"--reuid=65534",
			"--regid=65534",
			"--clear-groups",
			"--inh-caps=-all",
			"--bounding-set=-all",
			PORTGATE,
			"--pin-path",
			pin,
			"block",
			"tcp",
			"8080",
			NULL};
	struct tl_run r;

	const char *cmds[] = {"block", "status", "rules", "stats"};
	size_t i;

	PG_OK("attach va --role uplink");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		argv[9] = (char *)cmds[i];
		if (i)
			argv[10] = NULL;
		cr_expect_eq(tl_run_argv(&r, argv, NULL, NULL), 1, "%s: stderr: %s", cmds[i],
			     r.err);
		cr_expect(strstr(r.err, "CAP_BPF") && strstr(r.err, "CAP_NET_ADMIN") &&
				  one_line(r.err),
			  "%s: %s", cmds[i], r.err);
	}
}

/* Each child blocks and unblocks its own ports; the survivors must all be there. */
Test(cli, concurrent_writers)
{
	enum { ROUNDS = 15, PORTS = 4 };
	pid_t kids[2];
	int k, st;

	PG_OK("attach va --role uplink");
	for (k = 0; k < 2; k++) {
		kids[k] = fork();
		cr_assert(kids[k] >= 0);
		if (!kids[k]) {
			/* widen the rule-slot read-modify-write: without the lock, slots collide */
			setenv("PORTGATE_RACE_DELAY_US", "2000", 1);
			struct tl_run r;
			int i, p, base = 10000 * (k + 1);

			for (i = 0; i < ROUNDS; i++)
				for (p = 0; p < PORTS; p++) {
					if (pg_into(&r, "block tcp %d", base + i * 10 + p) ||
					    (i < ROUNDS - 1 &&
					     pg_into(&r, "unblock tcp %d", base + i * 10 + p)))
						_exit(10 + r.code);
				}
			_exit(0);
		}
	}
	for (k = 0; k < 2; k++) {
		cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed: status %d", k,
			  WEXITSTATUS(st));
	}
	PG_OK("rules -j");
	{
		char want[512];

		snprintf(want, sizeof(want), "[%d,%d,%d,%d,%d,%d,%d,%d]", 10000 + (ROUNDS - 1) * 10,
			 10001 + (ROUNDS - 1) * 10, 10002 + (ROUNDS - 1) * 10,
			 10003 + (ROUNDS - 1) * 10, 20000 + (ROUNDS - 1) * 10,
			 20001 + (ROUNDS - 1) * 10, 20002 + (ROUNDS - 1) * 10,
			 20003 + (ROUNDS - 1) * 10);
		cr_expect_str_eq(jq(R.out, "[.[] | select(.port >= 10000) | .port]"), want);
		cr_expect_eq(jq_u64(R.out, "length"), 5 + 2 * PORTS);
	}
}

/* --watch: a rate line per interval, a clean exit 0 on SIGINT. */
Test(cli, watch_prints_rates_until_interrupted)
{
	char out_path[128], pin_arg[160];
	struct timespec ts = {.tv_nsec = 20 * 1000 * 1000};
	int fd, st, i;
	pid_t pid;

	PG_OK("attach va --role uplink");
	snprintf(out_path, sizeof(out_path), "/tmp/pgcli%d.watch", getpid());
	snprintf(pin_arg, sizeof(pin_arg), "--pin-path=%s", pin);
	fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	unlink(out_path);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		dup2(fd, 1);
		execlp("nsenter", "nsenter", ns_path, PORTGATE, pin_arg, "stats", "-j", "--watch",
		       "1", (char *)NULL);
		_exit(127);
	}
	/* poll for the second line, bounded: 5 s */
	for (i = 0; i < 250; i++) {
		char buf[4096] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		char *nl = n > 0 ? strchr(buf, '\n') : NULL;

		if (nl && strchr(nl + 1, '\n'))
			break;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGINT);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "watch should exit 0 on SIGINT, status %d",
		  st);
	tl_slurp(fd, R.out, sizeof(R.out));
	cr_assert_lt(i, 250, "no two rate lines within 5 s: '%s'", R.out);
	R.out[strcspn(R.out, "\n") + 1] = '\0';
	cr_expect_str_eq(
		jq(R.out, "keys"),
		"[\"dropped_bps\",\"dropped_pps\",\"interval\",\"passed_bps\",\"passed_pps\","
		"\"rx_bps\",\"rx_pps\"]");
}

/* ------------------------------------------------ allow/disallow --file */

/* Write `text` to /tmp/pgcli<pid>.<name> (removed by teardown); its path. */
static const char *list_file(const char *name, const char *text)
{
	static char path[4][128];
	static int next;
	char *p = path[next++ % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "/tmp/pgcli%d.%s", getpid(), name);
	f = fopen(p, "w");
	cr_assert(f, "%s: %s", p, strerror(errno));
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
	return p;
}

/*
 * pg_exempt_kinds must count exactly what the tries hold: compare the
 * pinned map with the kinds of the entries `exemptions -j` lists.
 */
static void expect_kinds_exact(const char *when)
{
	struct pg_exempt_kinds k, want = {};
	struct pg_ctl ctl;
	const char *bits;
	char path[256];
	__u32 zero = 0, gen;
	int fd, i;

	PG_OK("exemptions -j");
	/* per entry 5 digits: v6, peer, all rules, out, host (/32, /128) */
	bits = jq(R.out, "[.[] | (.prefix | test(\":\")), .side == \"peer\", .rule == \"all\", "
			 ".dir == \"out\", (.prefix | test(\"^[^:]*/32$|:.*/128$\"))] | "
			 "map(if . then \"1\" else \"0\" end) | join(\"\")");
	for (i = 1; bits[i] && bits[i] != '"'; i += 5) {
		int kind = pg_exempt_kind(
			bits[i] == '1', bits[i + 1] == '1' ? PG_SIDE_PEER : PG_SIDE_SUBSCRIBER,
			bits[i + 2] == '1', bits[i + 3] == '1' ? PG_DIR_OUT : PG_DIR_IN);

		if (bits[i + 4] == '1')
			want.host[kind]++;
		else
			want.prefix[kind]++;
	}
	/* the live generation's counts */
	snprintf(path, sizeof(path), "%s/%s", pin, PG_STR(PG_MAP_CTL));
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(bpf_map_lookup_elem(fd, &zero, &ctl), 0);
	close(fd);
	gen = ctl.gen;
	snprintf(path, sizeof(path), "%s/%s", pin, PG_STR(PG_MAP_EXEMPT_KINDS));
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(bpf_map_lookup_elem(fd, &gen, &k), 0);
	close(fd);
	for (i = 0; i < PG_EXEMPT_KINDS; i++)
		cr_expect(
			k.host[i] == want.host[i] && k.prefix[i] == want.prefix[i],
			"%s: pg_exempt_kinds[%d] (v6 %d, %s, %s, dir %s) is %u hosts + %u prefixes, "
			"the tries hold %u + %u",
			when, i, i >> 3 & 1, (i >> 2 & 1) ? "peer" : "subscriber",
			(i >> 1 & 1) ? "all rules" : "one rule", (i & 1) ? "out" : "in", k.host[i],
			k.prefix[i], want.host[i], want.prefix[i]);
}

#define EXEMPT_TUPLES "[.[] | [.prefix, .side, .dir, .rule]] | sort"

Test(cli, exemptions_from_file)
{
	/* v4 and v6, comments, blanks, whitespace, CRLF, a prefix twice after masking */
	const char *peers = list_file("peers", "# ISP NMS and relays\n"
					       "192.0.2.0/24\n"
					       "\n"
					       "   2001:db8:192::/48   # relay v6\n"
					       "\t203.0.113.7\r\n"
					       "192.0.2.99/24\n"
					       "   # indented comment\n"
					       "2001:db8:192:1::1\n");
	char before[OUT_MAX];

	PG_OK("attach va --role uplink");
	PG_OK("allow --file %s --peer", peers);
	cr_expect_str_eq(R.out, "added 4 exemptions (1 already present)\n");
	/* issue 12: a prefix with host bits set is taken masked, with one warning */
	{
		char warn[256];

		snprintf(warn, sizeof(warn),
			 "portgate: %s:6: warning: '192.0.2.99/24' has host bits set, taken as "
			 "192.0.2.0/24\n",
			 peers);
		cr_expect_str_eq(R.err, warn);
	}
	PG_OK("exemptions -j");
	cr_expect_str_eq(jq(R.out, EXEMPT_TUPLES),
			 "[[\"192.0.2.0/24\",\"peer\",\"in\",\"all\"],"
			 "[\"2001:db8:192:1::1/128\",\"peer\",\"in\",\"all\"],"
			 "[\"2001:db8:192::/48\",\"peer\",\"in\",\"all\"],"
			 "[\"203.0.113.7/32\",\"peer\",\"in\",\"all\"]]");
	expect_kinds_exact("after allow --file");

	/* again: idempotent, nothing counted twice; -j summary */
	PG_OK("-j allow --file %s --peer", peers);
	cr_expect_str_eq(jq(R.out, "."), "{\"added\":0,\"present\":5}");
	expect_kinds_exact("after allow --file again");
	/* presence is exact, not a longest-prefix match: a /25 inside the /24 is new */
	cr_expect_eq(pg_stdin("192.0.2.0/24\n192.0.2.128/25\n", "allow --file - --peer -j"), 0,
		     "%s", R.err);
	cr_expect_str_eq(jq(R.out, "."), "{\"added\":1,\"present\":1}");
	expect_kinds_exact("after a longer prefix");
	PG_OK("disallow 192.0.2.128/25 --peer");

	/* standard input, with --rule and --dir applied to every line */
	PG_OK("block tcp 25 --dir out");
	cr_expect_eq(pg_stdin("100.64.1.0/24\n2001:db8:64::/56\n100.64.2.3\n",
			      "allow --file - --subscriber --dir out --rule tcp/25 -j"),
		     0, "stdin: %s", R.err);
	cr_expect_str_eq(jq(R.out, "."), "{\"added\":3,\"present\":0}");
	PG_OK("exemptions -j");
	cr_expect_str_eq(
		jq(R.out, "[.[] | select(.side == \"subscriber\") | [.prefix, .dir, .rule]] "
			  "| sort"),
		"[[\"100.64.1.0/24\",\"out\",\"tcp/25\"],[\"100.64.2.3/32\",\"out\",\"tcp/25\"],"
		"[\"2001:db8:64::/56\",\"out\",\"tcp/25\"]]");
	expect_kinds_exact("after allow --file -");

	/* disallow --file removes exactly those; the stdin ones stay */
	PG_OK("disallow --file %s --peer", peers);
	cr_expect_str_eq(R.out, "removed 4 exemptions\n");
	PG_OK("exemptions -j");
	cr_expect_str_eq(jq(R.out, "[.[].prefix] | sort"),
			 "[\"100.64.1.0/24\",\"100.64.2.3/32\",\"2001:db8:64::/56\"]");
	expect_kinds_exact("after disallow --file");

	/* one absent line: exit 1 naming it, nothing removed */
	snprintf(before, sizeof(before), "%s", R.out);
	cr_expect_eq(pg_stdin("100.64.1.0/24\n\n2001:db8:64::/64\n2001:db8:64::/56\n",
			      "disallow --file - --subscriber --dir out --rule tcp/25"),
		     1, "stderr: %s", R.err);
	cr_expect(strstr(R.err, "<stdin>:3: no exemption 2001:db8:64::/64") && one_line(R.err),
		  "%s", R.err);
	PG_OK("exemptions -j");
	cr_expect_str_eq(R.out, before, "a refused disallow --file changed the exemptions");
	expect_kinds_exact("after a refused disallow --file");

	/* -j summary of disallow; an empty list (comments only) is no change */
	cr_expect_eq(pg_stdin("100.64.1.0/24\n2001:db8:64::/56\n100.64.2.3/32\n",
			      "disallow -j --file - --subscriber --dir out --rule tcp/25"),
		     0, "%s", R.err);
	cr_expect_str_eq(jq(R.out, "."), "{\"removed\":3}");
	cr_expect_eq(pg_stdin("# nothing\n\n", "allow --file - --peer"), 0, "%s", R.err);
	cr_expect_str_eq(R.out, "added 0 exemptions (0 already present)\n");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.exemptions.v4, .exemptions.v6]"), "[0,0]");
	expect_kinds_exact("after removing everything");
}

struct bad_file {
	const char *name;
	const char *text; /* the list, as a file or on stdin */
	const char *args; /* %s: the file's path */
	int code;
	const char *msg; /* stderr must contain this; %s: the file's path */
};

static const struct bad_file bad_files[] = {
	{"bad line in the middle", "192.0.2.0/24\n# c\n300.1.1.1/8\n203.0.113.0/24\n",
	 "allow --file %s --peer", 2, "%s:3: bad prefix '300.1.1.1/8': expected"},
	{"prefix too long", "2001:db8::/64\n192.0.2.0/33\n", "allow --file %s --subscriber", 2,
	 "%s:2: bad prefix length '33'"},
	{"two words on a line", "192.0.2.0/24 203.0.113.0/24\n", "allow --file %s --peer", 2,
	 "%s:1: bad prefix length '24 203.0.113.0/24'"},
	{"bad line on stdin", "192.0.2.0/24\nnope\n", "allow --file - --peer", 2,
	 "<stdin>:2: bad prefix 'nope'"},
	{"bad line in disallow", "198.51.100.0/24\n::/129\n", "disallow --file %s --peer", 2,
	 "%s:2: bad prefix length '129'"},
	{"PREFIX and --file", "192.0.2.0/24\n", "allow 203.0.113.0/24 --file %s --peer", 2,
	 "not both"},
	{"neither PREFIX nor --file", "", "disallow --peer", 2, "--file FILE"},
	{"--file twice", "", "allow --file %s --file %s --peer", 2, "'--file' given twice"},
	{"missing file", NULL, "allow --file /nonexistent/pg.list --peer", 1,
	 "'/nonexistent/pg.list'"},
	{"no rule for --rule", "192.0.2.0/24\n", "allow --file %s --peer --rule udp/53", 1,
	 "udp/53"},
	{"absent prefix in disallow", "198.51.100.0/24\n192.0.2.0/24\n",
	 "disallow --file %s --peer", 1, "%s:2: no exemption 192.0.2.0/24"},
};

Test(cli, exemption_files_all_or_nothing)
{
	char before[OUT_MAX], args[512], msg[512];
	size_t i;

	PG_OK("attach va --role uplink");
	PG_OK("allow 198.51.100.0/24 --peer");
	PG_OK("allow 2001:db8:64::/64 --subscriber --dir out");
	PG_OK("exemptions -j");
	snprintf(before, sizeof(before), "%s", R.out);
	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad_file *b = &bad_files[i];
		const char *path = b->text ? list_file("bad", b->text) : "";

		snprintf(args, sizeof(args), b->args, path, path);
		snprintf(msg, sizeof(msg), b->msg, path);
		pg_stdin(b->text ? b->text : "", "%s", args);
		cr_expect_eq(R.code, b->code,
			     "%s: 'portgate %s' exited %d, expected %d (stderr: %s)", b->name, args,
			     R.code, b->code, R.err);
		cr_expect(strstr(R.err, msg), "%s: stderr should contain \"%s\", got: %s", b->name,
			  msg, R.err);
		cr_expect(one_line(R.err) && !strncmp(R.err, "portgate: ", 10),
			  "%s: expected one 'portgate: ' line on stderr, got: %s", b->name, R.err);
		cr_expect_str_empty(R.out, "%s: nothing on stdout", b->name);
		PG_OK("exemptions -j");
		cr_expect_str_eq(R.out, before, "%s: a refused command changed the exemptions",
				 b->name);
	}
	expect_kinds_exact("after refused lists");
}

/* A full trie midway through a list: exit 1, everything this command added is gone. */
Test(cli, exemption_file_rolls_back_when_full, .timeout = 120)
{
	char before[OUT_MAX], path[128];
	FILE *f;
	long i;

	PG_OK("attach va --role uplink");
	cr_expect_eq(pg_stdin("100.64.0.0/24\n100.64.9.0/24\n203.0.113.0/24\n",
			      "allow --file - --subscriber"),
		     0, "%s", R.err);
	PG_OK("exemptions -j");
	snprintf(before, sizeof(before), "%s", R.out);
	/* PG_MAX_EXEMPT new /32s: the three above leave room for all but three */
	snprintf(path, sizeof(path), "/tmp/pgcli%d.full", getpid());
	f = fopen(path, "w");
	cr_assert(f);
	for (i = 0; i < PG_MAX_EXEMPT; i++)
		fprintf(f, "100.%ld.%ld.%ld\n", 64 + (i >> 16), (i >> 8) & 255, i & 255);
	cr_assert_eq(fclose(f), 0);
	cr_expect_eq(pg("allow --file %s --subscriber", path), 1, "stderr: %s", R.err);
	cr_expect(strstr(R.err, "table full") && strstr(R.err, "rolled back") && one_line(R.err),
		  "%s", R.err);
	PG_OK("exemptions -j");
	cr_expect_str_eq(R.out, before, "a failed allow --file left exemptions behind");
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.exemptions.v4, .exemptions.v6]"), "[3,0]");
	expect_kinds_exact("after the rollback");
}

static const char *verdict_name(__u32 v)
{
	return v == XDP_PASS ? "PASS" : v == XDP_DROP ? "DROP" : "other";
}

struct exempt_vec {
	const char *name;
	struct pkt_spec spec; /* inbound TCP 25: dropped unless exempt */
	bool in_lists;	      /* covered by a prefix of peers/subs below */
};

static const struct exempt_vec exempt_vecs[] = {
	{"v4 peer in the file",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .src = "192.0.2.33"},
	 true},
	{"v6 peer in the file",
	 {.ip = 6, .proto = IPPROTO_TCP, .dport = 25, .src = "2001:db8:192::9"},
	 true},
	{"v4 subscriber from stdin",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .dst = "100.64.7.20"},
	 true},
	{"v6 subscriber from stdin",
	 {.ip = 6, .proto = IPPROTO_TCP, .dport = 25, .dst = "2001:db8:64:ab::5"},
	 true},
	{"v4 in no list", {.ip = 4, .proto = IPPROTO_TCP, .dport = 25}, false},
	{"v6 in no list", {.ip = 6, .proto = IPPROTO_TCP, .dport = 25}, false},
};

/* Exemptions added by --file really exempt traffic (and are counted in pg_exempt_kinds). */
Test(cli, file_exemptions_apply_to_traffic)
{
	const char *peers = list_file("peers", "192.0.2.0/24\n2001:db8:192::/48\n");
	const char *subs = "100.64.7.0/24\n# v6\n2001:db8:64:ab::/64\n";
	char path[256];
	int phase, fd;
	size_t i, len;

	PG_OK("attach va --role uplink");
	snprintf(path, sizeof(path), "%s/prog_uplink", pin);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	/* phase 0: no exemptions, 1: lists allowed, 2: lists disallowed */
	for (phase = 0; phase < 3; phase++) {
		if (phase == 1) {
			PG_OK("allow --file %s --peer --rule tcp/25", peers);
			cr_expect_eq(pg_stdin(subs, "allow --file - --subscriber"), 0, "%s", R.err);
		} else if (phase == 2) {
			PG_OK("disallow --file %s --peer --rule tcp/25", peers);
			cr_expect_eq(pg_stdin(subs, "disallow --file - --subscriber"), 0, "%s",
				     R.err);
		}
		for (i = 0; i < sizeof(exempt_vecs) / sizeof(exempt_vecs[0]); i++) {
			const struct exempt_vec *v = &exempt_vecs[i];
			bool exempt = phase == 1 && v->in_lists;
			const char *reason = exempt ? "exempt" : "blocked";
			__u32 got;
			char filter[64];

			PG_OK("stats --reset");
			got = test_run(fd, 0, &v->spec, 1, &len);
			PG_OK("stats -j");
			snprintf(filter, sizeof(filter), ".totals.%s", reason);
			cr_expect_eq(got, exempt ? XDP_PASS : XDP_DROP,
				     "phase %d, %s: verdict %s, expected %s (%s)", phase, v->name,
				     verdict_name(got), exempt ? "PASS" : "DROP", reason);
			cr_expect_eq(jq_u64(R.out, filter), 1,
				     "phase %d, %s: expected reason %s, counters: %s", phase,
				     v->name, reason, jq(R.out, ".totals"));
		}
	}
	close(fd);
}
