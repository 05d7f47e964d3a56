// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Benchmark anchor: an XDP program that does nothing but return XDP_PASS,
 * the floor any filter's per-packet cost is measured against.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}
