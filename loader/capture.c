// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Frames for `portgate test`: hex arguments, or a pcap/pcapng of any link
 * type that carries IP. A frame that is not Ethernet is re-framed: it gets
 * the Ethernet header the BNG's NIC would have seen, its ethertype taken
 * from the capture's protocol field or the IP version (PPP becomes a
 * PPPoE session frame, which is how PPP reaches a BNG). Link types that
 * carry no IP are refused in one line naming the type.
 *
 * A frame that cannot run (a runt, an unreadable tail) is kept as
 * skipped, and a GRO/TSO super-frame runs on its first TR_MAX_FRAME bytes
 * (the verdict depends on the headers only); --strict makes either an
 * error instead, before anything runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <linux/bpf.h>
/* pcap/bpf.h clashes with linux/bpf.h (struct bpf_insn); we need neither filter API */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "testrun.h"

#define TR_ETH_P_IP 0x0800
#define TR_ETH_P_IPV6 0x86dd
#define TR_ETH_P_PPP_DISC 0x8863
#define TR_ETH_P_PPP_SES 0x8864
#define TR_ARPHRD_NETLINK 824
#define TR_PACKET_OUTGOING 4

static int add_frame(struct tr_input *in, struct tr_frame **out)
{
	struct tr_frame *f;

	if (in->n == in->cap) {
		unsigned int cap = in->cap ? in->cap * 2 : 64;
		struct tr_frame *v = realloc(in->v, cap * sizeof(*v));

		if (!v) {
			pg_err("test: out of memory at frame %u", in->n + 1);
			return -ENOMEM;
		}
		in->v = v;
		in->cap = cap;
	}
	f = &in->v[in->n++];
	memset(f, 0, sizeof(*f));
	f->no = in->n;
	*out = f;
	return 0;
}

void tr_free_input(struct tr_input *in)
{
	unsigned int i;

	for (i = 0; i < in->n; i++) {
		free(in->v[i].data);
		free(in->v[i].skip);
	}
	free(in->v);
	memset(in, 0, sizeof(*in));
}

/* Length limits of a hex frame; the message names the frame. */
static int check_len(unsigned int no, uint32_t len)
{
	if (len < TR_MIN_FRAME) {
		pg_err("test: hex frame %u: %u bytes is shorter than an Ethernet header (expected %d to %d bytes)",
		       no, len, TR_MIN_FRAME, TR_MAX_FRAME);
		return -EINVAL;
	}
	if (len > TR_MAX_FRAME) {
		pg_err("test: hex frame %u: %u bytes is longer than the largest frame (expected %d to %d bytes)",
		       no, len, TR_MIN_FRAME, TR_MAX_FRAME);
		return -EINVAL;
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One frame per argument: hex digit pairs, optionally prefixed by 0x and
 * separated by whitespace, ':', '-' or '.' (Wireshark "hex stream",
 * tcpdump -xx groups, colon-separated bytes all paste as they are).
 */
int tr_read_hex(struct tr_input *in, const char *s, unsigned int no)
{
	static uint8_t buf[TR_MAX_FRAME + 1];
	struct tr_frame *f;
	uint32_t len = 0;
	const char *p = s;
	int hi = -1, err;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p; p++) {
		int v = hexval((unsigned char)*p);

		if (v < 0) {
			if (hi < 0 && strchr(" \t\n\r:-.", *p))
				continue;
			pg_err("test: hex frame %u: '%c' at offset %zu of \"%.40s%s\" is not a hex digit (expected pairs of 0-9a-f, optionally separated by spaces or colons)",
			       no, *p, (size_t)(p - s), s, strlen(s) > 40 ? "..." : "");
			return -EINVAL;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (len <= TR_MAX_FRAME)
			buf[len] = (uint8_t)(hi << 4 | v);
		len++;
		hi = -1;
	}
	if (hi >= 0) {
		pg_err("test: hex frame %u: odd number of hex digits (expected whole bytes, two digits each)",
		       no);
		return -EINVAL;
	}
	if (check_len(no, len))
		return -EINVAL;
	err = add_frame(in, &f);
	if (err)
		return err;
	f->data = malloc(len);
	if (!f->data) {
		pg_err("test: out of memory at frame %u", no);
		return -ENOMEM;
	}
	memcpy(f->data, buf, len);
	f->len = f->cap_len = f->wire_len = len;
	in->run++;
	return 0;
}

/*
 * How a link type's frame becomes an Ethernet frame: hdr bytes of the
 * capture's own header are replaced by an Ethernet header (ethertype
 * type, source address src) and ins[] (a PPPoE session header).
 */
struct tr_l2 {
	uint32_t hdr;
	uint16_t type;
	uint8_t src[6];
	uint8_t ins[6];
	uint32_t ins_len;
	bool outgoing;
};

/* Returns NULL, or why the frame cannot be re-framed (into why). */
typedef const char *(*tr_reframe_fn)(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				     struct tr_l2 *l2, char *why, size_t n);

struct tr_link {
	int dlt;
	const char *what;      /* for the refusal's list of link types */
	tr_reframe_fn reframe; /* NULL: Ethernet already */
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *too_short(uint32_t caplen, const char *what, uint32_t need, char *why, size_t n)
{
	snprintf(why, n, "%u bytes, shorter than %s (%u bytes)", caplen, what, need);
	return why;
}

/* The IP version nibble picks the ethertype (raw IP, SLIP). */
static const char *by_version(const uint8_t *p, uint32_t caplen, struct tr_l2 *l2, char *why,
			      size_t n)
{
	if (caplen <= l2->hdr) {
		snprintf(why, n, "%u bytes, no IP header", caplen);
		return why;
	}
	switch (p[l2->hdr] >> 4) {
	case 4:
		l2->type = TR_ETH_P_IP;
		return NULL;
	case 6:
		l2->type = TR_ETH_P_IPV6;
		return NULL;
	}
	snprintf(why, n, "IP version %u, neither IPv4 nor IPv6", p[l2->hdr] >> 4);
	return why;
}

static const char *rf_raw(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	(void)wirelen;
	return by_version(p, caplen, l2, why, n);
}

static const char *rf_ipv4(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)p;
	(void)wirelen;
	l2->type = TR_ETH_P_IP;
	return caplen ? NULL : too_short(caplen, "an IPv4 header", 20, why, n);
}

static const char *rf_ipv6(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)p;
	(void)wirelen;
	l2->type = TR_ETH_P_IPV6;
	return caplen ? NULL : too_short(caplen, "an IPv6 header", 40, why, n);
}

/* BSD loopback: a 4-byte address family (host order for NULL). */
static const char *rf_family(uint32_t af, uint32_t caplen, struct tr_l2 *l2, char *why, size_t n)
{
	l2->hdr = 4;
	if (caplen < 4)
		return too_short(caplen, "a loopback header", 4, why, n);
	switch (af) {
	case 2: /* AF_INET everywhere */
		l2->type = TR_ETH_P_IP;
		return NULL;
	case 10: /* AF_INET6: Linux */
	case 24: /* OpenBSD, NetBSD */
	case 28: /* FreeBSD, DragonFly */
	case 30: /* macOS */
		l2->type = TR_ETH_P_IPV6;
		return NULL;
	}
	snprintf(why, n, "address family %u, neither IPv4 nor IPv6", af);
	return why;
}

static const char *rf_null(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	uint32_t af = caplen >= 4 ? be32(p) : 0;

	(void)wirelen;
	/* the writer's byte order: families are small numbers */
	if (!(af & 0xffff))
		af = __builtin_bswap32(af);
	return rf_family(af, caplen, l2, why, n);
}

static const char *rf_loop(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)wirelen;
	return rf_family(caplen >= 4 ? be32(p) : 0, caplen, l2, why, n);
}

/* The cooked protocol field is an ethertype, except for netlink captures. */
static const char *cooked(uint16_t hatype, uint16_t pkttype, uint32_t halen, const uint8_t *addr,
			  struct tr_l2 *l2, char *why, size_t n)
{
	if (hatype == TR_ARPHRD_NETLINK) {
		snprintf(why, n, "a netlink message, not a network frame");
		return why;
	}
	if (halen == 6)
		memcpy(l2->src, addr, 6);
	l2->outgoing = pkttype == TR_PACKET_OUTGOING;
	return NULL;
}

/* LINUX_SLL: pkttype, hatype, halen, 8 address bytes, protocol. */
static const char *rf_sll(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	(void)wirelen;
	l2->hdr = 16;
	if (caplen < 16)
		return too_short(caplen, "a Linux cooked header", 16, why, n);
	l2->type = be16(p + 14);
	return cooked(be16(p + 2), be16(p), be16(p + 4), p + 6, l2, why, n);
}

/* LINUX_SLL2: protocol, reserved, ifindex, hatype, pkttype, halen, address. */
static const char *rf_sll2(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)wirelen;
	l2->hdr = 20;
	if (caplen < 20)
		return too_short(caplen, "a Linux cooked v2 header", 20, why, n);
	l2->type = be16(p);
	return cooked(be16(p + 8), p[10], p[11], p + 12, l2, why, n);
}

/* Cisco HDLC: address, control, then an ethertype. */
static const char *rf_chdlc(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	(void)wirelen;
	l2->hdr = 4;
	if (caplen < 4)
		return too_short(caplen, "a Cisco HDLC header", 4, why, n);
	l2->type = be16(p + 2);
	return NULL;
}

/*
 * PPP (optionally in HDLC framing, ff 03): a BNG sees it as a PPPoE
 * session frame; the PPP protocol field (2 bytes, or 1 compressed) stays.
 */
static const char *rf_ppp(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	uint32_t ppp_len;

	if (caplen >= 2 && (p[0] == 0x0f || p[0] == 0x8f) && p[1] == 0x00)
		return rf_chdlc(p, caplen, wirelen, l2, why, n); /* PPP_SERIAL may hold these */
	l2->hdr = caplen >= 2 && p[0] == 0xff && p[1] == 0x03 ? 2 : 0;
	if (caplen < l2->hdr + 1)
		return too_short(caplen, "a PPP header", l2->hdr + 1, why, n);
	ppp_len = wirelen - l2->hdr;
	l2->type = TR_ETH_P_PPP_SES;
	l2->ins[0] = 0x11; /* version 1, type 1 */
	l2->ins[1] = 0x00; /* code: session data */
	l2->ins[2] = 0x00;
	l2->ins[3] = 0x01; /* session id 1 */
	l2->ins[4] = (uint8_t)(ppp_len >> 8);
	l2->ins[5] = (uint8_t)ppp_len;
	l2->ins_len = 6;
	return NULL;
}

/* PPP_ETHER: a PPPoE header without the Ethernet header. */
static const char *rf_pppoe(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	(void)wirelen;
	if (caplen < 6)
		return too_short(caplen, "a PPPoE header", 6, why, n);
	l2->type = p[1] ? TR_ETH_P_PPP_DISC : TR_ETH_P_PPP_SES;
	return NULL;
}

/* SLIP as libpcap writes it: a 16-byte pseudo-header, then IP. */
static const char *rf_slip(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)wirelen;
	l2->hdr = 16;
	if (caplen < 16)
		return too_short(caplen, "a SLIP pseudo-header", 16, why, n);
	return by_version(p, caplen, l2, why, n);
}

/* Solaris ipnet: a 24-byte header whose second byte is the family. */
static const char *rf_ipnet(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	(void)wirelen;
	l2->hdr = 24;
	if (caplen < 24)
		return too_short(caplen, "an ipnet header", 24, why, n);
	if (p[1] == 2 || p[1] == 26) { /* AF_INET, Solaris AF_INET6 */
		l2->type = p[1] == 2 ? TR_ETH_P_IP : TR_ETH_P_IPV6;
		return NULL;
	}
	snprintf(why, n, "address family %u, neither IPv4 nor IPv6", p[1]);
	return why;
}

/* ---- link types that carry Ethernet, LLC/SNAP or 802.11 inside ---- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static const char *skip_why(char *why, size_t n, const char *what)
{
	snprintf(why, n, "%s", what);
	return why;
}

/* An Ethernet frame at off: its ethertype and source stay, the rest is ours. */
static const char *ether_at(const uint8_t *p, uint32_t caplen, uint32_t off, struct tr_l2 *l2,
			    char *why, size_t n)
{
	if (caplen < off + TR_MIN_FRAME)
		return too_short(caplen, "an Ethernet header after the capture's own", off + 14,
				 why, n);
	memcpy(l2->src, p + off + 6, 6);
	l2->type = be16(p + off + 12);
	l2->hdr = off + TR_MIN_FRAME;
	return NULL;
}

/*
 * An LLC/SNAP header at off (802.11, ATM RFC 1483, Frame Relay): aa aa 03,
 * an encapsulation OUI (RFC 1042 or 802.1H bridge tunnel), the ethertype.
 */
static const char *snap_at(const uint8_t *p, uint32_t caplen, uint32_t off, const char *what,
			   struct tr_l2 *l2, char *why, size_t n)
{
	if (caplen < off + 8) {
		snprintf(why, n, "%u bytes, shorter than %s with an LLC/SNAP header (%u bytes)",
			 caplen, what, off + 8);
		return why;
	}
	if (p[off] != 0xaa || p[off + 1] != 0xaa || p[off + 2] != 0x03 || p[off + 3] ||
	    p[off + 4] || (p[off + 5] && p[off + 5] != 0xf8)) {
		snprintf(why, n, "%s without an LLC/SNAP header (LLC %02x %02x %02x), no IP", what,
			 p[off], p[off + 1], p[off + 2]);
		return why;
	}
	l2->type = be16(p + off + 6);
	l2->hdr = off + 8;
	return NULL;
}

/*
 * An 802.11 frame at off: data frames become the Ethernet frame of their
 * LLC/SNAP payload (QoS, four addresses, HT control, the first A-MSDU
 * subframe); every other frame is skipped, saying which (management,
 * control, null data, encrypted, a later fragment). pad: the radiotap
 * "data pad" flag, the 802.11 header padded to 4 bytes.
 */
static const char *wifi_at(const uint8_t *p, uint32_t caplen, uint32_t off, bool pad,
			   struct tr_l2 *l2, char *why, size_t n)
{
	uint32_t hl = 24, body;
	uint8_t fc0, fc1, sub;
	const uint8_t *sa;

	if (caplen < off + 2)
		return too_short(caplen, "an 802.11 header", off + 24, why, n);
	fc0 = p[off];
	fc1 = p[off + 1];
	sub = fc0 >> 4;
	if (fc0 & 3) {
		snprintf(why, n, "802.11 protocol version %u, not 0", fc0 & 3);
		return why;
	}
	switch ((fc0 >> 2) & 3) {
	case 0:
		return skip_why(why, n, "802.11 management frame, no IP");
	case 1:
		return skip_why(why, n, "802.11 control frame, no IP");
	case 3:
		return skip_why(why, n, "802.11 extension frame, no IP");
	}
	if (sub & 4)
		return skip_why(why, n, "802.11 null data frame, no IP");
	if (fc1 & 0x40)
		return skip_why(why, n, "802.11 protected frame (encrypted), no readable IP");
	if ((fc1 & 3) == 3)
		hl += 6; /* fourth address: wireless distribution system, mesh */
	if (sub & 8)
		hl += 2 + (fc1 & 0x80 ? 4 : 0); /* QoS control, HT control */
	if (caplen < off + hl)
		return too_short(caplen, "an 802.11 data header", off + hl, why, n);
	if (le16(p + off + 22) & 0xf)
		return skip_why(why, n, "later 802.11 fragment, no IP header");
	/* the source: address 2, 3 (from the DS) or 4 (WDS) */
	sa = p + off + ((fc1 & 3) == 3 ? 24 : fc1 & 2 ? 16 : 10);
	memcpy(l2->src, sa, 6);
	body = off + (pad ? (hl + 3) & ~3U : hl);
	if ((sub & 8) && (p[off + hl - (fc1 & 0x80 ? 6 : 2)] & 0x80)) {
		/* A-MSDU: the first subframe (destination, source, length, payload) */
		if (caplen < body + 14)
			return too_short(caplen, "an 802.11 A-MSDU subframe header", body + 14, why,
					 n);
		memcpy(l2->src, p + body + 6, 6);
		body += 14;
	}
	return snap_at(p, caplen, body, "802.11 data", l2, why, n);
}

static const char *rf_wifi(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)wirelen;
	return wifi_at(p, caplen, 0, false, l2, why, n);
}

/*
 * Radiotap: version 0, its length (little-endian), present words; the
 * Flags field (after TSFT if present) says whether the 802.11 header is
 * padded. The FCS some drivers keep at the end changes no header.
 */
static const char *rf_radiotap(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
			       struct tr_l2 *l2, char *why, size_t n)
{
	uint32_t len, off = 8, present;
	bool pad = false;

	(void)wirelen;
	if (caplen < 8)
		return too_short(caplen, "a radiotap header", 8, why, n);
	len = le16(p + 2);
	if (p[0] || len < 8 || len > caplen) {
		snprintf(why, n, "bad radiotap header (version %u, length %u of %u bytes)", p[0],
			 len, caplen);
		return why;
	}
	present = le32(p + 4);
	/* more present words: bounded by the header's own length */
	for (uint32_t w = present; (w & 0x80000000U) && off + 4 <= len; off += 4)
		w = le32(p + off);
	if (present & 1)
		off = ((off + 7) & ~7U) + 8; /* TSFT, 8-byte aligned */
	if ((present & 2) && off < len)
		pad = p[off] & 0x20; /* Flags: data pad */
	return wifi_at(p, caplen, len, pad, l2, why, n);
}

/*
 * IEEE 802.15.4 (6LoWPAN): the MAC header's length from its frame control
 * (addressing modes, PAN ID compression), then the 6LoWPAN dispatch (RFC
 * 4944). Only an uncompressed IPv6 header (dispatch 0x41) is there to
 * judge; IPHC (RFC 6282) rebuilds the header from link-layer state, and
 * beacons, acknowledgements and MAC commands carry no IP: those frames
 * are skipped one by one.
 */
static const char *lowpan_at(const uint8_t *p, uint32_t caplen, uint32_t off, struct tr_l2 *l2,
			     char *why, size_t n)
{
	static const uint8_t alen[4] = {0, 0, 2, 8}; /* by addressing mode */
	uint32_t fcf, dmode, smode, hl = 3;

	if (caplen < off + 3)
		return too_short(caplen, "an 802.15.4 header", off + 3, why, n);
	fcf = le16(p + off);
	switch (fcf & 7) {
	case 0:
		return skip_why(why, n, "802.15.4 beacon frame, no IP");
	case 1:
		break;
	case 2:
		return skip_why(why, n, "802.15.4 acknowledgement, no IP");
	case 3:
		return skip_why(why, n, "802.15.4 MAC command frame, no IP");
	default:
		return skip_why(why, n, "802.15.4 frame of a reserved type, no IP");
	}
	if (fcf & 0x8)
		return skip_why(why, n, "802.15.4 secured frame (encrypted), no readable IP");
	dmode = (fcf >> 10) & 3;
	smode = (fcf >> 14) & 3;
	if (dmode)
		hl += 2 + alen[dmode];
	if (smode)
		hl += (dmode && (fcf & 0x40) ? 0 : 2) + alen[smode]; /* PAN ID compression */
	if (caplen < off + hl + 1)
		return too_short(caplen, "an 802.15.4 data header and dispatch", off + hl + 1, why,
				 n);
	switch (p[off + hl]) {
	case 0x41:
		l2->hdr = off + hl + 1;
		l2->type = 0x86dd;
		return NULL;
	default:
		if ((p[off + hl] & 0xe0) == 0x60)
			return skip_why(
				why, n,
				"6LoWPAN IPHC-compressed IPv6 (RFC 6282), no IP header to judge");
		snprintf(
			why, n,
			"6LoWPAN dispatch 0x%02x (compressed, mesh or fragment), no IP header to judge",
			p[off + hl]);
		return why;
	}
}

static const char *rf_lowpan(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			     char *why, size_t n)
{
	(void)wirelen;
	return lowpan_at(p, caplen, 0, l2, why, n);
}

/* The non-ASK PHY header first: preamble (4), start of frame (1), length (1). */
static const char *rf_lowpan_phy(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				 struct tr_l2 *l2, char *why, size_t n)
{
	(void)wirelen;
	return lowpan_at(p, caplen, 6, l2, why, n);
}

/* AVS: a magic cookie, then the header's length (big-endian). */
static const char *rf_avs(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	uint32_t len;

	(void)wirelen;
	if (caplen < 8)
		return too_short(caplen, "an AVS header", 8, why, n);
	len = be32(p + 4);
	if ((be32(p) & 0xfffffff0U) != 0x80211000U || len < 8 || len > caplen) {
		snprintf(why, n, "bad AVS header (cookie %08x, length %u of %u bytes)", be32(p),
			 len, caplen);
		return why;
	}
	return wifi_at(p, caplen, len, false, l2, why, n);
}

/* Prism: a fixed 144-byte header, or an AVS header (drivers write either). */
static const char *rf_prism(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	if (caplen >= 4 && (be32(p) & 0xfffffff0U) == 0x80211000U)
		return rf_avs(p, caplen, wirelen, l2, why, n);
	if (caplen < 144)
		return too_short(caplen, "a Prism header", 144, why, n);
	return wifi_at(p, caplen, 144, false, l2, why, n);
}

static const struct tr_link *find_link(int dlt);
static const char *rf_ppi(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n);
static const char *rf_pktap(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n);

/* A header (length hlen) naming the link type of what follows: PPI, PKTAP. */
static const char *inner(const uint8_t *p, uint32_t caplen, uint32_t wirelen, uint32_t hlen,
			 uint32_t dlt, const char *what, struct tr_l2 *l2, char *why, size_t n)
{
	const struct tr_link *in = find_link((int)dlt);
	const char *r;

	if (hlen < 8 || hlen > caplen) {
		snprintf(why, n, "bad %s header (length %u of %u bytes)", what, hlen, caplen);
		return why;
	}
	if (!in || in->reframe == rf_ppi || in->reframe == rf_pktap) {
		snprintf(why, n, "%s holds link type %u, which portgate does not re-frame", what,
			 dlt);
		return why;
	}
	if (!in->reframe)
		return ether_at(p, caplen, hlen, l2, why, n);
	r = in->reframe(p + hlen, caplen - hlen, wirelen - hlen, l2, why, n);
	l2->hdr += hlen;
	return r;
}

/* PPI: version, flags, length, link type (little-endian), then its fields. */
static const char *rf_ppi(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	if (caplen < 8)
		return too_short(caplen, "a PPI header", 8, why, n);
	return inner(p, caplen, wirelen, le16(p + 2), le32(p + 4), "PPI", l2, why, n);
}

/* Apple PKTAP: header length and link type (host order: little-endian Macs). */
static const char *rf_pktap(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	if (caplen < 8)
		return too_short(caplen, "a PKTAP header", 8, why, n);
	return inner(p, caplen, wirelen, le32(p), le32(p + 4), "PKTAP", l2, why, n);
}

/* ATM with LLC/SNAP encapsulation (RFC 1483 / 2684, Linux CLIP). */
static const char *rf_atm_llc(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			      char *why, size_t n)
{
	(void)wirelen;
	return snap_at(p, caplen, 0, "an ATM frame", l2, why, n);
}

/* SunATM: flags (traffic type), VPI, VCI, then LLC/SNAP or LANE (LEC id, Ethernet). */
static const char *rf_sunatm(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			     char *why, size_t n)
{
	(void)wirelen;
	if (caplen < 4)
		return too_short(caplen, "a SunATM header", 4, why, n);
	switch (p[0] & 0x0f) {
	case 1: /* LANE */
		return ether_at(p, caplen, 6, l2, why, n);
	case 2: /* LLC */
		return snap_at(p, caplen, 4, "an ATM frame", l2, why, n);
	}
	snprintf(why, n, "SunATM traffic type %u (signalling, ILMI or raw cells), no IP",
		 p[0] & 0x0f);
	return why;
}

/*
 * Frame Relay: a Q.922 address (2 to 4 bytes, the last with EA set), then
 * RFC 2427 (UI control, optional pad, NLPID: IP, IPv6 or SNAP) or Cisco's
 * encapsulation (an ethertype).
 */
static const char *fr_at(const uint8_t *p, uint32_t caplen, uint32_t off, struct tr_l2 *l2,
			 char *why, size_t n)
{
	uint32_t a = off;

	while (a < caplen && a < off + 4 && !(p[a] & 1))
		a++;
	if (a >= caplen || a == off || !(p[a] & 1)) {
		snprintf(why, n, "%u bytes, no complete Frame Relay address", caplen);
		return why;
	}
	a++;
	if (caplen < a + 2)
		return too_short(caplen, "a Frame Relay header", a + 2, why, n);
	if (p[a] != 0x03) { /* Cisco: the ethertype follows the address */
		l2->type = be16(p + a);
		l2->hdr = a + 2;
		return NULL;
	}
	a++;
	if (!p[a] && a + 1 < caplen)
		a++; /* pad before an odd-length NLPID */
	switch (p[a]) {
	case 0xcc:
		l2->type = TR_ETH_P_IP;
		l2->hdr = a + 1;
		return NULL;
	case 0x8e:
		l2->type = TR_ETH_P_IPV6;
		l2->hdr = a + 1;
		return NULL;
	case 0x80: /* SNAP without the aa aa 03: OUI, ethertype */
		if (caplen < a + 6)
			return too_short(caplen, "a Frame Relay SNAP header", a + 6, why, n);
		l2->type = be16(p + a + 4);
		l2->hdr = a + 6;
		return NULL;
	}
	snprintf(why, n, "Frame Relay NLPID 0x%02x (signalling or another protocol), no IP", p[a]);
	return why;
}

static const char *rf_frelay(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			     char *why, size_t n)
{
	(void)wirelen;
	return fr_at(p, caplen, 0, l2, why, n);
}

/* FRF.16 multilink: control frames and later fragments hold no IP header. */
static const char *rf_mfr(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	(void)wirelen;
	if (caplen < 2)
		return too_short(caplen, "an FRF.16 header", 2, why, n);
	if ((p[0] & 0xe0) == 0xe0 && !p[1])
		return skip_why(why, n, "FRF.16 control message, no IP");
	if (!(p[0] & 0x80))
		return skip_why(why, n, "later FRF.16 fragment, no IP header");
	return fr_at(p, caplen, 2, l2, why, n);
}

/* Linux ARCNET: source, destination, offset, protocol; RFC 1201 adds split flag and sequence. */
static const char *rf_arcnet(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			     char *why, size_t n)
{
	(void)wirelen;
	if (caplen < 5)
		return too_short(caplen, "an ARCNET header", 5, why, n);
	switch (p[4]) {
	case 240: /* RFC 1051 IP */
		l2->type = TR_ETH_P_IP;
		l2->hdr = 5;
		return NULL;
	case 241: /* RFC 1051 ARP */
		l2->type = 0x0806;
		l2->hdr = 5;
		return NULL;
	case 212: /* RFC 1201 IP, ARP, RARP, IPv6 */
	case 213:
	case 214:
	case 0xc4:
		break;
	default:
		snprintf(why, n, "ARCNET protocol %u, no IP", p[4]);
		return why;
	}
	if (caplen < 8)
		return too_short(caplen, "an RFC 1201 ARCNET header", 8, why, n);
	if (p[5] && !(p[5] & 1))
		return skip_why(why, n, "later ARCNET fragment, no IP header");
	l2->type = p[4] == 212	  ? TR_ETH_P_IP
		   : p[4] == 0xc4 ? TR_ETH_P_IPV6
		   : p[4] == 213  ? 0x0806 /* ARP */
				  : 0x8035; /* RARP */
	l2->hdr = 8;
	return NULL;
}

/* IP over InfiniBand: an ethertype and two reserved bytes. */
static const char *rf_ipoib(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	(void)wirelen;
	l2->hdr = 4;
	if (caplen < 4)
		return too_short(caplen, "an IPoIB header", 4, why, n);
	l2->type = be16(p);
	return NULL;
}

/*
 * Linux NFLOG: family, version, resource id, then TLVs (length and type in
 * the writer's order, libpcap gives them in ours, 4-byte aligned); the
 * packet is the value of NFULA_PAYLOAD (9).
 */
static const char *rf_nflog(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			    char *why, size_t n)
{
	uint32_t off = 4;
	uint16_t tlen, ttype;

	(void)wirelen;
	if (caplen < 4)
		return too_short(caplen, "an NFLOG header", 4, why, n);
	if (p[0] != 2 && p[0] != 10) {
		snprintf(why, n, "NFLOG family %u, neither IPv4 nor IPv6", p[0]);
		return why;
	}
	while (off + 4 <= caplen) {
		memcpy(&tlen, p + off, 2);
		memcpy(&ttype, p + off + 2, 2);
		if (tlen < 4)
			break;
		if (ttype == 9) {
			l2->hdr = off + 4;
			l2->type = p[0] == 2 ? TR_ETH_P_IP : TR_ETH_P_IPV6;
			return caplen > l2->hdr ? NULL
						: too_short(caplen, "the NFLOG payload",
							    l2->hdr + 1, why, n);
		}
		off += (tlen + 3U) & ~3U;
	}
	return skip_why(why, n, "NFLOG message without a packet (no NFULA_PAYLOAD)");
}

/*
 * Juniper PICs (as tcpdump reads them): "MGC", flags, optional extension
 * TLVs (a length first); with NO_L2 four bytes and IP; else the PIC's
 * cookie (cookie bytes, 2 more for an LS cookie, 8 for an AS cookie; -1:
 * a PIC without one), then the frame. *h: where the frame starts.
 */
static const char *juniper(const uint8_t *p, uint32_t caplen, int cookie, uint32_t *h,
			   struct tr_l2 *l2, char *why, size_t n)
{
	*h = 4;
	if (caplen < 4)
		return too_short(caplen, "a Juniper header", 4, why, n);
	if (be32(p) >> 8 != 0x4d4743) {
		snprintf(why, n, "no Juniper magic (MGC) at the start, %02x %02x %02x", p[0], p[1],
			 p[2]);
		return why;
	}
	if (p[3] & 0x80) { /* extensions */
		if (caplen < 6)
			return too_short(caplen, "a Juniper extension header", 6, why, n);
		*h += 2 + be16(p + 4);
	}
	if (p[3] & 0x02) { /* no layer 2: IP after four more bytes */
		l2->hdr = *h + 4;
		return by_version(p, caplen, l2, why, n);
	}
	if (cookie >= 0) {
		if (caplen <= *h)
			return too_short(caplen, "a Juniper cookie", *h + 1, why, n);
		cookie = p[*h] == 0x54 ? cookie + 2 : p[*h] == 0x47 ? 8 : cookie;
		*h += cookie;
	}
	l2->hdr = 0;
	return NULL;
}

/* The IP packet at off, by its version. */
static const char *ip_at(const uint8_t *p, uint32_t caplen, uint32_t off, struct tr_l2 *l2,
			 char *why, size_t n)
{
	l2->hdr = off;
	return by_version(p, caplen, l2, why, n);
}

static const char *rf_juniper_ether(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				    struct tr_l2 *l2, char *why, size_t n)
{
	uint32_t h;
	const char *r = juniper(p, caplen, -1, &h, l2, why, n);

	(void)wirelen;
	return r || l2->hdr ? r : ether_at(p, caplen, h, l2, why, n);
}

/* Juniper passive monitor: the IP packet after an 8-byte cookie. */
static const char *rf_juniper_monitor(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				      struct tr_l2 *l2, char *why, size_t n)
{
	uint32_t h;
	const char *r = juniper(p, caplen, 8, &h, l2, why, n);

	(void)wirelen;
	return r || l2->hdr ? r : ip_at(p, caplen, h, l2, why, n);
}

/* Juniper ATM1: OAM cells skipped; LLC/SNAP, ISO NLPID or VC-multiplexed IP. */
static const char *rf_juniper_atm1(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				   struct tr_l2 *l2, char *why, size_t n)
{
	uint32_t h, g;
	const char *r = juniper(p, caplen, 4, &h, l2, why, n);

	(void)wirelen;
	if (r || l2->hdr)
		return r;
	g = (p[3] & 0x80) ? 6 + be16(p + 4) : 4; /* the cookie's first byte */
	if (p[g] == 0x80)
		return skip_why(why, n, "ATM OAM cell, no IP");
	if (caplen >= h + 4 && p[h] == 0xfe && p[h + 1] == 0xfe && p[h + 2] == 0x03) {
		if (p[h + 3] == 0xcc || p[h + 3] == 0x8e)
			return ip_at(p, caplen, h + 4, l2, why, n);
		snprintf(why, n, "ATM NLPID 0x%02x (OSI), no IP", p[h + 3]);
		return why;
	}
	if (caplen >= h + 3 && p[h] == 0xaa && p[h + 1] == 0xaa && p[h + 2] == 0x03)
		return snap_at(p, caplen, h, "an ATM frame", l2, why, n);
	if (caplen > h && p[h] == 0x03)
		return skip_why(why, n, "Cisco NLPID frame (OSI), no IP");
	return ip_at(p, caplen, h, l2, why, n);
}

/* Juniper encryption services: IPsec packets, some behind a 16-byte header. */
static const char *rf_juniper_es(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				 struct tr_l2 *l2, char *why, size_t n)
{
	uint32_t h;
	const char *r = juniper(p, caplen, 0, &h, l2, why, n);

	(void)wirelen;
	if (r || l2->hdr)
		return r;
	if (caplen < h + 4)
		return too_short(caplen, "a Juniper ES header", h + 4, why, n);
	switch (p[h + 3]) {
	case 1:
	case 2:
		return ip_at(p, caplen, h, l2, why, n);
	case 3:
	case 4:
	case 5:
		return ip_at(p, caplen, h + 16, l2, why, n);
	}
	snprintf(why, n, "Juniper ES type %u, no IP", p[h + 3]);
	return why;
}

/* Switch tags inside Ethernet: Marvell DSA (4 bytes) and EDSA (8), Broadcom (4). */
static const char *tagged(const uint8_t *p, uint32_t caplen, uint32_t tag, struct tr_l2 *l2,
			  char *why, size_t n)
{
	l2->hdr = 14 + tag;
	if (caplen < l2->hdr)
		return too_short(caplen, "a tagged Ethernet header", l2->hdr, why, n);
	memcpy(l2->src, p + 6, 6);
	l2->type = be16(p + 12 + tag);
	return NULL;
}

static const char *rf_dsa(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			  char *why, size_t n)
{
	(void)wirelen;
	return tagged(p, caplen, 4, l2, why, n);
}

static const char *rf_edsa(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct tr_l2 *l2,
			   char *why, size_t n)
{
	(void)wirelen;
	return tagged(p, caplen, 8, l2, why, n);
}

/* Broadcom tag before the Ethernet header. */
static const char *rf_brcm_prepend(const uint8_t *p, uint32_t caplen, uint32_t wirelen,
				   struct tr_l2 *l2, char *why, size_t n)
{
	(void)wirelen;
	return ether_at(p, caplen, 4, l2, why, n);
}

static const struct tr_link tr_links[] = {
	{DLT_EN10MB, "EN10MB", NULL},
	{DLT_LINUX_SLL, "LINUX_SLL", rf_sll},
	{DLT_LINUX_SLL2, "LINUX_SLL2", rf_sll2},
	{DLT_RAW, "RAW", rf_raw},
	{DLT_IPV4, "IPV4", rf_ipv4},
	{DLT_IPV6, "IPV6", rf_ipv6},
	{DLT_NULL, "NULL", rf_null},
	{DLT_LOOP, "LOOP", rf_loop},
	{DLT_PPP, "PPP", rf_ppp},
	{DLT_PPP_SERIAL, "PPP_SERIAL", rf_ppp},
	{DLT_PPP_ETHER, "PPP_ETHER", rf_pppoe},
	{DLT_C_HDLC, "C_HDLC", rf_chdlc},
	{DLT_SLIP, "SLIP", rf_slip},
	{DLT_IPNET, "IPNET", rf_ipnet},
	{DLT_IEEE802_11, "IEEE802_11", rf_wifi},
	{DLT_IEEE802_11_RADIO, "IEEE802_11_RADIO", rf_radiotap},
	{DLT_PRISM_HEADER, "PRISM_HEADER", rf_prism},
	{DLT_IEEE802_11_RADIO_AVS, "IEEE802_11_RADIO_AVS", rf_avs},
	{DLT_PPI, "PPI", rf_ppi},
	{DLT_IEEE802_15_4_WITHFCS, "IEEE802_15_4", rf_lowpan},
	{DLT_IEEE802_15_4_NOFCS, "IEEE802_15_4_NOFCS", rf_lowpan},
	{DLT_IEEE802_15_4_LINUX, "IEEE802_15_4_LINUX", rf_lowpan},
	{DLT_IEEE802_15_4_NONASK_PHY, "IEEE802_15_4_NONASK_PHY", rf_lowpan_phy},
	{DLT_PKTAP, "PKTAP", rf_pktap},
	/* macOS writes PKTAP as USER2, its own value of DLT_PKTAP */
	{DLT_USER2, "USER2 (PKTAP)", rf_pktap},
	{DLT_JUNIPER_ETHER, "JUNIPER_ETHER", rf_juniper_ether},
	{DLT_JUNIPER_MONITOR, "JUNIPER_MONITOR", rf_juniper_monitor},
	{DLT_JUNIPER_ATM1, "JUNIPER_ATM1", rf_juniper_atm1},
	{DLT_JUNIPER_ES, "JUNIPER_ES", rf_juniper_es},
	{DLT_ATM_RFC1483, "ATM_RFC1483", rf_atm_llc},
	{DLT_ATM_CLIP, "ATM_CLIP", rf_atm_llc},
	{DLT_SUNATM, "SUNATM", rf_sunatm},
	{DLT_FRELAY, "FRELAY", rf_frelay},
	{DLT_MFR, "MFR", rf_mfr},
	{DLT_ARCNET_LINUX, "ARCNET_LINUX", rf_arcnet},
	{DLT_IPOIB, "IPOIB", rf_ipoib},
	{DLT_NFLOG, "NFLOG", rf_nflog},
	{DLT_DSA_TAG_DSA, "DSA_TAG_DSA", rf_dsa},
	{DLT_DSA_TAG_EDSA, "DSA_TAG_EDSA", rf_edsa},
	{DLT_DSA_TAG_BRCM, "DSA_TAG_BRCM", rf_dsa},
	{DLT_DSA_TAG_BRCM_PREPEND, "DSA_TAG_BRCM_PREPEND", rf_brcm_prepend},
};

#define TR_NLINKS (sizeof(tr_links) / sizeof(tr_links[0]))

static const struct tr_link *find_link(int dlt)
{
	size_t i;

	for (i = 0; i < TR_NLINKS; i++)
		if (tr_links[i].dlt == dlt)
			return &tr_links[i];
	return NULL;
}

static int skip_frame(struct tr_input *in, uint32_t caplen, uint32_t wirelen, const char *why)
{
	struct tr_frame *f;
	int err = add_frame(in, &f);

	if (err)
		return err;
	f->cap_len = caplen;
	f->wire_len = wirelen;
	f->skip = strdup(why);
	if (!f->skip) {
		pg_err("test: out of memory at frame %u", f->no);
		return -ENOMEM;
	}
	in->skipped++;
	return 0;
}

/*
 * One captured frame: re-framed if needed, truncated to TR_MAX_FRAME if
 * longer, or skipped. strict: a frame that cannot run whole is an error.
 */
static int take_frame(struct tr_input *in, const struct tr_link *link, const uint8_t *p,
		      uint32_t caplen, uint32_t wirelen, bool strict, const char *name)
{
	struct tr_l2 l2 = {};
	struct tr_frame *f;
	uint32_t eth, cap, wire, keep;
	const char *why = NULL;
	char whybuf[128];
	int err;

	if (wirelen < caplen)
		wirelen = caplen; /* broken writers: the bytes are what we have */
	if (!link->reframe) {
		if (caplen < TR_MIN_FRAME) {
			snprintf(whybuf, sizeof(whybuf),
				 "%u bytes, shorter than an Ethernet header", caplen);
			why = whybuf;
		}
	} else {
		why = link->reframe(p, caplen, wirelen, &l2, whybuf, sizeof(whybuf));
	}
	if (why && strict) {
		pg_err("test: pcap '%s' frame %u: %s (--strict: every frame must run)", name,
		       in->n + 1, why);
		return -EINVAL;
	}
	if (why)
		return skip_frame(in, caplen, wirelen, why);

	eth = link->reframe ? TR_MIN_FRAME + l2.ins_len : 0;
	cap = caplen - l2.hdr + eth;
	/* a capture may claim any wire length: saturate, never wrap below cap */
	wire = wirelen - l2.hdr > UINT32_MAX - eth ? UINT32_MAX : wirelen - l2.hdr + eth;
	if (cap > TR_MAX_FRAME && strict) {
		pg_err("test: pcap '%s' frame %u: %u bytes is longer than the largest frame (--strict: expected %d to %d bytes)",
		       name, in->n + 1, cap, TR_MIN_FRAME, TR_MAX_FRAME);
		return -EINVAL;
	}
	keep = cap > TR_MAX_FRAME ? TR_MAX_FRAME : cap;
	err = add_frame(in, &f);
	if (err)
		return err;
	f->data = malloc(keep);
	if (!f->data) {
		pg_err("test: out of memory at frame %u", f->no);
		return -ENOMEM;
	}
	if (eth) {
		memset(f->data, 0, 6); /* destination: unknown, the BNG's own */
		memcpy(f->data + 6, l2.src, 6);
		f->data[12] = (uint8_t)(l2.type >> 8);
		f->data[13] = (uint8_t)l2.type;
		memcpy(f->data + TR_MIN_FRAME, l2.ins, l2.ins_len);
	}
	memcpy(f->data + eth, p + l2.hdr, keep - eth);
	f->len = keep;
	f->cap_len = cap;
	f->wire_len = wire;
	f->outgoing = l2.outgoing;
	in->truncated += keep < cap;
	in->run++;
	return 0;
}

static void refuse_link(const char *name, int dlt)
{
	const char *lt = pcap_datalink_val_to_name(dlt);
	const char *desc = pcap_datalink_val_to_description(dlt);
	char num[24], known[1024] = "";
	size_t i, len = 0;

	for (i = 0; i < TR_NLINKS && len < sizeof(known); i++)
		len += snprintf(known + len, sizeof(known) - len, "%s%s",
				!i		    ? ""
				: i + 1 < TR_NLINKS ? ", "
						    : " or ",
				tr_links[i].what);
	snprintf(num, sizeof(num), "number %d", dlt);
	pg_err("test: pcap '%s': link type %s%s%s%s carries no frames portgate can re-frame (expected one that carries IP: %s)",
	       name, lt ?: num, desc ? " (" : "", desc ?: "", desc ? ")" : "", known);
}

/* A whole pcap or pcapng, read and checked before anything runs. */
int tr_read_pcap(struct tr_input *in, const char *path, bool strict)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *name = strcmp(path, "-") ? path : "standard input";
	const struct tr_link *link;
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int r, err = 0;

	p = strcmp(path, "-") ? pcap_open_offline(path, errbuf) : pcap_fopen_offline(stdin, errbuf);
	if (!p) {
		size_t plen = strlen(path);
		/* libpcap often starts the message with the file name already */
		const char *why = !strncmp(errbuf, path, plen) && errbuf[plen] == ':'
					  ? errbuf + plen + 2
					  : errbuf;

		pg_err("test: cannot read pcap '%s': %s (expected a pcap or pcapng file)", name,
		       why);
		return -EINVAL;
	}
	link = find_link(pcap_datalink(p));
	if (!link) {
		refuse_link(name, pcap_datalink(p));
		pcap_close(p);
		return -EINVAL;
	}
	in->link = link->what;
	in->reframed = link->reframe != NULL;
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		err = take_frame(in, link, data, h->caplen, h->len, strict, name);
		if (err)
			break;
	}
	if (r == PCAP_ERROR && !err) {
		char why[PCAP_ERRBUF_SIZE + 64];

		snprintf(why, sizeof(why),
			 "unreadable: %s (corrupt or cut capture), rest of the file not read",
			 pcap_geterr(p));
		if (strict || !in->n) {
			pg_err("test: pcap '%s': frame %u unreadable: %s (corrupt pcap?)", name,
			       in->n + 1, pcap_geterr(p));
			err = -EINVAL;
		} else {
			err = skip_frame(in, 0, 0, why);
		}
	}
	pcap_close(p);
	if (!err && !in->n) {
		pg_err("test: pcap '%s' holds no frames", name);
		err = -EINVAL;
	}
	return err;
}
