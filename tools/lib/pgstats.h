/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Reading pg_stats, a per-CPU array of PG_MAX_IFSLOTS interface slots
 * (include/portgate.h): one place for the CLI, the tools and the tests.
 */
#ifndef PORTGATE_PGSTATS_H
#define PORTGATE_PGSTATS_H

#include "portgate.h"

/*
 * Every slot's per-CPU values in one batch: v[slot * ncpus + cpu], v holds
 * PG_MAX_IFSLOTS * ncpus entries. 0 or -errno.
 */
int pg_stats_read_all(int fd, int ncpus, struct pg_stats *v);

/*
 * Sums of v: per CPU over the slots (percpu[ncpus]), per slot over the
 * CPUs (per_slot[PG_MAX_IFSLOTS]) and over everything (sum). Any output
 * may be NULL.
 */
void pg_stats_fold(const struct pg_stats *v, int ncpus, struct pg_stats *percpu,
		   struct pg_stats *per_slot, struct pg_stats *sum);

/* pg_stats_read_all() then pg_stats_fold(); allocates and frees v. */
int pg_stats_read_sum(int fd, int ncpus, struct pg_stats *percpu, struct pg_stats *per_slot,
		      struct pg_stats *sum);

#endif /* PORTGATE_PGSTATS_H */
