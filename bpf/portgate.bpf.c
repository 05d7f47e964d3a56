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
/* Set by the loader for private copies (portgate test): no tracing code at all. */
const volatile bool pg_trace_off = false;

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
	__uint(max_entries, PG_MAX_IFSLOTS);
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PG_SUM_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} PG_MAP_EXEMPT_SUM SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PG_GENS << PG_XT_V4_BITS);
	__type(key, __u32);
	__type(value, struct pg_xt_b4);
} PG_MAP_EXEMPT_TAB_V4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PG_GENS << PG_XT_V6_BITS);
	__type(key, __u32);
	__type(value, struct pg_xt_b6);
} PG_MAP_EXEMPT_TAB_V6 SEC(".maps");

/* User space's reference counts of the summary bits: never read here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PG_SUM_REFS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} PG_MAP_EXEMPT_REFS SEC(".maps");

/* Control word (see PG_SEC_CTL): read with one load, no lookup. */
struct pg_ctl PG_MAP_CTL SEC(PG_SEC_CTL);

/* Tracing (see include/portgate.h): touched only when a tracer is on. */
struct pg_trace_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PG_TRACE_RING_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, PG_TRACE_SLOTS);
	__type(key, __u32);
	__array(values, struct pg_trace_ring);
} PG_MAP_TRACE_RINGS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PG_TRACE_SLOTS);
	__type(key, __u32);
	__type(value, struct pg_trace_cfg);
} PG_MAP_TRACE_CFG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_TRACE_SLOTS);
	__type(key, __u32);
	__type(value, struct pg_trace_rl);
} PG_MAP_TRACE_RL SEC(".maps");

/* The event under construction: built once, copied into each tracer's ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_trace_event);
} pg_trace_scratch SEC(".maps");

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

/* The summary's two bits of addr's bucket b (host: bit 0, prefix: bit 1); 0 = nothing there. */
static __always_inline __u32 pg_exempt_sum_bits(__u32 gen, bool v6, __u32 b)
{
	__u32 idx = pg_sum_index(gen, v6, b);
	__u64 *w = bpf_map_lookup_elem(&PG_MAP_EXEMPT_SUM, &idx);

	return w ? (*w >> pg_sum_bit(PG_SUM_HOST, b)) & 3 : 0;
}

/* The host filter's bit for the address: clear = no host exemption of this generation has it. */
static __always_inline bool pg_exempt_bloom_hit(__u32 gen, bool v6, __u64 hi, __u64 lo)
{
	__u32 h = pg_sum_bloom_hash_w(v6, hi, lo);
	__u32 idx = pg_sum_bloom_index(gen, v6, h);
	__u64 *w = bpf_map_lookup_elem(&PG_MAP_EXEMPT_SUM, &idx);

	return w && ((*w >> (h & 63)) & 1);
}

/* An address as numbers (pg_addr_be()): IPv4 hi only; word loads, one swap each. */
static __always_inline void pg_addr_words(bool v6, const __u8 *addr, __u64 *hi, __u64 *lo)
{
	const __u32 *w = (const __u32 *)addr;

	if (!v6) {
		*hi = bpf_ntohl(w[0]);
		*lo = 0;
		return;
	}
	*hi = (__u64)bpf_ntohl(w[0]) << 32 | bpf_ntohl(w[1]);
	*lo = (__u64)bpf_ntohl(w[2]) << 32 | bpf_ntohl(w[3]);
}

/* One table bucket: 1 = the slot is there, 0 = not, -1 = not in it but the bucket overflowed. */
static __always_inline int pg_xt_find_v4(__u32 gen, __u64 key)
{
	__u32 idx = pg_xt_index_v4(gen, pg_xt_hash_v4(key));
	struct pg_xt_b4 *b = bpf_map_lookup_elem(&PG_MAP_EXEMPT_TAB_V4, &idx);
	int i;

	if (!b)
		return 0;
#pragma unroll
	for (i = 0; i < PG_XT_V4_SLOTS; i++)
		if (b->k[i] == key)
			return 1;
	return b->over ? -1 : 0;
}

static __always_inline int pg_xt_find_v6(__u32 gen, __u64 hi, __u64 lo, __u32 meta)
{
	__u32 idx = pg_xt_index_v6(gen, pg_xt_hash_v6(hi, lo, meta));
	struct pg_xt_b6 *b = bpf_map_lookup_elem(&PG_MAP_EXEMPT_TAB_V6, &idx);
	int i;

	if (!b)
		return 0;
#pragma unroll
	for (i = 0; i < PG_XT_V6_SLOTS; i++)
		if (b->s[i].meta == meta && b->s[i].lo == lo && b->s[i].hi == hi)
			return 1;
	return b->over ? -1 : 0;
}

/*
 * The prefix levels in mask, longest first (a business /28 is likelier
 * than an NMS /20): 1 = covered, 0 = not, -1 = a probed bucket overflowed
 * and the trie must decide. Global functions: verified once, not per call.
 */
__attribute__((noinline)) int pg_xt_levels_v4(__u32 gen, __u32 mask, __u32 meta, __u32 addr)
{
	int l, r, over = 0;

#pragma unroll
	for (l = PG_XT_LEVELS_V4 - 1; l >= 0; l--) {
		if (!(mask & (1U << l)))
			continue;
		r = pg_xt_find_v4(gen, pg_xt_key_v4(meta | (__u32)l << 25,
						    pg_xt_mask_v4(addr, pg_xt_level_len(0, l))));
		if (r > 0)
			return 1;
		over |= r;
	}
	return over;
}

__attribute__((noinline)) int pg_xt_levels_v6(__u32 gen, __u32 mask, __u32 meta, __u64 hi, __u64 lo)
{
	int l, r, over = 0;

#pragma unroll
	for (l = PG_XT_LEVELS_V6 - 1; l >= 0; l--) {
		__u64 h = hi, o = lo;

		if (!(mask & (1U << l)))
			continue;
		pg_xt_mask_v6(&h, &o, pg_xt_level_len(1, l));
		r = pg_xt_find_v6(gen, h, o, meta | (__u32)l << 25);
		if (r > 0)
			return 1;
		over |= r;
	}
	return over;
}

/* A host exemption: its table slot; the trie only behind an overflowed bucket. */
static __always_inline bool pg_exempt_host_xt(__u32 gen, bool v6, __u8 side, __u32 dir, __u8 proto,
					      __u16 port, const __u8 *addr, __u64 hi, __u64 lo)
{
	__u32 meta = pg_xt_meta(v6 ? PG_XT_LEVELS_V6 : PG_XT_LEVELS_V4,
				pg_exempt_scope(gen, side, dir), proto, port);
	int r;

	if (v6)
		r = pg_xt_find_v6(gen, hi, lo, meta);
	else
		r = pg_xt_find_v4(gen, pg_xt_key_v4(meta, hi));
	if (r >= 0)
		return r;
	return pg_exempt_has(gen, v6, side, dir, proto, port, addr);
}

/* A prefix exemption of one kind: the levels it uses; the trie behind an overflowed bucket. */
static __always_inline bool pg_exempt_prefix_xt(__u32 gen, bool v6, __u32 mask, __u8 side,
						__u32 dir, __u8 proto, __u16 port, const __u8 *addr,
						__u64 hi, __u64 lo)
{
	__u32 meta = pg_xt_meta(0, pg_exempt_scope(gen, side, dir), proto, port);
	int r;

	if (!mask)
		return false;
	if (v6)
		r = pg_xt_levels_v6(gen, mask, meta, hi, lo);
	else
		r = pg_xt_levels_v4(gen, mask, meta, hi);
	if (r >= 0)
		return r;
	return pg_exempt_has(gen, v6, side, dir, proto, port, addr);
}

/*
 * One side (its address): kinds without entries are skipped. Behind a set
 * host bit of the address's bucket and filter bit, its host slots; behind
 * a set prefix bit, one slot per prefix level the kind uses. Only while
 * the family holds a prefix wider than the buckets do its prefix kinds
 * walk the trie instead.
 */
static __always_inline bool pg_exempt_side(const struct pg_exempt_kinds *kinds, __u32 gen, bool v6,
					   __u8 side, __u32 dir, __u8 proto, __u16 port,
					   const __u8 *addr)
{
	__u32 kr = pg_exempt_kind(v6, side, 0, dir), ka = pg_exempt_kind(v6, side, 1, dir);
	__u32 hr = kinds->host[kr], ha = kinds->host[ka];
	__u32 pr = kinds->prefix[kr], pa = kinds->prefix[ka];
	__u64 hi, lo;
	__u32 bits;

	if (!(hr | ha | pr | pa))
		return false;
	pg_addr_words(v6, addr, &hi, &lo);
	bits = pg_exempt_sum_bits(gen, v6, v6 ? pg_sum_bucket_v6w(hi) : pg_sum_bucket_v4w(hi));
	if ((bits & 1) && pg_exempt_bloom_hit(gen, v6, hi, lo)) {
		if (hr && pg_exempt_host_xt(gen, v6, side, dir, proto, port, addr, hi, lo))
			return true;
		if (ha &&
		    pg_exempt_host_xt(gen, v6, side, dir, PG_EXEMPT_ALL_RULES, 0, addr, hi, lo))
			return true;
	}
	if (kinds->wide[v6]) {
		if (pr && pg_exempt_has(gen, v6, side, dir, proto, port, addr))
			return true;
		return pa && pg_exempt_has(gen, v6, side, dir, PG_EXEMPT_ALL_RULES, 0, addr);
	}
	if (!(bits & 2))
		return false;
	if (pr &&
	    pg_exempt_prefix_xt(gen, v6, kinds->levels[kr], side, dir, proto, port, addr, hi, lo))
		return true;
	return pa && pg_exempt_prefix_xt(gen, v6, kinds->levels[ka], side, dir, PG_EXEMPT_ALL_RULES,
					 0, addr, hi, lo);
}

/* Both sides, this rule then all rules; v6 is a constant in each copy. */
static __always_inline bool pg_is_exempt_af(const struct pg_exempt_kinds *kinds, __u32 gen, bool v6,
					    const __u8 *src, const __u8 *dst, __u32 dir, __u8 proto,
					    __u16 rule_port)
{
	const __u8 *sub = dir == PG_DIR_IN ? dst : src;
	const __u8 *peer = dir == PG_DIR_IN ? src : dst;

	return pg_exempt_side(kinds, gen, v6, PG_SIDE_SUBSCRIBER, dir, proto, rule_port, sub) ||
	       pg_exempt_side(kinds, gen, v6, PG_SIDE_PEER, dir, proto, rule_port, peer);
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
static __always_inline int pg_match(const struct pg_pkt *pkt, __u32 dir, __u64 len, __u32 *rule)
{
	__u8 proto = pkt->l4proto == IPPROTO_UDP ? PG_PROTO_UDP : PG_PROTO_TCP;
	struct pg_port_entry *e;
	struct pg_counter *rc;
	__u32 gen = pg_live_gen();
	__u32 idx = pg_port_index(gen, dir, proto, pkt->dport);
	__u32 rule_id;
	__u16 rule_port;
	__u8 action, flags;

	e = bpf_map_lookup_elem(&PG_MAP_PORTS, &idx);
	if (!e)
		return PG_R_NO_MATCH;
	/* read once: user space may rewrite the entry under us */
	rule_id = e->rule_id;
	rule_port = e->rule_port;
	action = e->action;
	flags = e->flags;
	if (!rule_id)
		return PG_R_NO_MATCH;
	*rule = rule_id;
	/*
	 * TCP: connection attempts only, unless the rule says every segment.
	 * (PG_BENCH_NO_SYN_CHECK: a build for `bench-xdp syn-cost` only, the
	 * A/B that shows what this check costs the drop path.)
	 */
#ifndef PG_BENCH_NO_SYN_CHECK
	if (proto == PG_PROTO_TCP && !(flags & PG_RULE_F_ALL_SEGMENTS) && !pg_tcp_attempt(pkt))
		return PG_R_TCP_NOT_SYN;
#else
	(void)flags;
#endif
	if (pg_is_exempt(pkt, gen, dir, proto, rule_port))
		return PG_R_EXEMPT;

	rc = bpf_map_lookup_elem(&PG_MAP_RULE_STATS, &rule_id);
	if (rc) {
		rc->packets++;
		rc->bytes += len;
	}
	return action == PG_ACTION_MONITOR ? PG_R_MONITORED : PG_R_BLOCKED;
}

/* The frame's first bytes, for either hook's context (XDP: across frags too). */
#define pg_load_bytes(ctx, off, to, n)                    \
	_Generic((ctx), struct xdp_md *                   \
		 : bpf_xdp_load_bytes, struct __sk_buff * \
		 : bpf_skb_load_bytes)(ctx, off, to, n)

/* addr in the tracer's prefix: mask and compare four words (v4: the first). */
static __always_inline bool pg_trace_in_prefix(const struct pg_trace_cfg *cfg, const __u8 *addr)
{
	const __u32 *a = (const __u32 *)addr, *p = (const __u32 *)cfg->addr;
	const __u32 *m = (const __u32 *)cfg->mask;

	return (a[0] & m[0]) == p[0] && (a[1] & m[1]) == p[1] && (a[2] & m[2]) == p[2] &&
	       (a[3] & m[3]) == p[3];
}

/* Token bucket in ns of budget: rate events per second, burst deep. */
static __always_inline bool pg_trace_take(struct pg_trace_rl *rl, const struct pg_trace_cfg *cfg,
					  __u64 now)
{
	__u64 cap = (__u64)cfg->burst * PG_TRACE_TOKEN_NS;
	__u64 dt = now - rl->last_ns;
	__u64 tokens;

	if (dt > 10 * PG_TRACE_TOKEN_NS || rl->last_ns > now)
		dt = 10 * PG_TRACE_TOKEN_NS; /* first use, or long idle: a full bucket */
	tokens = rl->tokens + dt * cfg->rate;
	if (tokens > cap)
		tokens = cap;
	rl->last_ns = now;
	if (tokens < PG_TRACE_TOKEN_NS) {
		rl->tokens = tokens;
		rl->suppressed++;
		return false;
	}
	rl->tokens = tokens - PG_TRACE_TOKEN_NS;
	return true;
}

/* The event's headers from the parser's result (l3 is bounds-checked). */
static __always_inline void pg_trace_fill(struct pg_trace_event *ev, const struct pg_pkt *pkt,
					  __u32 reason, __u32 dir, __u32 rule, __u32 ifindex,
					  __u64 len, __u64 now)
{
	ev->ts_ns = now;
	ev->ifindex = ifindex;
	ev->len = len;
	ev->cap_len = 0;
	ev->rule_id = rule;
	ev->dir = dir;
	ev->reason = reason;
	ev->ip_version = 0;
	ev->l4proto = pkt->l4proto;
	ev->sport = pkt->sport;
	ev->dport = pkt->dport;
	ev->cpu = bpf_get_smp_processor_id();
	__builtin_memset(ev->saddr, 0, sizeof(ev->saddr));
	__builtin_memset(ev->daddr, 0, sizeof(ev->daddr));
	if (!pkt->l3)
		return;
	if (pkt->ip_version == 6) {
		const struct ipv6hdr *ip6 = pkt->l3;

		__builtin_memcpy(ev->saddr, &ip6->saddr, 16);
		__builtin_memcpy(ev->daddr, &ip6->daddr, 16);
		ev->ip_version = 6;
	} else if (pkt->ip_version == 4) {
		const struct iphdr *iph = pkt->l3;

		__builtin_memcpy(ev->saddr, &iph->saddr, 4);
		__builtin_memcpy(ev->daddr, &iph->daddr, 4);
		ev->ip_version = 4;
	}
}

/* The trace hook, once per context type (bpf/trace_hook.h). */
#define PG_TRACE_CTX struct xdp_md
#define PG_TRACE_FN(name) name##_xdp
#include "trace_hook.h"
#undef PG_TRACE_CTX
#undef PG_TRACE_FN
#define PG_TRACE_CTX struct __sk_buff
#define PG_TRACE_FN(name) name##_skb
#include "trace_hook.h"
#undef PG_TRACE_CTX
#undef PG_TRACE_FN

/*
 * The core, for every entry point: classify the frame at data, count the
 * reason (one counter, in the interface's slot) and hand it to the trace
 * hook: the one exit. ctx is the entry's context, skb says which type.
 */
static __always_inline __u32 pg_record(void *ctx, bool skb, __u32 reason, __u32 dir, __u32 rule,
				       __u32 ifindex, __u64 len)
{
	struct pg_stats *st;
	__u32 slot = pg_ifslot(ifindex);
	__u32 on;

	st = bpf_map_lookup_elem(&PG_MAP_STATS, &slot);
	if (st && reason < PG_R_COUNT) {
		st->reason[reason].packets++;
		st->reason[reason].bytes += len;
	}
	/* no tracer: one branch on the word beside the generation */
	on = *(volatile __u32 *)PG_MAP_CTL.trace;
	if (__builtin_expect(on != 0, 0) && ((PG_TRACE_REASONS >> reason) & 1) && !pg_trace_off) {
		if (skb)
			pg_trace_skb(ctx, on, reason | dir << 8 | rule << 16, ifindex, len);
		else
			pg_trace_xdp(ctx, on, reason | dir << 8 | rule << 16, ifindex, len);
	}
	return reason;
}

/* XDP ingress: inbound on an uplink, outbound on an access interface. */
static __always_inline int pg_filter_xdp(struct xdp_md *ctx, __u32 dir)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pg_pkt pkt = {};
	__u32 rule = 0;
	__u32 reason;
	__u64 len;

	len = pg_frags ? bpf_xdp_get_buff_len(ctx) : (__u64)(data_end - data);

	reason = pg_parse(data, data_end, &pkt);
	if (reason == PG_R_PORTS)
		reason = pg_match(&pkt, dir, len, &rule);
	reason = pg_record(ctx, false, reason, dir, rule, ctx->ingress_ifindex, len);
	return reason >= PG_R_FIRST_DROP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int PG_PROG_UPLINK(struct xdp_md *ctx)
{
	return pg_filter_xdp(ctx, PG_DIR_IN);
}

SEC("xdp")
int PG_PROG_ACCESS(struct xdp_md *ctx)
{
	return pg_filter_xdp(ctx, PG_DIR_OUT);
}

/* Pass is "unspec": filters after ours (other tools') still run, then the packet goes. */
#define PG_TC_ACT_UNSPEC (-1)
#define PG_TC_ACT_SHOT 2

/*
 * tc egress of an access interface: inbound traffic on its last hop to the
 * subscribers, hairpinned subscriber-to-subscriber traffic included. The
 * differences from XDP ingress: a VLAN tag may sit in skb metadata
 * (vlan_present/vlan_tci; the frame then starts with the inner ethertype,
 * which the parser reads as an untagged frame), the skb may be non-linear
 * (headers beyond the linear part are pulled in and the frame parsed again)
 * and a GSO skb is one verdict for all its segments, judged on its headers
 * (they are the same in every segment); len is skb->len, the whole skb.
 */
SEC("tc")
int PG_PROG_ACCESS_IN(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pg_pkt pkt = {};
	__u32 rule = 0;
	__u32 reason;
	__u64 len = skb->len;

	reason = pg_parse(data, data_end, &pkt);
	if (reason == PG_R_TRUNCATED && len > (__u64)(data_end - data)) {
		/* the headers go on past the linear part: pull them in (copies) */
		bpf_skb_pull_data(skb, len < PG_SKB_PULL ? len : PG_SKB_PULL);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		__builtin_memset(&pkt, 0, sizeof(pkt));
		reason = pg_parse(data, data_end, &pkt);
	}
	if (reason == PG_R_PORTS)
		reason = pg_match(&pkt, PG_DIR_IN, len, &rule);
	reason = pg_record(skb, true, reason, PG_DIR_IN, rule, skb->ifindex, len);
	return reason >= PG_R_FIRST_DROP ? PG_TC_ACT_SHOT : PG_TC_ACT_UNSPEC;
}
