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
/* pcap/bpf.h clashes with linux/bpf.h (struct bpf_insn); we need neither filter API */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>

#include "loader.h"
#include "parse.h"
#include "portgate.skel.h"

/*
 * Largest frame accepted: a 9000-byte jumbo MTU plus Ethernet, two VLAN
 * tags and slack, the same ceiling the frame builder and lab use. Anything
 * longer cannot arrive on a BNG port, so it is a mistake in the input.
 */
#define TR_MAX_FRAME 9216
#define TR_MIN_FRAME ETH_HLEN

static const char *const side_names[] = {
	[PG_SIDE_SUBSCRIBER] = "subscriber",
	[PG_SIDE_PEER] = "peer",
};

struct tr_frame {
	uint8_t *data;
	uint32_t len;	   /* bytes run through the program */
	uint32_t wire_len; /* length on the wire (pcap snaplen may cut it) */
};

struct tr_input {
	struct tr_frame *v;
	unsigned int n, cap;
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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: portgate test [--role uplink|access] [-j] (--pcap FILE | --hex HEX [HEX...] | -)\n"
		"  Runs each Ethernet frame through portgate with BPF_PROG_TEST_RUN and prints\n"
		"  the verdict and why. Live rules and exemptions if pinned, else the default\n"
		"  policy; the live counters are never touched.\n"
		"  --pcap FILE   frames from a pcap (Ethernet link type); '-' reads it from stdin\n"
		"  --hex HEX...  one frame per argument; spaces, ':', '-', '.' between digits ok\n"
		"  --role        uplink (inbound, default) or access (outbound)\n"
		"  -j, --json    JSON array: one object per frame, then {\"summary\": ...}\n");
}

static int add_frame(struct tr_input *in, const uint8_t *data, uint32_t len, uint32_t wire_len)
{
	struct tr_frame *f;

	if (in->n == in->cap) {
		unsigned int cap = in->cap ? in->cap * 2 : 64;
		struct tr_frame *v = realloc(in->v, cap * sizeof(*v));

		if (!v) {
			pg_err("test: out of memory at frame %u", in->n + 1);
			return -ENOMEM;
		}
		in->v = v;
		in->cap = cap;
	}
	f = &in->v[in->n];
	f->data = malloc(len ? len : 1);
	if (!f->data) {
		pg_err("test: out of memory at frame %u", in->n + 1);
		return -ENOMEM;
	}
	memcpy(f->data, data, len);
	f->len = len;
	f->wire_len = wire_len;
	in->n++;
	return 0;
}

static void free_input(struct tr_input *in)
{
	unsigned int i;

	for (i = 0; i < in->n; i++)
		free(in->v[i].data);
	free(in->v);
	memset(in, 0, sizeof(*in));
}

/* Length limits shared by every source; the message names the frame. */
static int check_len(const char *src, unsigned int no, uint32_t len)
{
	if (len < TR_MIN_FRAME) {
		pg_err("test: %s frame %u: %u bytes is shorter than an Ethernet header (expected %d to %d bytes)",
		       src, no, len, TR_MIN_FRAME, TR_MAX_FRAME);
		return -EINVAL;
	}
	if (len > TR_MAX_FRAME) {
		pg_err("test: %s frame %u: %u bytes is longer than the largest frame (expected %d to %d bytes)",
		       src, no, len, TR_MIN_FRAME, TR_MAX_FRAME);
		return -EINVAL;
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One frame per argument: hex digit pairs, optionally prefixed by 0x and
 * separated by whitespace, ':', '-' or '.' (Wireshark "hex stream",
 * tcpdump -xx groups, colon-separated bytes all paste as they are).
 */
static int read_hex(struct tr_input *in, const char *s, unsigned int no)
{
	static uint8_t buf[TR_MAX_FRAME + 1];
	uint32_t len = 0;
	const char *p = s;
	int hi = -1;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p; p++) {
		int v = hexval((unsigned char)*p);

		if (v < 0) {
			if (hi < 0 && strchr(" \t\n\r:-.", *p))
				continue;
			pg_err("test: hex frame %u: '%c' at offset %zu of \"%.40s%s\" is not a hex digit (expected pairs of 0-9a-f, optionally separated by spaces or colons)",
			       no, *p, (size_t)(p - s), s, strlen(s) > 40 ? "..." : "");
			return -EINVAL;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (len <= TR_MAX_FRAME)
			buf[len] = (uint8_t)(hi << 4 | v);
		len++;
		hi = -1;
	}
	if (hi >= 0) {
		pg_err("test: hex frame %u: odd number of hex digits (expected whole bytes, two digits each)",
		       no);
		return -EINVAL;
	}
	if (check_len("hex", no, len))
		return -EINVAL;
	return add_frame(in, buf, len, len);
}

/* A whole pcap, validated frame by frame before anything runs. */
static int read_pcap(struct tr_input *in, const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	const char *name = strcmp(path, "-") ? path : "standard input";
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned int no = 0;
	pcap_t *p;
	int r, err = 0;

	p = strcmp(path, "-") ? pcap_open_offline(path, errbuf) : pcap_fopen_offline(stdin, errbuf);
	if (!p) {
		size_t plen = strlen(path);
		/* libpcap often starts the message with the file name already */
		const char *why = !strncmp(errbuf, path, plen) && errbuf[plen] == ':'
					  ? errbuf + plen + 2
					  : errbuf;

		pg_err("test: cannot read pcap '%s': %s (expected a pcap file)", name, why);
		return -EINVAL;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		pg_err("test: pcap '%s': link type %s, expected EN10MB (Ethernet); capture on the Ethernet interface, not 'any'",
		       name, pcap_datalink_val_to_name(pcap_datalink(p)) ?: "unknown");
		pcap_close(p);
		return -EINVAL;
	}
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		no++;
		err = check_len("pcap", no, h->caplen);
		if (!err)
			err = add_frame(in, data, h->caplen, h->len);
		if (err)
			break;
	}
	if (r == PCAP_ERROR) {
		pg_err("test: pcap '%s': frame %u unreadable: %s (corrupt pcap?)", name, no + 1,
		       pcap_geterr(p));
		err = -EINVAL;
	}
	pcap_close(p);
	if (!err && !no) {
		pg_err("test: pcap '%s' holds no frames", name);
		err = -EINVAL;
	}
	return err;
}

/* Sum of the per-CPU reason counters (packets only). */
static int read_stats(int fd, struct pg_stats *percpu, int ncpus, __u64 out[PG_R_COUNT])
{
	__u32 zero = 0;
	int c, r;

	if (bpf_map_lookup_elem(fd, &zero, percpu))
		return -errno;
	memset(out, 0, sizeof(__u64) * PG_R_COUNT);
	for (c = 0; c < ncpus; c++)
		for (r = 0; r < PG_R_COUNT; r++)
			out[r] += percpu[c].reason[r].packets;
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
		const struct iphdr *iph = pkt->l3;

		inet_ntop(AF_INET, &iph->saddr, res->src, sizeof(res->src));
		inet_ntop(AF_INET, &iph->daddr, res->dst, sizeof(res->dst));
	} else if (pkt->ip_version == 6 && pkt->l3) {
		const struct ipv6hdr *ip6 = pkt->l3;

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
	if (f->wire_len > f->len)
		cat(d, n, " (captured %u of %u bytes)", f->len, f->wire_len);
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
		const struct ipv6hdr *ip6 = pkt->l3;

		saddr = (const __u8 *)&ip6->saddr;
		daddr = (const __u8 *)&ip6->daddr;
	} else {
		const struct iphdr *iph = pkt->l3;

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
	    res->reason == PG_R_EXEMPT) {
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
static void print_json(struct pg_json *j, unsigned int no, const struct tr_frame *fr,
		       const struct tr_result *r)
{
	const struct pg_pkt *pkt = &r->pkt;
	bool ports = pkt->dport || pkt->sport;
	int i;

	pg_json_obj(j, NULL);
	pg_json_u64(j, "frame", no);
	pg_json_u64(j, "len", fr->len);
	pg_json_u64(j, "wire_len", fr->wire_len);
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
	pg_json_end_obj(j);
}

static void print_text(unsigned int no, const struct tr_result *r)
{
	printf("%4u  %-58s  %s  %s: %s\n", no, r->desc, r->drop ? "DROP" : "PASS",
	       pg_reason_name(r->reason), r->why);
}

/* Runs one frame; the reason is the one counter this run moved. */
static int run_frame(struct portgate *skel, int prog_fd, const struct tr_frame *f,
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
	res->drop = topts.retval == XDP_DROP;
	if (res->drop != (res->reason >= PG_R_FIRST_DROP))
		return -EPROTO;
	return 0;
}

#define TR_ONE_INPUT "give one input: --pcap FILE, --hex HEX... or - (a pcap on stdin)"

int cmd_test(const struct pg_opts *o, int argc, char **argv)
{
	const char *pcap_path = NULL, *role = "uplink";
	struct tr_input in = {};
	struct pg_state st = {};
	struct pg_stats *percpu = NULL;
	struct pg_json j;
	bool json = o->json, hex = false, have_st = false;
	unsigned int i, hexno = 0, passed = 0, dropped = 0;
	int dir = PG_DIR_IN, ncpus, prog_fd, err, ret = PG_EXIT_USAGE;

	for (i = 1; i < (unsigned int)argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			json = true; /* also accepted here: main() takes it anywhere */
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			ret = PG_EXIT_OK;
			goto out;
		} else if (!strcmp(a, "--role") || !strncmp(a, "--role=", 7)) {
			role = a[6] == '=' ? a + 7 : i + 1 < (unsigned int)argc ? argv[++i] : "";
			if (strcmp(role, "uplink") && strcmp(role, "access")) {
				pg_usage_err("test", "bad role '%s': expected uplink or access",
					     role);
				goto out;
			}
			dir = strcmp(role, "uplink") ? PG_DIR_OUT : PG_DIR_IN;
		} else if (!strcmp(a, "--pcap") || !strncmp(a, "--pcap=", 7) || !strcmp(a, "-")) {
			if (pcap_path || hex) {
				pg_usage_err("test", TR_ONE_INPUT);
				goto out;
			}
			pcap_path = a[1] == 0			 ? "-"
				    : a[6] == '='		 ? a + 7
				    : i + 1 < (unsigned int)argc ? argv[++i]
								 : "";
			if (!pcap_path[0]) {
				pg_usage_err("test", "--pcap needs a file name ('-' for stdin)");
				goto out;
			}
		} else if (!strcmp(a, "--hex")) {
			if (pcap_path || hex) {
				pg_usage_err("test", TR_ONE_INPUT);
				goto out;
			}
			hex = true;
		} else if (a[0] == '-') {
			pg_usage_err(
				"test",
				"unknown option '%s' (expected --role, -j, --pcap, --hex or -)", a);
			goto out;
		} else if (hex) {
			/* every input is read and checked before any frame runs */
			err = read_hex(&in, a, ++hexno);
			if (err) {
				ret = err == -ENOMEM ? PG_EXIT_RUNTIME : PG_EXIT_USAGE;
				goto out;
			}
		} else {
			pg_usage_err("test", "unexpected argument '%s' (hex frames follow --hex)",
				     a);
			goto out;
		}
	}
	if (!pcap_path && !hex) {
		pg_usage_err("test", TR_ONE_INPUT);
		goto out;
	}
	if (hex && !hexno) {
		pg_usage_err("test", "--hex needs at least one frame");
		goto out;
	}
	err = pcap_path ? read_pcap(&in, pcap_path) : 0;
	if (err) {
		ret = err == -ENOMEM ? PG_EXIT_RUNTIME : PG_EXIT_USAGE;
		goto out;
	}

	/* from here on a failure is the system's, not the input's */
	ret = PG_EXIT_RUNTIME;
	err = pg_state_open(o, PG_OPEN_PRIVATE_STATS, &st);
	if (err)
		goto out; /* pg_state_open said why */
	have_st = true;
	ncpus = libbpf_num_possible_cpus();
	percpu = ncpus > 0 ? calloc(ncpus, sizeof(*percpu)) : NULL;
	if (!percpu) {
		pg_err("test: cannot size the per-CPU counters");
		goto out;
	}
	prog_fd = bpf_program__fd(dir == PG_DIR_IN ? st.skel->progs.PG_PROG_UPLINK
						   : st.skel->progs.PG_PROG_ACCESS);

	if (json) {
		pg_json_init(&j, stdout);
		pg_json_arr(&j, NULL);
	} else {
		printf("policy: %s %s, role %s (%s)\n",
		       st.pinned ? "live rules and exemptions from" : "default, nothing pinned at",
		       o->pin_path, role, dir == PG_DIR_IN ? "inbound" : "outbound");
	}
	for (i = 0; i < in.n; i++) {
		struct tr_result res = {};
		int parsed;

		err = run_frame(st.skel, prog_fd, &in.v[i], percpu, ncpus, &res);
		if (err) {
			pg_err("test: frame %u: test run failed: %s", i + 1,
			       err == -EPROTO ? "the reason counters did not move by one"
					      : strerror(-err));
			break;
		}
		parsed = pg_parse(in.v[i].data, in.v[i].data + in.v[i].len, &res.pkt);
		describe(&in.v[i], parsed, &res);
		explain(st.skel, dir, &res);
		if (res.drop)
			dropped++;
		else
			passed++;
		if (json)
			print_json(&j, i + 1, &in.v[i], &res);
		else
			print_text(i + 1, &res);
	}
	if (i == in.n)
		ret = PG_EXIT_OK;
	if (json) {
		/* the array's last element: jq '.[-1].summary' */
		pg_json_obj(&j, NULL);
		pg_json_obj(&j, "summary");
		pg_json_u64(&j, "frames", i);
		pg_json_u64(&j, "passed", passed);
		pg_json_u64(&j, "dropped", dropped);
		pg_json_str(&j, "role", role);
		pg_json_str(&j, "policy", st.pinned ? "live" : "default");
		pg_json_end_obj(&j);
		pg_json_end_obj(&j);
		pg_json_end_arr(&j);
		pg_json_done(&j);
	} else {
		printf("frames %u, passed %u, dropped %u\n", i, passed, dropped);
	}
out:
	free(percpu);
	if (have_st)
		pg_state_close(&st);
	free_input(&in);
	return ret;
}
