// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pg_stats readers: see pgstats.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "pgstats.h"

int pg_stats_read_all(int fd, int ncpus, struct pg_stats *v)
{
	__u32 keys[PG_MAX_IFSLOTS], out = 0, count = PG_MAX_IFSLOTS, k;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err;

	err = bpf_map_lookup_batch(fd, NULL, &out, keys, v, &count, &opts);
	if (!err || (errno == ENOENT && count == PG_MAX_IFSLOTS))
		return 0;
	/* no batch support: one lookup per slot */
	for (k = 0; k < PG_MAX_IFSLOTS; k++)
		if (bpf_map_lookup_elem(fd, &k, v + (size_t)k * ncpus))
			return -errno;
	return 0;
}

static void pg_stats_add(struct pg_stats *to, const struct pg_stats *from)
{
	int r;

	for (r = 0; r < PG_R_COUNT; r++) {
		to->reason[r].packets += from->reason[r].packets;
		to->reason[r].bytes += from->reason[r].bytes;
	}
}

void pg_stats_fold(const struct pg_stats *v, int ncpus, struct pg_stats *percpu,
		   struct pg_stats *per_slot, struct pg_stats *sum)
{
	int s, c;

	if (percpu)
		memset(percpu, 0, sizeof(*percpu) * ncpus);
	if (per_slot)
		memset(per_slot, 0, sizeof(*per_slot) * PG_MAX_IFSLOTS);
	if (sum)
		memset(sum, 0, sizeof(*sum));
	for (s = 0; s < PG_MAX_IFSLOTS; s++)
		for (c = 0; c < ncpus; c++) {
			const struct pg_stats *x = &v[(size_t)s * ncpus + c];

			if (percpu)
				pg_stats_add(&percpu[c], x);
			if (per_slot)
				pg_stats_add(&per_slot[s], x);
			if (sum)
				pg_stats_add(sum, x);
		}
}

int pg_stats_read_sum(int fd, int ncpus, struct pg_stats *percpu, struct pg_stats *per_slot,
		      struct pg_stats *sum)
{
	struct pg_stats *v = calloc((size_t)PG_MAX_IFSLOTS * ncpus, sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	err = pg_stats_read_all(fd, ncpus, v);
	if (!err)
		pg_stats_fold(v, ncpus, percpu, per_slot, sum);
	free(v);
	return err;
}
