// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Benchmark anchor for the live tc egress run (tools/bench.sh): a
 * sched_cls program that drops everything (TC_ACT_SHOT), the floor any
 * egress filter dropping the same frames is measured against.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int tc_drop(struct __sk_buff *skb __attribute__((unused)))
{
	return 2; /* TC_ACT_SHOT */
}
