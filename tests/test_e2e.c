// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * End to end: portgate attached to the lab's BNG (tools/lab.sh) between
 * real clients and servers (snmpget/snmpd, swaks/aiosmtpd, curl/http.server)
 * over IPv4 and IPv6, plus raw 802.1Q, QinQ and PPPoE frames that this
 * kernel cannot build as devices, injected with a packet socket into the
 * BNG's uplink and access veths and judged by the counters.
 *
 * One lab for the whole binary (main() below brings it up and down, also on
 * SIGINT/SIGTERM); every test starts from fresh maps (`lab.sh reset`:
 * default policy, no exemption, zero counters). Tests share the lab, so
 * they run one at a time whatever --jobs says.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pkt.h"
#include "portgate.h"
#include "testlib.h"

static char lab_sh[PATH_MAX + 16];
static char lab_id[16];
static pid_t lab_owner;

/*
 * Criterion (BoxFort) runs each test in a re-executed copy of this binary:
 * main() passes the lab to the tests through the environment.
 */
#define LAB_ENV "PG_E2E_LAB"

static const char *verdict_name(enum pg_reason r)
{
	return r >= PG_R_FIRST_DROP ? "DROP" : "PASS";
}

/* `lab.sh SUB ID ARGS...` */
static int lab(char *out, size_t cap, const char *sub, const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return tl_sh(out, cap, "%s %s %s %s", lab_sh, sub, lab_id, args);
}

/* A portgate command on the BNG that must succeed (test setup). */
static void pg(const char *fmt, ...)
{
	char args[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = lab(NULL, 0, "pg", "%s >/dev/null", args);
	cr_assert(rc == 0, "setup: portgate %s: exit %d", args, rc);
}

static const char *addr(const char *endpoint, int fam)
{
	static char buf[4][64];
	static int slot;
	char *a = buf[slot++ % 4];

	if (tl_sh(a, 64, "%s addr %s %d", lab_sh, endpoint, fam) != 0)
		cr_assert_fail("no address for endpoint %s IPv%d", endpoint, fam);
	a[strcspn(a, "\n")] = '\0';
	return a;
}

/* ---------------------------------------------------------------------
 * Sessions: a real client from one lab endpoint to another.
 */
enum outcome {
	ANSWERS,
	TIMES_OUT,
};

static const char *const outcome_word[] = {
	[ANSWERS] = "answered",
	[TIMES_OUT] = "timeout",
};

struct session {
	const char *from; /* lab endpoints: inet nms relay isp sub biz sub2 */
	const char *to;
	int fam;
	const char *client; /* snmp, smtp or http; "http:N": from local port N */
	int port;
	enum outcome want;
};

#define MAX_SESSIONS 32

/*
 * Start every session at once (a blocked one costs the client timeout),
 * then check each: "answered" or "timeout", anything else (refused, error)
 * is a lab defect and fails too.
 */
static void run_sessions(const char *step, const struct session *s, size_t n)
{
	FILE *f[MAX_SESSIONS];
	size_t i;

	cr_assert(n <= MAX_SESSIONS);
	for (i = 0; i < n; i++) {
		char cmd[sizeof(lab_sh) + 256];

		const char *lport = strchr(s[i].client, ':');
		int clen = lport ? (int)(lport - s[i].client) : (int)strlen(s[i].client);

		snprintf(cmd, sizeof(cmd), "PROBE_LPORT=%s %s probe %s %s %s %d %.*s %d 2>&1",
			 lport ? lport + 1 : "", lab_sh, lab_id, s[i].from, s[i].to, s[i].fam, clen,
			 s[i].client, s[i].port);
		f[i] = popen(cmd, "r");
		cr_assert(f[i], "popen %s", cmd);
	}
	for (i = 0; i < n; i++) {
		char got[256] = "";

		if (!fgets(got, sizeof(got), f[i]))
			strcpy(got, "(no output)");
		got[strcspn(got, "\n")] = '\0';
		pclose(f[i]);
		cr_expect(strcmp(got, outcome_word[s[i].want]) == 0,
			  "%s: %s %s -> %s %s IPv%d %s/%d: expected %s, got %s", step, s[i].from,
			  addr(s[i].from, s[i].fam), s[i].to, addr(s[i].to, s[i].fam), s[i].fam,
			  s[i].client, s[i].port, outcome_word[s[i].want], got);
	}
}

#define RUN(step, arr) run_sessions(step, arr, sizeof(arr) / sizeof(arr[0]))

/* ---------------------------------------------------------------------
 * Counters: `portgate -j stats` totals per reason, and per-rule packets.
 */
struct counters {
	unsigned long long pk[PG_R_COUNT];
	unsigned long long by[PG_R_COUNT];
};

static void read_counters(struct counters *c)
{
	char out[8192], *line, *save = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	/* {"totals": {name: packets}, "bytes": {name: bytes}, "rules": [...]} */
	rc = lab(out, sizeof(out), "pg",
		 "-j stats | jq -r '.bytes as $b | .totals | to_entries[] | "
		 "\"\\(.key) \\(.value) \\($b[.key])\"'");
	cr_assert(rc == 0, "portgate -j stats | jq: exit %d", rc);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		unsigned long long p, b;
		int r;

		if (sscanf(line, "%63s %llu %llu", name, &p, &b) != 3)
			continue;
		for (r = 0; r < PG_R_COUNT; r++) {
			if (strcmp(name, pg_reason_name(r)) == 0) {
				c->pk[r] = p;
				c->by[r] = b;
			}
		}
	}
}

/* Packets one rule (as listed by `portgate -j rules`/stats) dropped. */
static unsigned long long rule_packets(const char *dir, const char *proto, int port)
{
	char out[64];
	int rc;

	rc = lab(out, sizeof(out), "pg",
		 "-j stats | jq -r '[.rules[] | select(.dir == \"%s\" and .proto == \"%s\" and "
		 ".port == %d) | .packets] | add // 0'",
		 dir, proto, port);
	cr_assert(rc == 0, "portgate -j stats | jq: exit %d", rc);
	return strtoull(out, NULL, 10);
}

/* What a lab host's kernel says it sent (nstat, absolute, no history). */
static unsigned long long host_sent(const char *host, const char *mib)
{
	char out[256], name[64];
	unsigned long long v = 0;
	int rc;

	rc = lab(out, sizeof(out), "exec", "%s nstat -asz %s | grep -v '^#'", host, mib);
	cr_assert(rc == 0, "nstat %s in %s: exit %d", mib, host, rc);
	if (sscanf(out, "%63s %llu", name, &v) != 2)
		cr_assert_fail("nstat %s in %s: unexpected output '%s'", mib, host, out);
	return v;
}

/* SYNs and datagrams a host sent: TcpOutSegs leaves out retransmissions. */
struct sent {
	unsigned long long tcp, udp;
};

static struct sent host_sent_all(const char *host)
{
	struct sent s = {
		.tcp = host_sent(host, "TcpOutSegs") + host_sent(host, "TcpRetransSegs"),
		.udp = host_sent(host, "UdpOutDatagrams") + host_sent(host, "Udp6OutDatagrams"),
	};

	return s;
}

static int find_lab(void);

/* ---------------------------------------------------------------------
 * Fixture: fresh maps for every test.
 */
static void fresh(void)
{
	int rc;

	const char *id = getenv(LAB_ENV);

	cr_assert(id && find_lab() == 0, "the lab did not come up (see `lab.sh up` errors above)");
	snprintf(lab_id, sizeof(lab_id), "%s", id);
	rc = lab(NULL, 0, "reset", "");
	cr_assert(rc == 0, "lab.sh reset: exit %d", rc);
}

TestSuite(e2e, .init = fresh, .timeout = 120);

/* Inbound SMTP and SNMP time out, other services answer. */
Test(e2e, inbound_default_policy)
{
	static const struct session v[] = {
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT},
		{"inet", "sub", 4, "smtp", 465, TIMES_OUT},
		{"inet", "sub", 4, "smtp", 587, TIMES_OUT},
		{"inet", "sub", 4, "smtp", 2525, TIMES_OUT},
		{"inet", "sub", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 25, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 465, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 587, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 2525, TIMES_OUT},
		{"inet", "sub", 6, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 4, "http", 80, ANSWERS},
		{"inet", "sub", 6, "http", 80, ANSWERS},
		{"inet", "sub", 4, "smtp", 2526, ANSWERS}, /* not a blocked port */
		{"inet", "sub", 6, "smtp", 2526, ANSWERS},
		{"isp", "sub", 4, "snmp", 161, TIMES_OUT}, /* second uplink too */
		{"isp", "sub", 6, "smtp", 25, TIMES_OUT},
	};

	RUN("default policy", v);
}

/* The NMS polls through a peer exemption for udp/161; nobody else does. */
Test(e2e, peer_exemption_nms)
{
	static const struct session v[] = {
		{"nms", "sub", 4, "snmp", 161, ANSWERS},
		{"nms", "sub", 6, "snmp", 161, ANSWERS},
		{"nms", "biz", 4, "snmp", 161, ANSWERS},
		{"isp", "sub", 4, "snmp", 161, TIMES_OUT}, /* same host, not the NMS */
		{"isp", "sub", 6, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 6, "snmp", 161, TIMES_OUT},
		{"nms", "sub", 4, "smtp", 25, TIMES_OUT}, /* exemption is for udp/161 only */
	};

	static const struct session withdrawn[] = {
		{"nms", "sub", 4, "snmp", 161, TIMES_OUT},
		{"nms", "sub", 6, "snmp", 161, ANSWERS},
	};

	pg("allow %s --peer --rule udp/161", addr("nms", 4));
	pg("allow %s --peer --rule udp/161", addr("nms", 6));
	RUN("NMS exempt", v);
	pg("disallow %s --peer --rule udp/161", addr("nms", 4));
	RUN("IPv4 NMS exemption withdrawn", withdrawn);
}

/* A business subscriber opted out: per rule (IPv4) and for all rules (IPv6). */
Test(e2e, subscriber_exemption)
{
	static const struct session v[] = {
		{"inet", "biz", 4, "smtp", 25, ANSWERS},
		{"inet", "biz", 4, "smtp", 587, TIMES_OUT}, /* only tcp/25 exempt */
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT},  /* the neighbour is not */
		{"inet", "biz", 6, "smtp", 25, ANSWERS},
		{"inet", "biz", 6, "smtp", 587, ANSWERS}, /* all rules exempt */
		{"inet", "biz", 6, "snmp", 161, ANSWERS},
		{"inet", "sub", 6, "smtp", 587, TIMES_OUT},
	};

	pg("allow %s --subscriber --rule tcp/25", addr("biz", 4));
	pg("allow %s --subscriber", addr("biz", 6));
	RUN("subscriber exempt", v);
}

/* The subscriber's own SMTP and SNMP sessions get their replies. */
Test(e2e, outbound_sessions_get_replies)
{
	static const struct session v[] = {
		{"sub", "inet", 4, "smtp", 25, ANSWERS},  {"sub", "inet", 6, "smtp", 25, ANSWERS},
		{"sub", "inet", 4, "smtp", 587, ANSWERS}, {"sub", "inet", 6, "smtp", 587, ANSWERS},
		{"sub", "inet", 4, "snmp", 161, ANSWERS}, {"sub", "inet", 6, "snmp", 161, ANSWERS},
		{"sub", "relay", 4, "smtp", 25, ANSWERS},
	};
	struct counters c;

	RUN("outbound", v);
	read_counters(&c);
	cr_expect(c.pk[PG_R_BLOCKED] == 0, "replies to the subscriber: %llu %s, expected 0",
		  c.pk[PG_R_BLOCKED], pg_reason_name(PG_R_BLOCKED));
	cr_expect(c.pk[PG_R_NO_MATCH] > 0, "replies to the subscriber: no %s counted",
		  pg_reason_name(PG_R_NO_MATCH));
}

/* Outbound SMTP policy: port 25 only to the ISP relay. */
Test(e2e, outbound_smtp_policy)
{
	static const struct session v[] = {
		{"sub", "relay", 4, "smtp", 25, ANSWERS},
		{"sub", "relay", 6, "smtp", 25, ANSWERS},
		{"sub", "inet", 4, "smtp", 25, TIMES_OUT},
		{"sub", "inet", 6, "smtp", 25, TIMES_OUT},
		{"sub", "isp", 4, "smtp", 25, TIMES_OUT},
		{"sub", "isp", 6, "smtp", 25, TIMES_OUT},
		{"biz", "inet", 4, "smtp", 25, TIMES_OUT},
		{"sub", "inet", 4, "smtp", 587, ANSWERS},
		{"sub", "inet", 6, "smtp", 587, ANSWERS},
		{"sub", "inet", 4, "snmp", 161, ANSWERS},
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT}, /* inbound policy unchanged */
	};

	pg("block tcp 25 --dir out");
	pg("allow %s --peer --rule tcp/25 --dir out", addr("relay", 4));
	pg("allow %s --peer --rule tcp/25 --dir out", addr("relay", 6));
	RUN("outbound SMTP policy", v);
}

/* The XDP program ids on the BNG: a rule change must not re-attach. */
static void xdp_ids(char *out, size_t cap)
{
	int rc = lab(out, cap, "exec",
		     "bng ip -d link show | grep -o 'prog/xdp id [0-9]*' | tr '\\n' ' '");

	cr_assert(rc == 0 && out[0], "no XDP program on the BNG's links");
}

/* unblock tcp 587, block it again: each takes effect for the next connection. */
Test(e2e, runtime_rule_change)
{
	static const struct session blocked[] = {
		{"inet", "sub", 4, "smtp", 587, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 587, TIMES_OUT},
	};
	static const struct session open[] = {
		{"inet", "sub", 4, "smtp", 587, ANSWERS},
		{"inet", "sub", 6, "smtp", 587, ANSWERS},
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT}, /* the others stay */
		{"inet", "sub", 4, "smtp", 465, TIMES_OUT},
	};
	char before[256], after[256];

	xdp_ids(before, sizeof(before));
	RUN("default", blocked);
	pg("unblock tcp 587");
	RUN("after unblock tcp 587", open);
	pg("block tcp 587");
	RUN("after block tcp 587 again", blocked);
	xdp_ids(after, sizeof(after));
	cr_expect(strcmp(before, after) == 0, "XDP programs changed: before '%s', after '%s'",
		  before, after);
}

/* A monitor rule counts the session and lets it through. */
Test(e2e, monitor_rule)
{
	static const struct session v[] = {
		{"inet", "sub", 4, "smtp", 2526, ANSWERS},
		{"inet", "sub", 6, "smtp", 2526, ANSWERS},
	};
	unsigned long long packets;
	struct counters c;

	/* a TCP rule matches connection attempts: one SYN per session */
	pg("block tcp 2526 --monitor");
	RUN("monitor tcp/2526", v);
	read_counters(&c);
	packets = rule_packets("in", "tcp", 2526);
	cr_expect(c.pk[PG_R_BLOCKED] == 0, "monitor rule: %llu %s, expected 0", c.pk[PG_R_BLOCKED],
		  pg_reason_name(PG_R_BLOCKED));
	cr_expect(c.pk[PG_R_MONITORED] >= 2 && c.pk[PG_R_MONITORED] <= 4 &&
			  packets == c.pk[PG_R_MONITORED] && c.pk[PG_R_TCP_NOT_SYN] >= 2 * 5,
		  "%s %llu, rule tcp/2526 %llu packets, %s %llu: expected the 2 SYNs monitored, "
		  "the rest of both sessions not",
		  pg_reason_name(PG_R_MONITORED), c.pk[PG_R_MONITORED], packets,
		  pg_reason_name(PG_R_TCP_NOT_SYN), c.pk[PG_R_TCP_NOT_SYN]);

	/* --all-segments: each SMTP session, at least SYN, ACK, EHLO, MAIL, RCPT, QUIT */
	pg("unblock tcp 2526");
	pg("stats --reset");
	pg("block tcp 2526 --monitor --all-segments");
	RUN("monitor tcp/2526 --all-segments", v);
	read_counters(&c);
	packets = rule_packets("in", "tcp", 2526);
	cr_expect(c.pk[PG_R_MONITORED] >= 2 * 6 && packets == c.pk[PG_R_MONITORED],
		  "%s %llu, rule tcp/2526 %llu packets: expected equal and >= 12",
		  pg_reason_name(PG_R_MONITORED), c.pk[PG_R_MONITORED], packets);
}

/* Counters match what the clients' kernels say they sent. */
Test(e2e, counters_match_clients)
{
	static const struct session v[] = {
		{"inet", "sub", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 6, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 587, TIMES_OUT},
		{"nms", "sub", 4, "snmp", 161, ANSWERS},
		{"nms", "sub", 6, "snmp", 161, ANSWERS},
		{"nms", "sub", 4, "snmp", 161, ANSWERS},
	};
	struct sent inet0, inet1, isp0, isp1;
	unsigned long long udp161, tcp25, tcp587, tcp, udp, rx = 0, passed = 0, dropped = 0;
	struct counters c;
	int r;

	pg("allow %s --peer --rule udp/161", addr("nms", 4));
	pg("allow %s --peer --rule udp/161", addr("nms", 6));
	inet0 = host_sent_all("inet");
	isp0 = host_sent_all("isp");
	RUN("counted sessions", v);
	inet1 = host_sent_all("inet");
	isp1 = host_sent_all("isp");
	read_counters(&c);
	udp161 = rule_packets("in", "udp", 161);
	tcp25 = rule_packets("in", "tcp", 25);
	tcp587 = rule_packets("in", "tcp", 587);

	/* The internet host sent only blocked traffic, the ISP host only exempt. */
	tcp = inet1.tcp - inet0.tcp;
	udp = inet1.udp - inet0.udp;
	cr_expect(udp == 3, "internet host sent %llu SNMP requests, expected 3 (snmpget -r 0)",
		  udp);
	cr_expect(tcp >= 2, "internet host sent %llu SYNs, expected at least 2", tcp);
	cr_expect(udp161 == udp, "rule udp/161 dropped %llu, the internet host sent %llu", udp161,
		  udp);
	cr_expect(tcp25 + tcp587 == tcp,
		  "rules tcp/25 + tcp/587 dropped %llu + %llu, sent %llu SYNs", tcp25, tcp587, tcp);
	cr_expect(c.pk[PG_R_BLOCKED] == udp + tcp, "%s: %llu, the internet host sent %llu",
		  pg_reason_name(PG_R_BLOCKED), c.pk[PG_R_BLOCKED], udp + tcp);
	cr_expect(isp1.udp - isp0.udp == 3, "ISP host sent %llu SNMP requests, expected 3",
		  isp1.udp - isp0.udp);
	cr_expect(c.pk[PG_R_EXEMPT] == isp1.udp - isp0.udp, "%s: %llu, the NMS sent %llu",
		  pg_reason_name(PG_R_EXEMPT), c.pk[PG_R_EXEMPT], isp1.udp - isp0.udp);
	for (r = 0; r < PG_R_COUNT; r++) {
		rx += c.pk[r];
		if (r >= PG_R_FIRST_DROP)
			dropped += c.pk[r];
		else
			passed += c.pk[r];
	}
	cr_expect(dropped == c.pk[PG_R_BLOCKED], "dropped %llu, of which %s %llu", dropped,
		  pg_reason_name(PG_R_BLOCKED), c.pk[PG_R_BLOCKED]);
	cr_expect(rx == passed + dropped && passed > 0, "rx %llu passed %llu dropped %llu", rx,
		  passed, dropped);
}

/* ---------------------------------------------------------------------
 * Raw frames: encapsulations the lab kernel cannot build as devices.
 */
struct frame_vec {
	const char *name;
	const char *host; /* sender: inet (into up0, inbound), sub (into acc0, outbound) */
	struct pkt_spec spec;
	enum pg_reason want;
};

#define TCP(port) .proto = IPPROTO_TCP, .sport = 40000, .dport = (port)
#define UDP(port) .proto = IPPROTO_UDP, .sport = 40000, .dport = (port)
#define DOT1Q .nvlan = 1, .vid = {100}
#define QINQ .nvlan = 2, .tpid = {0x88a8, 0x8100}, .vid = {200, 100}
#define PPPOE .pppoe = PKT_PPPOE_PROTO2
/* pkt_build's default addresses are the lab's internet and home hosts. */
#define OUT4 .src = "100.64.0.10", .dst = "198.51.100.10"
#define OUT6 .src = "2001:db8:64::10", .dst = "2001:db8:100::10"

/* Policy: default, NMS exempt (udp/161), outbound SMTP only to the relay. */
static const struct frame_vec frames[] = {
	{"802.1Q IPv4 tcp/25", "inet", {DOT1Q, .ip = 4, TCP(25)}, PG_R_BLOCKED},
	{"802.1Q IPv6 tcp/587", "inet", {DOT1Q, .ip = 6, TCP(587)}, PG_R_BLOCKED},
	{"802.1Q IPv4 tcp/80", "inet", {DOT1Q, .ip = 4, TCP(80)}, PG_R_NO_MATCH},
	{"QinQ IPv4 udp/161", "inet", {QINQ, .ip = 4, UDP(161)}, PG_R_BLOCKED},
	{"QinQ IPv6 tcp/2525", "inet", {QINQ, .ip = 6, TCP(2525)}, PG_R_BLOCKED},
	{"QinQ IPv6 tcp/2526", "inet", {QINQ, .ip = 6, TCP(2526)}, PG_R_NO_MATCH},
	{"QinQ IPv4 udp/161 from the NMS",
	 "inet",
	 {QINQ, .ip = 4, .src = "192.0.2.10", UDP(161)},
	 PG_R_EXEMPT},
	{"PPPoE IPv4 tcp/465", "inet", {PPPOE, .ip = 4, TCP(465)}, PG_R_BLOCKED},
	{"PPPoE IPv6 udp/161", "inet", {PPPOE, .ip = 6, UDP(161)}, PG_R_BLOCKED},
	{"PPPoE IPv4 tcp/443", "inet", {PPPOE, .ip = 4, TCP(443)}, PG_R_NO_MATCH},
	{"PPPoE compressed protocol IPv4 tcp/25",
	 "inet",
	 {.pppoe = PKT_PPPOE_PROTO1, .ip = 4, TCP(25)},
	 PG_R_BLOCKED},
	{"802.1Q PPPoE IPv6 tcp/25", "inet", {DOT1Q, PPPOE, .ip = 6, TCP(25)}, PG_R_BLOCKED},
	{"802.1Q PPPoE IPv6 udp/161 from the NMS",
	 "inet",
	 {DOT1Q, PPPOE, .ip = 6, .src = "2001:db8:192::10", UDP(161)},
	 PG_R_EXEMPT},
	/* Outbound, as a BNG's access side sees subscribers: PPPoE. */
	{"out PPPoE IPv4 tcp/25 to the internet",
	 "sub",
	 {PPPOE, .ip = 4, OUT4, TCP(25)},
	 PG_R_BLOCKED},
	{"out PPPoE IPv6 tcp/25 to the relay",
	 "sub",
	 {PPPOE, .ip = 6, .src = "2001:db8:64::10", .dst = "2001:db8:192::25", TCP(25)},
	 PG_R_EXEMPT},
	{"out 802.1Q PPPoE IPv4 tcp/587",
	 "sub",
	 {DOT1Q, PPPOE, .ip = 4, OUT4, TCP(587)},
	 PG_R_NO_MATCH},
	{"out QinQ IPv6 udp/161", "sub", {QINQ, .ip = 6, OUT6, UDP(161)}, PG_R_NO_MATCH},
	{"out QinQ PPPoE compressed IPv6 tcp/25",
	 "sub",
	 {QINQ, .pppoe = PKT_PPPOE_PROTO1, .ip = 6, OUT6, TCP(25)},
	 PG_R_BLOCKED},
};

#define FRAME_COPIES 3

/* Send a frame COUNT times from HOST's eth0 (a child joins the netns). */
static int inject(const char *host, const uint8_t *frame, size_t len, int count)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_halen = 6};
		char path[PATH_MAX];
		int nsfd, fd, i;

		snprintf(path, sizeof(path), "/run/netns/pgl%s-%s", lab_id, host);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
			_exit(10);
		fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only */
		sll.sll_ifindex = (int)if_nametoindex("eth0");
		if (fd < 0 || !sll.sll_ifindex)
			_exit(11);
		memcpy(sll.sll_addr, frame, 6);
		for (i = 0; i < count; i++)
			if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) !=
			    (ssize_t)len)
				_exit(12);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The reasons a frame of these vectors can end with. */
static const enum pg_reason judged[] = {PG_R_BLOCKED, PG_R_NO_MATCH, PG_R_EXEMPT};

static unsigned long long judged_sum(const struct counters *c)
{
	unsigned long long s = 0;
	size_t i;

	for (i = 0; i < sizeof(judged) / sizeof(judged[0]); i++)
		s += c->pk[judged[i]];
	return s;
}

static void frames_policy(void)
{
	pg("allow %s --peer --rule udp/161", addr("nms", 4));
	pg("allow %s --peer --rule udp/161", addr("nms", 6));
	pg("block tcp 25 --dir out");
	pg("allow %s --peer --rule tcp/25 --dir out", addr("relay", 4));
	pg("allow %s --peer --rule tcp/25 --dir out", addr("relay", 6));
}

/* Each frame FRAME_COPIES times; its verdict from the reason counters. */
static void check_frames(const char *mode)
{
	size_t i, k;

	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		const struct frame_vec *v = &frames[i];
		struct counters c0, c1;
		uint8_t buf[PKT_MAX];
		double deadline;
		size_t len = pkt_build(&v->spec, buf, sizeof(buf));
		int rc;

		cr_assert(len > 0, "%s: pkt_build failed", v->name);
		read_counters(&c0);
		rc = inject(v->host, buf, len, FRAME_COPIES);
		cr_assert(rc == 0, "%s: packet socket in host %s failed (%d)", v->name, v->host,
			  rc);
		/* veth hands frames to XDP in NAPI context: poll for the count. */
		deadline = now() + 3;
		do
			read_counters(&c1);
		while (judged_sum(&c1) - judged_sum(&c0) < FRAME_COPIES && now() < deadline);

		for (k = 0; k < sizeof(judged) / sizeof(judged[0]); k++) {
			enum pg_reason r = judged[k];
			unsigned long long dp = c1.pk[r] - c0.pk[r], db = c1.by[r] - c0.by[r];
			unsigned long long wp = r == v->want ? FRAME_COPIES : 0;

			cr_expect(dp == wp && db == wp * len,
				  "%s XDP, %s (%zu bytes) x%d: expected %s (%s), got %s +%llu "
				  "packets +%llu bytes, expected +%llu/+%llu",
				  mode, v->name, len, FRAME_COPIES, pg_reason_name(v->want),
				  verdict_name(v->want), pg_reason_name(r), dp, db, wp, wp * len);
		}
	}
}

Test(e2e, raw_frames_vlan_qinq_pppoe)
{
	frames_policy();
	check_frames("native");
}

/* The same program attached in generic (skb) mode: sessions and frames. */
Test(e2e, generic_mode)
{
	static const struct session v[] = {
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT},
		{"inet", "sub", 6, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 4, "http", 80, ANSWERS},
		{"nms", "sub", 6, "snmp", 161, ANSWERS},
		{"sub", "relay", 4, "smtp", 25, ANSWERS},
		{"sub", "inet", 6, "smtp", 25, TIMES_OUT},
		{"sub", "inet", 4, "snmp", 161, ANSWERS},
	};
	char ids[256];
	int rc;

	rc = tl_sh(NULL, 0, "PG_LAB_MODE=generic %s reset %s", lab_sh, lab_id);
	cr_assert(rc == 0, "lab.sh reset in generic mode: exit %d", rc);
	rc = lab(ids, sizeof(ids), "exec", "bng ip -d link show | grep -c xdpgeneric");
	cr_assert(rc == 0 && atoi(ids) == 4, "expected 4 links in xdpgeneric mode, got %s", ids);
	frames_policy();
	check_frames("generic"); /* first: no session traffic in flight */
	RUN("generic XDP", v);
}

/* ---------------------------------------------------------------------
 * The one-NIC deployment: portgate only on the subscriber-facing NICs
 * (PG_LAB_TOPO=access: acc0 and acc1 --role access, nothing on the
 * uplinks). Inbound is judged at tc egress, outbound at XDP ingress.
 */
static void topo_access(void)
{
	char out[4096];
	int rc;

	rc = tl_sh(NULL, 0, "PG_LAB_TOPO=access %s reset %s", lab_sh, lab_id);
	cr_assert(rc == 0, "lab.sh reset with PG_LAB_TOPO=access: exit %d", rc);
	rc = lab(out, sizeof(out), "pg",
		 "-j status | jq -c '[.interfaces[] | [.ifname, .role, .filters.in, "
		 ".filters.out]] | sort'");
	cr_assert(rc == 0, "status -j: exit %d", rc);
	cr_assert(strstr(out, "[[\"acc0\",\"access\",\"tc egress\",\"xdp ingress\"],"
			      "[\"acc1\",\"access\",\"tc egress\",\"xdp ingress\"]]"),
		  "portgate on the access NICs only, both directions: %s", out);
}

/* Inbound SMTP and SNMP to subscribers blocked at the access NIC's tc egress. */
Test(e2e, one_nic_inbound)
{
	static const struct session v[] = {
		{"inet", "sub", 4, "smtp", 25, TIMES_OUT},
		{"inet", "sub", 4, "smtp", 587, TIMES_OUT},
		{"inet", "sub", 4, "smtp", 2525, TIMES_OUT},
		{"inet", "sub", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 25, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 465, TIMES_OUT},
		{"inet", "sub", 6, "snmp", 161, TIMES_OUT},
		{"isp", "sub", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub", 4, "http", 80, ANSWERS},
		{"inet", "sub", 6, "http", 80, ANSWERS},
		{"inet", "sub", 4, "smtp", 2526, ANSWERS}, /* not a blocked port */
		/* sub2: the tag of VLAN 100 in skb metadata when it leaves acc1 */
		{"inet", "sub2", 4, "snmp", 161, TIMES_OUT},
		{"inet", "sub2", 6, "smtp", 25, TIMES_OUT},
		{"inet", "sub2", 4, "http", 80, ANSWERS},
		{"inet", "sub2", 6, "http", 80, ANSWERS},
	};
	struct counters c;

	topo_access();
	RUN("one NIC, inbound", v);
	read_counters(&c);
	cr_expect(c.pk[PG_R_BLOCKED] > 0, "nothing counted as blocked");
	cr_expect(rule_packets("in", "tcp", 25) > 0 && rule_packets("in", "udp", 161) > 0,
		  "the inbound rules' counters did not move");
}

/* Hairpin: subscriber to subscriber through the BNG, judged once, inbound. */
Test(e2e, one_nic_hairpin)
{
	static const struct session v[] = {
		{"sub2", "sub", 4, "smtp", 25, TIMES_OUT}, /* leaves acc0: tc egress */
		{"sub2", "sub", 6, "snmp", 161, TIMES_OUT},
		{"sub", "sub2", 4, "smtp", 25, TIMES_OUT}, /* leaves acc1, VLAN in metadata */
		{"sub", "sub2", 6, "snmp", 161, TIMES_OUT},
		{"sub2", "sub", 4, "http", 80, ANSWERS},
		{"sub", "sub2", 6, "http", 80, ANSWERS},
		{"sub2", "sub", 6, "smtp", 2526, ANSWERS},
	};

	topo_access();
	RUN("one NIC, hairpin", v);
}

/* Outbound per policy at the access NIC's XDP ingress. */
Test(e2e, one_nic_outbound_policy)
{
	static const struct session v[] = {
		{"sub", "inet", 4, "smtp", 25, TIMES_OUT},
		{"sub", "inet", 6, "smtp", 25, TIMES_OUT},
		{"sub2", "inet", 4, "smtp", 25, TIMES_OUT},
		{"sub", "relay", 4, "smtp", 25, ANSWERS},
		{"sub", "relay", 6, "smtp", 25, ANSWERS},
		{"sub", "inet", 4, "smtp", 587, ANSWERS},
		{"sub", "inet", 6, "snmp", 161, ANSWERS}, /* udp/161 out: no rule */
		{"sub2", "inet", 4, "http", 80, ANSWERS},
	};

	topo_access();
	pg("block tcp 25 --dir out");
	pg("allow %s --peer --rule tcp/25 --dir out", addr("relay", 4));
	pg("allow %s --peer --rule tcp/25 --dir out", addr("relay", 6));
	RUN("one NIC, outbound", v);
	cr_expect(rule_packets("out", "tcp", 25) > 0, "the outbound rule's counter did not move");
}

/*
 * A subscriber's own connection from a blocked local port: its SYN-ACK and
 * every later segment come back inbound to that port. TCP rules match
 * connection attempts only, so it works while inbound connections to the
 * port are refused; with --all-segments (the old stateless matching) the
 * same connection dies.
 */
Test(e2e, one_nic_own_connection_from_blocked_port)
{
	static const struct session v[] = {
		{"sub2", "inet", 4, "http:2525", 80, ANSWERS},
		{"sub2", "inet", 6, "http:587", 80, ANSWERS},
		{"inet", "sub", 4, "smtp", 2525, TIMES_OUT},
		{"inet", "sub", 6, "smtp", 587, TIMES_OUT},
	};
	static const struct session all[] = {
		{"sub2", "inet", 4, "http:465", 80, TIMES_OUT},
	};
	struct counters c;

	topo_access();
	RUN("own connection from a blocked local port", v);
	read_counters(&c);
	cr_expect(
		c.pk[PG_R_TCP_NOT_SYN] > 0,
		"the SYN-ACK and later segments to port 2525/587 were not counted as tcp_not_syn");
	pg("block tcp 465 --all-segments");
	RUN("--all-segments drops the same kind of connection", all);
}

/* ---------------------------------------------------------------------
 * main: one lab around the whole run.
 */
static void lab_down(void)
{
	char *const argv[] = {lab_sh, "down", lab_id, NULL};
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execv(lab_sh, argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

static void on_signal(int sig)
{
	if (getpid() == lab_owner) /* not in Criterion's test workers */
		lab_down();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* tools/lab.sh of this tree: $PG_ROOT, the cwd, or ../../ of build/tests/. */
static int find_lab(void)
{
	char exe[PATH_MAX];
	const char *root = getenv("PG_ROOT");
	ssize_t n;
	int up;

	if (root) {
		snprintf(lab_sh, sizeof(lab_sh), "%s/tools/lab.sh", root);
		return access(lab_sh, X_OK);
	}
	snprintf(lab_sh, sizeof(lab_sh), "tools/lab.sh");
	if (access(lab_sh, X_OK) == 0 && realpath("tools/lab.sh", exe)) {
		snprintf(lab_sh, sizeof(lab_sh), "%s", exe);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (up = 0; up < 3; up++)
		*strrchr(exe, '/') = '\0';
	snprintf(lab_sh, sizeof(lab_sh), "%s/tools/lab.sh", exe);
	return access(lab_sh, X_OK);
}

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int ok = 0;

	if (!criterion_handle_args(argc, argv, true)) {
		criterion_finalize(tests);
		return 0;
	}
	criterion_options.jobs = 1; /* the tests share the lab */
	if (find_lab() != 0) {
		fprintf(stderr,
			"test_e2e: tools/lab.sh not found (run from the tree or set PG_ROOT)\n");
	} else if (geteuid() != 0) {
		fprintf(stderr, "test_e2e: run as root (netns, BPF, XDP)\n");
	} else {
		lab_owner = getpid();
		snprintf(lab_id, sizeof(lab_id), "%d", (int)lab_owner);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		if (tl_sh(NULL, 0, "%s up %s >&2", lab_sh, lab_id) == 0)
			setenv(LAB_ENV, lab_id, 1);
	}
	/* Without a lab every test fails in its fixture, saying why. */
	ok = criterion_run_all_tests(tests);
	if (lab_owner)
		lab_down();
	criterion_finalize(tests);
	return ok ? 0 : 1;
}
