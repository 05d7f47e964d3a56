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

struct tr_link {
	int dlt;
	const char *what;      /* for the refusal's list of link types */
	tr_reframe_fn reframe; /* NULL: Ethernet already */
};

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
	char num[24];

	snprintf(num, sizeof(num), "number %d", dlt);
	pg_err("test: pcap '%s': link type %s%s%s%s carries no frames portgate can re-frame (expected EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP, PPP, PPP_SERIAL, PPP_ETHER, C_HDLC, SLIP or IPNET)",
	       name, lt ?: num, desc ? " (" : "", desc ?: "", desc ? ")" : "");
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
