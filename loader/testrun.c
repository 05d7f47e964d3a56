// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate test`: run crafted frames or a capture through the real XDP
 * program with BPF_PROG_TEST_RUN and say, per frame, what portgate would
 * do and why.
 *
 * The policy is the live one when maps are pinned, the default otherwise;
 * the counters are always private to this process (PG_OPEN_PRIVATE_STATS),
 * so the ISP's monitoring never sees a test. The verdict and reason come
 * from the program itself (its return value and the one reason counter
 * that moved); the description comes from the very parser it runs
 * (bpf/parse.h), so what we print is what the fast path saw.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "testrun.h"
#include "parse.h"
#include "pgstats.h"
#include "portgate.skel.h"

static const char *const side_names[] = {
	[PG_SIDE_SUBSCRIBER] = "subscriber",
	[PG_SIDE_PEER] = "peer",
};

/* What one frame got, and everything needed to explain it. */
struct tr_result {
	int reason; /* enum pg_reason from the program's counters */
	bool drop;  /* from the program's return value */
	struct pg_pkt pkt;
	char desc[256];
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	bool has_rule;
	__u16 rule_id;
	struct pg_rule rule;
	bool has_exempt;
	int exempt_side;
	bool exempt_all; /* "all rules" exemption vs this rule's */
	char exempt_prefix[INET6_ADDRSTRLEN + 4];
	char why[320];
};

/* Sum of the per-CPU reason counters (packets only), every interface slot. */
static int read_stats(int fd, struct pg_stats *percpu, int ncpus, __u64 out[PG_R_COUNT])
{
	struct pg_stats total;
	int err, r;

	err = pg_stats_read_sum(fd, ncpus, percpu, NULL, &total);
	if (err)
		return err;
	for (r = 0; r < PG_R_COUNT; r++)
		out[r] = total.reason[r].packets;
	return 0;
}

static const char *l4_name(__u8 proto, char *buf, size_t n)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	case IPPROTO_GRE:
		return "gre";
	case IPPROTO_ESP:
		return "esp";
	case IPPROTO_SCTP:
		return "sctp";
	}
	snprintf(buf, n, "proto %u", proto);
	return buf;
}

/* Names for what commonly shares a BNG port with IP, for not_ip lines. */
static const char *ethertype_name(__u16 type, char *buf, size_t n)
{
	switch (type) {
	case ETH_P_IP:
		return "ipv4";
	case ETH_P_IPV6:
		return "ipv6";
	case ETH_P_ARP:
		return "arp";
	case ETH_P_PPP_DISC:
		return "pppoe-discovery";
	case ETH_P_LLDP:
		return "lldp";
	case ETH_P_SLOW:
		return "lacp";
	}
	snprintf(buf, n, "type 0x%04x", type);
	return buf;
}

static const char *ppp_name(__u16 proto, char *buf, size_t n)
{
	switch (proto) {
	case PG_PPP_IPV4: /* an IP header the parser rejected is still IP to the reader */
		return "ipv4";
	case PG_PPP_IPV6:
		return "ipv6";
	case 0xc021:
		return "ppp lcp";
	case 0x8021:
		return "ppp ipcp";
	case 0x8057:
		return "ppp ipv6cp";
	case 0xc023:
		return "ppp pap";
	case 0xc223:
		return "ppp chap";
	}
	snprintf(buf, n, "ppp 0x%04x", proto);
	return buf;
}

/* appends to a fixed buffer, truncating quietly */
static void cat(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t n, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len >= n - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, n - len, fmt, ap);
	va_end(ap);
}

/*
 * "vlan 100.200 pppoe ipv4 tcp 198.51.100.10:40000 > 100.64.0.10:25":
 * encapsulation, addresses, protocol and ports as far as the parser got.
 */
static void describe(const struct tr_frame *f, int parsed, struct tr_result *res)
{
	const struct pg_pkt *pkt = &res->pkt;
	char *d = res->desc;
	size_t n = sizeof(res->desc);
	uint32_t off = ETH_HLEN + 4 * pkt->vlans; /* past Ethernet and tags */
	char pbuf[16];
	int i;

	d[0] = 0;
	if (pkt->vlans) {
		cat(d, n, "vlan ");
		for (i = 0; i < pkt->vlans; i++)
			cat(d, n, "%s%u", i ? "." : "", pkt->vlan_id[i]);
		cat(d, n, " ");
	}
	if (pkt->encap & PG_ENCAP_MPLS)
		cat(d, n, "mpls x%u ", pkt->mpls);
	if (pkt->encap & PG_ENCAP_PPPOE)
		cat(d, n, "pppoe ");

	if (pkt->ip_version == 4 && pkt->l3) {
		const pg_iphdr *iph = pkt->l3;

		inet_ntop(AF_INET, &iph->saddr, res->src, sizeof(res->src));
		inet_ntop(AF_INET, &iph->daddr, res->dst, sizeof(res->dst));
	} else if (pkt->ip_version == 6 && pkt->l3) {
		const pg_ipv6hdr *ip6 = pkt->l3;

		inet_ntop(AF_INET6, &ip6->saddr, res->src, sizeof(res->src));
		inet_ntop(AF_INET6, &ip6->daddr, res->dst, sizeof(res->dst));
	}

	if (pkt->ip_version) {
		bool ports = parsed == PG_R_PORTS || pkt->dport || pkt->sport;
		const char *l4 = l4_name(pkt->l4proto, pbuf, sizeof(pbuf));
		bool v6 = pkt->ip_version == 6;

		cat(d, n, "ipv%u ", pkt->ip_version);
		if (pkt->l4proto || parsed == PG_R_PORTS || parsed == PG_R_OTHER_L4)
			cat(d, n, "%s ", l4);
		if (ports)
			cat(d, n, "%s%s%s:%u > %s%s%s:%u", v6 ? "[" : "", res->src, v6 ? "]" : "",
			    pkt->sport, v6 ? "[" : "", res->dst, v6 ? "]" : "", pkt->dport);
		else
			cat(d, n, "%s > %s", res->src, res->dst);
		if (pkt->ext_hdrs)
			cat(d, n, " ext x%u", pkt->ext_hdrs);
		if (pkt->frag == PG_FRAG_FIRST)
			cat(d, n, " first fragment");
		else if (pkt->frag == PG_FRAG_LATER)
			cat(d, n, " later fragment");
	} else if (pkt->encap & PG_ENCAP_PPPOE) {
		const uint8_t *ppp = f->data + off + 6;

		if (off + 7 <= f->len)
			cat(d, n, "%s",
			    ppp_name(ppp[0] & 1 ? ppp[0]
						: (off + 8 <= f->len ? ppp[0] << 8 | ppp[1]
								     : ppp[0] << 8),
				     pbuf, sizeof(pbuf)));
	} else if (pkt->encap & PG_ENCAP_MPLS) {
		cat(d, n, parsed == PG_R_NOT_IP ? "non-IP payload" : "");
	} else {
		__u16 type = f->data[off - 2] << 8 | f->data[off - 1];

		/* an IP header the parser rejected is still IP to the reader */
		cat(d, n, "%s", ethertype_name(type, pbuf, sizeof(pbuf)));
	}
	if (!d[0])
		cat(d, n, "ethernet");
	/* trailing separator from an encapsulation with nothing after it */
	if (d[strlen(d) - 1] == ' ')
		d[strlen(d) - 1] = 0;
	if (f->cap_len > f->len)
		cat(d, n, " (truncated to %u of %u bytes)", f->len, f->wire_len);
	else if (f->wire_len > f->len)
		cat(d, n, " (captured %u of %u bytes)", f->len, f->wire_len);
	if (f->outgoing)
		cat(d, n, " (outgoing)");
}

int tr_describe_frame(const uint8_t *data, uint32_t len, uint32_t wire_len, char *desc, size_t n)
{
	struct tr_frame f = {
		.data = (uint8_t *)data, .len = len, .cap_len = len, .wire_len = wire_len};
	struct tr_result res = {};
	int parsed;

	if (len < TR_MIN_FRAME) {
		snprintf(desc, n, "(%u bytes captured: too short to describe)", len);
		return -EINVAL;
	}
	parsed = pg_parse(f.data, f.data + len, &res.pkt);
	describe(&f, parsed, &res);
	snprintf(desc, n, "%s", res.desc);
	return parsed;
}

/*
 * Which exemption let the packet through: the program's four LPM lookups
 * in its order, redone here; the value's prefix length names the prefix.
 */
static void find_exempt(struct portgate *skel, __u32 gen, int dir, __u8 proto, __u16 rule_port,
			struct tr_result *res)
{
	static const struct {
		int side;
		bool all;
	} order[] = {
		{PG_SIDE_SUBSCRIBER, false},
		{PG_SIDE_SUBSCRIBER, true},
		{PG_SIDE_PEER, false},
		{PG_SIDE_PEER, true},
	};
	const struct pg_pkt *pkt = &res->pkt;
	bool v6 = pkt->ip_version == 6;
	int fd = bpf_map__fd(v6 ? skel->maps.PG_MAP_EXEMPT_V6 : skel->maps.PG_MAP_EXEMPT_V4);
	const __u8 *saddr, *daddr;
	unsigned int i, alen = v6 ? 16 : 4;

	if (v6) {
		const pg_ipv6hdr *ip6 = pkt->l3;

		saddr = (const __u8 *)&ip6->saddr;
		daddr = (const __u8 *)&ip6->daddr;
	} else {
		const pg_iphdr *iph = pkt->l3;

		saddr = (const __u8 *)&iph->saddr;
		daddr = (const __u8 *)&iph->daddr;
	}

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		bool sub_is_dst = dir == PG_DIR_IN;
		const __u8 *addr =
			(order[i].side == PG_SIDE_SUBSCRIBER) == sub_is_dst ? daddr : saddr;
		struct pg_exempt_v6_key k = {}; /* v4 key is its prefix */
		struct pg_exempt_val val;
		__u8 masked[16] = {};
		unsigned int b;

		k.prefixlen = PG_LPM_META_BITS + alen * 8;
		k.scope = pg_exempt_scope(gen, order[i].side, dir);
		k.proto = order[i].all ? PG_EXEMPT_ALL_RULES : proto;
		k.port_hi = order[i].all ? 0 : rule_port >> 8;
		k.port_lo = order[i].all ? 0 : rule_port & 0xff;
		memcpy(k.addr, addr, alen);
		if (bpf_map_lookup_elem(fd, &k, &val))
			continue;
		for (b = 0; b < alen * 8 && b < val.addr_prefixlen; b++)
			masked[b / 8] |= addr[b / 8] & (0x80 >> (b % 8));
		inet_ntop(v6 ? AF_INET6 : AF_INET, masked, res->exempt_prefix,
			  sizeof(res->exempt_prefix));
		cat(res->exempt_prefix, sizeof(res->exempt_prefix), "/%u", val.addr_prefixlen);
		res->has_exempt = true;
		res->exempt_side = order[i].side;
		res->exempt_all = order[i].all;
		return;
	}
}

static void rule_str(const struct tr_result *res, char *buf, size_t n)
{
	const struct pg_rule *r = &res->rule;

	buf[0] = 0;
	cat(buf, n, "rule %u %s/%u", res->rule_id, pg_proto_name(r->proto), r->port);
	if (r->port_end != r->port)
		cat(buf, n, "-%u", r->port_end);
	cat(buf, n, " %s %s", pg_dir_name(r->dir), pg_action_name(r->action));
}

/* The rule behind a blocked/monitored/exempt verdict, and the exemption. */
static void explain(struct portgate *skel, int dir, struct tr_result *res)
{
	const struct pg_pkt *pkt = &res->pkt;
	__u8 proto = pkt->l4proto == IPPROTO_UDP ? PG_PROTO_UDP : PG_PROTO_TCP;
	char rs[96];
	char *w = res->why;
	size_t n = sizeof(res->why);

	w[0] = 0;
	if (res->reason == PG_R_BLOCKED || res->reason == PG_R_MONITORED ||
	    res->reason == PG_R_EXEMPT || res->reason == PG_R_TCP_NOT_SYN) {
		struct pg_port_entry e;
		__u32 id, idx, gen;

		gen = skel->data_pg_ctl->PG_MAP_CTL.gen & 1;
		idx = pg_port_index(gen, dir, proto, pkt->dport);
		if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.PG_MAP_PORTS), &idx, &e) &&
		    e.rule_id) {
			id = e.rule_id;
			if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.PG_MAP_RULES), &id,
						 &res->rule)) {
				res->has_rule = true;
				res->rule_id = e.rule_id;
			}
			if (res->reason == PG_R_EXEMPT)
				find_exempt(skel, gen, dir, proto, e.rule_port, res);
		}
	}

	if (res->has_rule)
		rule_str(res, rs, sizeof(rs));
	else
		snprintf(rs, sizeof(rs), "a rule (changed since the run)");

	switch (res->reason) {
	case PG_R_NO_MATCH:
		cat(w, n, "no rule for %s/%u %s", pg_proto_name(proto), pkt->dport,
		    pg_dir_name(dir));
		break;
	case PG_R_OTHER_L4:
		cat(w, n, "not TCP or UDP: no ports to match");
		break;
	case PG_R_MONITORED:
		cat(w, n, "%s: counted and passed", rs);
		break;
	case PG_R_TCP_NOT_SYN:
		cat(w, n, "%s matches connection attempts (SYN without ACK) only: flags %#x passed",
		    rs, pkt->tcp_flags);
		break;
	case PG_R_EXEMPT:
		if (res->has_exempt)
			cat(w, n, "%s prefix %s is exempt from %s (%s)",
			    side_names[res->exempt_side], res->exempt_prefix,
			    res->exempt_all ? "all rules" : "this rule", rs);
		else
			cat(w, n, "exempt from %s (exemption removed since the run)", rs);
		break;
	case PG_R_FRAG_LATER:
		cat(w, n, "non-first fragment: carries no ports, passes");
		break;
	case PG_R_NOT_IP:
		cat(w, n, "not IPv4 or IPv6");
		break;
	case PG_R_BLOCKED:
		cat(w, n, "%s", rs);
		break;
	case PG_R_FRAG_SHORT:
		cat(w, n, "first fragment too short to hold the destination port");
		break;
	case PG_R_FRAG_OFF1:
		cat(w, n, "IPv4 fragment offset 1 (RFC 1858 overlap attack)");
		break;
	case PG_R_V6_CHAIN:
		cat(w, n, "more than %d IPv6 extension headers", PG_MAX_IPV6_EXT);
		break;
	default:
		cat(w, n, "malformed, passed uninspected");
		break;
	}
}

static void json_str_or_null(struct pg_json *j, const char *key, const char *s)
{
	if (s[0])
		pg_json_str(j, key, s);
	else
		pg_json_null(j, key);
}

/* One array element per frame: the text line's fields, and their parts. */
static void print_json(struct pg_json *j, const struct tr_input *in, const struct tr_frame *fr,
		       const struct tr_result *r, const struct tr_result *live)
{
	const struct pg_pkt *pkt = &r->pkt;
	bool ports = pkt->dport || pkt->sport;
	int i;

	pg_json_obj(j, NULL);
	pg_json_u64(j, "frame", fr->no);
	pg_json_u64(j, "len", fr->len);
	pg_json_u64(j, "wire_len", fr->wire_len);
	pg_json_bool(j, "truncated", fr->cap_len > fr->len);
	if (in->reframed)
		pg_json_str(j, "reframed", in->link);
	else
		pg_json_null(j, "reframed");
	pg_json_bool(j, "outgoing", fr->outgoing);
	pg_json_str(j, "description", r->desc);
	pg_json_arr(j, "vlan");
	for (i = 0; i < pkt->vlans; i++)
		pg_json_u64(j, NULL, pkt->vlan_id[i]);
	pg_json_end_arr(j);
	pg_json_u64(j, "mpls", pkt->mpls);
	pg_json_bool(j, "pppoe", pkt->encap & PG_ENCAP_PPPOE);
	if (pkt->ip_version)
		pg_json_u64(j, "ip", pkt->ip_version);
	else
		pg_json_null(j, "ip");
	json_str_or_null(j, "src", r->src);
	json_str_or_null(j, "dst", r->dst);
	if (pkt->ip_version && pkt->l4proto)
		pg_json_u64(j, "l4proto", pkt->l4proto);
	else
		pg_json_null(j, "l4proto");
	if (ports) {
		pg_json_u64(j, "sport", pkt->sport);
		pg_json_u64(j, "dport", pkt->dport);
	} else {
		pg_json_null(j, "sport");
		pg_json_null(j, "dport");
	}
	pg_json_str(j, "fragment",
		    pkt->frag == PG_FRAG_FIRST	 ? "first"
		    : pkt->frag == PG_FRAG_LATER ? "later"
						 : "no");
	pg_json_str(j, "verdict", r->drop ? "DROP" : "PASS");
	pg_json_str(j, "reason", pg_reason_name(r->reason));
	pg_json_str(j, "why", r->why);
	if (r->has_rule) {
		pg_json_obj(j, "rule");
		pg_json_u64(j, "id", r->rule_id);
		pg_json_str(j, "proto", pg_proto_name(r->rule.proto));
		pg_json_u64(j, "port", r->rule.port);
		pg_json_u64(j, "port_end", r->rule.port_end);
		pg_json_str(j, "dir", pg_dir_name(r->rule.dir));
		pg_json_str(j, "action", pg_action_name(r->rule.action));
		pg_json_end_obj(j);
	} else {
		pg_json_null(j, "rule");
	}
	if (r->has_exempt) {
		pg_json_obj(j, "exempt");
		pg_json_str(j, "side", side_names[r->exempt_side]);
		pg_json_str(j, "scope", r->exempt_all ? "all" : "rule");
		pg_json_str(j, "prefix", r->exempt_prefix);
		pg_json_end_obj(j);
	} else {
		pg_json_null(j, "exempt");
	}
	if (live) {
		pg_json_obj(j, "live");
		pg_json_str(j, "verdict", live->drop ? "DROP" : "PASS");
		pg_json_str(j, "reason", pg_reason_name(live->reason));
		pg_json_str(j, "why", live->why);
		pg_json_end_obj(j);
	}
	pg_json_end_obj(j);
}

/* A frame that did not run: same keys a consumer filters on. */
static void print_json_skip(struct pg_json *j, const struct tr_frame *fr)
{
	pg_json_obj(j, NULL);
	pg_json_u64(j, "frame", fr->no);
	pg_json_u64(j, "len", 0);
	pg_json_u64(j, "wire_len", fr->wire_len);
	pg_json_str(j, "description", "");
	pg_json_str(j, "verdict", "SKIP");
	pg_json_str(j, "reason", "skipped");
	pg_json_str(j, "why", fr->skip);
	pg_json_end_obj(j);
}

static void print_text(unsigned int no, const struct tr_result *r, const struct tr_result *live)
{
	if (live)
		printf("%4u  %-58s  %s  %s -> %s  %s: %s\n", no, r->desc,
		       live->drop ? "DROP" : "PASS", pg_reason_name(live->reason),
		       r->drop ? "DROP" : "PASS", pg_reason_name(r->reason), r->why);
	else
		printf("%4u  %-58s  %s  %s: %s\n", no, r->desc, r->drop ? "DROP" : "PASS",
		       pg_reason_name(r->reason), r->why);
}

#define TR_TC_ACT_SHOT 2

/* Runs one frame; the reason is the one counter this run moved. */
static int run_frame(struct portgate *skel, int prog_fd, bool tc, const struct tr_frame *f,
		     struct pg_stats *percpu, int ncpus, struct tr_result *res)
{
	int stats_fd = bpf_map__fd(skel->maps.PG_MAP_STATS);
	__u64 before[PG_R_COUNT], after[PG_R_COUNT];
	int err, r, moved = 0;
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = f->data, .data_size_in = f->len,
		    .repeat = 1);

	err = read_stats(stats_fd, percpu, ncpus, before);
	if (err)
		return err;
	err = bpf_prog_test_run_opts(prog_fd, &topts);
	if (err)
		return err;
	err = read_stats(stats_fd, percpu, ncpus, after);
	if (err)
		return err;
	res->reason = -1;
	for (r = 0; r < PG_R_COUNT; r++) {
		if (after[r] == before[r])
			continue;
		moved++;
		res->reason = r;
	}
	/* our counters are private: anything else means a broken invariant */
	if (moved != 1 || after[res->reason] != before[res->reason] + 1)
		return -EPROTO;
	res->drop = topts.retval == (tc ? TR_TC_ACT_SHOT : XDP_DROP);
	if (res->drop != (res->reason >= PG_R_FIRST_DROP))
		return -EPROTO;
	return 0;
}

/* Runs the frame against one policy and explains the verdict. */
static int judge(struct tr_policy *pol, int dir, bool tc, const struct tr_frame *f,
		 struct pg_stats *percpu, int ncpus, struct tr_result *res)
{
	struct portgate *skel = pol->st.skel;
	int prog_fd = bpf_program__fd(tc		 ? skel->progs.PG_PROG_ACCESS_IN
				      : dir == PG_DIR_IN ? skel->progs.PG_PROG_UPLINK
							 : skel->progs.PG_PROG_ACCESS);
	int err, parsed;

	memset(res, 0, sizeof(*res));
	if (tc && f->len < 14) {
		/* the kernel runs no skb shorter than an Ethernet header */
		pg_err("test: frame %u: %u bytes, the tc hook needs at least 14", f->no, f->len);
		return -EINVAL;
	}
	err = run_frame(skel, prog_fd, tc, f, percpu, ncpus, res);
	if (err) {
		pg_err("test: frame %u: test run failed: %s", f->no,
		       err == -EPROTO ? "the reason counters did not move by one" : strerror(-err));
		return err;
	}
	parsed = pg_parse(f->data, f->data + f->len, &res->pkt);
	describe(f, parsed, res);
	explain(skel, dir, res);
	return 0;
}

int tr_policy_live(const struct pg_opts *o, struct tr_policy *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	err = pg_state_open(o, PG_OPEN_PRIVATE_STATS, &p->st);
	if (err)
		return err; /* pg_state_open said why */
	p->loaded = true;
	p->kind = p->st.pinned ? "live" : "default";
	snprintf(p->label, sizeof(p->label), "%s %s",
		 p->st.pinned ? "live rules and exemptions from" : "default, nothing pinned at",
		 o->pin_path);
	return 0;
}

void tr_policy_close(struct tr_policy *p)
{
	if (p->loaded)
		pg_state_close(&p->st);
	p->loaded = false;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: portgate test [--role uplink|access] [--hook xdp|tc] [-j] [--strict]\n"
		"                     [--config FILE [--diff]]\n"
		"                     (--pcap FILE | --hex HEX [HEX...] | -)\n"
		"  Runs each frame through portgate with BPF_PROG_TEST_RUN and prints the\n"
		"  verdict and why. Live rules and exemptions if pinned, else the default\n"
		"  policy; the live counters are never touched.\n"
		"  --pcap FILE    frames from a pcap or pcapng; '-' reads it from stdin. Ethernet\n"
		"                 runs as it is; Linux cooked (tcpdump on 'any'), raw IP, loopback,\n"
		"                 PPP, 802.11 (radiotap, Prism, AVS, PPI), ATM, Frame Relay and\n"
		"                 other link types that carry IP are re-framed with the Ethernet\n"
		"                 header the NIC would have seen\n"
		"  --hex HEX...   one Ethernet frame per argument; spaces, ':', '-', '.' between\n"
		"                 digits ok\n"
		"  --role         uplink (inbound, default) or access (outbound)\n"
		"  --hook         xdp (default) or tc: the access interface's tc egress program\n"
		"                 (inbound toward subscribers; implies --role access)\n"
		"  --strict       refuse the capture if any frame cannot run whole (runts,\n"
		"                 frames over %d bytes, an unreadable tail); default: skip and\n"
		"                 report them, run super-frames on their first %d bytes\n"
		"  --config FILE  what-if: the policy of FILE (the 'portgate apply' format) in\n"
		"                 private maps\n"
		"  --diff         with --config: only frames whose verdict differs from the live one\n"
		"  -j, --json     JSON array: one object per frame, then {\"summary\": ...}\n",
		TR_MAX_FRAME, TR_MAX_FRAME);
}

#define TR_ONE_INPUT "give one input: --pcap FILE, --hex HEX... or - (a pcap on stdin)"

struct tr_args {
	const char *pcap_path, *role, *config;
	bool json, hex, strict, diff, tc, role_given;
	int dir;
	unsigned int hexno;
};

/* Options, then hex frames read as they come; returns an exit code or -1 to go on. */
static int parse_args(int argc, char **argv, struct tr_args *a, struct tr_input *in)
{
	int i, err;

	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (!strcmp(s, "-j") || !strcmp(s, "--json")) {
			a->json = true; /* also accepted here: main() takes it anywhere */
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			usage(stdout);
			return PG_EXIT_OK;
		} else if (!strcmp(s, "--strict")) {
			a->strict = true;
		} else if (!strcmp(s, "--diff")) {
			a->diff = true;
		} else if (!strcmp(s, "--config") || !strncmp(s, "--config=", 9)) {
			a->config = s[8] == '=' ? s + 9 : i + 1 < argc ? argv[++i] : "";
			if (!a->config[0]) {
				pg_usage_err("test", "--config needs a file name");
				return PG_EXIT_USAGE;
			}
		} else if (!strcmp(s, "--role") || !strncmp(s, "--role=", 7)) {
			a->role = s[6] == '=' ? s + 7 : i + 1 < argc ? argv[++i] : "";
			if (strcmp(a->role, "uplink") && strcmp(a->role, "access")) {
				pg_usage_err("test", "bad role '%s': expected uplink or access",
					     a->role);
				return PG_EXIT_USAGE;
			}
			a->dir = strcmp(a->role, "uplink") ? PG_DIR_OUT : PG_DIR_IN;
			a->role_given = true;
		} else if (!strcmp(s, "--hook") || !strncmp(s, "--hook=", 7)) {
			const char *h = s[6] == '=' ? s + 7 : i + 1 < argc ? argv[++i] : "";

			if (strcmp(h, "xdp") && strcmp(h, "tc")) {
				pg_usage_err("test", "bad hook '%s': expected xdp or tc", h);
				return PG_EXIT_USAGE;
			}
			a->tc = !strcmp(h, "tc");
		} else if (!strcmp(s, "--pcap") || !strncmp(s, "--pcap=", 7) || !strcmp(s, "-")) {
			if (a->pcap_path || a->hex) {
				pg_usage_err("test", TR_ONE_INPUT);
				return PG_EXIT_USAGE;
			}
			a->pcap_path = s[1] == 0      ? "-"
				       : s[6] == '='  ? s + 7
				       : i + 1 < argc ? argv[++i]
						      : "";
			if (!a->pcap_path[0]) {
				pg_usage_err("test", "--pcap needs a file name ('-' for stdin)");
				return PG_EXIT_USAGE;
			}
		} else if (!strcmp(s, "--hex")) {
			if (a->pcap_path || a->hex) {
				pg_usage_err("test", TR_ONE_INPUT);
				return PG_EXIT_USAGE;
			}
			a->hex = true;
		} else if (s[0] == '-') {
			pg_usage_err(
				"test",
				"unknown option '%s' (expected --role, --hook, -j, --strict, --config, --diff, --pcap, --hex or -)",
				s);
			return PG_EXIT_USAGE;
		} else if (a->hex) {
			/* every input is read and checked before any frame runs */
			err = tr_read_hex(in, s, ++a->hexno);
			if (err)
				return err == -ENOMEM ? PG_EXIT_RUNTIME : PG_EXIT_USAGE;
		} else {
			pg_usage_err("test", "unexpected argument '%s' (hex frames follow --hex)",
				     s);
			return PG_EXIT_USAGE;
		}
	}
	if (a->tc && a->role_given && a->dir != PG_DIR_OUT) {
		pg_usage_err("test",
			     "--hook tc runs on access interfaces (expected --role access)");
		return PG_EXIT_USAGE;
	}
	if (a->tc) {
		a->role = "access";
		a->dir = PG_DIR_IN; /* tc egress judges inbound */
	}
	if (!a->pcap_path && !a->hex) {
		pg_usage_err("test", TR_ONE_INPUT);
		return PG_EXIT_USAGE;
	}
	if (a->hex && !a->hexno) {
		pg_usage_err("test", "--hex needs at least one frame");
		return PG_EXIT_USAGE;
	}
	if (a->diff && !a->config) {
		pg_usage_err("test",
			     "--diff compares the live policy with --config FILE: give both");
		return PG_EXIT_USAGE;
	}
	return -1;
}

struct tr_sum {
	unsigned int frames, passed, dropped, differ;
};

static void print_summary(struct pg_json *j, const struct tr_args *a, const struct tr_input *in,
			  const struct tr_policy *pol, const struct tr_sum *sum)
{
	if (a->json) {
		/* the array's last element: jq '.[-1].summary' */
		pg_json_obj(j, NULL);
		pg_json_obj(j, "summary");
		pg_json_u64(j, "frames", sum->frames);
		pg_json_u64(j, "passed", sum->passed);
		pg_json_u64(j, "dropped", sum->dropped);
		pg_json_u64(j, "skipped", in->skipped);
		pg_json_u64(j, "truncated", in->truncated);
		if (in->link)
			pg_json_str(j, "link_type", in->link);
		else
			pg_json_null(j, "link_type");
		pg_json_bool(j, "reframed", in->reframed);
		pg_json_str(j, "role", a->role);
		pg_json_str(j, "policy", pol->kind);
		if (a->diff)
			pg_json_u64(j, "differ", sum->differ);
		pg_json_end_obj(j);
		pg_json_end_obj(j);
		pg_json_end_arr(j);
		pg_json_done(j);
		return;
	}
	printf("frames %u, passed %u, dropped %u", sum->frames, sum->passed, sum->dropped);
	if (in->skipped)
		printf(", skipped %u", in->skipped);
	if (in->truncated)
		printf(", truncated %u", in->truncated);
	if (in->reframed)
		printf(", re-framed from %s", in->link);
	if (a->diff)
		printf(", differ from live %u", sum->differ);
	putchar('\n');
}

int cmd_test(const struct pg_opts *o, int argc, char **argv)
{
	struct tr_args a = {.role = "uplink", .dir = PG_DIR_IN};
	struct tr_policy pol = {}, live = {};
	struct tr_input in = {};
	struct pg_stats *percpu = NULL;
	struct tr_sum sum = {};
	struct pg_json j;
	unsigned int i;
	int ncpus, err, ret;

	ret = parse_args(argc, argv, &a, &in);
	if (ret >= 0)
		goto out;
	a.json |= o->json;
	ret = PG_EXIT_USAGE;
	err = a.pcap_path ? tr_read_pcap(&in, a.pcap_path, a.strict) : 0;
	if (err) {
		ret = err == -ENOMEM ? PG_EXIT_RUNTIME : PG_EXIT_USAGE;
		goto out;
	}

	/* the policy: a config file's (its errors are the input's) or the live one */
	if (a.config) {
		err = tr_policy_config(o, a.config, &pol);
		if (err) {
			ret = err == -EINVAL ? PG_EXIT_USAGE : PG_EXIT_RUNTIME;
			goto out;
		}
	}
	/* from here on a failure is the system's, not the input's */
	ret = PG_EXIT_RUNTIME;
	if ((!a.config || a.diff) && tr_policy_live(o, a.config ? &live : &pol))
		goto out;
	ncpus = libbpf_num_possible_cpus();
	percpu = ncpus > 0 ? calloc(ncpus, sizeof(*percpu)) : NULL;
	if (!percpu) {
		pg_err("test: cannot size the per-CPU counters");
		goto out;
	}

	if (a.json) {
		pg_json_init(&j, stdout);
		pg_json_arr(&j, NULL);
	} else {
		printf("policy: %s, role %s, %s (%s)\n", pol.label, a.role,
		       a.tc ? "tc egress" : "xdp ingress",
		       a.dir == PG_DIR_IN ? "inbound" : "outbound");
		if (a.diff)
			printf("compared with: %s; only frames whose verdict differs\n",
			       live.label);
		if (in.reframed)
			printf("input: %s capture, each frame re-framed with the Ethernet header the NIC would have seen\n",
			       in.link);
	}
	for (i = 0; i < in.n; i++) {
		const struct tr_frame *f = &in.v[i];
		struct tr_result res, lres;
		bool differ = false;

		if (f->skip) {
			if (a.json)
				print_json_skip(&j, f);
			else
				printf("%4u  skipped: %s\n", f->no, f->skip);
			continue;
		}
		if (judge(&pol, a.dir, a.tc, f, percpu, ncpus, &res))
			break;
		if (a.diff) {
			if (judge(&live, a.dir, a.tc, f, percpu, ncpus, &lres))
				break;
			differ = lres.drop != res.drop || lres.reason != res.reason;
			sum.differ += differ;
		}
		sum.frames++;
		if (res.drop)
			sum.dropped++;
		else
			sum.passed++;
		if (a.diff && !differ)
			continue;
		if (a.json)
			print_json(&j, &in, f, &res, a.diff ? &lres : NULL);
		else
			print_text(f->no, &res, a.diff ? &lres : NULL);
	}
	if (i == in.n)
		ret = PG_EXIT_OK;
	print_summary(&j, &a, &in, &pol, &sum);
out:
	free(percpu);
	tr_policy_close(&live);
	tr_policy_close(&pol);
	tr_free_input(&in);
	return ret;
}
