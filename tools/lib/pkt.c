// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Frame builder: see pkt.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "pkt.h"

#define ETH_HLEN 14

struct writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static uint8_t *put(struct writer *w, size_t n)
{
	uint8_t *p;

	if (w->overflow || w->len + n > w->cap) {
		w->overflow = true;
		return NULL;
	}
	p = w->buf + w->len;
	memset(p, 0, n);
	w->len += n;
	return p;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

uint16_t pkt_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t ext_len(uint8_t type)
{
	return type == IPPROTO_AH ? 16 : 8;
}

static size_t l4_hdr_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 8;
	}
	return 0;
}

/* Writes the transport header and payload; returns its start. */
static uint8_t *put_l4(struct writer *w, const struct pkt_spec *s, size_t full, size_t wrote)
{
	uint8_t *l4 = put(w, wrote);

	if (!l4)
		return NULL;
	/* build the full header in a scratch copy, then keep what fits */
	{
		uint8_t hdr[20] = {0};
		size_t hl = l4_hdr_len(s->proto);

		if (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP) {
			put16(hdr, s->sport);
			put16(hdr + 2, s->dport);
		}
		if (s->proto == IPPROTO_TCP) {
			put16(hdr + 4, 0x1000);				     /* seq */
			hdr[12] = 5 << 4;				     /* doff */
			hdr[13] = s->tcp_flags ? s->tcp_flags & 0xff : 0x02; /* SYN */
			put16(hdr + 14, 64240);
		} else if (s->proto == IPPROTO_UDP) {
			put16(hdr + 4, (uint16_t)full);
		} else if (s->proto == IPPROTO_ICMP) {
			hdr[0] = 8; /* echo request */
		} else if (s->proto == IPPROTO_ICMPV6) {
			hdr[0] = 128;
		}
		memcpy(l4, hdr, hl < wrote ? hl : wrote);
	}
	return l4;
}

static void put_eth(struct writer *w, const struct pkt_spec *s, uint16_t inner)
{
	static const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02};
	static const uint8_t smac[6] = {0x02, 0, 0, 0, 0, 0x01};
	uint8_t *eth = put(w, ETH_HLEN);
	uint8_t *type;
	int i;

	if (!eth)
		return;
	memcpy(eth, dmac, 6);
	memcpy(eth + 6, smac, 6);
	type = eth + 12;
	for (i = 0; i < s->nvlan && i < 3; i++) {
		uint8_t *tag = put(w, 4);

		if (!tag)
			return;
		put16(type, s->tpid[i] ? s->tpid[i] : 0x8100);
		put16(tag, s->vid[i] & 0x0fff);
		type = tag + 2;
	}
	put16(type, inner);
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	struct writer w = {.buf = buf, .cap = cap};
	uint8_t saddr[16], daddr[16];
	size_t l4_full, l4_wrote, ext_bytes = 0, l3_len = 0;
	uint16_t inner, ppp;
	uint8_t *pppoe_len = NULL;
	size_t pppoe_start = 0;
	int i, ver = s->version ? s->version : s->ip;
	uint8_t *l3 = NULL, *l4;

	l4_full = l4_hdr_len(s->proto) + s->payload;
	l4_wrote = s->l4_len ? s->l4_len : l4_full;
	if (s->ip == 4) {
		inet_pton(AF_INET, s->src ? s->src : "198.51.100.10", saddr);
		inet_pton(AF_INET, s->dst ? s->dst : "100.64.0.10", daddr);
		l3_len = (s->ihl ? s->ihl : 5) * 4u;
	} else if (s->ip == 6) {
		inet_pton(AF_INET6, s->src ? s->src : "2001:db8:100::10", saddr);
		inet_pton(AF_INET6, s->dst ? s->dst : "2001:db8:64::10", daddr);
		for (i = 0; i < s->next_ext && i < PKT_MAX_EXT; i++)
			ext_bytes += ext_len(s->ext[i]);
		l3_len = 40;
	}

	/* innermost ethertype first: it depends on the layers inside */
	ppp = s->ppp_proto ? s->ppp_proto : (s->ip == 6 ? 0x0057 : 0x0021);
	if (s->ethertype)
		inner = s->ethertype;
	else if (s->pppoe)
		inner = 0x8864;
	else if (s->mpls)
		inner = 0x8847;
	else
		inner = s->ip == 6 ? 0x86dd : 0x0800;
	put_eth(&w, s, inner);

	for (i = 0; i < s->mpls; i++) {
		uint8_t *lse = put(&w, 4);
		uint32_t v = (uint32_t)(100 + i) << 12 | 64;

		if (!lse)
			break;
		if (i == s->mpls - 1 && !s->mpls_no_bos)
			v |= 1 << 8;
		lse[0] = v >> 24;
		lse[1] = v >> 16;
		lse[2] = v >> 8;
		lse[3] = v;
	}
	if (s->pppoe) {
		uint8_t *h = put(&w, 6);

		if (h) {
			h[0] = 0x11;
			h[1] = 0x00;
			put16(h + 2, 0x0001);
			pppoe_len = h + 4;
			pppoe_start = w.len;
		}
		if (s->pppoe == PKT_PPPOE_PROTO1) {
			uint8_t *p = put(&w, 1);

			if (p)
				p[0] = ppp & 0xff;
		} else {
			uint8_t *p = put(&w, 2);

			if (p)
				put16(p, ppp);
		}
	}

	if (s->ip == 4) {
		uint8_t proto = s->next_override > 0 ? s->next_override : s->proto;

		l3 = put(&w, l3_len);
		if (l3) {
			uint16_t frag = s->frag_off & 0x1fff;

			if (s->more_frags)
				frag |= 0x2000;
			memset(l3 + 20, 1, l3_len > 20 ? l3_len - 20 : 0); /* NOPs */
			l3[0] = (uint8_t)(ver << 4 | ((s->ihl ? s->ihl : 5) & 0x0f));
			put16(l3 + 2, (uint16_t)(l3_len + l4_wrote));
			put16(l3 + 4, 0x1234);
			put16(l3 + 6, frag);
			l3[8] = 64;
			l3[9] = proto;
			memcpy(l3 + 12, saddr, 4);
			memcpy(l3 + 16, daddr, 4);
			put16(l3 + 10, pkt_csum(l3, l3_len, 0));
		}
	} else if (s->ip == 6) {
		uint8_t first = s->next_ext ? s->ext[0] : s->proto;

		if (s->next_override > 0)
			first = s->next_override;
		l3 = put(&w, 40);
		if (l3) {
			l3[0] = (uint8_t)(ver << 4);
			put16(l3 + 4, (uint16_t)(ext_bytes + l4_wrote));
			l3[6] = first;
			l3[7] = 64;
			memcpy(l3 + 8, saddr, 16);
			memcpy(l3 + 24, daddr, 16);
		}
		for (i = 0; i < s->next_ext && i < PKT_MAX_EXT; i++) {
			uint8_t t = s->ext[i];
			uint8_t next = i + 1 < s->next_ext ? s->ext[i + 1] : s->proto;
			uint8_t *e = put(&w, ext_len(t));

			if (!e)
				break;
			e[0] = next;
			if (t == IPPROTO_FRAGMENT) {
				uint16_t off = (uint16_t)(s->frag_off << 3);

				if (s->more_frags)
					off |= 1;
				put16(e + 2, off);
				put16(e + 6, 0x4242); /* identification */
			} else if (t == IPPROTO_AH) {
				e[1] = 16 / 4 - 2;
				put16(e + 6, 0x0100); /* SPI */
			} else {
				e[1] = 0;
				if (t == IPPROTO_ROUTING) {
					e[2] = 253; /* experimental type */
				} else {
					e[2] = 1; /* PadN over the rest */
					e[3] = 4;
				}
			}
		}
	}

	l4 = put_l4(&w, s, l4_full, l4_wrote);

	/* checksums only for whole, unfragmented datagrams */
	if (l3 && l4 && !s->l4_len && !s->frag_off && !s->more_frags && !w.overflow &&
	    (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP)) {
		uint8_t ph[40] = {0};
		size_t pl;
		uint16_t c;
		int off = s->proto == IPPROTO_TCP ? 16 : 6;

		if (s->ip == 4) {
			memcpy(ph, saddr, 4);
			memcpy(ph + 4, daddr, 4);
			ph[9] = s->proto;
			put16(ph + 10, (uint16_t)l4_full);
			pl = 12;
		} else {
			memcpy(ph, saddr, 16);
			memcpy(ph + 16, daddr, 16);
			put16(ph + 34, (uint16_t)l4_full);
			ph[39] = s->proto;
			pl = 40;
		}
		c = pkt_csum(l4, l4_full, (uint16_t)~pkt_csum(ph, pl, 0));
		if (s->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		put16(l4 + off, c);
	}

	if (pppoe_len)
		put16(pppoe_len, (uint16_t)(w.len - pppoe_start));
	if (w.len < s->min_len)
		put(&w, s->min_len - w.len);
	return w.overflow ? 0 : w.len;
}

size_t pkt_simple(int ip, uint8_t proto, uint16_t dport, uint8_t *buf, size_t cap)
{
	struct pkt_spec s = {
		.ip = ip,
		.proto = proto,
		.sport = 40000,
		.dport = dport,
	};

	return pkt_build(&s, buf, cap);
}
