// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate test` end to end, through the real binary: pcaps written here
 * with libpcap from pkt.h frames (every encapsulation, blocked and open
 * ports, replies, fragments, exemptions in force) must get the expected
 * verdict, reason, rule and exemption per frame, in JSON and in text; the
 * live counters must not move; bad inputs must fail with exit 2 and one
 * line naming the frame, before anything runs. The same frames in every
 * other link type portgate reads (Linux cooked v1/v2, raw IP, loopback,
 * PPP, Cisco HDLC, pcapng) must get the same answers; GRO super-frames get
 * the live program's verdict on the whole frame; runts are skipped and
 * the rest runs; a --config file gives its own verdicts, live untouched.
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
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
/* pcap/bpf.h clashes with linux/bpf.h (struct bpf_insn) */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "portgate.h"
#include "pgstats.h"
#include "pkt.h"
#include "testlib.h"

#define TR_MAX_FRAME 9216 /* longer frames run truncated (loader/testrun.h) */
#define BIG_MAX 65536	  /* a GRO super-frame fits */

/* the binary under test; PORTGATE=... to try another build */
#define PORTGATE (getenv("PORTGATE") ?: PG_BUILD_DIR "/portgate")
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

static void put16(uint8_t *p, unsigned int v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put16le(uint8_t *p, unsigned int v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32le(uint8_t *p, unsigned int v)
{
	put16le(p, v);
	put16le(p + 2, v >> 16);
}

/* LLC/SNAP (RFC 1042) with the Ethernet frame's ethertype. */
static size_t snap(uint8_t *out, unsigned int type)
{
	memcpy(out, "\xaa\xaa\x03\x00\x00\x00", 6);
	put16(out + 6, type);
	return 8;
}

/* What an 802.11 data frame looks like. */
enum {
	W_QOS = 1,   /* QoS data (QoS control field) */
	W_FOUR = 2,  /* four addresses (WDS/mesh): the source in address 4 */
	W_HTC = 4,   /* HT control field (order bit on a QoS frame) */
	W_PAD = 8,   /* header padded to 4 bytes (radiotap "data pad") */
	W_AMSDU = 16 /* A-MSDU: the frame in one subframe */
};

/*
 * The 802.11 data frame (from the AP: FromDS) carrying the Ethernet frame
 * eth: header, then LLC/SNAP and eth's payload.
 */
static size_t wifi_data(const uint8_t *eth, size_t len, int w, uint8_t *out)
{
	size_t h = 24;

	memset(out, 0, 64);
	out[0] = w & W_QOS ? 0x88 : 0x08; /* type data, subtype (QoS) data */
	out[1] = w & W_FOUR ? 0x03 : 0x02;
	out[1] |= w & W_HTC ? 0x80 : 0;
	memcpy(out + 4, eth, 6);			 /* receiver: the destination */
	memcpy(out + 10, "\x02\x00\x00\x00\x00\xaa", 6); /* the AP */
	memcpy(out + 16, w & W_FOUR ? eth : eth + 6, 6);
	if (w & W_FOUR) {
		memcpy(out + h, eth + 6, 6);
		h += 6;
	}
	if (w & W_QOS) {
		out[h] = w & W_AMSDU ? 0x80 : 0x00;
		h += 2 + (w & W_HTC ? 4 : 0);
	}
	if (w & W_PAD)
		h = (h + 3) & ~3U;
	if (w & W_AMSDU) {
		memcpy(out + h, eth, 12);
		put16(out + h + 12, len - 14 + 8);
		h += 14;
	}
	h += snap(out + h, eth[12] << 8 | eth[13]);
	memcpy(out + h, eth + 14, len - 14);
	return h + len - 14;
}

/* Radiotap: TSFT and Flags present; flags 0x20 says the 802.11 header is padded. */
static size_t radiotap(uint8_t flags, uint8_t *out)
{
	memset(out, 0, 18);
	put16le(out + 2, 18);
	put32le(out + 4, 0x3);
	out[16] = flags;
	return 18;
}

/*
 * The Ethernet frame eth as a capture of link type dlt would hold it
 * (what a host capturing with that link type wrote); frame i of a file.
 * Only IP frames without tags have a raw-IP, loopback or PPP form.
 */
static size_t to_link(int dlt, const uint8_t *eth, size_t len, size_t i, uint8_t *out)
{
	const uint8_t *l3 = eth + 14;
	size_t l3len = len - 14, h = 0;
	unsigned int type = eth[12] << 8 | eth[13];
	bool v6 = type == 0x86dd;

	switch (dlt) {
	case DLT_EN10MB:
		memcpy(out, eth, len);
		return len;
	case DLT_LINUX_SLL: /* pkttype, hatype, halen, address, protocol */
		memset(out, 0, 16);
		put16(out, i % 2 ? 4 : 0); /* every other frame sent by the host */
		put16(out + 2, 1);	   /* ARPHRD_ETHER */
		put16(out + 4, 6);
		memcpy(out + 6, eth + 6, 6);
		put16(out + 14, type);
		h = 16;
		break;
	case DLT_LINUX_SLL2: /* protocol, reserved, ifindex, hatype, pkttype, halen, address */
		memset(out, 0, 20);
		put16(out, type);
		out[7] = 2;
		put16(out + 8, 1);
		out[10] = i % 2 ? 4 : 0;
		out[11] = 6;
		memcpy(out + 12, eth + 6, 6);
		h = 20;
		break;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		break;
	case DLT_NULL: /* AF_INET / FreeBSD AF_INET6, the writer's (little-endian) order */
		memset(out, 0, 4);
		out[0] = v6 ? 28 : 2;
		h = 4;
		break;
	case DLT_LOOP: /* AF_INET / OpenBSD AF_INET6, network order */
		memset(out, 0, 4);
		out[3] = v6 ? 24 : 2;
		h = 4;
		break;
	case DLT_PPP: /* HDLC-like framing, 2-byte protocol */
		out[0] = 0xff;
		out[1] = 0x03;
		put16(out + 2, v6 ? 0x0057 : 0x0021);
		h = 4;
		break;
	case DLT_C_HDLC:
		out[0] = 0x0f;
		out[1] = 0x00;
		put16(out + 2, type);
		h = 4;
		break;
	case DLT_IEEE802_11: /* plain data, three addresses */
		return wifi_data(eth, len, 0, out);
	case DLT_IEEE802_11_RADIO: /* QoS data, every other frame with HT control */
		h = radiotap(0x00, out);
		return h + wifi_data(eth, len, W_QOS | (i % 2 ? W_HTC : 0), out + h);
	case DLT_PRISM_HEADER: /* 144 bytes: message code, length, device, items */
		memset(out, 0, 144);
		put32le(out, 0x44);
		put32le(out + 4, 144);
		return 144 + wifi_data(eth, len, W_QOS, out + 144);
	case DLT_IEEE802_11_RADIO_AVS: /* cookie, header length; four-address QoS data */
		memset(out, 0, 64);
		put16(out, 0x8021);
		put16(out + 2, 0x1001);
		out[7] = 64;
		return 64 + wifi_data(eth, len, W_QOS | W_FOUR, out + 64);
	case DLT_PPI: /* version, flags, length, DLT_IEEE802_11 */
		memset(out, 0, 8);
		put16le(out + 2, 8);
		put32le(out + 4, DLT_IEEE802_11);
		return 8 + wifi_data(eth, len, W_QOS | W_HTC, out + 8);
	case DLT_PKTAP: /* Apple: header length, then the frame's link type (Ethernet) */
	case DLT_USER2:
		memset(out, 0, 108);
		put32le(out, 108);
		put32le(out + 4, DLT_EN10MB);
		memcpy(out + 108, eth, len);
		return 108 + len;
	case DLT_ATM_RFC1483:
	case DLT_ATM_CLIP:
		h = snap(out, type);
		break;
	case DLT_SUNATM: /* traffic type LLC, VPI 0, VCI 32 */
		memcpy(out, "\x02\x00\x00\x20", 4);
		h = 4 + snap(out + 4, type);
		break;
	case DLT_MFR: /* one whole fragment (begin, end), then Frame Relay */
		out[0] = 0xc1;
		out[1] = 0x00;
		h = 2;
		/* fall through */
	case DLT_FRELAY: /* DLCI 100, UI; IP by NLPID, anything else by SNAP */
		out[h] = 0x18;
		out[h + 1] = 0x41;
		out[h + 2] = 0x03;
		if (type == 0x0800 || type == 0x86dd) {
			out[h + 3] = v6 ? 0x8e : 0xcc;
			h += 4;
		} else {
			memcpy(out + h + 3, "\x00\x80\x00\x00\x00", 5);
			put16(out + h + 8, type);
			h += 10;
		}
		break;
	case DLT_ARCNET_LINUX: /* RFC 1201 (every other v4 frame RFC 1051) */
		memset(out, 0, 8);
		out[0] = 1;
		out[1] = 2;
		out[4] = v6 ? 0xc4 : i % 2 ? 240 : 212;
		h = out[4] == 240 ? 5 : 8;
		break;
	case DLT_IPOIB: /* ethertype, reserved */
		put16(out, type);
		put16(out + 2, 0);
		h = 4;
		break;
	case DLT_NFLOG: /* family, version, resource; a prefix TLV, then the payload TLV */
		out[0] = v6 ? 10 : 2;
		out[1] = 0;
		put16(out + 2, 1);
		{
			uint16_t tl = 8, tt = 10;

			memcpy(out + 4, &tl, 2); /* the writer's (our) byte order */
			memcpy(out + 6, &tt, 2);
			memcpy(out + 8, "pg\0\0", 4);
			tl = 4 + l3len;
			tt = 9;
			memcpy(out + 12, &tl, 2);
			memcpy(out + 14, &tt, 2);
		}
		h = 16;
		break;
	case DLT_DSA_TAG_DSA: /* the tag between the addresses and the ethertype */
	case DLT_DSA_TAG_BRCM:
	case DLT_DSA_TAG_EDSA:
		h = dlt == DLT_DSA_TAG_EDSA ? 8 : 4;
		memcpy(out, eth, 12);
		memset(out + 12, 0x5a, h);
		memcpy(out + 12 + h, eth + 12, len - 12);
		return len + h;
	case DLT_DSA_TAG_BRCM_PREPEND:
		memset(out, 0x5a, 4);
		memcpy(out + 4, eth, len);
		return len + 4;
	case DLT_JUNIPER_MONITOR: /* "MGC", flags (in), 8-byte cookie, IP */
		memcpy(out, "MGC\x01\x00\x00\x00\x07\x00\x00\x00\x01", 12);
		h = 12;
		break;
	case DLT_JUNIPER_ATM1: /* "MGC", flags, 4-byte cookie (not OAM), LLC/SNAP */
		memcpy(out, "MGC\x01\x00\x00\x00\x2a", 8);
		h = 8 + snap(out + 8, type);
		break;
	case DLT_JUNIPER_ES: /* "MGC", flags, IPsec header (type 3: 16 bytes), IP */
		memcpy(out, "MGC\x01\x00\x01\x40\x03", 8);
		memset(out + 8, 0, 12);
		h = 20;
		break;
	case DLT_JUNIPER_ETHER: /* "MGC", flags (extensions, in), one extension TLV */
		memcpy(out, "MGC\x81\x00\x04\x01\x02\x00\x07", 10);
		memcpy(out + 10, eth, len);
		return len + 10;
	case DLT_IEEE802_15_4_NONASK_PHY: /* preamble, start of frame, length; then as below */
		memcpy(out, "\0\0\0\0\xa7", 5);
		out[5] = (uint8_t)(10 + l3len);
		h = 6;
		/* fall through */
	case DLT_IEEE802_15_4_WITHFCS:
	case DLT_IEEE802_15_4_NOFCS:
	case DLT_IEEE802_15_4_LINUX:
		/*
		 * data frame, short addresses, PAN ID compression (every other
		 * frame: long source address, no compression); uncompressed IPv6
		 */
		out[h] = i % 2 ? 0x01 : 0x41; /* frame control, little-endian */
		out[h + 1] = i % 2 ? 0xc8 : 0x88;
		out[h + 2] = (uint8_t)i;       /* sequence */
		memset(out + h + 3, 0x5a, 14); /* PAN, destination, [PAN], source */
		h += i % 2 ? 3 + 2 + 2 + 2 + 8 : 3 + 2 + 2 + 2;
		out[h++] = 0x41; /* 6LoWPAN: uncompressed IPv6 */
		break;
	default:
		cr_assert_fail("no link type %d here", dlt);
	}
	memcpy(out + h, l3, l3len);
	return h + l3len;
}

static size_t n_truncated; /* frames of the last write_pcap longer than TR_MAX_FRAME */

/* Writes the frames of vecs into tmp/name with libpcap, as link type dlt. */
static void write_pcap_link(const char *name, int dlt, const struct vec *v, size_t n)
{
	static uint8_t buf[BIG_MAX], frame[BIG_MAX + 256];
	char path[128];
	pcap_dumper_t *d;
	pcap_t *p;
	size_t i, len;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	p = pcap_open_dead(dlt, 262144);
	cr_assert(p);
	d = pcap_dump_open(p, path);
	cr_assert(d, "pcap_dump_open %s: %s", path, pcap_geterr(p));
	n_truncated = 0;
	for (i = 0; i < n; i++) {
		struct pcap_pkthdr h = {.ts = {.tv_sec = 1700000000, .tv_usec = i}};

		len = pkt_build(&v[i].s, buf, sizeof(buf));
		cr_assert(len, "%s: frame does not build", v[i].name);
		n_truncated += len > TR_MAX_FRAME;
		h.caplen = h.len = to_link(dlt, buf, len, i, frame);
		pcap_dump((u_char *)d, &h, frame);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

static void write_pcap(const char *name, const struct vec *v, size_t n)
{
	write_pcap_link(name, DLT_EN10MB, v, n);
}

/*
 * Runs the vectors as one pcap of link type dlt (link: its name, NULL for
 * Ethernet) through `portgate test -j`, then checks each frame's verdict,
 * reason, rule, exemption and description, the summary, and that the
 * text output says the same.
 */
static void run_vectors_link(const char *role, const char *policy, int dlt, const char *link,
			     const struct vec *v, size_t n)
{
	unsigned int i, passed = 0;
	char *out, *line, *save = NULL, *err, *text;
	char want[200], tail[80] = "";
	int rc;

	for (i = 0; i < n; i++)
		passed += !strcmp(v[i].verdict, "PASS");
	write_pcap_link("in.pcap", dlt, v, n);
	if (n_truncated)
		snprintf(tail, sizeof(tail), ", truncated %zu", n_truncated);
	if (link)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), ", re-framed from %s",
			 link);

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
		"\\(.passed) \\(.dropped) \\(.policy) \\(.truncated) \\(.reframed) "
		"\\(.link_type)\"' %s/out >%s/summary",
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
	snprintf(want, sizeof(want), "%zu %u %zu %s %zu %s %s\n", n, passed, n - passed, policy,
		 n_truncated, link ? "true" : "false", link ?: "EN10MB");
	cr_expect_str_eq(out, want, "summary '%s', expected '%s'", out, want);
	free(out);

	/* the text output: header, one line per frame with the same verdicts, summary */
	rc = portgate("test --role %s --pcap %s/in.pcap", role, tmp);
	cr_assert_eq(rc, 0, "portgate test exited %d", rc);
	text = slurp("out");
	snprintf(want, sizeof(want), "frames %zu, passed %u, dropped %zu%s\n", n, passed,
		 n - passed, tail);
	cr_expect(strstr(text, want), "text summary missing '%s':\n%s", want, text);
	cr_expect_eq(count_lines(text), n + 2 + !!link,
		     "text output has %u lines, expected %zu:\n%s", count_lines(text),
		     n + 2 + !!link, text);
	line = strtok_r(text, "\n", &save); /* "policy: ..." */
	if (link) {
		line = strtok_r(NULL, "\n", &save);
		cr_expect(line && !strncmp(line, "input: ", 7) && strstr(line, link) &&
				  strstr(line, "re-framed"),
			  "%s: no 'input: %s ... re-framed' line: '%s'", link, link, line ?: "");
	}
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

static void run_vectors(const char *role, const char *policy, const struct vec *v, size_t n)
{
	run_vectors_link(role, policy, DLT_EN10MB, NULL, v, n);
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

/* --hook tc: the access interface's tc egress program judges inbound frames. */
Test(testcmd, hook_tc)
{
	const struct pkt_spec syn = {V4, TCP(25), .nvlan = 1, .vid = {100}},
			      ack = {V4, TCP(25), .tcp_flags = PKT_TCP_FLAGS(0x10)},
			      synack = {V4, TCP(2525), .tcp_flags = PKT_TCP_FLAGS(0x12)},
			      snmp = {V4, .proto = IPPROTO_UDP, .sport = 40000, .dport = 161};
	char *a = frame_hex(&syn, 0, ""), *b = frame_hex(&ack, 0, ""),
	     *c = frame_hex(&synack, 0, ""), *d = frame_hex(&snmp, 0, ""), *out;
	int rc;

	rc = portgate("test --hook tc --hex %s %s %s %s", a, b, c, d);
	out = slurp("out");
	cr_assert_eq(rc, 0, "portgate test --hook tc exited %d", rc);
	cr_expect(strstr(out, "role access, tc egress (inbound)"), "header:\n%s", out);
	cr_expect(strstr(out, "DROP  blocked: rule 1 tcp/25 in drop"), "frame 1:\n%s", out);
	cr_expect(strstr(out, "PASS  tcp_not_syn"), "frames 2, 3 (not SYN):\n%s", out);
	cr_expect(strstr(out, "frames 4, passed 2, dropped 2"), "summary:\n%s", out);
	free(out);
	cr_expect_eq(portgate("test --hook tc --role uplink --hex %s", a), 2,
		     "--hook tc on an uplink must be refused");
	cr_expect_eq(portgate("test --hook bpf --hex %s", a), 2, "bad hook accepted");
	free(a);
	free(b);
	free(c);
	free(d);
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

/*
 * Every link type portgate re-frames: the default vectors that the link
 * type can carry, written as a capture of that type, must get the answers
 * they get as Ethernet, and the output must say they were re-framed.
 */
static const struct {
	int dlt;
	const char *name;
	int ip;	  /* 4/6: only that family; 0: both */
	bool any; /* carries any ethertype (tags, PPPoE, MPLS, ARP) */
} link_cases[] = {
	{DLT_LINUX_SLL, "LINUX_SLL", 0, true},
	{DLT_LINUX_SLL2, "LINUX_SLL2", 0, true},
	{DLT_RAW, "RAW", 0, false},
	{DLT_IPV4, "IPV4", 4, false},
	{DLT_IPV6, "IPV6", 6, false},
	{DLT_NULL, "NULL", 0, false},
	{DLT_LOOP, "LOOP", 0, false},
	{DLT_PPP, "PPP", 0, false},
	{DLT_C_HDLC, "C_HDLC", 0, false},
	{DLT_IEEE802_11, "IEEE802_11", 0, true},
	{DLT_IEEE802_11_RADIO, "IEEE802_11_RADIO", 0, true},
	{DLT_PRISM_HEADER, "PRISM_HEADER", 0, true},
	{DLT_IEEE802_11_RADIO_AVS, "IEEE802_11_RADIO_AVS", 0, true},
	{DLT_PPI, "PPI", 0, true},
	{DLT_PKTAP, "PKTAP", 0, true},
	{DLT_USER2, "USER2 (PKTAP)", 0, true},
	{DLT_ATM_RFC1483, "ATM_RFC1483", 0, true},
	{DLT_ATM_CLIP, "ATM_CLIP", 0, true},
	{DLT_SUNATM, "SUNATM", 0, true},
	{DLT_FRELAY, "FRELAY", 0, true},
	{DLT_MFR, "MFR", 0, true},
	{DLT_ARCNET_LINUX, "ARCNET_LINUX", 0, false},
	{DLT_IPOIB, "IPOIB", 0, true},
	{DLT_NFLOG, "NFLOG", 0, false},
	{DLT_DSA_TAG_DSA, "DSA_TAG_DSA", 0, true},
	{DLT_DSA_TAG_EDSA, "DSA_TAG_EDSA", 0, true},
	{DLT_DSA_TAG_BRCM, "DSA_TAG_BRCM", 0, true},
	{DLT_DSA_TAG_BRCM_PREPEND, "DSA_TAG_BRCM_PREPEND", 0, true},
	{DLT_JUNIPER_ETHER, "JUNIPER_ETHER", 0, true},
	{DLT_JUNIPER_MONITOR, "JUNIPER_MONITOR", 0, false},
	{DLT_JUNIPER_ATM1, "JUNIPER_ATM1", 0, true},
	{DLT_JUNIPER_ES, "JUNIPER_ES", 0, false},
	{DLT_IEEE802_15_4_WITHFCS, "IEEE802_15_4", 6, false},
	{DLT_IEEE802_15_4_NOFCS, "IEEE802_15_4_NOFCS", 6, false},
	{DLT_IEEE802_15_4_LINUX, "IEEE802_15_4_LINUX", 6, false},
	{DLT_IEEE802_15_4_NONASK_PHY, "IEEE802_15_4_NONASK_PHY", 6, false},
};

Test(testcmd, link_types)
{
	const size_t nd = sizeof(default_vecs) / sizeof(default_vecs[0]);
	struct vec sub[sizeof(default_vecs) / sizeof(default_vecs[0])];
	static char names[sizeof(default_vecs) / sizeof(default_vecs[0])][96];
	size_t c, i, n;
	int rc;

	for (c = 0; c < sizeof(link_cases) / sizeof(link_cases[0]); c++) {
		for (i = n = 0; i < nd; i++) {
			const struct pkt_spec *s = &default_vecs[i].s;
			bool plain = !s->nvlan && !s->mpls && !s->pppoe && !s->ethertype && s->ip;

			if (!(link_cases[c].any || plain) ||
			    (link_cases[c].ip && link_cases[c].ip != s->ip))
				continue;
			/* failures name the link type and the vector */
			snprintf(names[n], sizeof(names[n]), "%s: %s", link_cases[c].name,
				 default_vecs[i].name);
			sub[n] = default_vecs[i];
			sub[n].name = names[n];
			n++;
		}
		cr_assert(n >= 3, "%s: only %zu vectors", link_cases[c].name, n);
		run_vectors_link("uplink", "default", link_cases[c].dlt, link_cases[c].name, sub,
				 n);
		if (link_cases[c].dlt != DLT_LINUX_SLL && link_cases[c].dlt != DLT_LINUX_SLL2)
			continue;
		/* cooked captures say which frames the capturing host sent (every other one) */
		rc = tl_sh(
			NULL, 0,
			"portgate=%s; $portgate --pin-path %s test -j --pcap %s/in.pcap | jq -e "
			"'[.[:-1][] | .outgoing] | . == [range(length) | . %% 2 == 1]' >/dev/null",
			PORTGATE, pin, tmp);
		cr_expect_eq(rc, 0, "%s: outgoing frames not marked", link_cases[c].name);
	}
}

/*
 * 802.11 as a monitor-mode capture holds it (radiotap): data frames run
 * as the Ethernet frames they carry (QoS, padded header, A-MSDU); every
 * frame that carries no readable IP is reported in its place, saying
 * which kind, and the rest runs. --strict refuses such a capture.
 */
static const struct {
	const char *name;
	struct pkt_spec s; /* the frame carried, for data frames */
	int w;		   /* W_* of the data frame; -1: fc below, no payload */
	uint8_t fc0, fc1;  /* frame control of the other frames */
	const char *want;  /* the text line's tail */
} wifi_vecs[] = {
	{"beacon", {}, -1, 0x80, 0x00, "skipped: 802.11 management frame, no IP"},
	{"qos data smtp", {V4, TCP(25)}, W_QOS, 0, 0, "DROP  blocked: rule 1 tcp/25 in drop"},
	{"ack", {}, -1, 0xd4, 0x00, "skipped: 802.11 control frame, no IP"},
	{"protected qos data",
	 {},
	 -1,
	 0x88,
	 0x42,
	 "skipped: 802.11 protected frame (encrypted), no readable IP"},
	{"qos null", {}, -1, 0xc8, 0x01, "skipped: 802.11 null data frame, no IP"},
	{"padded qos data v6 submission",
	 {V6, TCP(587)},
	 W_QOS | W_PAD,
	 0,
	 0,
	 "DROP  blocked: rule 3 tcp/587 in drop"},
	{"a-msdu snmp", {V4, UDP(161)}, W_QOS | W_AMSDU, 0, 0, "DROP  blocked: rule 5 udp/161"},
	{"four-address http", {V4, TCP(80)}, W_QOS | W_FOUR, 0, 0, "PASS  no_match"},
	{"probe request", {}, -1, 0x40, 0x00, "skipped: 802.11 management frame, no IP"},
};

Test(testcmd, wifi_frames_skipped)
{
	const size_t n = sizeof(wifi_vecs) / sizeof(wifi_vecs[0]);
	static uint8_t eth[PKT_MAX], frame[PKT_MAX + 256];
	char path[128], want[160], *out, *err;
	pcap_dumper_t *d;
	pcap_t *p;
	size_t i, h;
	int rc;

	snprintf(path, sizeof(path), "%s/wifi.pcap", tmp);
	p = pcap_open_dead(DLT_IEEE802_11_RADIO, 65535);
	d = pcap_dump_open(p, path);
	cr_assert(d);
	for (i = 0; i < n; i++) {
		struct pcap_pkthdr ph = {};

		h = radiotap(wifi_vecs[i].w >= 0 && wifi_vecs[i].w & W_PAD ? 0x20 : 0, frame);
		if (wifi_vecs[i].w >= 0) {
			size_t len = pkt_build(&wifi_vecs[i].s, eth, sizeof(eth));

			cr_assert(len, "%s: frame does not build", wifi_vecs[i].name);
			h += wifi_data(eth, len, wifi_vecs[i].w, frame + h);
		} else {
			memset(frame + h, 0, 40);
			frame[h] = wifi_vecs[i].fc0;
			frame[h + 1] = wifi_vecs[i].fc1;
			h += 40;
		}
		ph.caplen = ph.len = h;
		pcap_dump((u_char *)d, &ph, frame);
	}
	pcap_dump_close(d);
	pcap_close(p);

	rc = portgate("test --pcap %s", path);
	out = slurp("out");
	err = slurp("err");
	cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
	for (i = 0; i < n; i++) {
		char *at;

		snprintf(want, sizeof(want), "\n%4zu  ", i + 1);
		at = strstr(out, want);
		cr_expect(at && strstr(at, wifi_vecs[i].want) &&
				  strstr(at, wifi_vecs[i].want) < strchr(at + 1, '\n'),
			  "%s: frame %zu lacks '%s':\n%s", wifi_vecs[i].name, i + 1,
			  wifi_vecs[i].want, out);
	}
	cr_expect(strstr(out, "\nframes 4, passed 1, dropped 3, skipped 5, re-framed from "
			      "IEEE802_11_RADIO\n"),
		  "summary:\n%s", out);
	free(out);
	free(err);

	rc = portgate("test -j --pcap %s", path);
	cr_assert_eq(rc, 0);
	rc = tl_sh(NULL, 0,
		   "jq -e '[.[:-1][] | .verdict] == [\"SKIP\", \"DROP\", \"SKIP\", \"SKIP\", "
		   "\"SKIP\", \"DROP\", \"DROP\", \"PASS\", \"SKIP\"] and .[0].why == \"802.11 "
		   "management frame, no IP\" and .[-1].summary.skipped == 5' %s/out >/dev/null",
		   tmp);
	cr_expect_eq(rc, 0, "JSON does not list the 802.11 frames");

	rc = portgate("test --strict --pcap %s", path);
	err = slurp("err");
	cr_expect(rc == 2 && count_lines(err) == 1 &&
			  strstr(err, "frame 1: 802.11 management frame, no IP (--strict"),
		  "--strict: exit %d, stderr '%s'", rc, err);
	free(err);
}

/*
 * Captures from another writer: scapy's own Linux cooked v1/v2 headers
 * and a pcapng file (what Wireshark and newer tcpdump write).
 */
Test(testcmd, scapy_cooked_and_pcapng)
{
	static const struct {
		const char *file, *link;
	} files[] = {
		{"sll.pcap", "LINUX_SLL"},
		{"sll2.pcap", "LINUX_SLL2"},
		{"eth.pcapng", "EN10MB"},
	};
	char *out;
	size_t i;
	int rc;

	rc = tl_sh(
		NULL, 0,
		"/usr/bin/python3 - %s >/dev/null 2>&1 <<'EOF'\n"
		"import sys\n"
		"from scapy.all import Ether, Dot1Q, CookedLinux, CookedLinuxV2, IP, IPv6, TCP, UDP, "
		"wrpcap, wrpcapng\n"
		"d = sys.argv[1]\n"
		"v4 = IP(src='198.51.100.7', dst='100.64.0.23')\n"
		"v6 = IPv6(src='2001:db8:100::7', dst='2001:db8:64::23')\n"
		"l3 = [v4 / TCP(sport=51000, dport=25), v6 / TCP(sport=51001, dport=443),\n"
		"      v4 / UDP(sport=51002, dport=161)]\n"
		"wrpcap(d + '/sll.pcap', [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6,\n"
		"    src=b'\\x02\\0\\0\\0\\0\\x01\\0\\0', proto=0x800 if p.version == 4 else 0x86dd) "
		"/ p for p in l3])\n"
		"wrpcap(d + '/sll2.pcap', [CookedLinuxV2(pkttype=0, lladdrtype=1, lladdrlen=6,\n"
		"    proto=0x800 if p.version == 4 else 0x86dd) / p for p in l3])\n"
		"E = Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')\n"
		"wrpcapng(d + '/eth.pcapng', [E / p for p in l3])\n"
		"EOF",
		tmp);
	cr_assert_eq(rc, 0, "scapy could not write the captures (python3-scapy installed?)");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		rc = portgate("test -j --pcap %s/%s", tmp, files[i].file);
		out = slurp("err");
		cr_assert_eq(rc, 0, "%s: exit %d: %s", files[i].file, rc, out);
		free(out);
		rc = tl_sh(NULL, 0,
			   "jq -r '(.[:-1][] | \"\\(.frame) \\(.verdict) \\(.reason) "
			   "\\(.description)\"), (.[-1].summary | \"\\(.link_type) \\(.frames)\")' "
			   "%s/out >%s/table",
			   tmp, tmp);
		cr_assert_eq(rc, 0, "%s: JSON output does not parse", files[i].file);
		out = slurp("table");
		cr_expect(strstr(out,
				 "1 DROP blocked ipv4 tcp 198.51.100.7:51000 > 100.64.0.23:25\n") &&
				  strstr(out, "2 PASS no_match ipv6 tcp [2001:db8:100::7]:51001 > "
					      "[2001:db8:64::23]:443\n") &&
				  strstr(out, "3 DROP blocked ipv4 udp 198.51.100.7:51002 > "
					      "100.64.0.23:161\n"),
			  "%s: other verdicts:\n%s", files[i].file, out);
		cr_expect(strstr(out, files[i].link) && strstr(out, " 3\n"),
			  "%s: summary not %s with 3 frames:\n%s", files[i].file, files[i].link,
			  out);
		free(out);
	}
}

/*
 * GRO/TSO super-frames (what a capture on a Linux host holds): run on
 * their first TR_MAX_FRAME bytes, marked as such, and the verdict is the
 * one the live program gives for the whole frame, checked by running the
 * whole frame through the pinned (frags-aware) program where the kernel
 * can. A 9000-byte jumbo frame runs whole.
 */
static const struct vec gro_vecs[] = {
	{"gro v4 smtp",
	 {V4, TCP(25), .payload = 64000},
	 DROP("blocked"),
	 "tcp/25",
	 "-",
	 ":25 (truncated to 9216 of 64054 bytes)"},
	{"gro v6 https",
	 {V6, TCP(443), .payload = 64000},
	 PASS("no_match"),
	 "-",
	 "-",
	 ":443 (truncated to 9216 of 64074 bytes)"},
	{"gro v4 smtp to exempt subscriber",
	 {V4, TCP(25), .dst = "100.64.1.7", .payload = 60000},
	 PASS("exempt"),
	 "tcp/25",
	 "100.64.1.0/24 subscriber rule",
	 "(truncated to 9216 of"},
	{"gro vlan dns monitored",
	 {V4, UDP(53), .nvlan = 1, .vid = {10}, .payload = 50000},
	 PASS("monitored"),
	 "udp/53",
	 "-",
	 "vlan 10 ipv4 udp"},
	{"gro pppoe v6 submission",
	 {V6, TCP(587), .pppoe = PKT_PPPOE_PROTO2, .payload = 64000},
	 DROP("blocked"),
	 "tcp/587",
	 "-",
	 "pppoe ipv6 tcp"},
	{"jumbo 8080 runs whole",
	 {V4, TCP(8080), .payload = 9000 - 54},
	 DROP("blocked"),
	 "tcp/8080",
	 "-",
	 "100.64.0.10:8080"},
};

/* Sum of the pinned per-CPU reason counters. */
static void pinned_reasons(int fd, __u64 out[PG_R_COUNT])
{
	struct pg_stats total;
	int r;

	cr_assert(pg_stats_read_sum(fd, libbpf_num_possible_cpus(), NULL, NULL, &total) == 0,
		  "cannot read pinned pg_stats");
	for (r = 0; r < PG_R_COUNT; r++)
		out[r] = total.reason[r].packets;
}

Test(testcmd, gro_super_frames)
{
	const size_t n = sizeof(gro_vecs) / sizeof(gro_vecs[0]);
	static uint8_t buf[BIG_MAX];
	char path[128];
	int prog, stats;
	size_t i;

	live_policy();
	/* as Ethernet and as Linux cooked (tcpdump -i any on a GRO host) */
	run_vectors("uplink", "live", gro_vecs, n);
	cr_expect_eq(n_truncated, n - 1, "%zu super-frames, expected %zu", n_truncated, n - 1);
	run_vectors_link("uplink", "live", DLT_LINUX_SLL, "LINUX_SLL", gro_vecs, n);

	/* the whole frames through the live program: same verdicts */
	snprintf(path, sizeof(path), "%s/prog_uplink", pin);
	prog = bpf_obj_get(path);
	cr_assert(prog >= 0, "no pinned program %s", path);
	snprintf(path, sizeof(path), "%s/pg_stats", pin);
	stats = bpf_obj_get(path);
	cr_assert(stats >= 0, "no pinned %s", path);
	for (i = 0; i < n; i++) {
		size_t len = pkt_build(&gro_vecs[i].s, buf, sizeof(buf));
		__u64 before[PG_R_COUNT], after[PG_R_COUNT];
		int r, moved = -1, err;
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = len, .repeat = 1);

		pinned_reasons(stats, before);
		err = bpf_prog_test_run_opts(prog, &o);
		if (err && len > TR_MAX_FRAME / 2) {
			/* no BPF_F_XDP_HAS_FRAGS (kernel < 5.18): the live program never sees it */
			cr_log_warn("%s: whole %zu-byte frame not runnable here (%s), skipped",
				    gro_vecs[i].name, len, strerror(-err));
			continue;
		}
		cr_assert_eq(err, 0, "%s: test run of the whole frame: %s", gro_vecs[i].name,
			     strerror(-err));
		pinned_reasons(stats, after);
		for (r = 0; r < PG_R_COUNT; r++)
			if (after[r] != before[r])
				moved = r;
		cr_expect(moved >= 0 && !strcmp(pg_reason_name(moved), gro_vecs[i].reason) &&
				  (o.retval == XDP_DROP) == !strcmp(gro_vecs[i].verdict, "DROP"),
			  "%s: whole %zu-byte frame got %s %s from the live program, portgate "
			  "test said %s %s",
			  gro_vecs[i].name, len, o.retval == XDP_DROP ? "DROP" : "PASS",
			  moved >= 0 ? pg_reason_name(moved) : "no reason", gro_vecs[i].verdict,
			  gro_vecs[i].reason);
	}
	close(prog);
	close(stats);
}

/* One frame of a mixed capture: a vector's frame, or len zero bytes. */
struct mixed {
	const struct pkt_spec *s;
	unsigned int len;
};

static void write_mixed(int dlt, const struct mixed *m, size_t n)
{
	static uint8_t buf[PKT_MAX], frame[PKT_MAX + 256];
	char path[128];
	pcap_dumper_t *d;
	pcap_t *p;
	size_t i;

	snprintf(path, sizeof(path), "%s/mixed.pcap", tmp);
	p = pcap_open_dead(dlt, 65535);
	d = pcap_dump_open(p, path);
	cr_assert(d);
	for (i = 0; i < n; i++) {
		struct pcap_pkthdr h = {.caplen = m[i].len, .len = m[i].len};

		memset(frame, 0, sizeof(frame));
		if (m[i].s)
			h.caplen = h.len =
				to_link(dlt, buf, pkt_build(m[i].s, buf, sizeof(buf)), 0, frame);
		pcap_dump((u_char *)d, &h, frame);
	}
	pcap_dump_close(d);
	pcap_close(p);
}

/*
 * One bad frame among good ones: reported where it is, counted, and the
 * rest runs; --strict refuses the file before anything runs.
 */
Test(testcmd, runts_skipped)
{
	const struct pkt_spec smtp = {V4, TCP(25)}, http = {V6, TCP(80)};
	const struct mixed eth[] = {{&smtp, 0}, {NULL, 0}, {&http, 0}, {NULL, 13}, {&smtp, 0}};
	const struct mixed raw[] = {{&http, 0}, {NULL, 0}, {&smtp, 0}};
	char *out, *err;
	int rc;

	write_mixed(DLT_EN10MB, eth, 5);
	rc = portgate("test --pcap %s/mixed.pcap", tmp);
	out = slurp("out");
	cr_assert_eq(rc, 0, "exit %d with runts in the capture:\n%s", rc, out);
	cr_expect(
		strstr(out, "\n   2  skipped: 0 bytes, shorter than an Ethernet header\n") &&
			strstr(out, "\n   4  skipped: 13 bytes, shorter than an Ethernet header\n"),
		"runts not reported per frame:\n%s", out);
	cr_expect(strstr(out, "\n   1  ipv4 tcp") && strstr(out, "\n   3  ipv6 tcp") &&
			  strstr(out, "\n   5  ipv4 tcp"),
		  "the good frames did not run under their own numbers:\n%s", out);
	cr_expect(strstr(out, "\nframes 3, passed 1, dropped 2, skipped 2\n"),
		  "summary does not count the skipped frames:\n%s", out);
	free(out);

	rc = portgate("test -j --pcap %s/mixed.pcap", tmp);
	cr_assert_eq(rc, 0);
	rc = tl_sh(NULL, 0,
		   "jq -e '[.[:-1][] | .verdict] == [\"DROP\", \"SKIP\", \"PASS\", \"SKIP\", "
		   "\"DROP\"] and .[1].why == \"0 bytes, shorter than an Ethernet header\" and "
		   ".[-1].summary.skipped == 2 and .[-1].summary.frames == 3' %s/out >/dev/null",
		   tmp);
	cr_expect_eq(rc, 0, "JSON does not list the skipped frames");

	rc = portgate("test --strict --pcap %s/mixed.pcap", tmp);
	out = slurp("out");
	err = slurp("err");
	cr_expect_eq(rc, 2, "--strict: exit %d, expected 2", rc);
	cr_expect_str_empty(out, "--strict printed before refusing:\n%s", out);
	cr_expect(count_lines(err) == 1 && strstr(err, "frame 2: 0 bytes, shorter than an "
						       "Ethernet header (--strict"),
		  "--strict: stderr '%s'", err);
	free(out);
	free(err);

	/* an empty frame in a raw-IP capture */
	write_mixed(DLT_RAW, raw, 3);
	rc = portgate("test --pcap %s/mixed.pcap", tmp);
	out = slurp("out");
	cr_assert_eq(rc, 0, "exit %d", rc);
	cr_expect(
		strstr(out, "\n   2  skipped: 0 bytes, no IP header\n") &&
			strstr(out,
			       "\nframes 2, passed 1, dropped 1, skipped 1, re-framed from RAW\n"),
		"raw-IP runt not skipped:\n%s", out);
	free(out);

	/* a capture cut short: what was read runs, the tail is reported */
	write_pcap("cut.pcap", default_vecs, 3);
	tl_sh(NULL, 0, "truncate -s -10 %s/cut.pcap", tmp);
	rc = portgate("test --pcap %s/cut.pcap", tmp);
	out = slurp("out");
	cr_assert_eq(rc, 0, "exit %d on a cut capture", rc);
	cr_expect(strstr(out, "\n   3  skipped: unreadable: ") &&
			  strstr(out, "\nframes 2, passed 1, dropped 1, skipped 1\n"),
		  "cut capture:\n%s", out);
	free(out);
}

/*
 * What-if: the frames against a config file's policy in private maps.
 * The verdicts are the file's; --diff lists exactly the frames whose
 * verdict changes from the live policy; the live state does not move.
 */
static const struct vec config_vecs[] = {
	{"smtp, unblocked by the file", {V4, TCP(25)}, PASS("no_match"), "-", "-", ":25"},
	{"8080, blocked live and by the file",
	 {V4, TCP(8080)},
	 DROP("blocked"),
	 "tcp/8080",
	 "-",
	 ":8080"},
	{"imap, blocked by the file", {V4, TCP(143)}, DROP("blocked"), "tcp/143", "-", ":143"},
	{"snmp from the NMS",
	 {V4, UDP(161), .src = "192.0.2.5"},
	 PASS("exempt"),
	 "udp/161",
	 "192.0.2.0/24 peer rule",
	 ":161"},
	{"snmp from elsewhere", {V4, UDP(161)}, DROP("blocked"), "udp/161", "-", ":161"},
	{"dns, monitored live, dropped by the file",
	 {V4, UDP(53)},
	 DROP("blocked"),
	 "udp/53",
	 "-",
	 ":53"},
	{"http", {V4, TCP(80)}, PASS("no_match"), "-", "-", ":80"},
};

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

Test(testcmd, config_what_if)
{
	const size_t n = sizeof(config_vecs) / sizeof(config_vecs[0]);
	char *rules_before, *ex_before, *stats_before, *s;
	struct stat sb;
	int rc;

	/* the apply format: the whole policy, the defaults without tcp 25 (the relay moved) */
	write_file("policy.conf", "# what the NOC wants next\n"
				  "attach eth0 --role uplink   # checked, not acted on\n"
				  "block tcp 465\n"
				  "block tcp 587\n"
				  "block tcp 2525\n"
				  "block udp 161\n"
				  "block tcp 8080\n"
				  "block tcp 143\n"
				  "\n"
				  "block udp 53\n"
				  "allow 192.0.2.0/24 --peer --rule udp/161\n");
	/* nothing pinned: the file alone decides, and nothing gets pinned */
	rc = portgate("test -j --config %s/policy.conf --pcap %s/none.pcap", tmp, tmp);
	cr_expect_eq(rc, 2, "a missing pcap must still be a usage error");
	write_pcap("in.pcap", config_vecs, n);
	rc = tl_sh(NULL, 0,
		   "%s --pin-path %s test -j --config %s/policy.conf --pcap %s/in.pcap | jq -e "
		   "'[.[:-1][] | .verdict] == [\"PASS\", \"DROP\", \"DROP\", \"PASS\", \"DROP\", "
		   "\"DROP\", \"PASS\"] and .[-1].summary.policy == \"config\"' >/dev/null",
		   PORTGATE, pin, tmp, tmp);
	cr_expect_eq(rc, 0, "config verdicts with nothing pinned");
	cr_expect(stat(pin, &sb) != 0, "portgate test --config created %s", pin);

	live_policy();
	cr_assert_eq(portgate("rules -j"), 0);
	rules_before = slurp("out");
	cr_assert_eq(portgate("exemptions -j"), 0);
	ex_before = slurp("out");
	stats_before = live_counters("before");

	/* every frame, against the file; the description checks stay the same */
	rc = portgate("test -j --config %s/policy.conf --pcap %s/in.pcap", tmp, tmp);
	cr_assert_eq(rc, 0, "test --config exited %d", rc);
	rc = tl_sh(NULL, 0,
		   "jq -r '.[:-1][] | \"\\(.frame) \\(.verdict) \\(.reason) \\(.rule.proto)/"
		   "\\(.rule.port)\"' %s/out >%s/table",
		   tmp, tmp);
	s = slurp("table");
	cr_expect_str_eq(s,
			 "1 PASS no_match null/null\n"
			 "2 DROP blocked tcp/8080\n"
			 "3 DROP blocked tcp/143\n"
			 "4 PASS exempt udp/161\n"
			 "5 DROP blocked udp/161\n"
			 "6 DROP blocked udp/53\n"
			 "7 PASS no_match null/null\n",
			 "config verdicts:\n%s", s);
	free(s);

	/* --diff: only what changes from live (25 unblocked, 143 added, 53 monitor -> drop) */
	rc = portgate("test --config %s/policy.conf --diff --pcap %s/in.pcap", tmp, tmp);
	cr_assert_eq(rc, 0, "test --diff exited %d", rc);
	s = slurp("out");
	cr_expect(count_lines(s) == 6 && strstr(s, "\n   1  ipv4 tcp") &&
			  strstr(s, "DROP  blocked -> PASS  no_match: no rule for tcp/25 in\n") &&
			  strstr(s, "\n   3  ipv4 tcp") &&
			  strstr(s, "PASS  no_match -> DROP  blocked: rule ") &&
			  strstr(s, "\n   6  ipv4 udp") &&
			  strstr(s, "PASS  monitored -> DROP  blocked: rule ") &&
			  strstr(s, "\nframes 7, passed 3, dropped 4, differ from live 3\n"),
		  "--diff output:\n%s", s);
	free(s);
	rc = tl_sh(NULL, 0,
		   "%s --pin-path %s -j test --diff --config %s/policy.conf --pcap %s/in.pcap | jq "
		   "-e '[.[:-1][] | [.frame, .live.verdict, .verdict]] == [[1, \"DROP\", "
		   "\"PASS\"], [3, \"PASS\", \"DROP\"], [6, \"PASS\", \"DROP\"]] and "
		   ".[-1].summary.differ == 3' >/dev/null",
		   PORTGATE, pin, tmp, tmp);
	cr_expect_eq(rc, 0, "--diff JSON");

	/* the live policy and counters did not move */
	cr_assert_eq(portgate("rules -j"), 0);
	s = slurp("out");
	cr_expect_str_eq(s, rules_before, "live rules changed by a what-if run");
	free(s);
	cr_assert_eq(portgate("exemptions -j"), 0);
	s = slurp("out");
	cr_expect_str_eq(s, ex_before, "live exemptions changed by a what-if run");
	free(s);
	s = live_counters("after");
	cr_expect_str_eq(s, stats_before, "live counters changed by a what-if run");
	free(s);
	free(rules_before);
	free(ex_before);
	free(stats_before);
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

static void make_can(void)
{
	const unsigned int lens[] = {64};

	raw_pcap(DLT_CAN_SOCKETCAN, lens, 1);
}

static void make_bluetooth(void)
{
	const unsigned int lens[] = {64};

	raw_pcap(DLT_BLUETOOTH_HCI_H4_WITH_PHDR, lens, 1);
}

static void make_usb(void)
{
	const unsigned int lens[] = {64};

	raw_pcap(DLT_USB_LINUX_MMAPPED, lens, 1);
}

static void make_config(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad.conf", tmp);
	f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

static void make_config_port(void)
{
	make_config("block tcp 8080\n# fine so far\nblock tcp 0\n");
}

static void make_config_cmd(void)
{
	make_config("block tcp 8080\nunblock tcp 25\n");
}

static void make_config_long(void)
{
	char line[1100];

	memset(line, 'a', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	make_config(line);
}

static void make_config_overlap(void)
{
	make_config("block tcp 8080-8090\nblock tcp 8085\n");
}

static void make_config_norule(void)
{
	make_config("allow 192.0.2.0/24 --peer --rule tcp/99\n");
}

static void make_empty(void)
{
	raw_pcap(DLT_EN10MB, NULL, 0);
}

static const struct bad bad_inputs[] = {
	{"missing pcap", "--pcap @T/missing.pcap", NULL, "cannot read pcap '@T/missing.pcap'"},
	{"not a pcap", "--pcap @T/bad.pcap", make_garbage, "cannot read pcap '@T/bad.pcap'"},
	{"truncated pcap, --strict", "--strict --pcap @T/bad.pcap", make_truncated,
	 "frame 3 unreadable"},
	{"13-byte frame, --strict", "--pcap @T/bad.pcap --strict", make_short,
	 "frame 2: 13 bytes, shorter than an Ethernet header (--strict"},
	{"oversize frame, --strict", "--strict --pcap @T/bad.pcap", make_long,
	 "frame 3: 9217 bytes is longer than the largest frame (--strict: expected 14 to 9216 "
	 "bytes)"},
	{"can", "--pcap @T/bad.pcap", make_can,
	 "link type CAN_SOCKETCAN (CAN-bus with SocketCAN headers) carries no frames portgate can "
	 "re-frame (expected one that carries IP: EN10MB, LINUX_SLL"},
	{"usb", "--pcap @T/bad.pcap", make_usb, "link type USB_LINUX_MMAPPED"},
	{"bluetooth", "--pcap @T/bad.pcap", make_bluetooth, "link type BLUETOOTH_HCI_H4_WITH_PHDR"},
	{"config: bad port", "--config @T/bad.conf --hex @GOOD", make_config_port,
	 "@T/bad.conf:3: bad port '0': expected 1-65535"},
	{"config: not an apply command", "--config @T/bad.conf --hex @GOOD", make_config_cmd,
	 "@T/bad.conf:2: unknown command 'unblock' (expected attach, block, allow or defaults)"},
	{"config: overlap", "--config @T/bad.conf --hex @GOOD", make_config_overlap,
	 "@T/bad.conf:2: block: rule 'tcp 8085' overlaps the rule 'tcp 8080-8090' of line 1"},
	{"config: no such rule", "--config @T/bad.conf --hex @GOOD", make_config_norule,
	 "@T/bad.conf:1: allow: no rule of this file covers tcp/99 --dir in"},
	{"config: line over 1024 bytes", "--config @T/bad.conf --hex @GOOD", make_config_long,
	 "@T/bad.conf:1: line longer than 1024 bytes"},
	{"config: missing", "--config @T/none.conf --hex @GOOD", NULL,
	 "cannot open '@T/none.conf'"},
	{"diff without config", "--diff --hex @GOOD", NULL, "--diff compares the live policy"},
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
