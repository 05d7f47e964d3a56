// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Traffic generator program: run by BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES, every XDP_TX sends the frame out of the
 * ingress_ifindex device (one end of a veth pair) to its peer.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int trafficgen_tx(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_TX;
}
