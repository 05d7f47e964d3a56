// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Lab helper (tools/lab.sh), not part of portgate: this kernel has no VLAN
 * devices, so the lab makes a VLAN tag the way a VLAN device on a NIC with
 * offload does. vlan_push (tc egress of the BNG's acc1, before portgate's
 * filter) puts VLAN 100 into skb metadata (bpf_skb_vlan_push with no tag
 * present sets vlan_tci, the data stay untagged) and lets the next filter
 * run; vlan_pop (tc ingress of the subscriber's eth0) takes it off again.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_UNSPEC (-1)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int vlan_push(struct __sk_buff *skb)
{
	if (!skb->vlan_present)
		bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 100);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int vlan_pop(struct __sk_buff *skb)
{
	if (skb->vlan_present && (skb->vlan_tci & 0x0fff) == 100)
		bpf_skb_vlan_pop(skb);
	return TC_ACT_UNSPEC;
}
