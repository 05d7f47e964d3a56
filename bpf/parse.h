/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame parser shared by the XDP program and user space (`portgate test`
 * describes frames with the very code that classifies them). Plain C on
 * two pointers: no BPF helpers, every read bounds-checked, every loop
 * bounded by a named limit from the ABI header.
 *
 * User space must include <netinet/in.h> before this file.
 */
#ifndef PORTGATE_PARSE_H
#define PORTGATE_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#include "portgate.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * PG_FORGET(off) hands back the same header offset with everything the BPF
 * verifier knew about it forgotten (the XDP program launders it through a
 * per-CPU scratch slot). Without it every encapsulation path and every
 * IPv6 extension-header combination is verified separately, which grows
 * exponentially past the verifier's budget. Identity in user space.
 */
/* clang unrolls the short L2 loops for BPF; gcc has no such pragma. */
#ifdef __clang__
#define PG_UNROLL _Pragma("unroll")
#else
#define PG_UNROLL
#endif

#ifndef PG_FORGET
#define PG_FORGET(off) (off)
#endif

/*
 * Header views. The program loads headers where they lie; user space must
 * not assume alignment either (an IP header starts at offset 14, 18, 21,
 * ... of a frame), so its views have alignment 1: no misaligned access,
 * which UBSan reports and strict-alignment machines fault on.
 */
#ifdef __bpf__
#define PG_UNALIGNED
#else
#define PG_UNALIGNED __attribute__((aligned(1)))
#endif
typedef struct iphdr pg_iphdr PG_UNALIGNED;
typedef struct ipv6hdr pg_ipv6hdr PG_UNALIGNED;
typedef __u16 pg_be16 PG_UNALIGNED;

/* Headers start within this many bytes of the frame: bounds PG_FORGET. */
#define PG_MAX_L3_OFF 64
#define PG_MAX_HDR_OFF 0x7fff

#ifndef ETH_P_QINQ1
#define ETH_P_QINQ1 0x9100
#endif

#define PG_PPP_IPV4 0x0021
#define PG_PPP_IPV6 0x0057
#define PG_PPPOE_VER_TYPE 0x11

#define PG_IP_MF 0x2000
#define PG_IP_OFFMASK 0x1fff
#define PG_IP6_OFFMASK 0xfff8
#define PG_IP6_MF 0x0001

/* What the parser learnt; user space prints it, XDP uses l3/l4/ports. */
enum pg_encap {
	PG_ENCAP_VLAN = 1 << 0,
	PG_ENCAP_MPLS = 1 << 1,
	PG_ENCAP_PPPOE = 1 << 2,
};

enum pg_frag {
	PG_FRAG_NONE = 0,
	PG_FRAG_FIRST = 1,
	PG_FRAG_LATER = 2,
};

struct pg_pkt {
	void *l3;    /* struct iphdr or struct ipv6hdr, bounds-checked */
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u16 vlan_id[PG_MAX_VLAN];
	__u8 ip_version; /* 4, 6, or 0 when not reached */
	__u8 l4proto;	 /* IPPROTO_* of the transport header */
	__u8 encap;	 /* enum pg_encap bits */
	__u8 vlans;
	__u8 mpls;
	__u8 ext_hdrs;	/* IPv6 extension headers walked */
	__u8 frag;	/* enum pg_frag */
	__u8 tcp_flags; /* TCP flags byte (offset 13), when tcp_seen */
	__u8 tcp_seen;	/* the TCP header reaches the flags (per length and frame) */
};

#define PG_TCP_FIN 0x01
#define PG_TCP_SYN 0x02
#define PG_TCP_RST 0x04
#define PG_TCP_ACK 0x10
#define PG_TCP_FLAGS_OFF 13

/*
 * A TCP segment that may open a connection: SYN without ACK, or a header
 * too short to show the flags (fail closed: it might be a SYN).
 */
static __always_inline int pg_tcp_attempt(const struct pg_pkt *pkt)
{
	return !pkt->tcp_seen || (pkt->tcp_flags & (PG_TCP_SYN | PG_TCP_ACK)) == PG_TCP_SYN;
}

struct pg_cursor {
	void *start;
	void *pos;
	void *end;
};

/* Re-derive the cursor from a laundered offset; false if out of bounds. */
static __always_inline int pg_forget(struct pg_cursor *c, __u32 max)
{
	__u32 off = PG_FORGET((__u32)(c->pos - c->start));

	if (off > max)
		return 0;
	c->pos = c->start + off;
	return 1;
}

/* Returns the header at the cursor and advances past it, or NULL. */
static __always_inline void *pg_pull(struct pg_cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return (void *)0;
	c->pos = p + len;
	return p;
}

/* Ethernet, then up to PG_MAX_VLAN tags: returns the inner ethertype. */
static __always_inline int pg_parse_eth(struct pg_cursor *c, struct pg_pkt *pkt, __u16 *proto)
{
	struct ethhdr *eth = pg_pull(c, sizeof(*eth));
	__u16 type;
	int i;

	if (!eth)
		return PG_R_TRUNCATED;
	type = eth->h_proto;

	PG_UNROLL
	for (i = 0; i < PG_MAX_VLAN + 1; i++) {
		pg_be16 *tag;

		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD) &&
		    type != bpf_htons(ETH_P_QINQ1))
			break;
		if (i == PG_MAX_VLAN)
			return PG_R_VLAN_DEPTH;
		/* TCI, then the next ethertype */
		tag = pg_pull(c, 4);
		if (!tag)
			return PG_R_TRUNCATED;
		pkt->vlan_id[i] = bpf_ntohs(tag[0]) & 0x0fff;
		pkt->vlans = i + 1;
		pkt->encap |= PG_ENCAP_VLAN;
		type = tag[1];
	}
	*proto = bpf_ntohs(type);
	return PG_R_PORTS;
}

/* Up to PG_MAX_MPLS labels; the payload's version nibble picks the L3. */
static __always_inline int pg_parse_mpls(struct pg_cursor *c, struct pg_pkt *pkt, __u16 *proto)
{
	__u8 *ver;
	int i;

	pkt->encap |= PG_ENCAP_MPLS;
	PG_UNROLL
	for (i = 0; i < PG_MAX_MPLS; i++) {
		__u8 *label = pg_pull(c, 4);

		if (!label)
			return PG_R_TRUNCATED;
		pkt->mpls = i + 1;
		if (label[2] & 0x01) /* bottom of stack */
			goto payload;
	}
	return PG_R_MPLS_DEPTH;
payload:
	ver = c->pos;
	if ((void *)(ver + 1) > c->end)
		return PG_R_TRUNCATED;
	switch (*ver >> 4) {
	case 4:
		*proto = ETH_P_IP;
		return PG_R_PORTS;
	case 6:
		*proto = ETH_P_IPV6;
		return PG_R_PORTS;
	}
	/* pseudowire control word, Ethernet over MPLS, ...: not ours */
	return PG_R_NOT_IP;
}

/* PPPoE session header and the PPP protocol field (2 bytes or PFC 1 byte). */
static __always_inline int pg_parse_pppoe(struct pg_cursor *c, struct pg_pkt *pkt, __u16 *proto)
{
	__u8 *hdr = pg_pull(c, 6);
	__u8 *ppp;
	__u16 ppp_proto;

	if (!hdr)
		return PG_R_TRUNCATED;
	if (hdr[0] != PG_PPPOE_VER_TYPE || hdr[1] != 0)
		return PG_R_BAD_PPPOE;
	pkt->encap |= PG_ENCAP_PPPOE;
	ppp = pg_pull(c, 1);
	if (!ppp)
		return PG_R_TRUNCATED;
	/* RFC 1661: an odd first octet is a compressed one-octet field. */
	if (ppp[0] & 0x01) {
		ppp_proto = ppp[0];
	} else {
		__u8 *lo = pg_pull(c, 1);

		if (!lo)
			return PG_R_TRUNCATED;
		ppp_proto = (__u16)(ppp[0] << 8) | lo[0];
	}
	if (ppp_proto == PG_PPP_IPV4)
		*proto = ETH_P_IP;
	else if (ppp_proto == PG_PPP_IPV6)
		*proto = ETH_P_IPV6;
	else
		return PG_R_NOT_IP; /* LCP, IPCP, IPV6CP, PAP, CHAP, ... */
	return PG_R_PORTS;
}

/*
 * IPv4: version and IHL validated, options skipped. *l4_len is how many
 * transport bytes this datagram (fragment) carries according to tot_len.
 */
static __always_inline int pg_parse_ipv4(struct pg_cursor *c, struct pg_pkt *pkt, __u32 *l4_len)
{
	pg_iphdr *iph = c->pos;
	__u32 hlen, tot_len;
	__u16 frag_off;

	if ((void *)(iph + 1) > c->end)
		return PG_R_TRUNCATED;
	if (iph->version != 4)
		return PG_R_BAD_VERSION;
	if (iph->ihl < 5)
		return PG_R_BAD_IHL;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen)
		return PG_R_BAD_LENGTH;
	if (!pg_pull(c, hlen))
		return PG_R_TRUNCATED;

	pkt->ip_version = 4;
	pkt->l3 = iph;
	pkt->l4proto = iph->protocol;
	*l4_len = tot_len - hlen;

	frag_off = bpf_ntohs(iph->frag_off);
	if (frag_off & PG_IP_OFFMASK) {
		pkt->frag = PG_FRAG_LATER;
		/* RFC 1858: offset 1 rewrites the first fragment's header */
		if ((frag_off & PG_IP_OFFMASK) == 1)
			return PG_R_FRAG_OFF1;
		return PG_R_FRAG_LATER;
	}
	if (frag_off & PG_IP_MF)
		pkt->frag = PG_FRAG_FIRST;
	return PG_R_PORTS;
}

/* Extension headers a router may have to walk to reach the ports. */
static __always_inline int pg_ipv6_is_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH;
}

/* IPv6 and up to PG_MAX_IPV6_EXT extension headers. */
static __always_inline int pg_parse_ipv6(struct pg_cursor *c, struct pg_pkt *pkt, __u32 *l4_len)
{
	pg_ipv6hdr *ip6 = pg_pull(c, sizeof(*ip6));
	__u32 left; /* payload bytes after the headers walked so far */
	__u8 next;
	int i;

	if (!ip6)
		return PG_R_TRUNCATED;
	if (ip6->version != 6)
		return PG_R_BAD_VERSION;
	pkt->ip_version = 6;
	pkt->l3 = ip6;
	left = bpf_ntohs(ip6->payload_len);
	next = ip6->nexthdr;

	/* unrolled like the L2 loops: Linux 6.1 rejects this loop's back-edge */
	PG_UNROLL
	for (i = 0; i < PG_MAX_IPV6_EXT; i++) {
		__u8 *ext;
		__u32 len;

		if (!pg_ipv6_is_ext(next))
			goto done;
		ext = c->pos;
		if ((void *)(ext + 8) > c->end) {
			/* chain cut short by the payload length: tiny fragment */
			if (pkt->frag == PG_FRAG_FIRST && left < 8)
				return PG_R_FRAG_SHORT;
			return PG_R_TRUNCATED;
		}
		if (next == IPPROTO_FRAGMENT) {
			__u16 off = bpf_ntohs(*(pg_be16 *)(ext + 2));

			len = 8;
			if (off & PG_IP6_OFFMASK) {
				pkt->frag = PG_FRAG_LATER;
				pkt->l4proto = ext[0];
				return PG_R_FRAG_LATER;
			}
			if (off & PG_IP6_MF)
				pkt->frag = PG_FRAG_FIRST;
		} else if (next == IPPROTO_AH) {
			len = ((__u32)ext[1] + 2) * 4;
		} else {
			len = ((__u32)ext[1] + 1) * 8;
		}
		if (len > left) {
			if (pkt->frag == PG_FRAG_FIRST)
				return PG_R_FRAG_SHORT;
			return PG_R_BAD_LENGTH;
		}
		if (!pg_pull(c, len))
			return PG_R_TRUNCATED;
		left -= len;
		next = ext[0];
		pkt->ext_hdrs = i + 1;
		if (!pg_forget(c, PG_MAX_HDR_OFF))
			return PG_R_TRUNCATED;
	}
	/* Fail closed: the receiver would keep walking past our limit. */
	if (pg_ipv6_is_ext(next))
		return PG_R_V6_CHAIN;
done:
	pkt->l4proto = next;
	*l4_len = left;
	return PG_R_PORTS;
}

/* Transport ports; only the first 4 bytes of TCP/UDP are needed. */
static __always_inline int pg_parse_l4(struct pg_cursor *c, struct pg_pkt *pkt, __u32 l4_len)
{
	pg_be16 *ports;

	if (pkt->l4proto != IPPROTO_TCP && pkt->l4proto != IPPROTO_UDP)
		return PG_R_OTHER_L4;
	/* a first fragment must carry the port it is filtered on */
	if (l4_len < 4)
		return pkt->frag == PG_FRAG_FIRST ? PG_R_FRAG_SHORT : PG_R_BAD_LENGTH;
	ports = pg_pull(c, 4);
	if (!ports)
		return PG_R_TRUNCATED;
	pkt->sport = bpf_ntohs(ports[0]);
	pkt->dport = bpf_ntohs(ports[1]);
	if (pkt->l4proto == IPPROTO_TCP && l4_len > PG_TCP_FLAGS_OFF) {
		__u8 *flags = (__u8 *)ports + PG_TCP_FLAGS_OFF;

		if ((void *)(flags + 1) <= c->end) {
			pkt->tcp_flags = *flags;
			pkt->tcp_seen = 1;
		}
	}
	return PG_R_PORTS;
}

/*
 * Classify one frame. Returns PG_R_PORTS when pkt holds an IP TCP/UDP
 * destination port to look up, otherwise the final reason.
 */
static __always_inline int pg_parse(void *data, void *data_end, struct pg_pkt *pkt)
{
	struct pg_cursor c = {.start = data, .pos = data, .end = data_end};
	__u32 l4_len = 0;
	__u16 proto = 0;
	int r;

	r = pg_parse_eth(&c, pkt, &proto);
	if (r != PG_R_PORTS)
		return r;

	if (proto == ETH_P_MPLS_UC)
		r = pg_parse_mpls(&c, pkt, &proto);
	else if (proto == ETH_P_PPP_SES)
		r = pg_parse_pppoe(&c, pkt, &proto);
	if (r != PG_R_PORTS)
		return r;
	/* one verifier state for all encapsulations from here on */
	if (!pg_forget(&c, PG_MAX_L3_OFF))
		return PG_R_TRUNCATED;

	if (proto == ETH_P_IP)
		r = pg_parse_ipv4(&c, pkt, &l4_len);
	else if (proto == ETH_P_IPV6)
		r = pg_parse_ipv6(&c, pkt, &l4_len);
	else
		return PG_R_NOT_IP; /* ARP, PPPoE discovery, LLDP, ... */
	if (r != PG_R_PORTS)
		return r;

	return pg_parse_l4(&c, pkt, l4_len);
}

#endif /* PORTGATE_PARSE_H */
