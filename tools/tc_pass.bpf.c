// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Benchmark anchor for the tc egress hook: a sched_cls program that does
 * nothing but let the packet go on (TC_ACT_UNSPEC, as portgate's pass), the
 * floor portgate_access_in's per-packet cost is measured against.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int tc_pass(struct __sk_buff *skb __attribute__((unused)))
{
	return -1; /* TC_ACT_UNSPEC */
}
