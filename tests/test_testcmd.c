// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate test` end to end, through the real binary: pcaps written here
 * with libpcap from pkt.h frames (every encapsulation, blocked and open
 * ports, replies, fragments, exemptions in force) must get the expected
 * verdict, reason, rule and exemption per frame, in JSON and in text; the
 * live counters must not move; bad inputs must fail with exit 2 and one
 * line naming the frame, before anything runs.
 */
#include <criterion/criterion.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>

#include "pkt.h"
#include "testlib.h"

/* the binary under test; PORTGATE=... to try another build */
#define PORTGATE (getenv("PORTGATE") ?: "build/portgate")
#define CMD_MAX 40000 /* room for a 9217-byte frame in hex */

static char pin[64]; /* unique bpffs pin path: nothing else uses it */
static char tmp[64]; /* pcaps and captured output */

static void setup(void)
{
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgtc%d", getpid());
	snprintf(tmp, sizeof(tmp), "/tmp/pgtc%d.XXXXXX", getpid());
	cr_assert(mkdtemp(tmp), "mkdtemp %s", tmp);
}

/* Runs even when a test fails: no pins, no files left behind. */
static void teardown(void)
{
	char cmd[256];

	/* deleting the netns takes its veth end (and the XDP attachment) with it */
	snprintf(cmd, sizeof(cmd),
		 "ip netns del pgtc%d 2>/dev/null; ip link del pgtc%db 2>/dev/null; rm -rf '%s' "
		 "'%s'",
		 getpid(), getpid(), pin, tmp);
	if (system(cmd))
		fprintf(stderr, "teardown: '%s' failed\n", cmd);
}

TestSuite(testcmd, .init = setup, .fini = teardown);

/* A whole file as a string (empty if missing); caller frees. */
static char *slurp(const char *name)
{
	char path[128];
	char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "r");
	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	return buf;
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* `portgate --pin-path PIN ARGS`, stdout/stderr into tmp/out, tmp/err. */
static int portgate(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int portgate(const char *fmt, ...)
{
	static char args[CMD_MAX - 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return tl_sh(NULL, 0, "%s --pin-path %s %s >%s/out 2>%s/err", PORTGATE, pin, args, tmp,
		     tmp);
}

/* Policy changes go through the real CLI, like an operator's. */
static void cli(const char *args)
{
	int rc = portgate("%s", args);
	char *err = slurp("err");

	cr_assert_eq(rc, 0, "setup 'portgate %s' exited %d: %s", args, rc, err);
	free(err);
}

struct vec {
	const char *name;
	struct pkt_spec s;
	const char *verdict; /* "PASS" / "DROP" */
	const char *reason;  /* PG_REASONS display name */
	const char *rule;    /* "tcp/25", "tcp/135-139"; "-" when none is named */
	const char *exempt;  /* "PREFIX SIDE SCOPE"; "-" when not exempt */
	const char *desc;    /* must appear in the description */
};

#define V4 .ip = 4
#define V6 .ip = 6
#define TCP(port) .proto = IPPROTO_TCP, .sport = 40000, .dport = (port)
#define UDP(port) .proto = IPPROTO_UDP, .sport = 40000, .dport = (port)
#define PASS(r) "PASS", r
#define DROP(r) "DROP", r

/* Writes the frames of vecs into tmp/name with libpcap (DLT_EN10MB). */
static void write_pcap(const char *name, const struct vec *v, size_t n)
{
	static uint8_t buf[PKT_MAX];
	char path[128];
	pcap_dumper_t *d;
	pcap_t *p;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	p = pcap_open_dead(DLT_EN10MB, 65535);
	cr_assert(p);
	d = pcap_dump_open(p, path);
	cr_assert(d, "pcap_dump_open %s: %s", path, pcap_geterr(p));
	for (i = 0; i < n; i++) {
		struct pcap_pkthdr h = {.ts = {.tv_sec = 1700000000, .tv_usec = i}};

		h.caplen = h.len = pkt_build(&v[i].s, buf, sizeof(buf));
		cr_assert(h.caplen, "%s: frame does not build", v[i].name);
		pcap_dump((u_char *)d, &h, buf);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

/*
 * Runs the vectors as one pcap through `portgate test -j`, then checks
 * each frame's verdict, reason, rule, exemption and description, the
 * summary, and that the text output says the same.
 */
static void run_vectors(const char *role, const char *policy, const struct vec *v, size_t n)
{
	unsigned int i, passed = 0;
	char *out, *line, *save = NULL, *err, *text;
	char want[160];
	int rc;

	for (i = 0; i < n; i++)
		passed += !strcmp(v[i].verdict, "PASS");
	write_pcap("in.pcap", v, n);

	rc = portgate("test -j --role %s --pcap %s/in.pcap", role, tmp);
	err = slurp("err");
	cr_assert_eq(rc, 0, "portgate test -j exited %d: %s", rc, err);
	/* one line per frame: frame|verdict|reason|rule|exempt|description */
	rc = tl_sh(
		NULL, 0,
		"jq -r '.[:-1][] | [.frame, .verdict, .reason, (if .rule then \"\\(.rule.proto)/"
		"\\(.rule.port)\" + (if .rule.port_end != .rule.port then \"-\\(.rule.port_end)\" "
		"else \"\" end) else \"-\" end), (if .exempt then \"\\(.exempt.prefix) "
		"\\(.exempt.side) \\(.exempt.scope)\" else \"-\" end), .description] | "
		"map(tostring) "
		"| join(\"|\")' %s/out >%s/table && jq -r '.[-1].summary | \"\\(.frames) "
		"\\(.passed) \\(.dropped) \\(.policy)\"' %s/out >%s/summary",
		tmp, tmp, tmp, tmp);
	cr_assert_eq(rc, 0, "JSON output does not parse as the documented array");

	out = slurp("table");
	cr_assert_eq(count_lines(out), n, "%u frames in the JSON, expected %zu:\n%s",
		     count_lines(out), n, out);
	line = strtok_r(out, "\n", &save);
	for (i = 0; i < n && line; i++, line = strtok_r(NULL, "\n", &save)) {
		char *f[6] = {}, *p = line, *s2 = NULL;
		int k;

		for (k = 0; k < 6; k++, p = NULL)
			f[k] = strtok_r(p, "|", &s2);
		cr_assert(f[5], "%s: short JSON line '%s'", v[i].name, line);
		cr_expect(atoi(f[0]) == (int)i + 1, "%s: frame number %s, expected %u", v[i].name,
			  f[0], i + 1);
		cr_expect(!strcmp(f[1], v[i].verdict) && !strcmp(f[2], v[i].reason),
			  "%s: got %s %s, expected %s %s (%s)", v[i].name, f[1], f[2], v[i].verdict,
			  v[i].reason, f[5]);
		cr_expect(!strcmp(f[3], v[i].rule), "%s: rule %s, expected %s", v[i].name, f[3],
			  v[i].rule);
		cr_expect(!strcmp(f[4], v[i].exempt), "%s: exemption '%s', expected '%s'",
			  v[i].name, f[4], v[i].exempt);
		cr_expect(strstr(f[5], v[i].desc), "%s: description '%s' lacks '%s'", v[i].name,
			  f[5], v[i].desc);
	}
	free(out);

	out = slurp("summary");
	snprintf(want, sizeof(want), "%zu %u %zu %s\n", n, passed, n - passed, policy);
	cr_expect_str_eq(out, want, "summary '%s', expected '%s'", out, want);
	free(out);

	/* the text output: header, one line per frame with the same verdicts, summary */
	rc = portgate("test --role %s --pcap %s/in.pcap", role, tmp);
	cr_assert_eq(rc, 0, "portgate test exited %d", rc);
	text = slurp("out");
	snprintf(want, sizeof(want), "frames %zu, passed %u, dropped %zu\n", n, passed, n - passed);
	cr_expect(strstr(text, want), "text summary missing '%s':\n%s", want, text);
	cr_expect_eq(count_lines(text), n + 2, "text output has %u lines, expected %zu:\n%s",
		     count_lines(text), n + 2, text);
	line = strtok_r(text, "\n", &save); /* "policy: ..." */
	for (i = 0; i < n && line; i++) {
		line = strtok_r(NULL, "\n", &save);
		snprintf(want, sizeof(want), "  %s  %s: ", v[i].verdict, v[i].reason);
		cr_expect(line && atoi(line) == (int)i + 1 && strstr(line, want),
			  "%s: text line '%s' lacks frame %u and '%s'", v[i].name, line ?: "",
			  i + 1, want);
	}
	free(text);
	free(err);
}

/* Default policy (nothing pinned): inbound TCP 25/465/587/2525, UDP 161. */
static const struct vec default_vecs[] = {
	{"v4 smtp", {V4, TCP(25)}, DROP("blocked"), "tcp/25", "-", "ipv4 tcp"},
	{"v4 http open", {V4, TCP(80)}, PASS("no_match"), "-", "-", "100.64.0.10:80"},
	{"v4 snmp", {V4, UDP(161)}, DROP("blocked"), "udp/161", "-", "ipv4 udp"},
	{"v6 smtps", {V6, TCP(465)}, DROP("blocked"), "tcp/465", "-", "[2001:db8:64::10]:465"},
	{"v6 dns open", {V6, UDP(53)}, PASS("no_match"), "-", "-", "ipv6 udp"},
	{"vlan submission",
	 {V4, TCP(587), .nvlan = 1, .vid = {100}},
	 DROP("blocked"),
	 "tcp/587",
	 "-",
	 "vlan 100 ipv4"},
	{"qinq 88a8/8100 v6 2525",
	 {V6, TCP(2525), .nvlan = 2, .tpid = {0x88a8, 0x8100}, .vid = {100, 200}},
	 DROP("blocked"),
	 "tcp/2525",
	 "-",
	 "vlan 100.200 ipv6"},
	{"qinq 9100/8100 http",
	 {V4, TCP(80), .nvlan = 2, .tpid = {0x9100, 0x8100}, .vid = {7, 8}},
	 PASS("no_match"),
	 "-",
	 "-",
	 "vlan 7.8 ipv4"},
	{"pppoe smtp",
	 {V4, TCP(25), .pppoe = PKT_PPPOE_PROTO2},
	 DROP("blocked"),
	 "tcp/25",
	 "-",
	 "pppoe ipv4"},
	{"pppoe pfc v6 snmp",
	 {V6, UDP(161), .pppoe = PKT_PPPOE_PROTO1},
	 DROP("blocked"),
	 "udp/161",
	 "-",
	 "pppoe ipv6"},
	{"vlan pppoe smtp",
	 {V4, TCP(25), .nvlan = 1, .vid = {300}, .pppoe = PKT_PPPOE_PROTO2},
	 DROP("blocked"),
	 "tcp/25",
	 "-",
	 "vlan 300 pppoe ipv4"},
	{"mpls smtp", {V4, TCP(25), .mpls = 1}, DROP("blocked"), "tcp/25", "-", "mpls x1 ipv4"},
	{"mpls x3 v6 http", {V6, TCP(80), .mpls = 3}, PASS("no_match"), "-", "-", "mpls x3 ipv6"},
	{"reply from port 25",
	 {V4, .proto = IPPROTO_TCP, .sport = 25, .dport = 40000},
	 PASS("no_match"),
	 "-",
	 "-",
	 ":25 > 100.64.0.10:40000"},
	{"v4 first fragment smtp",
	 {V4, TCP(25), .more_frags = true, .payload = 100},
	 DROP("blocked"),
	 "tcp/25",
	 "-",
	 "first fragment"},
	{"v4 later fragment",
	 {V4, TCP(25), .frag_off = 100},
	 PASS("fragment_later"),
	 "-",
	 "-",
	 "later fragment"},
	{"v4 tiny first fragment",
	 {V4, TCP(25), .more_frags = true, .l4_len = 2},
	 DROP("fragment_short"),
	 "-",
	 "-",
	 "first fragment"},
	{"v4 fragment offset 1",
	 {V4, TCP(25), .frag_off = 1},
	 DROP("fragment_offset1"),
	 "-",
	 "-",
	 "ipv4"},
	{"v6 later fragment",
	 {V6, TCP(25), .next_ext = 1, .ext = {IPPROTO_FRAGMENT}, .frag_off = 10},
	 PASS("fragment_later"),
	 "-",
	 "-",
	 "later fragment"},
	{"v6 nine extension headers",
	 {V6, TCP(80), .next_ext = 9, .ext = {60, 60, 60, 60, 60, 60, 60, 60, 60}},
	 DROP("ipv6_chain_too_long"),
	 "-",
	 "-",
	 "ipv6"},
	{"arp", {.ethertype = 0x0806, .payload = 28}, PASS("not_ip"), "-", "-", "arp"},
	{"pppoe lcp",
	 {.pppoe = PKT_PPPOE_PROTO2, .ppp_proto = 0xc021, .payload = 8},
	 PASS("not_ip"),
	 "-",
	 "-",
	 "pppoe ppp lcp"},
	{"pppoe discovery",
	 {.ethertype = 0x8863, .payload = 30},
	 PASS("not_ip"),
	 "-",
	 "-",
	 "pppoe-discovery"},
	{"mpls pseudowire", {.mpls = 1, .payload = 60}, PASS("not_ip"), "-", "-", "mpls x1"},
	{"icmp", {V4, .proto = IPPROTO_ICMP}, PASS("other_l4"), "-", "-", "ipv4 icmp"},
	{"three vlan tags",
	 {V4, TCP(25), .nvlan = 3, .vid = {1, 2, 3}},
	 PASS("malformed_vlan_depth"),
	 "-",
	 "-",
	 "vlan 1.2"},
	{"ihl 4", {V4, TCP(25), .ihl = 4}, PASS("malformed_ihl"), "-", "-", "ipv4"},
	{"jumbo smtp", {V4, TCP(25), .payload = 9000}, DROP("blocked"), "tcp/25", "-", "ipv4 tcp"},
};

Test(testcmd, default_policy_uplink)
{
	struct stat sb;

	run_vectors("uplink", "default", default_vecs,
		    sizeof(default_vecs) / sizeof(default_vecs[0]));
	/* nothing was pinned by looking */
	cr_expect(stat(pin, &sb) != 0, "portgate test created %s", pin);
}

/* The default policy has no outbound rule. */
static const struct vec access_default_vecs[] = {
	{"out smtp",
	 {V4, TCP(25), .src = "100.64.0.10", .dst = "198.51.100.25"},
	 PASS("no_match"),
	 "-",
	 "-",
	 "100.64.0.10:40000 > 198.51.100.25:25"},
	{"out snmp", {V6, UDP(161)}, PASS("no_match"), "-", "-", "ipv6 udp"},
};

Test(testcmd, default_policy_access)
{
	run_vectors("access", "default", access_default_vecs,
		    sizeof(access_default_vecs) / sizeof(access_default_vecs[0]));
}

/* Live policy: set with the CLI, exemptions in force both ways. */
static void live_policy(void)
{
	cli("block tcp 8080");
	cli("block tcp 135-139");
	cli("block udp 53 --monitor");
	cli("block tcp 25 --dir out");
	cli("allow 100.64.1.0/24 --subscriber --rule tcp/25");
	cli("allow 192.0.2.0/24 --peer");
	cli("allow 2001:db8:64:1::/64 --subscriber --rule tcp/587");
	cli("allow 192.0.2.25/32 --peer --rule tcp/25 --dir out");
}

static const struct vec live_uplink_vecs[] = {
	{"smtp to exempt subscriber",
	 {V4, TCP(25), .dst = "100.64.1.7"},
	 PASS("exempt"),
	 "tcp/25",
	 "100.64.1.0/24 subscriber rule",
	 "100.64.1.7:25"},
	{"smtp to other subscriber",
	 {V4, TCP(25), .dst = "100.64.2.7"},
	 DROP("blocked"),
	 "tcp/25",
	 "-",
	 "100.64.2.7:25"},
	{"exempt subscriber, other rule",
	 {V4, TCP(465), .dst = "100.64.1.7"},
	 DROP("blocked"),
	 "tcp/465",
	 "-",
	 "100.64.1.7:465"},
	{"snmp from the NMS (peer, all rules)",
	 {V4, UDP(161), .src = "192.0.2.5"},
	 PASS("exempt"),
	 "udp/161",
	 "192.0.2.0/24 peer all",
	 "192.0.2.5:40000"},
	{"snmp from the internet",
	 {V4, UDP(161), .nvlan = 1, .vid = {10}},
	 DROP("blocked"),
	 "udp/161",
	 "-",
	 "vlan 10 ipv4"},
	{"netbios range over mpls",
	 {V4, TCP(137), .mpls = 2},
	 DROP("blocked"),
	 "tcp/135-139",
	 "-",
	 "mpls x2"},
	{"8080 over qinq",
	 {V4, TCP(8080), .nvlan = 2, .tpid = {0x88a8, 0x8100}, .vid = {1, 2}},
	 DROP("blocked"),
	 "tcp/8080",
	 "-",
	 "vlan 1.2"},
	{"dns monitored over pppoe",
	 {V4, UDP(53), .pppoe = PKT_PPPOE_PROTO2},
	 PASS("monitored"),
	 "udp/53",
	 "-",
	 "pppoe"},
	{"v6 submission to exempt /64",
	 {V6, TCP(587), .dst = "2001:db8:64:1::10"},
	 PASS("exempt"),
	 "tcp/587",
	 "2001:db8:64:1::/64 subscriber rule",
	 "[2001:db8:64:1::10]:587"},
	{"v6 submission to other /64",
	 {V6, TCP(587)},
	 DROP("blocked"),
	 "tcp/587",
	 "-",
	 "[2001:db8:64::10]:587"},
	{"exempt subscriber, later fragment",
	 {V4, TCP(25), .dst = "100.64.1.7", .frag_off = 20},
	 PASS("fragment_later"),
	 "-",
	 "-",
	 "later fragment"},
	{"http open", {V4, TCP(80)}, PASS("no_match"), "-", "-", "ipv4 tcp"},
};

static const struct vec live_access_vecs[] = {
	{"subscriber smtp to the relay",
	 {V4, TCP(25), .src = "100.64.0.10", .dst = "192.0.2.25"},
	 PASS("exempt"),
	 "tcp/25",
	 "192.0.2.25/32 peer rule",
	 "192.0.2.25:25"},
	{"subscriber smtp to the internet",
	 {V4, TCP(25), .src = "100.64.0.10", .dst = "198.51.100.25", .nvlan = 1, .vid = {5}},
	 DROP("blocked"),
	 "tcp/25",
	 "-",
	 "198.51.100.25:25"},
	{"subscriber http", {V4, TCP(80), .src = "100.64.0.10"}, PASS("no_match"), "-", "-", ":80"},
};

/* Raw per-CPU counter maps as pinned: what monitoring reads. */
static char *live_counters(const char *file)
{
	int rc = tl_sh(NULL, 0,
		       "{ bpftool -j map dump pinned %s/pg_stats && bpftool -j map dump pinned "
		       "%s/pg_rule_stats; } >%s/%s",
		       pin, pin, tmp, file);

	cr_assert_eq(rc, 0, "bpftool map dump of the pinned counters failed");
	return slurp(file);
}

Test(testcmd, live_policy_and_counters_untouched)
{
	char *before, *after, *stats_before, *stats_after;

	live_policy();
	before = live_counters("before");
	cr_assert_eq(portgate("stats -j"), 0, "portgate stats -j failed");
	stats_before = slurp("out");

	run_vectors("uplink", "live", live_uplink_vecs,
		    sizeof(live_uplink_vecs) / sizeof(live_uplink_vecs[0]));
	run_vectors("access", "live", live_access_vecs,
		    sizeof(live_access_vecs) / sizeof(live_access_vecs[0]));

	after = live_counters("after");
	cr_expect(strlen(before) > 0 && !strcmp(before, after),
		  "the pinned pg_stats/pg_rule_stats changed during portgate test");
	cr_assert_eq(portgate("stats -j"), 0, "portgate stats -j failed");
	stats_after = slurp("out");
	cr_expect_str_eq(stats_after, stats_before, "'portgate stats -j' changed:\n%s\n---\n%s",
			 stats_before, stats_after);
	free(before);
	free(after);
	free(stats_before);
	free(stats_after);
}

/* One frame as hex, bytes separated by sep ("" for a plain hex stream). */
static char *frame_hex(const struct pkt_spec *spec, size_t len_override, const char *sep)
{
	static uint8_t buf[PKT_MAX + 8];
	size_t len = len_override ? len_override : pkt_build(spec, buf, sizeof(buf)), i;
	char *hex = calloc(len, 2 + strlen(sep) + 1), *p = hex;

	cr_assert(hex && len);
	if (len_override)
		memset(buf, 0, len); /* length tests: content does not matter */
	for (i = 0; i < len; i++)
		p += sprintf(p, "%s%02x", i ? sep : "", buf[i]);
	return hex;
}

Test(testcmd, hex_and_stdin)
{
	const struct pkt_spec smtp = {V4, TCP(25)}, http = {V6, TCP(80), .nvlan = 1, .vid = {42}};
	char *a = frame_hex(&smtp, 0, ":"), *b = frame_hex(&http, 0, ""), *out;
	int rc;

	/* colon-separated bytes and a plain stream, "0x" prefix allowed */
	rc = portgate("test --hex '%s' 0x%s", a, b);
	out = slurp("out");
	cr_assert_eq(rc, 0, "portgate test --hex exited %d", rc);
	cr_expect(strstr(out, "   1  ipv4 tcp 198.51.100.10:40000 > 100.64.0.10:25"),
		  "frame 1 not described:\n%s", out);
	cr_expect(strstr(out, "DROP  blocked: rule 1 tcp/25 in drop"),
		  "frame 1 not blocked by rule 1:\n%s", out);
	cr_expect(strstr(out, "   2  vlan 42 ipv6 tcp") && strstr(out, "PASS  no_match"),
		  "frame 2 not passed:\n%s", out);
	cr_expect(strstr(out, "frames 2, passed 1, dropped 1"), "summary:\n%s", out);
	free(out);

	/* a pcap on standard input, e.g. tcpdump -w - | portgate test - */
	write_pcap("in.pcap", default_vecs, 3);
	rc = tl_sh(NULL, 0, "%s --pin-path %s test -j - <%s/in.pcap >%s/out 2>%s/err", PORTGATE,
		   pin, tmp, tmp, tmp);
	cr_assert_eq(rc, 0, "portgate test - exited %d", rc);
	rc = tl_sh(
		NULL, 0,
		"jq -e '.[0].verdict == \"DROP\" and .[1].verdict == \"PASS\" and .[2].reason == "
		"\"blocked\" and .[3].summary.frames == 3' %s/out >/dev/null",
		tmp);
	cr_expect_eq(rc, 0, "stdin pcap gave other verdicts");
	free(a);
	free(b);
}

/* A capture cut by tcpdump -s: the headers decide, the description says so. */
Test(testcmd, snaplen_cut_capture)
{
	const struct pkt_spec smtp = {V4, TCP(25), .payload = 1000};
	static uint8_t buf[PKT_MAX];
	struct pcap_pkthdr h = {.caplen = 64};
	char path[128], *out;
	pcap_dumper_t *d;
	pcap_t *p;
	int rc;

	h.len = pkt_build(&smtp, buf, sizeof(buf));
	snprintf(path, sizeof(path), "%s/cut.pcap", tmp);
	p = pcap_open_dead(DLT_EN10MB, 64);
	d = pcap_dump_open(p, path);
	cr_assert(d);
	pcap_dump((u_char *)d, &h, buf);
	pcap_dump_close(d);
	pcap_close(p);

	rc = portgate("test --pcap %s", path);
	out = slurp("out");
	cr_assert_eq(rc, 0, "portgate test exited %d", rc);
	cr_expect(strstr(out, ":25 (captured 64 of 1054 bytes)") &&
			  strstr(out, "DROP  blocked: rule 1 tcp/25 in drop"),
		  "snaplen-cut SMTP frame not blocked or not marked:\n%s", out);
	free(out);
}

/*
 * A capture from another writer: scapy builds the frames (its own idea of
 * 802.1Q, QinQ, PPPoE and MPLS, not pkt.h's) and writes the pcap.
 */
Test(testcmd, scapy_capture)
{
	static const char *const want[] = {
		"1 DROP blocked vlan 100 ipv4 tcp 198.51.100.7:51000 > 100.64.0.23:25",
		"2 PASS no_match vlan 100.200 ipv6 tcp [2001:db8:100::7]:51001 > "
		"[2001:db8:64::23]:443",
		"3 DROP blocked pppoe ipv4 udp 198.51.100.7:51002 > 100.64.0.23:161",
		"4 DROP blocked mpls x2 ipv4 tcp 198.51.100.7:51003 > 100.64.0.23:587",
		"5 PASS fragment_later ipv4 tcp 198.51.100.7 > 100.64.0.23 later fragment",
	};
	char *out, *line, *save = NULL;
	size_t i;
	int rc;

	rc = tl_sh(
		NULL, 0,
		"/usr/bin/python3 - %s/scapy.pcap >/dev/null 2>&1 <<'EOF'\n"
		"import sys\n"
		"from scapy.all import Ether, Dot1Q, Dot1AD, PPPoE, PPP, IP, IPv6, TCP, UDP, "
		"wrpcap\n"
		"from scapy.contrib.mpls import MPLS\n"
		"E = Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')\n"
		"v4 = IP(src='198.51.100.7', dst='100.64.0.23')\n"
		"wrpcap(sys.argv[1], [\n"
		"  E / Dot1Q(vlan=100) / v4 / TCP(sport=51000, dport=25),\n"
		"  E / Dot1AD(vlan=100) / Dot1Q(vlan=200) / IPv6(src='2001:db8:100::7',\n"
		"    dst='2001:db8:64::23') / TCP(sport=51001, dport=443),\n"
		"  E / PPPoE(sessionid=7) / PPP(proto=0x21) / v4 / UDP(sport=51002, dport=161),\n"
		"  Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02', type=0x8847) /\n"
		"    MPLS(label=100, s=0) / MPLS(label=200, s=1) / v4 / TCP(sport=51003, "
		"dport=587),\n"
		"  E / IP(src='198.51.100.7', dst='100.64.0.23', frag=185) / TCP(sport=51004, "
		"dport=25),\n"
		"])\n"
		"EOF",
		tmp);
	cr_assert_eq(rc, 0, "scapy could not write the capture (python3-scapy installed?)");
	rc = portgate("test -j --pcap %s/scapy.pcap", tmp);
	cr_assert_eq(rc, 0, "portgate test exited %d", rc);
	rc = tl_sh(NULL, 0,
		   "jq -r '.[:-1][] | \"\\(.frame) \\(.verdict) \\(.reason) \\(.description)\"' "
		   "%s/out >%s/table",
		   tmp, tmp);
	cr_assert_eq(rc, 0, "JSON output does not parse");
	out = slurp("table");
	line = strtok_r(out, "\n", &save);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_expect(line && !strcmp(line, want[i]),
			  "scapy frame %zu: got '%s', expected '%s'", i + 1, line ?: "(nothing)",
			  want[i]);
		line = line ? strtok_r(NULL, "\n", &save) : NULL;
	}
	cr_expect(!line, "more frames than scapy wrote: '%s'", line);
	free(out);
}

/* Bad inputs: exit 2, nothing on stdout (nothing ran), one line naming the frame. */
struct bad {
	const char *name;
	const char *args; /* @T = temp dir, @GOOD = a good frame, @H13/@H9217 = n zero bytes */
	void (*make)(void);
	const char *msg;
};

static void make_garbage(void)
{
	tl_sh(NULL, 0, "echo 'this is not a capture' >%s/bad.pcap", tmp);
}

static void make_truncated(void)
{
	write_pcap("bad.pcap", default_vecs, 3);
	tl_sh(NULL, 0, "truncate -s -10 %s/bad.pcap", tmp);
}

/* frames of the given lengths, zero-filled */
static void raw_pcap(int dlt, const unsigned int *lens, int n)
{
	static uint8_t zero[PKT_MAX + 8];
	char path[128];
	pcap_dumper_t *d;
	pcap_t *p;
	int i;

	snprintf(path, sizeof(path), "%s/bad.pcap", tmp);
	p = pcap_open_dead(dlt, 65535);
	d = pcap_dump_open(p, path);
	cr_assert(d);
	for (i = 0; i < n; i++) {
		struct pcap_pkthdr h = {.caplen = lens[i], .len = lens[i]};

		pcap_dump((u_char *)d, &h, zero);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

static void make_short(void)
{
	const unsigned int lens[] = {64, 13, 64};

	raw_pcap(DLT_EN10MB, lens, 3);
}

static void make_long(void)
{
	const unsigned int lens[] = {64, 64, 9217};

	raw_pcap(DLT_EN10MB, lens, 3);
}

static void make_raw_ip(void)
{
	const unsigned int lens[] = {64};

	raw_pcap(DLT_RAW, lens, 1);
}

static void make_empty(void)
{
	raw_pcap(DLT_EN10MB, NULL, 0);
}

static const struct bad bad_inputs[] = {
	{"missing pcap", "--pcap @T/missing.pcap", NULL, "cannot read pcap '@T/missing.pcap'"},
	{"not a pcap", "--pcap @T/bad.pcap", make_garbage, "cannot read pcap '@T/bad.pcap'"},
	{"truncated pcap", "--pcap @T/bad.pcap", make_truncated, "frame 3 unreadable"},
	{"13-byte frame", "--pcap @T/bad.pcap", make_short, "pcap frame 2: 13 bytes is shorter"},
	{"oversize frame", "--pcap @T/bad.pcap", make_long,
	 "pcap frame 3: 9217 bytes is longer than the largest frame (expected 14 to 9216 bytes)"},
	{"not ethernet", "--pcap @T/bad.pcap", make_raw_ip, "expected EN10MB (Ethernet)"},
	{"empty pcap", "--pcap @T/bad.pcap", make_empty, "holds no frames"},
	{"non-hex", "--hex @GOOD 0011zz", NULL, "hex frame 2: 'z' at offset 4"},
	{"odd hex digits", "--hex @GOOD @GOOD 001", NULL, "hex frame 3: odd number of hex digits"},
	{"13-byte hex frame", "--hex @H13", NULL, "hex frame 1: 13 bytes is shorter"},
	{"oversize hex frame", "--hex @GOOD @H9217", NULL, "hex frame 2: 9217 bytes is longer"},
	{"no input", "--role uplink", NULL, "give one input"},
	{"two inputs", "--pcap @T/x.pcap --hex @GOOD", NULL, "give one input"},
	{"bad role", "--role core --hex @GOOD", NULL, "bad role 'core': expected uplink or access"},
	{"unknown option", "--frobnicate", NULL, "unknown option '--frobnicate'"},
};

/* Expands the @ placeholders of a bad input's text. */
static char *expand(const char *s)
{
	const struct pkt_spec good = {V4, TCP(25)};
	char *out = calloc(1, CMD_MAX / 2), *p = out, *h;

	cr_assert(out);
	while (*s) {
		if (!strncmp(s, "@T", 2)) {
			p = stpcpy(p, tmp);
			s += 2;
		} else if (!strncmp(s, "@GOOD", 5)) {
			h = frame_hex(&good, 0, "");
			p = stpcpy(p, h);
			free(h);
			s += 5;
		} else if (!strncmp(s, "@H", 2)) {
			h = frame_hex(&good, strtoul(s + 2, (char **)&s, 10), "");
			p = stpcpy(p, h);
			free(h);
		} else {
			*p++ = *s++;
		}
	}
	return out;
}

Test(testcmd, bad_inputs)
{
	size_t i;

	for (i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
		const struct bad *b = &bad_inputs[i];
		char *args = expand(b->args), *msg = expand(b->msg), *out, *err;
		int rc;

		if (b->make)
			b->make();
		rc = portgate("test %s", args);
		out = slurp("out");
		err = slurp("err");
		cr_expect_eq(rc, 2, "%s: exit %d, expected 2 (usage error); stderr: %s", b->name,
			     rc, err);
		cr_expect_str_empty(out, "%s: printed before failing:\n%s", b->name, out);
		cr_expect(count_lines(err) == 1 && strstr(err, msg),
			  "%s: stderr '%s', expected one line with '%s'", b->name, err, msg);
		free(args);
		free(msg);
		free(out);
		free(err);
	}
}

/* Sends frames out of ifname with a packet socket (they arrive on its peer). */
static void send_frames(const char *ifname, const struct vec *v, size_t n)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_halen = 6};
	static uint8_t buf[PKT_MAX];
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	size_t i, len;

	cr_assert(fd >= 0, "packet socket: %m");
	ll.sll_ifindex = if_nametoindex(ifname);
	cr_assert(ll.sll_ifindex, "no interface %s", ifname);
	for (i = 0; i < n; i++) {
		len = pkt_build(&v[i].s, buf, sizeof(buf));
		cr_assert(sendto(fd, buf, len, 0, (struct sockaddr *)&ll, sizeof(ll)) ==
				  (ssize_t)len,
			  "%s: sendto %s: %m", v[i].name, ifname);
	}
	close(fd);
}

/* The live rx counter, polled until it reaches want or 5 s pass. */
static long wait_live_rx(long want)
{
	struct timespec t0, now;
	long rx = -1;
	char *out;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		cr_assert_eq(portgate("stats -j"), 0, "portgate stats -j failed");
		tl_sh(NULL, 0, "jq .totals.rx %s/out >%s/rx", tmp, tmp);
		out = slurp("rx");
		rx = atol(out);
		free(out);
		if (rx >= want)
			break;
		usleep(10000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 5);
	return rx;
}

/*
 * Attached to a real interface with real traffic counted: the live
 * counters are non-zero, and a test run of the same frames leaves them as
 * they were while giving the verdicts the live program gave.
 */
Test(testcmd, attached_counters_untouched)
{
	const size_t n = sizeof(live_uplink_vecs) / sizeof(live_uplink_vecs[0]);
	char veth[IF_NAMESIZE], *before, *after, *stats_before, *stats_after, *out;
	int rc, pid = getpid();
	long rx;

	rc = tl_sh(NULL, 0,
		   "ip netns add pgtc%d && ip link add pgtc%da type veth peer name pgtc%db && "
		   "ip link set pgtc%da netns pgtc%d && "
		   /* no IPv6 autoconf chatter: only our frames may reach the counters */
		   "sysctl -qw net.ipv6.conf.pgtc%db.disable_ipv6=1 && "
		   "ip netns exec pgtc%d sysctl -qw net.ipv6.conf.pgtc%da.disable_ipv6=1 && "
		   "ip -n pgtc%d link set pgtc%da up && ip link set pgtc%db up",
		   pid, pid, pid, pid, pid, pid, pid, pid, pid, pid, pid);
	cr_assert_eq(rc, 0, "cannot create netns/veth pgtc%d", pid);
	live_policy();
	rc = tl_sh(NULL, 0,
		   "nsenter --net=/run/netns/pgtc%d %s --pin-path %s attach pgtc%da --role uplink "
		   ">%s/out 2>%s/err",
		   pid, PORTGATE, pin, pid, tmp, tmp);
	out = slurp("err");
	cr_assert_eq(rc, 0, "portgate attach exited %d: %s", rc, out);
	free(out);

	snprintf(veth, sizeof(veth), "pgtc%db", pid);
	send_frames(veth, live_uplink_vecs, n);
	rx = wait_live_rx(n);
	cr_assert_eq(rx, (long)n, "live rx counter %ld after sending %zu frames", rx, n);
	/* what the live program did is what the test below must predict */
	for (size_t i = 0; i < n; i++) {
		size_t k, want = 0;

		for (k = 0; k < n; k++)
			want += !strcmp(live_uplink_vecs[k].reason, live_uplink_vecs[i].reason);
		tl_sh(NULL, 0, "jq '.totals.%s' %s/out >%s/count", live_uplink_vecs[i].reason, tmp,
		      tmp);
		out = slurp("count");
		cr_expect_eq(atol(out), (long)want, "live counter %s is %ld, expected %zu",
			     live_uplink_vecs[i].reason, atol(out), want);
		free(out);
	}

	before = live_counters("before");
	cr_assert_eq(portgate("stats -j"), 0);
	stats_before = slurp("out");
	run_vectors("uplink", "live", live_uplink_vecs, n);
	after = live_counters("after");
	cr_assert_eq(portgate("stats -j"), 0);
	stats_after = slurp("out");
	cr_expect(!strcmp(before, after),
		  "the pinned pg_stats/pg_rule_stats changed during portgate test");
	cr_expect_str_eq(stats_after, stats_before, "'portgate stats -j' changed:\n%s\n---\n%s",
			 stats_before, stats_after);
	free(before);
	free(after);
	free(stats_before);
	free(stats_after);
}
