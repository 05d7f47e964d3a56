// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The one writer of exemption entries: see exempt_maps.h for the order of
 * the writes, include/portgate.h for the structures.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "exempt_maps.h"

#define EXM_CHUNK 1024
#define EXM_LAZY_MAX 64	   /* writes of up to this many entries map table pages as touched */
#define EXM_LEVEL_TOTAL 31 /* pg_exempt_refs level of the per-level totals */

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

static size_t exm_ksize(bool v6)
{
	return v6 ? sizeof(struct pg_exempt_v6_key) : sizeof(struct pg_exempt_v4_key);
}

static unsigned int exm_plen(const void *key)
{
	return ((const struct pg_exempt_v4_key *)key)->prefixlen - PG_LPM_META_BITS;
}

static __u32 exm_gen(const void *key)
{
	return ((const struct pg_exempt_v4_key *)key)->scope >> 2 & 1;
}

bool pg_exm_is_host(const void *key, bool v6)
{
	return exm_plen(key) == (v6 ? 128U : 32U);
}

int pg_exm_ref_keys(const void *key, bool v6, __u32 refs[2])
{
	const struct pg_exempt_v6_key *k = key; /* the v4 key is its prefix */
	unsigned int plen = exm_plen(key), level;
	bool host = pg_exm_is_host(key, v6);
	__u32 cls = host ? PG_SUM_HOST : PG_SUM_PREFIX, b, g = exm_gen(key);

	if (plen < (v6 ? PG_SUM_MIN_PLEN_V6 : PG_SUM_MIN_PLEN_V4))
		return 0;
	if (v6) {
		refs[0] = pg_sum_ref_key(g, 1, cls, 0, pg_sum_bucket_v6(k->addr));
	} else {
		level = plen >= 24 ? 0 : 24 - plen;
		b = pg_sum_bucket_v4(k->addr) & ~((1U << level) - 1);
		refs[0] = pg_sum_ref_key(g, 0, cls, level, b);
	}
	if (!host)
		return 1;
	refs[1] = pg_sum_ref_key(g, v6, PG_SUM_HOST, PG_SUM_BLOOM_LEVEL,
				 pg_sum_bloom_hash(v6, k->addr));
	return 2;
}

void pg_exm_ref_buckets(__u32 ref, __u32 *first, __u32 *count)
{
	*first = ref & (PG_SUM_BITS - 1);
	*count = (ref >> 24 & 31) == PG_SUM_BLOOM_LEVEL ? 1 : 1U << (ref >> 24 & 31);
}

/* The word and bit of a reference key's bucket b (summary or host filter). */
static __u32 exm_word(__u32 ref, __u32 b, __u32 *bit)
{
	__u32 cls = ref >> 31, gen = ref >> 30 & 1, v6 = ref >> 29 & 1;

	if ((ref >> 24 & 31) == PG_SUM_BLOOM_LEVEL) {
		*bit = b & 63;
		return pg_sum_bloom_index(gen, v6, b);
	}
	*bit = pg_sum_bit(cls, b);
	return pg_sum_index(gen, v6, b);
}

__u64 *pg_exm_sum_map(int sum_fd)
{
	size_t sz = (size_t)PG_SUM_ENTRIES * sizeof(__u64);
	void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, sum_fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void pg_exm_sum_unmap(__u64 *w)
{
	if (w)
		munmap(w, (size_t)PG_SUM_ENTRIES * sizeof(__u64));
}

/* ---- the exemption table ---- */

static size_t exm_tab_bytes(bool v6)
{
	return v6 ? ((size_t)PG_GENS << PG_XT_V6_BITS) * sizeof(struct pg_xt_b6)
		  : ((size_t)PG_GENS << PG_XT_V4_BITS) * sizeof(struct pg_xt_b4);
}

int pg_exm_tab_map(const struct pg_exm *x, struct pg_exm_tab *t)
{
	void *p[2];
	int v6;

	memset(t, 0, sizeof(*t));
	for (v6 = 0; v6 < 2; v6++) {
		p[v6] = mmap(NULL, exm_tab_bytes(v6), PROT_READ | PROT_WRITE, MAP_SHARED,
			     x->tab[v6], 0);
		if (p[v6] == MAP_FAILED) {
			int err = -errno;

			pg_exm_tab_unmap(t);
			return err;
		}
		if (v6)
			t->t6 = p[v6];
		else
			t->t4 = p[v6];
	}
	return 0;
}

#define EXM_PAGE 4096UL

struct pg_exm_lazy {
	int fd[2];
	__u8 *mapped[2]; /* per page of each table: 1 once mapped */
	int err;
};

int pg_exm_tab_map_lazy(const struct pg_exm *x, struct pg_exm_tab *t)
{
	struct pg_exm_lazy *l = calloc(1, sizeof(*l));
	void *p;
	int v6;

	memset(t, 0, sizeof(*t));
	if (!l)
		return -ENOMEM;
	t->lazy = l;
	for (v6 = 0; v6 < 2; v6++) {
		l->fd[v6] = x->tab[v6];
		l->mapped[v6] = calloc(exm_tab_bytes(v6) / EXM_PAGE, 1);
		/* the address range only: no access, no pages */
		p = mmap(NULL, exm_tab_bytes(v6), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!l->mapped[v6] || p == MAP_FAILED) {
			int err = l->mapped[v6] ? -errno : -ENOMEM;

			pg_exm_tab_unmap(t);
			return err;
		}
		if (v6)
			t->t6 = p;
		else
			t->t4 = p;
	}
	return 0;
}

int pg_exm_tab_err(const struct pg_exm_tab *t)
{
	return t->lazy ? t->lazy->err : 0;
}

/* The page of a table that holds byte off mapped over its reservation: 0 or -errno. */
static int exm_touch(const struct pg_exm_tab *t, bool v6, size_t off)
{
	struct pg_exm_lazy *l = t->lazy;
	size_t pg = off / EXM_PAGE;
	void *want, *p;

	if (!l || l->mapped[v6][pg])
		return 0;
	if (l->err)
		return l->err;
	want = (__u8 *)(v6 ? (void *)t->t6 : (void *)t->t4) + pg * EXM_PAGE;
	p = mmap(want, EXM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, l->fd[v6],
		 pg * EXM_PAGE);
	if (p == MAP_FAILED) {
		l->err = -errno;
		/* MAP_FIXED may have left the range unmapped: make it inaccessible again */
		mmap(want, EXM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		return l->err;
	}
	l->mapped[v6][pg] = 1;
	return 0;
}

void pg_exm_tab_unmap(struct pg_exm_tab *t)
{
	if (t->t4)
		munmap(t->t4, exm_tab_bytes(false));
	if (t->t6)
		munmap(t->t6, exm_tab_bytes(true));
	if (t->lazy) {
		free(t->lazy->mapped[0]);
		free(t->lazy->mapped[1]);
		free(t->lazy);
	}
	t->t4 = NULL;
	t->t6 = NULL;
	t->lazy = NULL;
}

static void exm_put_be64(__u8 *a, __u64 v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		a[i] = v & 0xff;
}

int pg_exm_slots(const void *key, bool v6, struct pg_exm_slot out[PG_EXM_MAX_SLOTS])
{
	const struct pg_exempt_v6_key *k = key; /* the v4 key is its prefix */
	unsigned int plen = exm_plen(key), level, len, n, i;
	struct pg_exm_slot s = {.v6 = v6, .gen = exm_gen(key)};

	if (plen < (v6 ? PG_SUM_MIN_PLEN_V6 : PG_SUM_MIN_PLEN_V4))
		return 0;
	level = pg_xt_level(v6, plen);
	len = pg_xt_level_len(v6, level);
	s.meta = pg_xt_meta(level, k->scope, k->proto, k->port_hi << 8 | k->port_lo);
	if (v6) {
		s.hi = pg_addr_be(k->addr, 8);
		s.lo = pg_addr_be(k->addr + 8, 8);
	} else {
		s.hi = pg_addr_be(k->addr, 4);
	}
	n = 1U << (len - plen);
	for (i = 0; i < n; i++) {
		out[i] = s;
		if (!v6)
			out[i].hi |= (__u64)i << (32 - len);
		else if (len <= 64)
			out[i].hi |= (__u64)i << (64 - len);
		else
			out[i].lo |= (__u64)i << (128 - len);
	}
	return n;
}

void pg_exm_slot_key(const struct pg_exm_slot *s, struct pg_exempt_v6_key *k)
{
	__u32 level = s->meta >> 25 & 0x3f, proto = s->meta >> 20 & 3;

	memset(k, 0, sizeof(*k));
	k->prefixlen = PG_LPM_META_BITS + pg_xt_level_len(s->v6, level);
	k->scope = s->meta >> 22 & 7;
	k->proto = proto == 3 ? PG_EXEMPT_ALL_RULES : proto;
	k->port_hi = s->meta >> 8 & 0xff;
	k->port_lo = s->meta & 0xff;
	if (s->v6) {
		exm_put_be64(k->addr, s->hi);
		exm_put_be64(k->addr + 8, s->lo);
	} else {
		k->addr[0] = s->hi >> 24;
		k->addr[1] = s->hi >> 16;
		k->addr[2] = s->hi >> 8;
		k->addr[3] = s->hi;
	}
}

/* A slot's bucket (a bucket never straddles a page); NULL if its page cannot be mapped. */
static struct pg_xt_b4 *exm_b4(const struct pg_exm_tab *t, const struct pg_exm_slot *s, __u64 *key)
{
	__u32 i;

	*key = pg_xt_key_v4(s->meta, (__u32)s->hi);
	i = pg_xt_index_v4(s->gen, pg_xt_hash_v4(*key));
	return exm_touch(t, false, (size_t)i * sizeof(struct pg_xt_b4)) ? NULL : &t->t4[i];
}

static struct pg_xt_b6 *exm_b6(const struct pg_exm_tab *t, const struct pg_exm_slot *s)
{
	__u32 i = pg_xt_index_v6(s->gen, pg_xt_hash_v6(s->hi, s->lo, s->meta));

	return exm_touch(t, true, (size_t)i * sizeof(struct pg_xt_b6)) ? NULL : &t->t6[i];
}

/* Index of s in its bucket, or -1. */
static int exm_slot_at(const struct pg_exm_tab *t, const struct pg_exm_slot *s)
{
	int i;

	if (!s->v6) {
		__u64 key;
		struct pg_xt_b4 *b = exm_b4(t, s, &key);

		for (i = 0; b && i < PG_XT_V4_SLOTS; i++)
			if (__atomic_load_n(&b->k[i], __ATOMIC_RELAXED) == key)
				return i;
		return -1;
	}
	for (i = 0; exm_b6(t, s) && i < PG_XT_V6_SLOTS; i++) {
		struct pg_xt_s6 *x = &exm_b6(t, s)->s[i];

		if (__atomic_load_n(&x->meta, __ATOMIC_RELAXED) == s->meta && x->hi == s->hi &&
		    x->lo == s->lo)
			return i;
	}
	return -1;
}

static __u64 *exm_over(const struct pg_exm_tab *t, const struct pg_exm_slot *s)
{
	struct pg_xt_b6 *b6;
	struct pg_xt_b4 *b4;
	__u64 key;

	if (s->v6)
		return (b6 = exm_b6(t, s)) ? &b6->over : NULL;
	return (b4 = exm_b4(t, s, &key)) ? &b4->over : NULL;
}

int pg_exm_slot_find(const struct pg_exm_tab *t, const struct pg_exm_slot *s)
{
	__u64 *over;

	if (exm_slot_at(t, s) >= 0)
		return 1;
	over = exm_over(t, s);
	return over && __atomic_load_n(over, __ATOMIC_RELAXED) ? -1 : 0;
}

/* The words first, the tag (in k / meta) last: a reader never matches half a slot. */
void pg_exm_slot_put(const struct pg_exm_tab *t, const struct pg_exm_slot *s)
{
	struct pg_xt_b6 *b6;
	int i;

	if (exm_slot_at(t, s) >= 0)
		return;
	if (!s->v6) {
		__u64 key;
		struct pg_xt_b4 *b = exm_b4(t, s, &key);

		if (!b)
			return; /* pg_exm_tab_err() says why */
		for (i = 0; i < PG_XT_V4_SLOTS; i++)
			if (!__atomic_load_n(&b->k[i], __ATOMIC_RELAXED)) {
				__atomic_store_n(&b->k[i], key, __ATOMIC_RELEASE);
				return;
			}
		__atomic_store_n(&b->over, 1, __ATOMIC_RELEASE);
		return;
	}
	b6 = exm_b6(t, s);
	if (!b6)
		return;
	for (i = 0; i < PG_XT_V6_SLOTS; i++) {
		struct pg_xt_s6 *x = &b6->s[i];

		if (__atomic_load_n(&x->meta, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&x->hi, s->hi, __ATOMIC_RELAXED);
		__atomic_store_n(&x->lo, s->lo, __ATOMIC_RELAXED);
		__atomic_store_n(&x->meta, s->meta, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&b6->over, 1, __ATOMIC_RELEASE);
}

void pg_exm_slot_clear(const struct pg_exm_tab *t, const struct pg_exm_slot *s)
{
	int i = exm_slot_at(t, s);
	__u64 key;

	if (i < 0)
		return;
	if (s->v6)
		__atomic_store_n(&exm_b6(t, s)->s[i].meta, 0, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&exm_b4(t, s, &key)->k[i], 0, __ATOMIC_RELEASE);
}

int pg_exm_slot_wanted(const struct pg_exm *x, const struct pg_exm_slot *s, bool *wanted)
{
	__u32 level = s->meta >> 25 & 0x3f;
	__u32 below = level ? pg_xt_level_len(s->v6, level - 1)
			    : (s->v6 ? PG_SUM_MIN_PLEN_V6 : PG_SUM_MIN_PLEN_V4) - 1;
	struct pg_exempt_v6_key k;
	struct pg_exempt_val v;

	/* the longest exemption of the scope covering the slot's prefix: within the level? */
	pg_exm_slot_key(s, &k);
	*wanted = false;
	if (bpf_map_lookup_elem(x->trie[s->v6], &k, &v))
		return errno == ENOENT ? 0 : -errno;
	*wanted = v.addr_prefixlen > below;
	return 0;
}

int pg_exm_tab_walk(const struct pg_exm_tab *t, int (*fn)(const struct pg_exm_slot *, void *),
		    void *ctx, unsigned long over[2])
{
	struct pg_exm_slot s;
	__u32 b;
	int i, r;

	over[0] = over[1] = 0;
	for (b = 0; b < (PG_GENS << PG_XT_V4_BITS); b++) {
		struct pg_xt_b4 *k = &t->t4[b];

		over[0] += k->over != 0;
		for (i = 0; i < PG_XT_V4_SLOTS; i++) {
			__u64 key = __atomic_load_n(&k->k[i], __ATOMIC_ACQUIRE);

			if (!key)
				continue;
			s = (struct pg_exm_slot){
				.gen = b >> PG_XT_V4_BITS, .meta = key >> 32, .hi = (__u32)key};
			r = fn(&s, ctx);
			if (r < 0)
				return r;
			if (r > 0)
				__atomic_store_n(&k->k[i], 0, __ATOMIC_RELEASE);
		}
	}
	for (b = 0; b < (PG_GENS << PG_XT_V6_BITS); b++) {
		struct pg_xt_b6 *k = &t->t6[b];

		over[1] += k->over != 0;
		for (i = 0; i < PG_XT_V6_SLOTS; i++) {
			__u32 meta = __atomic_load_n(&k->s[i].meta, __ATOMIC_ACQUIRE);

			if (!meta)
				continue;
			s = (struct pg_exm_slot){.v6 = true,
						 .gen = b >> PG_XT_V6_BITS,
						 .meta = meta,
						 .hi = k->s[i].hi,
						 .lo = k->s[i].lo};
			r = fn(&s, ctx);
			if (r < 0)
				return r;
			if (r > 0)
				__atomic_store_n(&k->s[i].meta, 0, __ATOMIC_RELEASE);
		}
	}
	return 0;
}

/* The slots of the entries sel() picks (all: NULL): put, cleared, or put back if still wanted. */
enum exm_slot_op { EXM_PUT, EXM_CLEAR, EXM_REPUT };

static int exm_slots_do(const struct pg_exm *x, const struct pg_exm_tab *t,
			const struct pg_exm_ent *e, size_t n,
			bool (*sel)(const struct pg_exm_ent *), enum exm_slot_op op)
{
	struct pg_exm_slot s[PG_EXM_MAX_SLOTS];
	bool wanted;
	size_t i;
	int c, j, err;

	for (i = 0; i < n; i++) {
		if (sel && !sel(&e[i]))
			continue;
		/* a removed host's one slot was its own */
		if (op == EXM_REPUT && e[i].done && pg_exm_is_host(e[i].key, e[i].v6))
			continue;
		c = pg_exm_slots(e[i].key, e[i].v6, s);
		for (j = 0; j < c; j++) {
			if (op == EXM_PUT) {
				pg_exm_slot_put(t, &s[j]);
			} else if (op == EXM_CLEAR) {
				pg_exm_slot_clear(t, &s[j]);
			} else {
				err = pg_exm_slot_wanted(x, &s[j], &wanted);
				if (err)
					return err;
				if (wanted)
					pg_exm_slot_put(t, &s[j]);
			}
		}
	}
	return 0;
}

/* ---- kind counts ---- */

struct exm_kinds {
	long prefix[PG_GENS][PG_EXEMPT_KINDS];
	long host[PG_GENS][PG_EXEMPT_KINDS];
	long wide[PG_GENS][2];
	long level_n[PG_GENS][PG_EXEMPT_KINDS][32];
	bool touched[PG_GENS];
};

static void exm_kinds_count(struct exm_kinds *d, const struct pg_exm_ent *e, long sign)
{
	const struct pg_exempt_v4_key *k = e->key;
	__u32 g = exm_gen(k), refs[2];
	__u32 kind = pg_exempt_kind(e->v6, k->scope >> 1 & 1, k->proto == PG_EXEMPT_ALL_RULES,
				    k->scope & 1);

	if (pg_exm_is_host(k, e->v6))
		d->host[g][kind] += sign;
	else
		d->prefix[g][kind] += sign;
	if (!pg_exm_ref_keys(k, e->v6, refs))
		d->wide[g][e->v6] += sign;
	else if (!pg_exm_is_host(k, e->v6))
		d->level_n[g][kind][pg_xt_level(e->v6, exm_plen(k))] += sign;
	d->touched[g] = true;
}

static __u32 exm_add_u32(__u32 v, long d)
{
	long r = (long)v + d;

	return r < 0 ? 0 : (__u32)r;
}

static int exm_kinds_apply(const struct pg_exm *x, const struct exm_kinds *d)
{
	struct pg_exempt_kinds k;
	__u32 g, l;
	int i;

	for (g = 0; g < PG_GENS; g++) {
		if (!d->touched[g])
			continue;
		if (bpf_map_lookup_elem(x->kinds, &g, &k))
			return -errno;
		for (i = 0; i < PG_EXEMPT_KINDS; i++) {
			k.prefix[i] = exm_add_u32(k.prefix[i], d->prefix[g][i]);
			k.host[i] = exm_add_u32(k.host[i], d->host[g][i]);
			k.levels[i] = 0;
			for (l = 0; l < 32; l++) {
				k.level_n[i][l] = exm_add_u32(k.level_n[i][l], d->level_n[g][i][l]);
				k.levels[i] |= (k.level_n[i][l] != 0) << l;
			}
		}
		for (i = 0; i < 2; i++)
			k.wide[i] = exm_add_u32(k.wide[i], d->wide[g][i]);
		if (bpf_map_update_elem(x->kinds, &g, &k, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* ---- summary bits and their reference counts ---- */

static int exm_batch(int fd, void *keys, void *vals, __u32 *count, bool add);

/* Counts n (keys, vals): batches where the kernel has them, else one by one. */
static int exm_refs_store(int fd, __u32 *keys, __u32 *vals, size_t n)
{
	size_t i = 0;
	__u32 cnt;
	int err;

	while (i < n) {
		cnt = n - i > EXM_CHUNK ? EXM_CHUNK : n - i;
		err = exm_batch(fd, keys + i, vals + i, &cnt, true);
		if (err && err != -EOPNOTSUPP)
			return err;
		i += cnt;
		if (err == -EOPNOTSUPP) {
			for (; i < n; i++)
				if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY))
					return -errno;
		}
	}
	return 0;
}

static int exm_u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return (x > y) - (x < y);
}

static void exm_bits_set(__u64 *sum, __u32 ref)
{
	__u32 first, count, b, bit, w;

	pg_exm_ref_buckets(ref, &first, &count);
	for (b = first; b < first + count; b++) {
		w = exm_word(ref, b, &bit);
		__atomic_fetch_or(&sum[w], 1ULL << bit, __ATOMIC_RELAXED);
	}
}

/* Does some count (of a level with entries) still cover bucket b? */
static int exm_covered(const struct pg_exm *x, __u32 cls, __u32 gen, __u32 v6, __u32 b,
		       const long *levels, bool *covered)
{
	__u32 l, key, v;

	*covered = false;
	for (l = 0; l <= PG_SUM_MAX_LEVEL && !*covered; l++) {
		if (!levels[l])
			continue;
		key = pg_sum_ref_key(gen, v6, cls, l, b & ~((1U << l) - 1));
		if (!bpf_map_lookup_elem(x->refs, &key, &v))
			*covered = v != 0;
		else if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

/*
 * Add sign to the count of every key in refs[n] (sorted here), with the
 * per-level totals; sign > 0 sets the bits, sign < 0 clears the bits of
 * counts that reached zero where nothing else covers them.
 */
static int exm_refs_apply(const struct pg_exm *x, __u64 *sum, __u32 *refs, size_t n, long sign,
			  bool fresh)
{
	long levels[2][PG_GENS][2][PG_SUM_MAX_LEVEL + 1] = {};
	long now[2][PG_GENS][2][PG_SUM_MAX_LEVEL + 1] = {};
	__u32 *gone = NULL, *put = NULL, *putv = NULL, key, v, c, g, f, l;
	size_t i, j, ngone = 0, nput = 0;
	int err = 0;

	if (!n)
		return 0;
	qsort(refs, n, sizeof(*refs), exm_u32_cmp);
	if (sign < 0) {
		gone = malloc(n * sizeof(*gone));
		if (!gone)
			return -ENOMEM;
	} else {
		/* additions: the new counts stored in batches, then their bits set */
		put = malloc(n * sizeof(*put));
		putv = malloc(n * sizeof(*putv));
		if (!put || !putv) {
			free(put);
			free(putv);
			return -ENOMEM;
		}
	}
	for (i = 0; i < n && !err; i = j) {
		long cnt;

		for (j = i + 1; j < n && refs[j] == refs[i]; j++)
			;
		cnt = (long)(j - i) * sign;
		/* bucket levels only: a host filter bit has its own count */
		if ((refs[i] >> 24 & 31) <= PG_SUM_MAX_LEVEL)
			levels[refs[i] >> 31][refs[i] >> 30 & 1][refs[i] >> 29 & 1]
			      [refs[i] >> 24 & 31] += cnt;
		v = 0;
		if (!fresh && bpf_map_lookup_elem(x->refs, &refs[i], &v)) {
			if (errno != ENOENT)
				err = -errno;
			v = 0;
		}
		if (err)
			break;
		v = exm_add_u32(v, cnt);
		if (sign > 0) {
			put[nput] = refs[i];
			putv[nput++] = v;
		} else if (v ? bpf_map_update_elem(x->refs, &refs[i], &v, BPF_ANY)
			     : bpf_map_delete_elem(x->refs, &refs[i]) && errno != ENOENT) {
			err = -errno;
		} else if (!v) {
			gone[ngone++] = refs[i];
		}
	}
	if (!err && nput)
		err = exm_refs_store(x->refs, put, putv, nput);
	for (i = 0; i < nput && !err; i++)
		exm_bits_set(sum, put[i]);
	/* the per-level totals: which levels a bucket's coverage check must look at */
	for (c = 0; c < 2 && !err; c++)
		for (g = 0; g < PG_GENS && !err; g++)
			for (f = 0; f < 2 && !err; f++)
				for (l = 0; l <= PG_SUM_MAX_LEVEL && !err; l++) {
					key = pg_sum_ref_key(g, f, c, EXM_LEVEL_TOTAL, l);
					v = 0;
					if (bpf_map_lookup_elem(x->refs, &key, &v) &&
					    errno != ENOENT)
						err = -errno;
					v = exm_add_u32(v, levels[c][g][f][l]);
					now[c][g][f][l] = v;
					if (!levels[c][g][f][l] || err)
						continue;
					if (v ? bpf_map_update_elem(x->refs, &key, &v, BPF_ANY)
					      : bpf_map_delete_elem(x->refs, &key) &&
							    errno != ENOENT)
						err = -errno;
				}
	for (i = 0; i < ngone && !err; i++) {
		__u32 first, count, b;
		bool covered;

		c = gone[i] >> 31;
		g = gone[i] >> 30 & 1;
		f = gone[i] >> 29 & 1;
		pg_exm_ref_buckets(gone[i], &first, &count);
		if ((gone[i] >> 24 & 31) == PG_SUM_BLOOM_LEVEL) {
			/* one count per filter bit: zero, nothing else sets it */
			__u32 bit, w = exm_word(gone[i], first, &bit);

			__atomic_fetch_and(&sum[w], ~(1ULL << bit), __ATOMIC_RELAXED);
			continue;
		}
		for (b = first; b < first + count && !err; b++) {
			err = exm_covered(x, c, g, f, b, now[c][g][f], &covered);
			if (!err && !covered)
				__atomic_fetch_and(&sum[pg_sum_index(g, f, b)],
						   ~(1ULL << pg_sum_bit(c, b)), __ATOMIC_RELAXED);
		}
	}
	free(gone);
	free(put);
	free(putv);
	return err;
}

/* Kinds and summary of e[i] for the entries sel() picks, with sign. */
static int exm_count(const struct pg_exm *x, __u64 *sum, const struct pg_exm_ent *e, size_t n,
		     bool (*sel)(const struct pg_exm_ent *), long sign, bool fresh)
{
	struct exm_kinds *d = calloc(1, sizeof(*d));
	__u32 *refs = malloc((2 * n + 1) * sizeof(*refs));
	size_t i, nr = 0;
	int err;

	if (!d || !refs) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!sel(&e[i]))
			continue;
		exm_kinds_count(d, &e[i], sign);
		nr += pg_exm_ref_keys(e[i].key, e[i].v6, &refs[nr]);
	}
	/* additions count kinds first, removals last: a kind is never undercounted */
	if (sign > 0)
		err = exm_kinds_apply(x, d) ?: exm_refs_apply(x, sum, refs, nr, sign, fresh);
	else
		err = exm_refs_apply(x, sum, refs, nr, sign, false) ?: exm_kinds_apply(x, d);
out:
	free(d);
	free(refs);
	return err;
}

static bool exm_all(const struct pg_exm_ent *e)
{
	(void)e;
	return true;
}

static bool exm_not_done(const struct pg_exm_ent *e)
{
	return !e->done;
}

static bool exm_done(const struct pg_exm_ent *e)
{
	return e->done;
}

static bool exm_in_trie(const struct pg_exm_ent *e)
{
	return e->done || e->present;
}

/* ---- the entries ---- */

/* One entry's trie entry: written or deleted. */
static int exm_one(const struct pg_exm *x, struct pg_exm_ent *e, unsigned int flags)
{
	if (flags & PG_EXM_ADD) {
		if (bpf_map_update_elem(x->trie[e->v6], e->key, &e->val,
					flags & PG_EXM_NOEXIST ? BPF_NOEXIST : BPF_ANY)) {
			if (errno != EEXIST || !(flags & PG_EXM_NOEXIST))
				return -errno;
			e->present = true; /* its slots are put again all the same */
			return 0;
		}
		e->done = true;
		return 0;
	}
	if (bpf_map_delete_elem(x->trie[e->v6], e->key)) {
		if (errno == ENOENT && (flags & PG_EXM_BATCH))
			return 0; /* gone already */
		return -errno;
	}
	e->done = true;
	return 0;
}

static bool exm_no_batch;

/* One batch syscall; *count: how many went through. -EOPNOTSUPP: none. */
static int exm_batch(int fd, void *keys, void *vals, __u32 *count, bool add)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err;

	if (exm_no_batch) {
		*count = 0;
		return -EOPNOTSUPP;
	}
	err = add ? bpf_map_update_batch(fd, keys, vals, count, &opts)
		  : bpf_map_delete_batch(fd, keys, count, &opts);
	if (err == -ENOTSUPP || err == -EOPNOTSUPP) {
		exm_no_batch = true;
		*count = 0;
		return -EOPNOTSUPP;
	}
	return err;
}

/* Batches of EXM_CHUNK entries of one family; the rest of a chunk one by one. */
static int exm_chunk(const struct pg_exm *x, struct pg_exm_ent *e, size_t n, unsigned int flags,
		     size_t *failed)
{
	bool add = flags & PG_EXM_ADD;
	__u8 *keys = malloc(EXM_CHUNK * sizeof(struct pg_exempt_v6_key));
	struct pg_exempt_val *vals = malloc(EXM_CHUNK * sizeof(*vals));
	size_t i = 0, j, c;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (i < n && !err) {
		bool v6 = e[i].v6;
		size_t ks = exm_ksize(v6);
		__u32 cnt;

		for (c = 0; i + c < n && c < EXM_CHUNK && e[i + c].v6 == v6; c++) {
			memcpy(keys + c * ks, e[i + c].key, ks);
			vals[c] = e[i + c].val;
		}
		cnt = c;
		err = exm_batch(x->trie[v6], keys, add ? vals : NULL, &cnt, add);
		/* not supported, or (a removal) an entry gone already: the rest one by one */
		if (err == -EOPNOTSUPP || (!add && err == -ENOENT))
			err = 0;
		for (j = 0; j < cnt; j++)
			e[i + j].done = true;
		if (err) {
			*failed = i + cnt;
			break;
		}
		for (j = cnt; j < c && !err; j++) {
			err = exm_one(x, &e[i + j], flags);
			if (err)
				*failed = i + j;
		}
		i += c;
	}
out:
	free(keys);
	free(vals);
	return err;
}

int pg_exm_write(const struct pg_exm *x, struct pg_exm_ent *e, size_t n, unsigned int flags,
		 size_t *failed)
{
	bool add = flags & PG_EXM_ADD, reset = !add && (flags & PG_EXM_RESET_AFTER);
	struct pg_exm_tab tab;
	__u64 *sum;
	size_t i;
	int err = 0, err2;

	*failed = n;
	for (i = 0; i < n; i++)
		e[i].done = e[i].present = false;
	if (!n)
		return 0;
	/* a few entries touch a few pages: map those, not the whole table */
	err = n <= EXM_LAZY_MAX && !(flags & PG_EXM_BATCH) ? pg_exm_tab_map_lazy(x, &tab)
							   : pg_exm_tab_map(x, &tab);
	if (err)
		return err;
	sum = pg_exm_sum_map(x->sum);
	if (!sum) {
		err = -errno;
		pg_exm_tab_unmap(&tab);
		return err;
	}
	if (add)
		err = exm_count(x, sum, e, n, exm_all, 1, flags & PG_EXM_FRESH);
	if (err) {
		*failed = 0;
		goto out;
	}
	/* a removal clears its slots first (a killed writer fails closed), re-puts shared ones after */
	if (!add && !reset)
		exm_slots_do(x, &tab, e, n, NULL, EXM_CLEAR);
	if (flags & PG_EXM_BATCH)
		err = exm_chunk(x, e, n, flags, failed);
	else
		for (i = 0; i < n && !err; i++) {
			err = exm_one(x, &e[i], flags);
			if (err)
				*failed = i;
		}
	if (add)
		err2 = exm_slots_do(x, &tab, e, n, exm_in_trie, EXM_PUT);
	else if (!reset)
		err2 = exm_slots_do(x, &tab, e, n, NULL, EXM_REPUT);
	else
		err2 = 0;
	err = err ?: err2;
	/* count what is in the tries now: added (counted above) or removed */
	if (add)
		err2 = exm_count(x, sum, e, n, exm_not_done, -1, false);
	else if (!(flags & PG_EXM_RESET_AFTER))
		err2 = exm_count(x, sum, e, n, exm_done, -1, false);
	else
		err2 = 0; /* too high until the reset: a bit set, a kind looked up */
	err = err ?: err2;
out:
	err = err ?: pg_exm_tab_err(&tab);
	pg_exm_sum_unmap(sum);
	pg_exm_tab_unmap(&tab);
	return err;
}

/* Append v to the growing array *a (*n used of *cap). */
static int exm_push(__u32 **a, size_t *n, size_t *cap, __u32 v)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		__u32 *k = realloc(*a, c * sizeof(*k));

		if (!k)
			return -ENOMEM;
		*a = k;
		*cap = c;
	}
	(*a)[(*n)++] = v;
	return 0;
}

/* Every reference count of generation gen, removed: read in batches, deleted in batches. */
static int exm_refs_reset(const struct pg_exm *x, __u32 gen)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 *keys = NULL, *vals = NULL, *mine = NULL, batch, cnt, key, next;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;
	bool more = true, first = true;
	int err = 0;

	keys = malloc(EXM_CHUNK * sizeof(*keys));
	vals = malloc(EXM_CHUNK * sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (more && !err) {
		cnt = EXM_CHUNK;
		err = bpf_map_lookup_batch(x->refs, first ? NULL : &batch, &batch, keys, vals, &cnt,
					   &opts);
		first = false;
		if (err == -ENOENT) {
			more = false; /* the last, partial batch */
			err = 0;
		} else if (err) {
			break;
		}
		for (i = 0; i < cnt; i++) {
			if ((keys[i] >> 30 & 1) != gen)
				continue;
			err = exm_push(&mine, &n, &cap, keys[i]);
			if (err)
				goto out;
		}
	}
	if (err == -EINVAL || err == -ENOSPC || err == -ENOTSUPP || err == -EOPNOTSUPP) {
		/* no batch lookups: walk the keys */
		err = 0;
		n = 0;
		while (!bpf_map_get_next_key(x->refs, prev, &next)) {
			key = next;
			prev = &key;
			if ((key >> 30 & 1) != gen)
				continue;
			err = exm_push(&mine, &n, &cap, key);
			if (err)
				goto out;
		}
		if (errno != ENOENT)
			err = -errno;
	}
	for (i = 0; i < n && !err;) {
		cnt = n - i > EXM_CHUNK ? EXM_CHUNK : n - i;
		err = exm_batch(x->refs, mine + i, NULL, &cnt, false);
		if (err == -EOPNOTSUPP || err == -ENOENT) {
			for (err = 0; i < n && !err; i++)
				if (bpf_map_delete_elem(x->refs, &mine[i]) && errno != ENOENT)
					err = -errno;
			break;
		}
		i += cnt;
	}
out:
	free(keys);
	free(vals);
	free(mine);
	return err;
}

int pg_exm_gen_reset(const struct pg_exm *x, __u32 gen)
{
	struct pg_exempt_kinds zero = {};
	struct pg_exm_tab tab;
	__u64 *sum;
	int err;

	err = pg_exm_tab_map(x, &tab);
	if (err)
		return err;
	sum = pg_exm_sum_map(x->sum);
	if (!sum) {
		err = -errno;
		pg_exm_tab_unmap(&tab);
		return err;
	}
	/* kinds first: the fast path stops looking before the bits go */
	err = bpf_map_update_elem(x->kinds, &gen, &zero, BPF_ANY) ? -errno : 0;
	if (!err) {
		memset(&sum[pg_sum_index(gen, 0, 0)], 0, 4 * PG_SUM_WORDS * sizeof(__u64));
		memset(&sum[pg_sum_bloom_index(gen, 0, 0)], 0, 2 * PG_SUM_WORDS * sizeof(__u64));
		/* the generation's half of each table, overflow marks included */
		memset(&tab.t4[pg_xt_index_v4(gen, 0)], 0,
		       sizeof(struct pg_xt_b4) << PG_XT_V4_BITS);
		memset(&tab.t6[pg_xt_index_v6(gen, 0)], 0,
		       sizeof(struct pg_xt_b6) << PG_XT_V6_BITS);
		err = exm_refs_reset(x, gen);
	}
	pg_exm_sum_unmap(sum);
	pg_exm_tab_unmap(&tab);
	return err;
}
