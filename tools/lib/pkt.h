/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame builder for tests, the traffic generator and the benchmarks: one
 * declarative description (struct pkt_spec) in, wire bytes with correct
 * lengths and checksums out. Every encapsulation portgate parses can be
 * built: 802.1Q/802.1ad/0x9100 tags, MPLS, PPPoE session, IPv4 options,
 * IPv6 extension headers, fragments.
 */
#ifndef PORTGATE_PKT_H
#define PORTGATE_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 9216
#define PKT_MAX_EXT 12

enum pkt_pppoe {
	PKT_PPPOE_NONE = 0,
	PKT_PPPOE_PROTO2, /* 2-byte PPP protocol field */
	PKT_PPPOE_PROTO1, /* compressed 1-byte field (PFC) */
};

struct pkt_spec {
	/* L2: up to 3 tags (the third is for negative tests) */
	int nvlan;
	uint16_t tpid[3]; /* 0 = 0x8100 */
	uint16_t vid[3];
	uint16_t ethertype; /* 0 = derived from the layers below */
	int mpls;	    /* number of labels, 0 = none */
	bool mpls_no_bos;   /* never set bottom-of-stack */
	enum pkt_pppoe pppoe;
	uint16_t ppp_proto; /* 0 = derived from ip */

	/* L3 */
	int ip;		 /* 4 or 6; 0 = no IP header (payload only) */
	const char *src; /* textual address; defaults per family */
	const char *dst;
	uint8_t ihl;	   /* IPv4 header words, 0 = 5; options are NOPs */
	uint8_t version;   /* 0 = matches ip; set to build bad versions */
	uint16_t frag_off; /* fragment offset in 8-byte units */
	bool more_frags;
	int next_override;	  /* >0: L3 protocol/next header to write instead */
	int next_ext;		  /* IPv6 extension headers, in order */
	uint8_t ext[PKT_MAX_EXT]; /* IPPROTO_HOPOPTS/ROUTING/DSTOPTS/FRAGMENT/AH */

	/* L4 */
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, ... */
	uint16_t sport;
	uint16_t dport;
	uint16_t tcp_flags; /* 0: SYN; PKT_TCP_FLAGS(f): exactly the flags f */
	size_t payload;	    /* bytes after the L4 header */
	size_t l4_len;	    /* >0: L4 bytes actually written (tiny fragments) */
	size_t min_len;	    /* pad the frame to at least this many bytes */
};

#define PKT_TCP_FLAGS(f) ((uint16_t)(0x100 | ((f)&0xff)))

/* Builds the frame into buf; returns its length, or 0 if it won't fit. */
size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/* Convenience: a plain Ethernet/IPv4 or IPv6 TCP/UDP frame. */
size_t pkt_simple(int ip, uint8_t proto, uint16_t dport, uint8_t *buf, size_t cap);

/* Internet checksum over len bytes, folded; sum is a running partial sum. */
uint16_t pkt_csum(const void *data, size_t len, uint32_t sum);

#endif /* PORTGATE_PKT_H */
