/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one writer of exemption entries (include/portgate.h, "Exemptions"):
 * every trie entry is written and removed here, and with it what the fast
 * path reads in front of the tries: the exemption table, the summary
 * bitmap and its reference counts, and the kind counts. The
 * CLI (allow, disallow, apply, check --repair), the tests and the bench
 * tools all call it, so the structures cannot drift from the tries.
 *
 * Order, so that a reader never misses an exemption that exists before
 * and after a change: an addition counts (kinds, levels, summary bits)
 * before it writes the trie and then the table slots; a removal clears
 * its slots, deletes the trie entry, puts back the slots other
 * exemptions still imply (expanded prefixes share slots) and uncounts
 * last. A killed writer leaves counts
 * too high (harmless: a bit set, a kind looked up) or slots missing (the
 * packet is blocked: fail closed), never a slot without its exemption;
 * `portgate check --repair` and the next allow of the entry put them back.
 *
 * Functions return 0 or -errno and print nothing.
 */
#ifndef PORTGATE_EXEMPT_MAPS_H
#define PORTGATE_EXEMPT_MAPS_H

#include <stdbool.h>
#include <stddef.h>

#include "portgate.h"

/* File descriptors of the exemption maps. */
struct pg_exm {
	int trie[2]; /* [v6]: pg_exempt_v4, pg_exempt_v6 */
	int kinds;   /* pg_exempt_kinds */
	int sum;     /* pg_exempt_sum */
	int refs;    /* pg_exempt_refs */
	int tab[2];  /* pg_exempt_t4, pg_exempt_t6 */
};

/* The maps of a loaded skeleton (struct portgate *), for the tests and tools. */
#define PG_EXM_OF_SKEL(skel)                                             \
	((struct pg_exm){                                                \
		.trie = {bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_V4),     \
			 bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_V6)},    \
		.kinds = bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_KINDS),  \
		.sum = bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_SUM),      \
		.refs = bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_REFS),    \
		.tab = {bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_TAB_V4),  \
			bpf_map__fd((skel)->maps.PG_MAP_EXEMPT_TAB_V6)}, \
	})

/* One entry: its trie key (generation in the scope), family and value. */
struct pg_exm_ent {
	const void *key; /* struct pg_exempt_v4_key or pg_exempt_v6_key */
	bool v6;
	struct pg_exempt_val val;
	bool done;    /* out: written (add) or removed */
	bool present; /* out, PG_EXM_NOEXIST: was there already (not written) */
};

enum pg_exm_flags {
	PG_EXM_ADD = 1 << 0,	 /* add (else remove) */
	PG_EXM_NOEXIST = 1 << 1, /* add: an entry already there is left as it is (present) */
	PG_EXM_BATCH = 1 << 2,	 /* batch syscalls; a removal skips missing entries */
	PG_EXM_FRESH = 1 << 3,	 /* add: the generation holds no reference counts yet */
	/*
	 * remove: leave the counts; pg_exm_gen_reset() of the (not live)
	 * generation follows and zeroes them at once (apply's clean: one
	 * reset instead of a count update per entry).
	 */
	PG_EXM_RESET_AFTER = 1 << 4,
};

/*
 * Write or remove n entries, in order, stopping at the first failure:
 * *failed is its index (n when none failed). What was done is counted,
 * and only that: on failure, undo with the done entries and the opposite
 * direction.
 */
int pg_exm_write(const struct pg_exm *x, struct pg_exm_ent *e, size_t n, unsigned int flags,
		 size_t *failed);

/*
 * After the generation's trie entries are gone (the caller removes those
 * it knows): its summary words, reference counts and kind counts zeroed.
 */
int pg_exm_gen_reset(const struct pg_exm *x, __u32 gen);

/* The structures one trie entry implies (for check and the tests). */
bool pg_exm_is_host(const void *key, bool v6);
/*
 * pg_exempt_refs keys of an entry: 0 when it is wide (the summary does not
 * cover it), 1 for a prefix (its bucket), 2 for a host (its bucket and its
 * host filter bit).
 */
int pg_exm_ref_keys(const void *key, bool v6, __u32 refs[2]);
/* The buckets (or the filter bit) a reference key covers: [*first, *first + *count). */
void pg_exm_ref_buckets(__u32 ref, __u32 *first, __u32 *count);

/*
 * The exemption table (pg_exempt_t4/t6). A slot as numbers: IPv4 keeps
 * its address in hi (lo = 0); gen and v6 say which half of which map.
 */
struct pg_exm_slot {
	bool v6;
	__u32 gen;
	__u32 meta; /* pg_xt_meta(): level, scope, rule */
	__u64 hi, lo;
};

struct pg_exm_lazy;

struct pg_exm_tab {
	struct pg_xt_b4 *t4;
	struct pg_xt_b6 *t6;
	struct pg_exm_lazy *lazy; /* pg_exm_tab_map_lazy(): pages mapped as touched */
};

/* Both tables, mapped; unmapped again (a zeroed tab is fine). */
int pg_exm_tab_map(const struct pg_exm *x, struct pg_exm_tab *t);
/*
 * The same addresses, but only reserved: each page is mapped when a slot
 * in it is first touched. Mapping a whole table populates every page
 * table entry (about 20 ms for both), which a one-entry allow should not
 * pay. A page that cannot be mapped makes the slot operations do nothing
 * and pg_exm_tab_err() say why.
 */
int pg_exm_tab_map_lazy(const struct pg_exm *x, struct pg_exm_tab *t);
int pg_exm_tab_err(const struct pg_exm_tab *t);
void pg_exm_tab_unmap(struct pg_exm_tab *t);

/* The slots a trie entry implies, its prefix expanded to its level: how many (0: wide). */
#define PG_EXM_MAX_SLOTS (1 << (PG_XT_STRIDE - 1))
int pg_exm_slots(const void *key, bool v6, struct pg_exm_slot out[PG_EXM_MAX_SLOTS]);
/* 1: in its bucket; 0: not; -1: not, and the bucket has overflowed. */
int pg_exm_slot_find(const struct pg_exm_tab *t, const struct pg_exm_slot *s);
/* Into its bucket (or, with no free slot, the bucket marked overflowed); out of it. */
void pg_exm_slot_put(const struct pg_exm_tab *t, const struct pg_exm_slot *s);
void pg_exm_slot_clear(const struct pg_exm_tab *t, const struct pg_exm_slot *s);
/* Does a trie entry of the slot's scope with a length in its level's span cover it? */
int pg_exm_slot_wanted(const struct pg_exm *x, const struct pg_exm_slot *s, bool *wanted);
/* The trie key of the slot's own prefix (address masked to its level), for messages. */
void pg_exm_slot_key(const struct pg_exm_slot *s, struct pg_exempt_v6_key *k);
/*
 * Every used slot, both generations and families: fn returns < 0 to stop
 * (that is returned), 1 to clear the slot, 0 to go on. *over: buckets
 * marked overflowed, per family.
 */
int pg_exm_tab_walk(const struct pg_exm_tab *t, int (*fn)(const struct pg_exm_slot *, void *),
		    void *ctx, unsigned long over[2]);

/* The summary, mapped (PG_SUM_ENTRIES words); NULL with errno set. */
__u64 *pg_exm_sum_map(int sum_fd);
void pg_exm_sum_unmap(__u64 *w);

#endif /* PORTGATE_EXEMPT_MAPS_H */
