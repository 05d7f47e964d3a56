/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Timing for the bench tools. */
#ifndef PORTGATE_CLOCK_H
#define PORTGATE_CLOCK_H

#include <time.h>

/* CLOCK_THREAD_CPUTIME_ID keeps a shared VM's preemption out of the figure. */
static inline unsigned long long clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

#endif /* PORTGATE_CLOCK_H */
