// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * portgate XDP fast path: classify every frame, drop the (direction,
 * protocol, destination port) pairs the ISP blocks unless an exemption
 * covers the packet, and count every packet under exactly one reason.
 *
 * Two entry points share one core and one set of maps; each knows its
 * direction at compile time, so no packet pays a lookup to learn it.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

/* Per-CPU scratch slot that PG_FORGET launders header offsets through. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pg_scratch SEC(".maps");

/* A value read back from a map is unknown to the verifier: states merge. */
static __always_inline __u32 pg_launder(__u32 v)
{
	__u32 zero = 0;
	__u32 *slot = bpf_map_lookup_elem(&pg_scratch, &zero);

	if (!slot)
		return ~0U; /* fails every bound the parser checks */
	*slot = v;
	return *(volatile __u32 *)slot;
}

#define PG_FORGET(off) pg_launder(off)
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader when the program is loaded with BPF_F_XDP_HAS_FRAGS. */
const volatile bool pg_frags = false;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PG_PORTS_ENTRIES);
	__type(key, __u32);
	__type(value, struct pg_port_entry);
} PG_MAP_PORTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PG_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct pg_rule);
} PG_MAP_RULES SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct pg_counter);
} PG_MAP_RULE_STATS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_stats);
} PG_MAP_STATS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PG_GENS *PG_MAX_EXEMPT);
	__type(key, struct pg_exempt_v4_key);
	__type(value, struct pg_exempt_val);
} PG_MAP_EXEMPT_V4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PG_GENS *PG_MAX_EXEMPT);
	__type(key, struct pg_exempt_v6_key);
	__type(value, struct pg_exempt_val);
} PG_MAP_EXEMPT_V6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PG_GENS);
	__type(key, __u32);
	__type(value, struct pg_exempt_kinds);
} PG_MAP_EXEMPT_KINDS SEC(".maps");

/* Control word (see PG_SEC_CTL): read with one load, no lookup. */
struct pg_ctl PG_MAP_CTL SEC(PG_SEC_CTL);

/* One trie walk. The v4 key is the v6 key's first 12 bytes. */
static __always_inline bool pg_exempt_has(__u32 gen, bool v6, __u8 side, __u32 dir, __u8 proto,
					  __u16 port, const __u8 *addr)
{
	struct pg_exempt_v6_key k = {
		.prefixlen = PG_LPM_META_BITS + (v6 ? 128 : 32),
		.scope = pg_exempt_scope(gen, side, dir),
		.proto = proto,
		.port_hi = port >> 8,
		.port_lo = port & 0xff,
	};

	if (v6) {
		__builtin_memcpy(k.addr, addr, 16);
		return bpf_map_lookup_elem(&PG_MAP_EXEMPT_V6, &k);
	}
	__builtin_memcpy(k.addr, addr, 4);
	return bpf_map_lookup_elem(&PG_MAP_EXEMPT_V4, &k);
}

/* A kind with no entries cannot match: skip its walk. */
static __always_inline bool pg_exempt_try(const struct pg_exempt_kinds *kinds, __u32 gen, bool v6,
					  __u8 side, bool all_rules, __u32 dir, __u8 proto,
					  __u16 port, const __u8 *addr)
{
	if (!kinds->n[pg_exempt_kind(v6, side, all_rules, dir)])
		return false;
	if (all_rules)
		return pg_exempt_has(gen, v6, side, dir, PG_EXEMPT_ALL_RULES, 0, addr);
	return pg_exempt_has(gen, v6, side, dir, proto, port, addr);
}

/* Both sides, this rule then all rules; v6 is a constant in each copy. */
static __always_inline bool pg_is_exempt_af(const struct pg_exempt_kinds *kinds, __u32 gen, bool v6,
					    const __u8 *src, const __u8 *dst, __u32 dir, __u8 proto,
					    __u16 rule_port)
{
	const __u8 *sub = dir == PG_DIR_IN ? dst : src;
	const __u8 *peer = dir == PG_DIR_IN ? src : dst;

	return pg_exempt_try(kinds, gen, v6, PG_SIDE_SUBSCRIBER, false, dir, proto, rule_port,
			     sub) ||
	       pg_exempt_try(kinds, gen, v6, PG_SIDE_SUBSCRIBER, true, dir, proto, rule_port,
			     sub) ||
	       pg_exempt_try(kinds, gen, v6, PG_SIDE_PEER, false, dir, proto, rule_port, peer) ||
	       pg_exempt_try(kinds, gen, v6, PG_SIDE_PEER, true, dir, proto, rule_port, peer);
}

/*
 * Consulted only after a rule matched. The subscriber-side address is the
 * destination inbound and the source outbound; the peer is the other one.
 */
static __always_inline bool pg_is_exempt(const struct pg_pkt *pkt, __u32 gen, __u32 dir, __u8 proto,
					 __u16 rule_port)
{
	const struct pg_exempt_kinds *kinds;

	kinds = bpf_map_lookup_elem(&PG_MAP_EXEMPT_KINDS, &gen);
	if (!kinds)
		return false;
	if (pkt->ip_version == 6) {
		const struct ipv6hdr *ip6 = pkt->l3;

		return pg_is_exempt_af(kinds, gen, true, (const __u8 *)&ip6->saddr,
				       (const __u8 *)&ip6->daddr, dir, proto, rule_port);
	} else {
		const struct iphdr *iph = pkt->l3;

		return pg_is_exempt_af(kinds, gen, false, (const __u8 *)&iph->saddr,
				       (const __u8 *)&iph->daddr, dir, proto, rule_port);
	}
}

/* Read once per packet: every later lookup then sees one whole policy. */
static __always_inline __u32 pg_live_gen(void)
{
	return *(volatile __u32 *)&PG_MAP_CTL.gen & 1;
}

/* Rule lookup for a packet with ports: two array reads when nothing matches. */
static __always_inline int pg_match(const struct pg_pkt *pkt, __u32 dir, __u64 len)
{
	__u8 proto = pkt->l4proto == IPPROTO_UDP ? PG_PROTO_UDP : PG_PROTO_TCP;
	struct pg_port_entry *e;
	struct pg_counter *rc;
	__u32 gen = pg_live_gen();
	__u32 idx = pg_port_index(gen, dir, proto, pkt->dport);
	__u32 rule_id;
	__u16 rule_port;
	__u8 action;

	e = bpf_map_lookup_elem(&PG_MAP_PORTS, &idx);
	if (!e)
		return PG_R_NO_MATCH;
	/* read once: user space may rewrite the entry under us */
	rule_id = e->rule_id;
	rule_port = e->rule_port;
	action = e->action;
	if (!rule_id)
		return PG_R_NO_MATCH;
	if (pg_is_exempt(pkt, gen, dir, proto, rule_port))
		return PG_R_EXEMPT;

	rc = bpf_map_lookup_elem(&PG_MAP_RULE_STATS, &rule_id);
	if (rc) {
		rc->packets++;
		rc->bytes += len;
	}
	return action == PG_ACTION_MONITOR ? PG_R_MONITORED : PG_R_BLOCKED;
}

static __always_inline int pg_filter(struct xdp_md *ctx, __u32 dir)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pg_pkt pkt = {};
	struct pg_stats *st;
	__u32 zero = 0;
	__u32 reason;
	__u64 len;

	len = pg_frags ? bpf_xdp_get_buff_len(ctx) : (__u64)(data_end - data);

	reason = pg_parse(data, data_end, &pkt);
	if (reason == PG_R_PORTS)
		reason = pg_match(&pkt, dir, len);

	/* the one exit: count the reason, its verdict follows from it */
	st = bpf_map_lookup_elem(&PG_MAP_STATS, &zero);
	if (st && reason < PG_R_COUNT) {
		st->reason[reason].packets++;
		st->reason[reason].bytes += len;
	}
	return reason >= PG_R_FIRST_DROP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int PG_PROG_UPLINK(struct xdp_md *ctx)
{
	return pg_filter(ctx, PG_DIR_IN);
}

SEC("xdp")
int PG_PROG_ACCESS(struct xdp_md *ctx)
{
	return pg_filter(ctx, PG_DIR_OUT);
}
