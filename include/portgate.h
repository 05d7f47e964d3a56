/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * portgate ABI: the one contract between the XDP program (bpf/) and user
 * space (loader/, tests/, tools/). Map names, key/value layouts, counter
 * indices and limits are defined here and nowhere else.
 */
#ifndef PORTGATE_H
#define PORTGATE_H

#include <linux/types.h>

#define PG_STR_(x) #x
#define PG_STR(x) PG_STR_(x)

/* Map names: identifiers for the BPF side, PG_STR() for pin file names. */
#define PG_MAP_PORTS pg_ports
#define PG_MAP_RULES pg_rules
#define PG_MAP_RULE_STATS pg_rule_stats
#define PG_MAP_STATS pg_stats
#define PG_MAP_EXEMPT_V4 pg_exempt_v4
#define PG_MAP_EXEMPT_V6 pg_exempt_v6
#define PG_MAP_EXEMPT_KINDS pg_exempt_kinds
#define PG_MAP_EXEMPT_SUM pg_exempt_sum
#define PG_MAP_EXEMPT_REFS pg_exempt_refs
#define PG_MAP_EXEMPT_TAB_V4 pg_exempt_t4
#define PG_MAP_EXEMPT_TAB_V6 pg_exempt_t6
#define PG_MAP_CTL pg_ctl
#define PG_MAP_TRACE_RINGS pg_trace_rings
#define PG_MAP_TRACE_CFG pg_trace_cfg
#define PG_MAP_TRACE_RL pg_trace_rl

/* Program (entry point) names: one per direction, one shared core. */
#define PG_PROG_UPLINK portgate_uplink
#define PG_PROG_ACCESS portgate_access
/*
 * The third entry point: tc egress (sched_cls) of a subscriber-facing
 * interface, judging inbound traffic (toward subscribers) on its way out.
 * Same core, parser, maps and reasons as the XDP programs.
 */
#define PG_PROG_ACCESS_IN portgate_access_in

/*
 * The tc filter portgate installs on a clsact egress hook: its identity
 * (handle and priority) is fixed, so detach, status, check and upgrade
 * find it with bpf_tc_query() without a pin of their own.
 */
#define PG_TC_HANDLE 0x7067 /* "pg" */
#define PG_TC_PRIO 0x7067
/* Bytes the tc program pulls into the linear part of a non-linear skb. */
#define PG_SKB_PULL 256

/* Limits. */
#define PG_MAX_VLAN 2	      /* 802.1Q/802.1ad tags, any TPID order */
#define PG_MAX_MPLS 4	      /* labels walked before giving up */
#define PG_MAX_IPV6_EXT 8     /* extension headers walked; one more drops */
#define PG_MAX_RULES 65535    /* rule ids 1..PG_MAX_RULES; 0 means "no rule" */
#define PG_MAX_EXEMPT 1048576 /* per address family and generation */

/*
 * Policy generations. Everything the fast path reads per policy (the port
 * table, the exemption tries, host hashes, summary and kind counts) exists once per
 * generation; pg_ctl.gen names the live one. The fast path reads it once
 * per packet, so `apply` builds the other generation and switches every
 * packet to the new policy as a whole with one 4-byte store.
 */
#define PG_GENS 2

/*
 * pg_ctl: a global of the program in its own data section, which libbpf
 * turns into a one-slot mmapable array (pinned as "pg_ctl"): the fast path
 * reads it with a plain load, no map lookup.
 */
#define PG_SEC_CTL ".data." PG_STR(PG_MAP_CTL)

#define PG_TRACE_SLOTS 4 /* tracers at once: one byte each in pg_ctl.trace */

struct pg_ctl {
	__u32 gen; /* live generation, 0 or 1 */
	/*
	 * trace[s] != 0: tracer slot s is on (see Tracing below). One byte
	 * per slot so the tracer and the fast path each store only their own
	 * slot's byte (no read-modify-write); the fast path reads all four as
	 * one word: zero means no tracer, one branch.
	 */
	__u8 trace[PG_TRACE_SLOTS];
};

/*
 * Direction of an attachment. inbound = toward subscribers (ingress of an
 * uplink), outbound = from subscribers (ingress of an access interface).
 */
enum pg_dir {
	PG_DIR_IN = 0,
	PG_DIR_OUT = 1,
	PG_DIR_COUNT,
};

/* L4 protocols that carry ports, as a dense index. */
enum pg_proto {
	PG_PROTO_TCP = 0,
	PG_PROTO_UDP = 1,
	PG_PROTO_COUNT,
};

enum pg_action {
	PG_ACTION_NONE = 0, /* rule slot unused */
	PG_ACTION_DROP = 1,
	PG_ACTION_MONITOR = 2, /* count and pass */
};

/*
 * pg_ports: BPF_MAP_TYPE_ARRAY indexed by pg_port_index(). A flat table
 * instead of a hash keeps the lookup O(1), JIT-inlined and independent of
 * the rule count; a port range is expanded into it by user space.
 */
#define PG_PORTS_PER_GEN (PG_DIR_COUNT * PG_PROTO_COUNT * 65536)
#define PG_PORTS_ENTRIES (PG_GENS * PG_PORTS_PER_GEN)

static inline __u32 pg_port_index(__u32 gen, __u32 dir, __u32 proto, __u32 port)
{
	return ((gen & 1) << 18) | (dir << 17) | (proto << 16) | (port & 0xffff);
}

/*
 * Rule flags (pg_port_entry.flags, pg_rule.flags). A TCP rule matches
 * connection attempts only (SYN without ACK, or a header too short to show
 * the flags: fail closed) unless PG_RULE_F_ALL_SEGMENTS is set; UDP rules
 * match every datagram.
 */
#define PG_RULE_F_ALL_SEGMENTS 0x1
#define PG_RULE_F_MASK 0x1

struct pg_port_entry {
	__u16 rule_id;	 /* 0 = no rule for this port */
	__u16 rule_port; /* first port of the rule: keys per-rule exemptions */
	__u8 action;	 /* enum pg_action */
	__u8 flags;	 /* PG_RULE_F_* */
	__u8 pad[2];
};

/*
 * pg_rules: BPF_MAP_TYPE_ARRAY indexed by rule id, PG_MAX_RULES + 1 slots.
 * The rule as the operator wrote it; read by user space only.
 */
struct pg_rule {
	__u16 port;
	__u16 port_end; /* == port for a single port */
	__u8 dir;	/* enum pg_dir */
	__u8 proto;	/* enum pg_proto */
	__u8 action;	/* enum pg_action; PG_ACTION_NONE = free slot */
	/* user space only (one 8-byte store): a bit-field is no ABI risk here */
	__u8 gens : 4;	/* bit g: the rule is in generation g's port table */
	__u8 flags : 4; /* PG_RULE_F_* */
};

struct pg_counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * Every packet ends with exactly one reason, and each reason implies its
 * verdict: the fast path increments one counter per packet and user space
 * derives passed/dropped/rx from these. Drop reasons come last so the
 * verdict is a single compare (reason >= PG_R_FIRST_DROP).
 *
 * X(enum suffix, JSON/display name, verdict)
 */
#define PG_REASONS(X)                               \
	X(NO_MATCH, "no_match", PASS)               \
	X(OTHER_L4, "other_l4", PASS)               \
	X(MONITORED, "monitored", PASS)             \
	X(EXEMPT, "exempt", PASS)                   \
	X(TCP_NOT_SYN, "tcp_not_syn", PASS)         \
	X(FRAG_LATER, "fragment_later", PASS)       \
	X(NOT_IP, "not_ip", PASS)                   \
	X(TRUNCATED, "malformed_truncated", PASS)   \
	X(BAD_IHL, "malformed_ihl", PASS)           \
	X(BAD_LENGTH, "malformed_length", PASS)     \
	X(BAD_VERSION, "malformed_version", PASS)   \
	X(VLAN_DEPTH, "malformed_vlan_depth", PASS) \
	X(MPLS_DEPTH, "malformed_mpls_depth", PASS) \
	X(BAD_PPPOE, "malformed_pppoe", PASS)       \
	X(BLOCKED, "blocked", DROP)                 \
	X(FRAG_SHORT, "fragment_short", DROP)       \
	X(FRAG_OFF1, "fragment_offset1", DROP)      \
	X(V6_CHAIN, "ipv6_chain_too_long", DROP)

enum pg_reason {
#define PG_X_ENUM(id, name, verdict) PG_R_##id,
	PG_REASONS(PG_X_ENUM)
#undef PG_X_ENUM
		PG_R_COUNT,
	/* Parser-internal: ports found, the rule lookup decides. */
	PG_R_PORTS = PG_R_COUNT,
};

/* The reason's JSON/display name: the one name table, for user space. */
static inline const char *pg_reason_name(__u32 reason)
{
	static const char *const names[PG_R_COUNT] = {
#define PG_X_NAME(id, name, verdict) [PG_R_##id] = name,
		PG_REASONS(PG_X_NAME)
#undef PG_X_NAME
	};

	return reason < PG_R_COUNT ? names[reason] : "unknown";
}

#define PG_R_FIRST_DROP PG_R_BLOCKED
#define PG_R_FIRST_MALFORMED PG_R_TRUNCATED
#define PG_R_LAST_MALFORMED PG_R_BAD_PPPOE

/*
 * pg_stats: BPF_MAP_TYPE_PERCPU_ARRAY of PG_MAX_IFSLOTS of these, indexed
 * by pg_ifslot(ifindex): a packet still updates ONE counter, the totals are
 * sums over the slots. ifindex is per network namespace: two interfaces of
 * different namespaces with one ifindex share a slot, and an ifindex of
 * PG_MAX_IFSLOTS or more counts in slot PG_IFSLOT_OTHER (no device has
 * ifindex 0).
 */
#define PG_MAX_IFSLOTS 256
#define PG_IFSLOT_OTHER 0

static inline __u32 pg_ifslot(__u32 ifindex)
{
	return ifindex < PG_MAX_IFSLOTS ? ifindex : PG_IFSLOT_OTHER;
}

struct pg_stats {
	struct pg_counter reason[PG_R_COUNT];
};

/*
 * Exemptions: BPF_MAP_TYPE_LPM_TRIE per family. The key starts with 32
 * exact-match bits of metadata (side, direction, rule) and continues with
 * the address, so prefixlen = PG_LPM_META_BITS + address prefix length.
 * proto = PG_EXEMPT_ALL_RULES (and port 0) covers every rule of the
 * direction; otherwise only the rule whose first port is `port`.
 */
enum pg_side {
	PG_SIDE_SUBSCRIBER = 0, /* dst when inbound, src when outbound */
	PG_SIDE_PEER = 1,	/* src when inbound, dst when outbound */
};

#define PG_LPM_META_BITS 32
#define PG_EXEMPT_ALL_RULES 0xff

static inline __u8 pg_exempt_scope(__u32 gen, __u32 side, __u32 dir)
{
	return (__u8)(((gen & 1) << 2) | (side << 1) | dir);
}

struct pg_exempt_v4_key {
	__u32 prefixlen;
	__u8 scope;   /* pg_exempt_scope(gen, side, dir) */
	__u8 proto;   /* enum pg_proto, or PG_EXEMPT_ALL_RULES */
	__u8 port_hi; /* rule's first port, big-endian: the key is one */
	__u8 port_lo; /* bit string to the trie; 0 with ALL_RULES */
	__u8 addr[4];
};

struct pg_exempt_v6_key {
	__u32 prefixlen;
	__u8 scope;
	__u8 proto;
	__u8 port_hi;
	__u8 port_lo;
	__u8 addr[16];
};

/*
 * pg_exempt_kinds: BPF_MAP_TYPE_ARRAY, one slot per generation: how many
 * entries each kind of exemption holds, host entries (/32, /128) apart
 * from shorter prefixes, and per prefix table level. The fast path looks
 * a kind up only where it has entries: host slots for host[], the levels
 * in levels[] for prefix[], so a drop with no exemptions costs one
 * inlined array read. wide[v6] counts the entries the summary does not
 * cover (shorter than PG_SUM_MIN_PLEN_V4/V6): while there is one, the
 * family's prefix kinds walk the trie instead. Whoever writes the tries
 * keeps it exact (tools/lib/exempt_maps.c, the one writer).
 */
#define PG_EXEMPT_KINDS 16

static inline __u32 pg_exempt_kind(__u32 v6, __u32 side, __u32 all_rules, __u32 dir)
{
	return (v6 << 3) | (side << 2) | (all_rules << 1) | dir;
}

struct pg_exempt_kinds {
	__u32 prefix[PG_EXEMPT_KINDS]; /* entries shorter than a host address */
	__u32 host[PG_EXEMPT_KINDS];   /* /32 and /128 entries */
	__u32 wide[2];		       /* per family: entries the summary does not cover */
	/* bit l: the kind has prefix entries of table level l (see pg_exempt_t4) */
	__u32 levels[PG_EXEMPT_KINDS];
	/* prefix entries per kind and table level: what levels[] is derived from */
	__u32 level_n[PG_EXEMPT_KINDS][32];
};

/*
 * pg_exempt_sum: the summary in front of both, BPF_MAP_TYPE_ARRAY of u64
 * words (mmapable): per generation and family two bits for each of
 * PG_SUM_BITS buckets, one for host entries and one for shorter prefixes. IPv4: bit b
 * covers the /24 b; IPv6: bit b covers every /48 that pg_sum_bucket_v6()
 * maps to b. A bit is set iff some exemption of its class and generation
 * (any side, direction or rule) overlaps its bucket: a clear host bit
 * spares the hash lookups, a clear prefix bit the trie walks, each for
 * the cost of one inlined array read. IPv4 prefixes of /16../23 set each
 * /24 they cover; shorter ones (and IPv6 ones shorter than /48) count in
 * pg_exempt_kinds.wide instead, and while there is one the family's trie
 * walks do not look at the prefix bits.
 *
 * pg_exempt_refs: BPF_MAP_TYPE_HASH read and written by user space only:
 * how many entries hold each bit, so a bit is cleared exactly when its
 * last exemption goes. One count per (class, generation, family, prefix
 * level, bucket): an IPv4 /20 is one count at level 4 (24 - 20) on its
 * first bucket, not 16 counts; a bucket's bit is clear iff no level
 * covering it has a count. Level 31 holds each level's total.
 */
#define PG_SUM_BUCKET_BITS 24
#define PG_SUM_BITS (1U << PG_SUM_BUCKET_BITS)
#define PG_SUM_WORDS (PG_SUM_BITS / 64)			   /* per generation, family and class */
#define PG_SUM_BLOOM_BASE (PG_GENS * 2 * 2 * PG_SUM_WORDS) /* after the bucket bits */
#define PG_SUM_ENTRIES (PG_SUM_BLOOM_BASE + PG_GENS * 2 * PG_SUM_WORDS)
#define PG_SUM_BLOOM_LEVEL 16 /* pg_exempt_refs level of the host filter's bits */
#define PG_SUM_MIN_PLEN_V4 16
#define PG_SUM_MIN_PLEN_V6 48
#define PG_SUM_MAX_LEVEL (24 - PG_SUM_MIN_PLEN_V4)

enum pg_sum_class {
	PG_SUM_HOST = 0,   /* /32 and /128 entries */
	PG_SUM_PREFIX = 1, /* shorter ones */
};

/*
 * Addresses as numbers: IPv4 one word (hi), IPv6 two (hi, lo), the
 * big-endian bytes read in order. The fast path loads them as words.
 */
static inline __u64 pg_addr_be(const __u8 *a, int n)
{
	__u64 v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | a[i];
	return v;
}

/* The /24. */
static inline __u32 pg_sum_bucket_v4w(__u64 hi)
{
	return (__u32)(hi >> 8) & (PG_SUM_BITS - 1);
}

/* The /48 (the first 6 bytes), multiplicatively hashed to 24 bits. */
static inline __u32 pg_sum_bucket_v6w(__u64 hi)
{
	return (__u32)(((hi >> 16) * 0x9e3779b97f4a7c15ULL) >> (64 - PG_SUM_BUCKET_BITS));
}

static inline __u32 pg_sum_bucket_v4(const __u8 *a)
{
	return pg_sum_bucket_v4w(pg_addr_be(a, 4));
}

static inline __u32 pg_sum_bucket_v6(const __u8 *a)
{
	return pg_sum_bucket_v6w(pg_addr_be(a, 8));
}

/*
 * The word of pg_exempt_sum that holds bucket b's two bits, and the bit of
 * class cls in it: a bucket's host and prefix bits are neighbours, one
 * read answers both.
 */
static inline __u32 pg_sum_index(__u32 gen, __u32 v6, __u32 b)
{
	return ((gen & 1) << (PG_SUM_BUCKET_BITS - 5 + 1)) |
	       ((v6 & 1) << (PG_SUM_BUCKET_BITS - 5)) | ((b & (PG_SUM_BITS - 1)) >> 5);
}

static inline __u32 pg_sum_bit(__u32 cls, __u32 b)
{
	return ((b & 31) << 1) | (cls & 1);
}

/*
 * The host filter: behind a set host bit, one more bit per generation and
 * family, indexed by a 24-bit hash of the whole address, set iff some host
 * exemption's address hashes to it (a Bloom filter with one hash). A
 * non-exempt address in a bucket of host exemptions usually finds it clear
 * and skips the hash lookups.
 */
static inline __u32 pg_sum_bloom_hash_w(__u32 v6, __u64 hi, __u64 lo)
{
	__u64 x = v6 ? hi ^ (lo * 0xc2b2ae3d27d4eb4fULL) : hi;

	return (__u32)((x * 0x9e3779b97f4a7c15ULL) >> (64 - PG_SUM_BUCKET_BITS));
}

static inline __u32 pg_sum_bloom_hash(__u32 v6, const __u8 *a)
{
	return v6 ? pg_sum_bloom_hash_w(1, pg_addr_be(a, 8), pg_addr_be(a + 8, 8))
		  : pg_sum_bloom_hash_w(0, pg_addr_be(a, 4), 0);
}

static inline __u32 pg_sum_bloom_index(__u32 gen, __u32 v6, __u32 h)
{
	return PG_SUM_BLOOM_BASE | ((gen & 1) << (PG_SUM_BUCKET_BITS - 6 + 1)) |
	       ((v6 & 1) << (PG_SUM_BUCKET_BITS - 6)) | ((h & (PG_SUM_BITS - 1)) >> 6);
}

/*
 * pg_exempt_refs key: level = 24 - prefix length for IPv4 /16../23, else
 * 0; PG_SUM_BLOOM_LEVEL: b is a host filter bit.
 */
static inline __u32 pg_sum_ref_key(__u32 gen, __u32 v6, __u32 cls, __u32 level, __u32 b)
{
	return ((cls & 1) << 31) | ((gen & 1) << 30) | ((v6 & 1) << 29) | ((level & 31) << 24) |
	       (b & (PG_SUM_BITS - 1));
}

#define PG_SUM_REFS_MAX (PG_GENS * 2 * PG_MAX_EXEMPT)

/*
 * pg_exempt_t4, pg_exempt_t6: the exemption table, BPF_MAP_TYPE_ARRAY
 * (mmapable) of one-cache-line buckets, per generation; what the fast
 * path reads instead of the tries, for hosts and the prefixes the
 * summary covers. A slot is a whole key packed into words (a tag with
 * level and scope, the rule, the address), so a lookup is a few inlined
 * loads and compares. Prefixes are stored expanded to levels of 4 bits
 * (controlled prefix expansion): IPv4 /16, /20, /24, /28, /31 and IPv6
 * /48, /52, ... /124, /127, plus the host level (/32, /128); a /26 is the
 * four /28 below it, so a packet costs one probe per level in use by its
 * kind (pg_exempt_kinds.levels) instead of a trie walk. Exact: a slot
 * exists iff some exemption of its scope has a length in its level's span
 * and covers it. A bucket with no free slot left sets `over` (sticky until
 * its generation is reset): a miss in it then walks the trie, which
 * stays complete. The one writer (tools/lib/exempt_maps.c)
 * writes a slot's words before its tag and clears the tag first.
 */
#define PG_XT_V4_BITS 18 /* 256Ki buckets of 7 slots per generation: 16 MiB */
#define PG_XT_V6_BITS 19 /* 512Ki buckets of 5 slots per generation: 64 MiB */
#define PG_XT_V4_SLOTS 7
#define PG_XT_V6_SLOTS 5
#define PG_XT_STRIDE 4
#define PG_XT_LEVELS_V4 5 /* prefix levels; the host level is the next index */
#define PG_XT_LEVELS_V6 21
#define PG_XT_TAG 0x80 /* top byte of every used slot's meta: 0 = a free slot */

struct pg_xt_b4 {
	__u64 k[PG_XT_V4_SLOTS]; /* pg_xt_key_v4(); 0 = free */
	__u64 over;		 /* nonzero: some entry of this bucket is not in k[] */
};

struct pg_xt_s6 {
	__u64 hi, lo; /* the address as two host-order words, masked to the level */
	__u64 meta;   /* pg_xt_meta(); 0 = free */
};

struct pg_xt_b6 {
	struct pg_xt_s6 s[PG_XT_V6_SLOTS];
	__u64 over;
};

/* Table level of an address prefix length the summary covers (>= PG_SUM_MIN_PLEN_*). */
static inline __u32 pg_xt_level(__u32 v6, __u32 plen)
{
	if (plen == (v6 ? 128U : 32U))
		return v6 ? PG_XT_LEVELS_V6 : PG_XT_LEVELS_V4;
	return (plen - (v6 ? PG_SUM_MIN_PLEN_V6 : PG_SUM_MIN_PLEN_V4) + PG_XT_STRIDE - 1) /
	       PG_XT_STRIDE;
}

/* The prefix length of a table level: what its slots' addresses are masked to. */
static inline __u32 pg_xt_level_len(__u32 v6, __u32 level)
{
	__u32 host = v6 ? 128 : 32;
	__u32 len = (v6 ? PG_SUM_MIN_PLEN_V6 : PG_SUM_MIN_PLEN_V4) + PG_XT_STRIDE * level;

	if (level >= (v6 ? PG_XT_LEVELS_V6 : PG_XT_LEVELS_V4))
		return host;
	return len >= host ? host - 1 : len;
}

/*
 * Tag, level, scope and rule of a slot in 32 bits: tag bit 31, level 30..25,
 * scope 24..22, proto 21..20 (PG_EXEMPT_ALL_RULES as 3), port 15..0. The
 * IPv4 slot is this word above the address, the IPv6 slot's meta word is it.
 */
static inline __u32 pg_xt_meta(__u32 level, __u32 scope, __u32 proto, __u32 port)
{
	return (__u32)PG_XT_TAG << 24 | (level & 0x3f) << 25 | (scope & 7) << 22 |
	       (proto & 3) << 20 | (port & 0xffff);
}

/* addr: the address as a host-order number (big-endian bytes read as one word). */
static inline __u64 pg_xt_key_v4(__u32 meta, __u32 addr)
{
	return (__u64)meta << 32 | addr;
}

/* Bucket of a slot (before the generation's offset): multiplicative hashes. */
static inline __u32 pg_xt_hash_v4(__u64 key)
{
	return (__u32)((key * 0x9e3779b97f4a7c15ULL) >> (64 - PG_XT_V4_BITS));
}

static inline __u32 pg_xt_hash_v6(__u64 hi, __u64 lo, __u32 meta)
{
	__u64 x = hi ^ (lo * 0xc2b2ae3d27d4eb4fULL) ^ ((__u64)meta * 0x165667b19e3779f9ULL);

	return (__u32)((x * 0x9e3779b97f4a7c15ULL) >> (64 - PG_XT_V6_BITS));
}

/* Array index of a bucket: generation gen's half of the table. */
static inline __u32 pg_xt_index_v4(__u32 gen, __u32 h)
{
	return (gen & 1) << PG_XT_V4_BITS | (h & ((1U << PG_XT_V4_BITS) - 1));
}

static inline __u32 pg_xt_index_v6(__u32 gen, __u32 h)
{
	return (gen & 1) << PG_XT_V6_BITS | (h & ((1U << PG_XT_V6_BITS) - 1));
}

/* An address masked to plen: IPv4 one word, IPv6 two (hi, lo). */
static inline __u32 pg_xt_mask_v4(__u32 addr, __u32 plen)
{
	return plen >= 32 ? addr : addr & ~(0xffffffffU >> plen);
}

static inline void pg_xt_mask_v6(__u64 *hi, __u64 *lo, __u32 plen)
{
	if (plen <= 64) {
		*hi &= plen == 64 ? ~0ULL : ~(~0ULL >> plen);
		*lo = 0;
	} else if (plen < 128) {
		*lo &= ~(~0ULL >> (plen - 64));
	}
}

/* Value: the address prefix length, so a lookup can name the prefix. */
struct pg_exempt_val {
	__u8 addr_prefixlen;
	__u8 flags; /* PG_EXEMPT_F_* */
	__u8 pad[2];
};

/* Added at run time (ip-up hooks): `apply` and `save` leave it alone. */
#define PG_EXEMPT_F_DYNAMIC 0x01

/*
 * Tracing (`portgate trace`). Up to PG_TRACE_SLOTS tracers run at once,
 * each in a slot s: byte s of pg_ctl.trace, an entry of pg_trace_cfg (its
 * filters, lease and rate), one per-CPU token bucket in pg_trace_rl and a
 * ring buffer of its own in pg_trace_rings (BPF_MAP_TYPE_ARRAY_OF_MAPS
 * of BPF_MAP_TYPE_RINGBUF, created by the tracer). With pg_ctl.trace == 0
 * the fast path pays one branch on a word it loads next to the generation.
 *
 * Liveness: a tracer renews its lease (cfg.lease_ns, CLOCK_MONOTONIC)
 * every second; a packet that finds a lease expired clears the slot's byte,
 * so a tracer killed with -9 stops costing anything within
 * PG_TRACE_LEASE_NS, and the next tracer reuses its slot (cfg.pid dead).
 */
#define PG_TRACE_SNAP 256		/* frame bytes carried per event */
#define PG_TRACE_RING_BYTES (1U << 20)	/* per tracer */
#define PG_TRACE_LEASE_NS 3000000000ULL /* renewed every second */
#define PG_TRACE_RATE_DEFAULT 100	/* events/s per CPU and tracer */
#define PG_TRACE_RATE_MAX 1000000
#define PG_TRACE_TOKEN_NS 1000000000ULL /* one token = this many ns of rate */

/* The reasons a tracer may ask for: drops, monitored, exempt (a constant). */
#define PG_TRACE_REASONS                                                                        \
	((((1U << PG_R_COUNT) - 1) & ~((1U << PG_R_FIRST_DROP) - 1)) | (1U << PG_R_MONITORED) | \
	 (1U << PG_R_EXEMPT))

/* What a tracer wants; read only when the tracer's byte is set. */
struct pg_trace_cfg {
	__u64 lease_ns; /* bpf_ktime_get_ns() deadline; 0 = slot free */
	__u32 pid;	/* the tracer (liveness check by the next tracer) */
	__u32 reasons;	/* bit r: trace reason r */
	__u32 rate;	/* events per second per CPU */
	__u32 burst;	/* bucket depth in events */
	__u32 ifindex;	/* 0 = any interface */
	__u16 rule_id;	/* 0 = any rule */
	__u8 plen;	/* address prefix length; with af */
	__u8 af;	/* 0 = any address, 4 or 6: one address must be in addr/plen */
	__u8 addr[16];	/* masked prefix */
	__u8 mask[16];	/* plen leading one bits */
};

/* Per CPU and slot: the token bucket and what it let through. */
struct pg_trace_rl {
	__u64 tokens;	  /* in ns of budget: one event costs PG_TRACE_TOKEN_NS */
	__u64 last_ns;	  /* last refill */
	__u64 emitted;	  /* events written to the ring */
	__u64 suppressed; /* matched, over the rate */
	__u64 lost;	  /* matched, ring full (the tracer is slow or gone) */
};

/* One ring buffer record. Addresses in network order, ports host order. */
struct pg_trace_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u32 ifindex;
	__u32 len;     /* frame length (all fragments) */
	__u16 cap_len; /* bytes in data[] */
	__u16 rule_id; /* 0 = none */
	__u16 sport, dport;
	__u8 dir; /* enum pg_dir */
	__u8 reason;
	__u8 ip_version; /* 4, 6, 0 */
	__u8 l4proto;
	__u8 saddr[16]; /* IPv4: first 4 bytes */
	__u8 daddr[16];
	__u32 cpu;
	__u32 pad;
	__u8 data[PG_TRACE_SNAP];
};

/*
 * ---- Pinned state metadata (issue 12: shared hosts, upgrades) ----
 * pg_meta: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE) created and pinned by user
 * space next to the maps; the program never reads it. Slot 0 is the head:
 * the ABI version of the map layouts above and the build id of the
 * programs that run. Each further slot may hold one link's record: its
 * identity (network namespace and ifindex, also in the link's pin name
 * link_<netns id>_<ifindex>) and what status shows once the interface is
 * gone. Bump PG_ABI_VERSION whenever a map's key, value, size or meaning
 * changes: no build puts its program on maps of another version.
 */
/*
 * 2: pg_stats per interface, pg_ctl.trace, the trace maps; 3: rule flags and
 * tcp_not_syn (issue 14), host hashes, summary bitmap, pg_exempt_kinds split
 * (issue 15); 4: the exemption table pg_exempt_t4/t6, kind levels
 */
#define PG_ABI_VERSION 4
#define PG_MAP_META pg_meta
#define PG_META_MAGIC 0x70676d31 /* "pgm1" */
#define PG_META_SLOTS 1024	 /* the head and up to 1023 links */

enum pg_meta_kind {
	PG_META_FREE = 0,
	PG_META_HEAD = 1,
	PG_META_LINK = 2,
};

struct pg_meta_head {
	__u32 magic;	   /* PG_META_MAGIC */
	__u32 abi_version; /* PG_ABI_VERSION of the build that created the maps */
	__u64 build_id;	   /* of the programs that run; 0 = unknown */
};

struct pg_meta_link {
	__u64 netns_id;	 /* netns cookie (nsfs inode where there is none) */
	__u64 netns_ino; /* nsfs inode of the network namespace */
	__u32 ifindex;	 /* in that namespace */
	__u32 link_id;	 /* the bpf_link this record describes */
	__u8 role;	 /* 0 uplink, 1 access */
	__u8 mode;	 /* 0 native, 1 generic */
	__u8 hooks;	 /* PG_HOOK_*: what this interface runs */
	__u8 pad[5];
	char ifname[16]; /* IFNAMSIZ: the name at attach time */
};

/*
 * Hooks of one interface. An uplink runs XDP ingress (inbound); an access
 * interface XDP ingress (outbound) and, unless attached --outbound-only,
 * the tc egress filter (inbound, PG_TC_HANDLE/PG_TC_PRIO on clsact).
 */
#define PG_HOOK_XDP 0x1
#define PG_HOOK_TC 0x2

struct pg_meta_rec {
	__u32 kind; /* enum pg_meta_kind */
	__u32 pad;
	union {
		struct pg_meta_head head;
		struct pg_meta_link link;
	};
};

/*
 * Test-only builds (Makefile: build/variantN/portgate, tests/test_shared.c):
 * 1 changes the program harmlessly (one more VLAN tag is walked), as a
 * rebuild with a changed program; 2 changes a map layout (pg_rules and
 * pg_rule_stats get fewer slots) without bumping PG_ABI_VERSION, as a
 * mistake the upgrade must catch.
 */
#if defined(PG_TEST_VARIANT) && PG_TEST_VARIANT == 1
#undef PG_MAX_VLAN
#define PG_MAX_VLAN 3
#elif defined(PG_TEST_VARIANT) && PG_TEST_VARIANT == 2
#undef PG_MAX_RULES
#define PG_MAX_RULES 1023
#endif

#endif /* PORTGATE_H */
