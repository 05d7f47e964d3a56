// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate trace`, per-interface counters and the audit log.
 *
 * Frames reach the pinned program two ways: BPF_PROG_TEST_RUN on the
 * pinned prog_uplink (exact frames, no network), and live frames in a
 * private netns: a packet socket for VLAN/PPPoE frames, trafficgen
 * (BPF_F_TEST_XDP_LIVE_FRAMES) for a flood. The tracer is build/portgate
 * itself; the tests wait for its "tracing" line on stderr before sending
 * and for its exit (--count) before judging: no sleeps.
 *
 * Every test has its own pin path and netns (the pid in the names) and
 * removes them in .fini.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <linux/bpf.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "portgate.h"
#include "pkt.h"
#include "pgstats.h"
#include "testlib.h"

static char root[PATH_MAX], pin[128], ns[64], nsx[128], sock_path[128];
static int sock_fd = -1;

static void find_root(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	cr_assert(n > 0, "cannot read /proc/self/exe");
	exe[n] = '\0';
	snprintf(root, sizeof(root), "%s", dirname(dirname(dirname(exe))));
	cr_assert_eq(chdir(root), 0, "cannot chdir to %s", root);
}

/* A fresh state (default policy) at a pin path of our own; no netns. */
static void pin_setup(void)
{
	find_root();
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgtr%d", getpid());
	snprintf(nsx, sizeof(nsx), "%s", "");
	cr_assert_eq(tl_sh(NULL, 0, "build/portgate --pin-path %s block tcp 8025 >/dev/null", pin),
		     0, "cannot create the state at %s", pin);
}

static void pin_teardown(void)
{
	tl_sh(NULL, 0, "build/portgate --pin-path %s detach --all >/dev/null 2>&1; rm -rf %s", pin,
	      pin);
}

/* Plus a netns with a veth pair: frames sent on tra arrive at trb (uplink). */
static void ns_setup(void)
{
	pin_setup();
	snprintf(ns, sizeof(ns), "pgtr%d", getpid());
	snprintf(nsx, sizeof(nsx), "nsenter --net=/run/netns/%s ", ns);
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns add %s && "
			   "ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
			   "net.ipv6.conf.default.disable_ipv6=1 && "
			   "ip -n %s link add tra type veth peer name trb && "
			   "ip -n %s link set tra up && ip -n %s link set trb up",
			   ns, ns, ns, ns, ns),
		     0, "cannot create netns %s", ns);
	cr_assert_eq(tl_sh(NULL, 0,
			   "%sbuild/portgate --pin-path %s attach trb --role uplink >/dev/null",
			   nsx, pin),
		     0, "cannot attach to trb");
}

static void ns_teardown(void)
{
	tl_sh(NULL, 0, "%sbuild/portgate --pin-path %s detach --all >/dev/null 2>&1", nsx, pin);
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	pin_teardown();
}

/* ------------------------------------------------------------ the tracer */

struct tracer {
	pid_t pid;
	int out, err; /* read ends */
	char outbuf[1 << 17], errbuf[4096];
	size_t outlen, errlen;
};

/* Reads what is there (or waits up to ms) from fd into buf. 0 at EOF. */
static int drain(int fd, char *buf, size_t cap, size_t *len, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return 1;
	n = read(fd, buf + *len, cap - 1 - *len);
	if (n <= 0)
		return 0;
	*len += n;
	buf[*len] = 0;
	return 1;
}

/* `portgate trace ARGS` (in the netns if any); returns once it is tracing. */
static void tracer_start(struct tracer *t, const char *args)
{
	char cmd[1024];
	int o[2], e[2], i;

	memset(t, 0, sizeof(*t));
	snprintf(cmd, sizeof(cmd), "exec %sbuild/portgate --pin-path %s trace %s", nsx, pin, args);
	cr_assert(!pipe(o) && !pipe(e));
	t->pid = fork();
	cr_assert(t->pid >= 0);
	if (!t->pid) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]);
		close(e[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	t->out = o[0];
	t->err = e[0];
	/* its readiness line, within 20 s (a timeout, not a synchronisation) */
	for (i = 0; i < 200 && !strstr(t->errbuf, "tracing ("); i++)
		if (!drain(t->err, t->errbuf, sizeof(t->errbuf), &t->errlen, 100))
			break;
	cr_assert(strstr(t->errbuf, "tracing ("), "trace %s did not start: %s", args, t->errbuf);
}

/* Waits for the tracer's exit (after --count, or sig if > 0); the exit code. */
static int tracer_wait(struct tracer *t, int sig)
{
	int st, i;

	if (sig)
		kill(t->pid, sig);
	for (i = 0; i < 600; i++)
		if (!drain(t->out, t->outbuf, sizeof(t->outbuf), &t->outlen, 100))
			break;
	while (drain(t->err, t->errbuf, sizeof(t->errbuf), &t->errlen, 100))
		if (t->errlen + 1 >= sizeof(t->errbuf))
			break;
	if (i == 600)
		kill(t->pid, SIGKILL);
	cr_assert_eq(waitpid(t->pid, &st, 0), t->pid);
	close(t->out);
	close(t->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ------------------------------------------------------------ frames */

#define MAXF 512

struct frame {
	uint8_t b[MAXF];
	size_t len;
};

static void build(const struct pkt_spec *s, struct frame *f)
{
	f->len = pkt_build(s, f->b, sizeof(f->b));
	cr_assert(f->len, "cannot build a frame");
}

/* One frame through the pinned uplink program (its live counters). */
/* The pinned program run_pinned() runs: the uplink's XDP, or the access NIC's tc egress. */
static const char *run_prog = "prog_uplink";

static void run_pinned(const struct frame *f)
{
	char path[192];
	int fd;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len, .repeat = 1);

	snprintf(path, sizeof(path), "%s/%s", pin, run_prog);
	fd = bpf_obj_get(path);
	cr_assert(fd >= 0, "no pinned program %s", path);
	cr_assert_eq(bpf_prog_test_run_opts(fd, &o), 0, "test run: %s", strerror(errno));
	close(fd);
}

/* Frames out of tra (into trb, where portgate runs) with a packet socket. */
static void inject(const struct frame *f, int n)
{
	char path[128];
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_halen = 6};
		int nfd = open(path, O_RDONLY), s, i;

		if (nfd < 0 || setns(nfd, CLONE_NEWNET))
			_exit(2);
		s = socket(AF_PACKET, SOCK_RAW, 0);
		sa.sll_ifindex = if_nametoindex("tra");
		if (s < 0 || !sa.sll_ifindex)
			_exit(3);
		for (i = 0; i < n; i++)
			if (sendto(s, f[i].b, f[i].len, 0, (struct sockaddr *)&sa, sizeof(sa)) !=
			    (ssize_t)f[i].len)
				_exit(4);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "inject failed (%d)", WEXITSTATUS(st));
}

/* ------------------------------------------------------------ vectors */

struct vec {
	const char *name;
	struct pkt_spec s;
	/* expected in the event's JSON line */
	const char *reason, *rule_proto;
	int rule_port;
	const char *src, *dst, *subscriber;
	int sport, dport, l4proto;
	const char *desc; /* part of the description */
};

#define SUB4 "100.64.12.34"
#define PEER4 "198.51.100.10"
#define SUB6 "2001:db8:64::34"
#define PEER6 "2001:db8::10"

static const struct vec vecs[] = {
	{"ipv4 tcp/25 behind vlan 100",
	 {.nvlan = 1,
	  .vid = {100},
	  .ip = 4,
	  .src = PEER4,
	  .dst = SUB4,
	  .proto = IPPROTO_TCP,
	  .sport = 40000,
	  .dport = 25},
	 "blocked",
	 "tcp",
	 25,
	 PEER4,
	 SUB4,
	 SUB4,
	 40000,
	 25,
	 6,
	 "vlan 100 ipv4 tcp " PEER4 ":40000 > " SUB4 ":25"},
	{"ipv6 tcp/587 behind pppoe",
	 {.pppoe = PKT_PPPOE_PROTO2,
	  .ip = 6,
	  .src = PEER6,
	  .dst = SUB6,
	  .proto = IPPROTO_TCP,
	  .sport = 40001,
	  .dport = 587},
	 "blocked",
	 "tcp",
	 587,
	 PEER6,
	 SUB6,
	 SUB6,
	 40001,
	 587,
	 6,
	 "pppoe ipv6 tcp [" PEER6 "]:40001 > [" SUB6 "]:587"},
	{"ipv4 udp/161 behind qinq and pppoe",
	 {.nvlan = 2,
	  .tpid = {0x88a8, 0x8100},
	  .vid = {100, 200},
	  .pppoe = PKT_PPPOE_PROTO2,
	  .ip = 4,
	  .src = PEER4,
	  .dst = SUB4,
	  .proto = IPPROTO_UDP,
	  .sport = 40002,
	  .dport = 161},
	 "blocked",
	 "udp",
	 161,
	 PEER4,
	 SUB4,
	 SUB4,
	 40002,
	 161,
	 17,
	 "vlan 100.200 pppoe ipv4 udp " PEER4 ":40002 > " SUB4 ":161"},
	{"ipv6 tcp/25 behind vlan 7 and pppoe",
	 {.nvlan = 1,
	  .vid = {7},
	  .pppoe = PKT_PPPOE_PROTO1,
	  .ip = 6,
	  .src = PEER6,
	  .dst = SUB6,
	  .proto = IPPROTO_TCP,
	  .sport = 40003,
	  .dport = 25},
	 "blocked",
	 "tcp",
	 25,
	 PEER6,
	 SUB6,
	 SUB6,
	 40003,
	 25,
	 6,
	 "vlan 7 pppoe ipv6 tcp [" PEER6 "]:40003 > [" SUB6 "]:25"},
};
#define NV (sizeof(vecs) / sizeof(vecs[0]))

/* The JSON line of the i-th event; checks every field by name. */
static void check_event(const char *line, const struct vec *v, const char *iface)
{
	char want[256];
	const char *fields[][2] = {
		{"reason", v->reason}, {"verdict", "DROP"}, {"dir", "in"},
		{"src", v->src},       {"dst", v->dst},	    {"subscriber", v->subscriber},
		{"peer", v->src},      {"iface", iface},
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(want, sizeof(want), "\"%s\": \"%s\"", fields[i][0], fields[i][1]);
		cr_expect(strstr(line, want), "%s: expected %s in: %s", v->name, want, line);
	}
	snprintf(want, sizeof(want), "\"sport\": %d, \"dport\": %d", v->sport, v->dport);
	cr_expect(strstr(line, want), "%s: expected %s in: %s", v->name, want, line);
	snprintf(want, sizeof(want), "\"l4proto\": %d", v->l4proto);
	cr_expect(strstr(line, want), "%s: expected %s in: %s", v->name, want, line);
	snprintf(want, sizeof(want), "\"proto\": \"%s\", \"port\": %d", v->rule_proto,
		 v->rule_port);
	cr_expect(strstr(line, want), "%s: expected rule %s in: %s", v->name, want, line);
	cr_expect(strstr(line, v->desc), "%s: expected description '%s' in: %s", v->name, v->desc,
		  line);
}

/* Sends the vectors (with a passing frame first, never shown); checks the lines. */
static void vectors_through(bool live)
{
	struct frame f[NV + 1];
	struct tracer t;
	char *line, *save = NULL;
	char args[64];
	size_t i;
	int rc;

	build(&(struct pkt_spec){.ip = 4, .proto = IPPROTO_TCP, .dport = 443, .dst = SUB4}, &f[0]);
	for (i = 0; i < NV; i++)
		build(&vecs[i].s, &f[i + 1]);
	snprintf(args, sizeof(args), "-j --count %zu", NV);
	tracer_start(&t, args);
	if (live) {
		inject(f, NV + 1);
	} else {
		for (i = 0; i < NV + 1; i++)
			run_pinned(&f[i]);
	}
	rc = tracer_wait(&t, 0);
	cr_assert_eq(rc, 0, "trace exited %d: %s", rc, t.errbuf);
	cr_assert_eq(count_lines(t.outbuf), (int)NV, "expected %zu lines, got:\n%s", NV, t.outbuf);
	for (i = 0, line = strtok_r(t.outbuf, "\n", &save); line && i < NV;
	     i++, line = strtok_r(NULL, "\n", &save))
		check_event(line, &vecs[i], live ? "trb" : "lo");
	cr_expect(strstr(t.errbuf, "4 shown, 0 suppressed"), "summary: %s", t.errbuf);
}

Test(trace, test_run_frames_fields, .init = pin_setup, .fini = pin_teardown)
{
	vectors_through(false);
}

/* The tc egress program has its own copy of the hook (struct __sk_buff): same events. */
Test(trace, tc_egress_frames_fields, .init = pin_setup, .fini = pin_teardown)
{
	run_prog = "prog_access_in";
	vectors_through(false);
}

Test(trace, live_frames_fields, .init = ns_setup, .fini = ns_teardown, .timeout = 120)
{
	vectors_through(true);
}

/* ------------------------------------------------------------ filters */

Test(trace, filters_prefix_rule_exempt, .init = pin_setup, .fini = pin_teardown)
{
	struct frame f[4];
	struct tracer t;
	int rc;

	/* .35 is dropped but not ours; .34 to 25 then to 587 */
	build(&(struct pkt_spec){.ip = 4, .dst = "100.64.12.35", .proto = IPPROTO_TCP, .dport = 25},
	      &f[0]);
	build(&(struct pkt_spec){.ip = 4, .dst = SUB4, .proto = IPPROTO_TCP, .dport = 25}, &f[1]);
	build(&(struct pkt_spec){.ip = 4, .dst = SUB4, .proto = IPPROTO_TCP, .dport = 587}, &f[2]);
	build(&(struct pkt_spec){.ip = 4, .dst = SUB4, .proto = IPPROTO_TCP, .dport = 25}, &f[3]);

	tracer_start(&t, "--prefix " SUB4 " --rule tcp/25 --count 2");
	for (int i = 0; i < 4; i++)
		run_pinned(&f[i]);
	rc = tracer_wait(&t, 0);
	cr_assert_eq(rc, 0, "trace exited %d: %s", rc, t.errbuf);
	cr_expect_eq(count_lines(t.outbuf), 2, "--prefix/--rule: expected 2 lines:\n%s", t.outbuf);
	cr_expect(!strstr(t.outbuf, "100.64.12.35"), "--prefix let another address by:\n%s",
		  t.outbuf);
	cr_expect(!strstr(t.outbuf, ":587"), "--rule let another rule by:\n%s", t.outbuf);
	cr_expect(strstr(t.outbuf, "in DROP blocked rule ") &&
			  strstr(t.outbuf, " tcp/25 in drop: "),
		  "text line: %s", t.outbuf);

	/* an exempt subscriber: shown with --exempt only */
	cr_assert_eq(tl_sh(NULL, 0, "build/portgate --pin-path %s allow %s --subscriber >/dev/null",
			   pin, SUB4),
		     0);
	tracer_start(&t, "--count 1");
	run_pinned(&f[1]); /* exempt: not shown */
	run_pinned(&f[0]); /* blocked: shown */
	tracer_wait(&t, 0);
	cr_expect(strstr(t.outbuf, "100.64.12.35") && !strstr(t.outbuf, "exempt"),
		  "without --exempt: %s", t.outbuf);
	tracer_start(&t, "--exempt --count 1");
	run_pinned(&f[1]);
	tracer_wait(&t, 0);
	cr_expect(strstr(t.outbuf, "PASS exempt rule "), "with --exempt: %s", t.outbuf);
}

Test(trace, bad_arguments, .init = pin_setup, .fini = pin_teardown)
{
	static const struct {
		const char *args, *msg;
	} bad[] = {
		{"--prefix 100.64.1.300", "bad prefix '100.64.1.300'"},
		{"--rule tcp/70000", "bad port '70000'"},
		{"--rule tcp/9", "no rule covers tcp/9"},
		{"--iface nosuchif0", "bad interface 'nosuchif0'"},
		{"--rate 0", "bad rate '0'"},
		{"-j --pcap /tmp/x", "not with"},
		{"--dir out", "--dir picks the direction of --rule"},
	};
	char out[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = tl_sh(out, sizeof(out), "build/portgate --pin-path %s trace %s 2>&1", pin,
			       bad[i].args);

		cr_expect_neq(rc, 0, "trace %s: exit 0", bad[i].args);
		cr_expect(strstr(out, bad[i].msg), "trace %s: expected '%s', got: %s", bad[i].args,
			  bad[i].msg, out);
	}
}

/* ------------------------------------------------------------ pcap */

Test(trace, pcap_holds_the_frames, .init = pin_setup, .fini = pin_teardown)
{
	struct frame f[NV];
	char file[160], out[8192], err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	struct tracer t;
	pcap_t *p;
	size_t i;
	int rc;

	snprintf(file, sizeof(file), "/tmp/pgtr%d.pcap", getpid());
	for (i = 0; i < NV; i++)
		build(&vecs[i].s, &f[i]);
	/* one long frame: the pcap holds its first PG_TRACE_SNAP bytes and its length */
	f[1].len = pkt_build(&(struct pkt_spec){.ip = 6,
						.src = PEER6,
						.dst = SUB6,
						.proto = IPPROTO_TCP,
						.dport = 25,
						.payload = 400},
			     f[1].b, sizeof(f[1].b));
	cr_assert(f[1].len > PG_TRACE_SNAP);
	snprintf(out, sizeof(out), "-w %s --count %zu", file, NV);
	tracer_start(&t, out);
	for (i = 0; i < NV; i++)
		run_pinned(&f[i]);
	rc = tracer_wait(&t, 0);
	cr_assert_eq(rc, 0, "trace exited %d: %s", rc, t.errbuf);

	p = pcap_open_offline(file, err);
	cr_assert(p, "libpcap cannot open %s: %s", file, err);
	cr_expect_eq(pcap_datalink(p), DLT_EN10MB);
	for (i = 0; i < NV; i++) {
		size_t want = f[i].len < PG_TRACE_SNAP ? f[i].len : PG_TRACE_SNAP;

		cr_assert_eq(pcap_next_ex(p, &h, &d), 1, "frame %zu missing", i);
		cr_expect_eq(h->caplen, want, "frame %zu: caplen %u, expected %zu", i, h->caplen,
			     want);
		cr_expect_eq(h->len, f[i].len, "frame %zu: len %u, expected %zu", i, h->len,
			     f[i].len);
		cr_expect(!memcmp(d, f[i].b, want), "frame %zu: bytes differ from the original", i);
	}
	cr_expect_eq(pcap_next_ex(p, &h, &d), -2, "more frames than sent");
	pcap_close(p);

	/* tcpdump and scapy read it too */
	rc = tl_sh(out, sizeof(out), "tcpdump -e -nn -r %s 2>/dev/null", file);
	cr_expect_eq(rc, 0, "tcpdump -r: exit %d", rc);
	cr_expect_eq(count_lines(out), (int)NV, "tcpdump: %s", out);
	cr_expect(strstr(out, "vlan 100") && strstr(out, PEER4 ".40000 > " SUB4 ".25"),
		  "tcpdump: %s", out);
	rc = tl_sh(out, sizeof(out),
		   "/usr/bin/python3 -c \"from scapy.all import rdpcap; p = rdpcap('%s'); "
		   "print(len(p), bytes(p[0]).hex())\"",
		   file);
	cr_expect_eq(rc, 0, "scapy rdpcap: exit %d", rc);
	{
		char hex[2 * MAXF + 1] = "", want[2 * MAXF + 16];

		for (i = 0; i < f[0].len; i++)
			sprintf(hex + 2 * i, "%02x", f[0].b[i]);
		snprintf(want, sizeof(want), "%zu %s", NV, hex);
		cr_expect(!strncmp(out, want, strlen(want)), "scapy: %s\nexpected: %s", out, want);
	}
	unlink(file);
}

/* ------------------------------------------------------------ slots, lease */

static volatile struct pg_ctl *map_ctl(int *fd)
{
	char path[192];
	void *p;

	snprintf(path, sizeof(path), "%s/pg_ctl", pin);
	*fd = bpf_obj_get(path);
	cr_assert(*fd >= 0, "no %s", path);
	p = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	cr_assert(p != MAP_FAILED, "cannot map pg_ctl");
	return p;
}

Test(trace, off_after_exit_kill9_and_lease, .init = pin_setup, .fini = pin_teardown)
{
	struct frame f;
	struct tracer t[PG_TRACE_SLOTS + 1];
	volatile struct pg_ctl *ctl;
	struct pg_trace_cfg cfg = {};
	char path[192], out[1024];
	int fd, cfd, i, rc;
	__u32 slot = 2;

	ctl = map_ctl(&fd);
	build(&(struct pkt_spec){.ip = 4, .dst = SUB4, .proto = IPPROTO_TCP, .dport = 25}, &f);

	/* a clean exit switches the slot off */
	tracer_start(&t[0], "");
	cr_expect_eq(ctl->trace[0], 1, "slot 0 not on while tracing");
	rc = tracer_wait(&t[0], SIGINT);
	cr_expect_eq(rc, 0, "trace after SIGINT: exit %d (%s)", rc, t[0].errbuf);
	cr_expect_eq(*(volatile __u32 *)ctl->trace, 0, "a slot still on after the trace ended");

	/* every slot taken: the next trace is refused, naming the pids */
	for (i = 0; i < PG_TRACE_SLOTS; i++)
		tracer_start(&t[i], "");
	rc = tl_sh(out, sizeof(out), "build/portgate --pin-path %s trace 2>&1", pin);
	cr_expect_neq(rc, 0);
	cr_expect(strstr(out, "traces already run (pids"), "5th trace: %s", out);

	/* kill -9: the slot stays on, the next trace takes it over and works */
	kill(t[0].pid, SIGKILL);
	tracer_wait(&t[0], 0);
	cr_expect_eq(ctl->trace[0], 1, "killed tracer's slot is expected to stay on until reused");
	tracer_start(&t[PG_TRACE_SLOTS], "--count 1");
	run_pinned(&f);
	rc = tracer_wait(&t[PG_TRACE_SLOTS], 0);
	cr_expect(rc == 0 && count_lines(t[PG_TRACE_SLOTS].outbuf) == 1,
		  "trace on a killed tracer's slot: exit %d, %s %s", rc, t[PG_TRACE_SLOTS].outbuf,
		  t[PG_TRACE_SLOTS].errbuf);
	for (i = 1; i < PG_TRACE_SLOTS; i++)
		tracer_wait(&t[i], SIGTERM);
	cr_expect_eq(*(volatile __u32 *)ctl->trace, 0, "slots on after every trace ended");

	/* a lease that ran out (a tracer killed long ago): the next packet switches it off */
	snprintf(path, sizeof(path), "%s/pg_trace_cfg", pin);
	cfd = bpf_obj_get(path);
	cr_assert(cfd >= 0);
	cfg.lease_ns = 1;
	cfg.reasons = ~0U;
	cfg.rate = cfg.burst = 1;
	cr_assert_eq(bpf_map_update_elem(cfd, &slot, &cfg, BPF_ANY), 0);
	ctl->trace[slot] = 1;
	run_pinned(&f);
	cr_expect_eq(ctl->trace[slot], 0, "an expired lease left slot %u on", slot);
	close(cfd);
	close(fd);
}

/* ------------------------------------------------------------ flood */

/* `portgate stats -j` | jq EXPR, as a number. */
static long long stat_jq(const char *expr)
{
	char out[256];

	if (tl_sh(out, sizeof(out), "%sbuild/portgate --pin-path %s stats -j | jq -r '%s'", nsx,
		  pin, expr))
		return -1;
	return atoll(out);
}

Test(trace, rate_limit_under_flood, .init = ns_setup, .fini = ns_teardown, .timeout = 180)
{
	const long frames = 200000;
	int ncpus = libbpf_num_possible_cpus();
	struct timespec a, b;
	struct tracer t;
	long long shown, suppressed, lost, events;
	double secs, bound;
	char out[512], *p;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a);
	tracer_start(&t, "-j --rate 20 --burst 10");
	rc = tl_sh(out, sizeof(out), "%sbuild/trafficgen --dev tra --frames %ld --port 25 2>&1",
		   nsx, frames);
	cr_assert_eq(rc, 0, "trafficgen: %s", out);
	/* counted while the tracer still runs: stats shows it and its counters */
	cr_expect_eq(stat_jq(".trace.tracers"), 1);
	rc = tracer_wait(&t, SIGINT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_eq(rc, 0, "trace: %s", t.errbuf);
	secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;

	/* the data path counts every frame, traced or not */
	cr_expect_eq(stat_jq(".totals.dropped"), frames, "dropped");
	cr_expect_eq(stat_jq(".interfaces[] | select(.name == \"trb\") | .totals.dropped"), frames,
		     "per-interface dropped");
	cr_expect_eq(stat_jq(".totals.rx"), frames, "rx");

	p = strstr(t.errbuf, "trace: ");
	cr_assert(p && sscanf(p, "trace: %lld shown, %lld suppressed by the rate limit, %lld lost",
			      &shown, &suppressed, &lost) == 3,
		  "summary: %s", t.errbuf);
	events = stat_jq(".trace.events");
	/* every frame went one way: an event, suppressed, or lost to a full ring */
	cr_expect_eq(events + stat_jq(".trace.suppressed") + stat_jq(".trace.lost"), frames,
		     "events %lld + suppressed + lost != %ld", events, frames);
	cr_expect_eq(shown, events, "shown %lld, events %lld", shown, events);
	cr_expect_eq(count_lines(t.outbuf), shown);
	/* bounded: burst, then 20 per second, per CPU */
	bound = ncpus * (10 + 20 * secs);
	cr_expect(shown >= 1 && shown <= bound, "%lld events in %.1f s on %d CPUs, bound %.0f",
		  shown, secs, ncpus, bound);
	cr_expect(suppressed >= frames - bound, "suppressed %lld", suppressed);
}

/* ------------------------------------------------------------ stats */

Test(trace, per_interface_counters, .init = ns_setup, .fini = ns_teardown, .timeout = 120)
{
	struct frame f[3];
	char out[4096];

	build(&(struct pkt_spec){.ip = 4, .dst = SUB4, .proto = IPPROTO_TCP, .dport = 25}, &f[0]);
	build(&(struct pkt_spec){.ip = 4, .dst = SUB4, .proto = IPPROTO_TCP, .dport = 443}, &f[1]);
	build(&(struct pkt_spec){.ip = 6, .dst = SUB6, .proto = IPPROTO_UDP, .dport = 161}, &f[2]);
	inject(f, 3);	   /* trb */
	run_pinned(&f[0]); /* lo (test run) */
	cr_expect_eq(stat_jq(".interfaces[] | select(.name == \"trb\") | .totals.dropped"), 2);
	cr_expect_eq(stat_jq(".interfaces[] | select(.name == \"trb\") | .totals.passed"), 1);
	cr_expect_eq(stat_jq(".interfaces[] | select(.name == \"trb\") | .totals.blocked"), 2);
	cr_expect_eq(stat_jq(".interfaces[] | select(.name == \"lo\") | .totals.dropped"), 1);
	cr_expect_eq(stat_jq("[.interfaces[].totals.rx] | add"), stat_jq(".totals.rx"),
		     "interfaces do not add up to the totals");
	cr_expect_eq(stat_jq(".totals.rx"), 4);
	cr_assert_eq(tl_sh(out, sizeof(out), "%sbuild/portgate --pin-path %s stats", nsx, pin), 0);
	cr_expect(strstr(out, "INTERFACE") && strstr(out, "\ntrb "), "text: %s", out);
	/* --reset zeroes every slot */
	cr_assert_eq(tl_sh(NULL, 0, "%sbuild/portgate --pin-path %s stats --reset", nsx, pin), 0);
	cr_expect_eq(stat_jq("[.interfaces[]] | length"), 0);
}

/* ------------------------------------------------------------ audit */

static void audit_setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	ns_setup();
	snprintf(sock_path, sizeof(sock_path), "/tmp/pgtr-audit%d.sock", getpid());
	unlink(sock_path);
	strcpy(sa.sun_path, sock_path);
	sock_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	cr_assert(sock_fd >= 0 && !bind(sock_fd, (struct sockaddr *)&sa, sizeof(sa)),
		  "cannot bind %s", sock_path);
	setenv("PORTGATE_SYSLOG_SOCKET", sock_path, 1);
}

static void audit_teardown(void)
{
	if (sock_fd >= 0)
		close(sock_fd);
	unlink(sock_path);
	ns_teardown();
}

/* Every datagram waiting on the socket (they are sent before the CLI exits). */
static int audit_read(char *buf, size_t cap)
{
	size_t len = 0;
	int n = 0;
	ssize_t r;

	buf[0] = 0;
	while (len + 2 < cap && (r = recv(sock_fd, buf + len, cap - 2 - len, MSG_DONTWAIT)) > 0) {
		len += r;
		buf[len++] = '\n';
		buf[len] = 0;
		n++;
	}
	return n;
}

Test(trace, audit_lines, .init = audit_setup, .fini = audit_teardown, .timeout = 120)
{
	static const struct {
		const char *args; /* after portgate --pin-path P */
		const char *line; /* expected in the one audit line; NULL = no line */
	} cmds[] = {
		{"block tcp 8026 --dir out", "cmd=\"block tcp 8026 --dir out\" result=ok"},
		{"unblock tcp 8026 --dir out", "cmd=\"unblock tcp 8026 --dir out\" result=ok"},
		{"unblock tcp 9999", "cmd=\"unblock tcp 9999\" result=failed"},
		{"allow 192.0.2.0/24 --peer", "cmd=\"allow 192.0.2.0/24 --peer\" result=ok"},
		{"disallow 192.0.2.0/24 --peer", "cmd=\"disallow 192.0.2.0/24 --peer\" result=ok"},
		{"block tcp", "cmd=\"block tcp\" result=usage-error"},
		{"detach trb", "cmd=\"detach trb\" result=ok"},
		{"attach trb --role uplink", "cmd=\"attach trb --role uplink\" result=ok"},
		{"stats --reset", "cmd=\"stats --reset\" result=ok"},
		{"defaults", "cmd=\"defaults\" result=ok"},
		{"rules", NULL},
		{"exemptions", NULL},
		{"status", NULL},
		{"stats", NULL},
		{"test --hex 00", NULL},
		{"trace --count x", NULL},
	};
	char buf[8192];
	size_t i;
	int n;

	audit_read(buf, sizeof(buf)); /* setup's own lines */
	setenv("SUDO_USER", "alice", 1);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		tl_sh(NULL, 0, "%sbuild/portgate --pin-path %s %s >/dev/null 2>&1", nsx, pin,
		      cmds[i].args);
		n = audit_read(buf, sizeof(buf));
		if (!cmds[i].line) {
			cr_expect_eq(n, 0, "'%s' is read-only but logged: %s", cmds[i].args, buf);
			continue;
		}
		cr_expect_eq(n, 1, "'%s': %d audit lines: %s", cmds[i].args, n, buf);
		cr_expect(strstr(buf, cmds[i].line), "'%s': expected '%s' in: %s", cmds[i].args,
			  cmds[i].line, buf);
		cr_expect(strstr(buf, "portgate[") && strstr(buf, "audit: uid=0") &&
				  strstr(buf, "sudo_user=alice") && strstr(buf, pin),
			  "'%s': who/where missing: %s", cmds[i].args, buf);
		cr_expect(!strncmp(buf, "<85>", 4), "'%s': not LOG_AUTHPRIV|LOG_NOTICE: %s",
			  cmds[i].args, buf);
	}
}

/* ------------------------------------------------------------ syslog mode */

Test(trace, syslog_mode_rate_limited, .init = audit_setup, .fini = audit_teardown, .timeout = 120)
{
	struct frame f;
	char buf[16384];
	pid_t pid;
	int st, i, n = 0, lines = 0;
	char cmd[512];

	build(&(struct pkt_spec){.nvlan = 1,
				 .vid = {100},
				 .ip = 4,
				 .src = PEER4,
				 .dst = SUB4,
				 .proto = IPPROTO_TCP,
				 .sport = 40000,
				 .dport = 25},
	      &f);
	audit_read(buf, sizeof(buf));
	snprintf(cmd, sizeof(cmd),
		 "exec build/portgate --pin-path %s trace --syslog --syslog-rate 3 >/dev/null 2>&1",
		 pin);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* its "started" line says it is on (blocking read, bounded by a timeout) */
	{
		struct timeval tv = {.tv_sec = 20};
		ssize_t r;

		setsockopt(sock_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		r = recv(sock_fd, buf, sizeof(buf) - 1, 0);
		cr_assert(r > 0, "no 'started' line from trace --syslog");
		buf[r] = 0;
		cr_assert(strstr(buf, "trace: started"), "first line: %s", buf);
	}
	for (i = 0; i < 50; i++)
		run_pinned(&f);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	n = audit_read(buf, sizeof(buf));
	for (char *p = buf; (p = strstr(p, "trace: lo in DROP blocked rule ")); p++)
		lines++;
	/* 3 lines per second at most (the bucket starts full): far fewer than 50 */
	cr_expect(lines >= 1 && lines <= 6, "%d event lines for 50 drops: %s", lines, buf);
	cr_expect(strstr(buf, "vlan 100 ipv4 tcp " PEER4 ":40000 > " SUB4 ":25 len ") &&
			  strstr(buf, "subscriber " SUB4),
		  "event line: %s", buf);
	cr_expect(strstr(buf, "trace: stopped: "), "no stop line (%d lines): %s", n, buf);
	cr_expect(!strncmp(buf, "<29>", 4), "not LOG_DAEMON|LOG_NOTICE: %s", buf);
}
