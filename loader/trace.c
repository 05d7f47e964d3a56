// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate trace`: what the filter drops, as it drops it. XDP acts before
 * tcpdump sees a frame, so the program itself reports: its one exit hands
 * each dropped (or monitored, or with --exempt exempt) packet to the
 * tracers that want it, through a ring buffer per tracer, rate-limited per
 * CPU in the kernel. See "Tracing" in include/portgate.h for the slots,
 * the lease and why a tracer killed with -9 costs nothing for long.
 *
 * Here: claim a slot under the pin-directory lock, create the ring, write
 * the filters, switch the slot on; then print each event (text, one JSON
 * object per line, pcap, or syslog lines) until Ctrl-C, SIGTERM or
 * --count, renewing the lease every second; then switch it off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
/* pcap/bpf.h clashes with linux/bpf.h (struct bpf_insn); we need neither filter API */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "testrun.h"

#define TRACE_SYSLOG_RATE 10 /* lines per second, default of --syslog-rate */

struct trace_args {
	const char *prefix, *iface, *pcap;
	bool exempt, json, syslog, have_rule, have_dir;
	__u8 rule_proto, dir;
	__u16 rule_port;
	unsigned long count, rate, burst, syslog_rate;
};

struct tracer {
	struct trace_args a;
	struct pg_maps m;
	volatile struct pg_ctl *ctl; /* mmap of pg_ctl */
	long ctl_len;
	struct pg_trace_cfg cfg;
	__u32 slot;
	int ring_fd;
	bool claimed;
	__u16 rule_ids[PG_DIR_COUNT]; /* --rule: the ids it names (0 = none) */
	__s64 wall_off;		      /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	unsigned long shown;
	pcap_t *pd;
	pcap_dumper_t *dump;
	/* --syslog: a bucket of lines per second, and what it held back */
	double sl_tokens;
	__u64 sl_last, sl_dropped;
	bool out_broken;
};

static volatile sig_atomic_t trace_stop;

static void trace_on_signal(int sig)
{
	(void)sig;
	trace_stop = 1;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __s64 wall_offset(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((__s64)r.tv_sec - m.tv_sec) * 1000000000LL + ((__s64)r.tv_nsec - m.tv_nsec);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: portgate trace [--prefix PREFIX] [--rule PROTO/PORT [--dir in|out]] [--iface IFACE]\n"
		"                      [--exempt] [--count N] [--rate N] [--burst N] [-j]\n"
		"                      [--pcap FILE | -w FILE] [--syslog [--syslog-rate N]]\n"
		"  Prints each packet portgate drops or monitors, as it happens, until\n"
		"  Ctrl-C: time, interface, direction, verdict, reason, rule, the frame\n"
		"  (encapsulation, addresses, ports) and its length.\n"
		"  --prefix P    only packets with an address (either side) in P, e.g.\n"
		"                100.64.12.34 or 2001:db8::/48 (filtered in the kernel)\n"
		"  --rule R      only packets of the rule covering PROTO/PORT, e.g. tcp/25\n"
		"                (--dir picks the direction's rule; default: both)\n"
		"  --iface IF    only packets that arrived on IF\n"
		"  --exempt      also packets an exemption let through\n"
		"  --count N     stop after N packets\n"
		"  --rate N      at most N events per second per CPU (default %d, max %d);\n"
		"                the rest are counted as suppressed and reported at the end\n"
		"  --burst N     events a CPU may send at once after a quiet spell (default: rate)\n"
		"  -j, --json    one JSON object per line\n"
		"  --pcap FILE, -w FILE  write the frames' first %d bytes as a pcap ('-' = stdout)\n"
		"  --syslog      one line per packet to syslog/the journal instead of stdout,\n"
		"                at most --syslog-rate lines per second (default %d); held-back\n"
		"                lines are counted in a summary line (for portgate-trace.service)\n"
		"  Up to %d traces run at once; each has its own rate and counters.\n",
		PG_TRACE_RATE_DEFAULT, PG_TRACE_RATE_MAX, PG_TRACE_SNAP, TRACE_SYSLOG_RATE,
		PG_TRACE_SLOTS);
}

static int parse_num(const char *opt, const char *val, unsigned long lo, unsigned long hi,
		     unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(val, &end, 10);
	if (!*val || *end || errno || val[0] == '-' || *out < lo || *out > hi)
		return pg_usage_err("trace", "bad %s '%s': expected a whole number %lu-%lu", opt,
				    val, lo, hi);
	return 0;
}

static int parse_args(int argc, char **argv, struct trace_args *a)
{
	struct pg_args g = {.argc = argc, .argv = argv, .i = 1, .cmd = "trace"};
	const char *opt, *val;

	a->rate = PG_TRACE_RATE_DEFAULT;
	a->syslog_rate = TRACE_SYSLOG_RATE;
	while (pg_args_next(&g, &opt, &val)) {
		if (!opt)
			return pg_usage_err("trace",
					    "unexpected argument '%s', try 'portgate trace --help'",
					    val);
		if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
			usage(stdout);
			return 1;
		} else if ((!strcmp(opt, "-j") || !strcmp(opt, "--json")) && !val) {
			a->json = true;
		} else if (!strcmp(opt, "--exempt") && !val) {
			a->exempt = true;
		} else if (!strcmp(opt, "--syslog") && !val) {
			a->syslog = true;
		} else if (!strcmp(opt, "--prefix")) {
			bool v6;
			__u8 addr[16], plen;

			if (pg_args_value(&g, opt, &val) ||
			    pg_parse_prefix_arg(val, &v6, addr, &plen))
				return -EINVAL;
			a->prefix = val;
		} else if (!strcmp(opt, "--rule")) {
			if (pg_args_value(&g, opt, &val) ||
			    pg_parse_rule_arg(val, &a->rule_proto, &a->rule_port))
				return -EINVAL;
			a->have_rule = true;
		} else if (!strcmp(opt, "--dir")) {
			if (pg_args_value(&g, opt, &val) || pg_parse_dir(val, &a->dir))
				return -EINVAL;
			a->have_dir = true;
		} else if (!strcmp(opt, "--iface")) {
			if (pg_args_value(&g, opt, &val))
				return -EINVAL;
			if (!if_nametoindex(val))
				return pg_usage_err("trace",
						    "bad interface '%s': no such interface", val);
			a->iface = val;
		} else if (!strcmp(opt, "--count")) {
			if (pg_args_value(&g, opt, &val) ||
			    parse_num("count", val, 1, 1000000000, &a->count))
				return -EINVAL;
		} else if (!strcmp(opt, "--rate")) {
			if (pg_args_value(&g, opt, &val) ||
			    parse_num("rate", val, 1, PG_TRACE_RATE_MAX, &a->rate))
				return -EINVAL;
		} else if (!strcmp(opt, "--burst")) {
			if (pg_args_value(&g, opt, &val) ||
			    parse_num("burst", val, 1, PG_TRACE_RATE_MAX, &a->burst))
				return -EINVAL;
		} else if (!strcmp(opt, "--syslog-rate")) {
			if (pg_args_value(&g, opt, &val) ||
			    parse_num("syslog rate", val, 1, 100000, &a->syslog_rate))
				return -EINVAL;
		} else if (!strcmp(opt, "--pcap") || !strcmp(opt, "-w")) {
			if (pg_args_value(&g, opt, &val))
				return -EINVAL;
			if (!val[0])
				return pg_usage_err("trace",
						    "%s needs a file name ('-' for stdout)", opt);
			a->pcap = val;
		} else {
			return pg_usage_err(
				"trace", "unknown option '%s', try 'portgate trace --help'", opt);
		}
	}
	if (a->have_dir && !a->have_rule)
		return pg_usage_err("trace", "--dir picks the direction of --rule: give both");
	if (a->syslog && (a->json || a->pcap))
		return pg_usage_err("trace", "--syslog writes text lines: not with -j or --pcap");
	if (a->pcap && a->json)
		return pg_usage_err("trace", "--pcap writes the frames: not with -j");
	if (!a->burst)
		a->burst = a->rate;
	return 0;
}

/* The rule ids --rule names in the live generation; the kernel filters on one. */
static int resolve_rule(struct tracer *t)
{
	int dir, found = 0;

	for (dir = 0; dir < PG_DIR_COUNT; dir++) {
		__u32 idx = pg_port_index(t->m.gen, dir, t->a.rule_proto, t->a.rule_port);
		struct pg_port_entry e;

		if (t->a.have_dir && dir != t->a.dir)
			continue;
		if (bpf_map_lookup_elem(t->m.fd[PG_M_PORTS], &idx, &e))
			return pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_PORTS]);
		t->rule_ids[dir] = e.rule_id;
		found += !!e.rule_id;
	}
	if (!found) {
		pg_err("trace: no rule covers %s/%u%s%s", pg_proto_name(t->a.rule_proto),
		       t->a.rule_port, t->a.have_dir ? " --dir " : "",
		       t->a.have_dir ? pg_dir_name(t->a.dir) : "");
		return -ENOENT;
	}
	if (found == 1)
		t->cfg.rule_id = t->rule_ids[PG_DIR_IN] ?: t->rule_ids[PG_DIR_OUT];
	return 0;
}

static void build_cfg(struct tracer *t)
{
	struct pg_trace_cfg *c = &t->cfg;
	int r, i;

	c->pid = getpid();
	for (r = PG_R_FIRST_DROP; r < PG_R_COUNT; r++)
		c->reasons |= 1U << r;
	c->reasons |= 1U << PG_R_MONITORED;
	if (t->a.exempt)
		c->reasons |= 1U << PG_R_EXEMPT;
	c->rate = t->a.rate;
	c->burst = t->a.burst;
	if (t->a.iface)
		c->ifindex = if_nametoindex(t->a.iface);
	if (t->a.prefix) {
		bool v6;

		pg_parse_prefix_arg(t->a.prefix, &v6, c->addr, &c->plen);
		c->af = v6 ? 6 : 4;
		for (i = 0; i < c->plen; i++)
			c->mask[i / 8] |= 0x80 >> (i % 8);
	}
}

/* A slot is free when its lease ran out or its tracer is gone. */
static bool slot_free(const struct pg_trace_cfg *c, __u64 now)
{
	return !c->lease_ns || now > c->lease_ns || (c->pid && kill(c->pid, 0) && errno == ESRCH);
}

/* Under the pin-directory lock: a free slot, a ring of our own, the filters, on. */
static int claim(struct tracer *t)
{
	int ncpus = libbpf_num_possible_cpus();
	struct pg_trace_rl *zero = NULL;
	char pids[128] = "";
	__u64 now = mono_ns();
	__u32 s;
	int err;

	for (s = 0; s < PG_TRACE_SLOTS; s++) {
		struct pg_trace_cfg c;

		if (bpf_map_lookup_elem(t->m.fd[PG_M_TRACE_CFG], &s, &c))
			return pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_TRACE_CFG]);
		if (slot_free(&c, now))
			break;
		snprintf(pids + strlen(pids), sizeof(pids) - strlen(pids), "%s%u", s ? ", " : "",
			 c.pid);
	}
	if (s == PG_TRACE_SLOTS) {
		pg_err("trace: %d traces already run (pids %s): stop one first", PG_TRACE_SLOTS,
		       pids);
		return -EBUSY;
	}
	t->slot = s;
	t->ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "pg_trace_ring", 0, 0,
				    PG_TRACE_RING_BYTES, NULL);
	if (t->ring_fd < 0)
		return pg_sys_err(-errno, "cannot create the trace ring buffer");
	/* the dead tracer's byte first, so nothing writes into the old ring meanwhile */
	t->ctl->trace[s] = 0;
	if (bpf_map_update_elem(t->m.fd[PG_M_TRACE_RINGS], &s, &t->ring_fd, BPF_ANY))
		return pg_sys_err(-errno, "cannot install the trace ring buffer");
	zero = calloc(ncpus > 0 ? ncpus : 1, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	err = bpf_map_update_elem(t->m.fd[PG_M_TRACE_RL], &s, zero, BPF_ANY);
	free(zero);
	if (err)
		return pg_sys_err(-errno, "cannot reset %s", pg_map_names[PG_M_TRACE_RL]);
	t->cfg.lease_ns = now + PG_TRACE_LEASE_NS;
	if (bpf_map_update_elem(t->m.fd[PG_M_TRACE_CFG], &s, &t->cfg, BPF_ANY))
		return pg_sys_err(-errno, "cannot write %s", pg_map_names[PG_M_TRACE_CFG]);
	t->claimed = true;
	t->ctl->trace[s] = 1;
	return 0;
}

/* Every second: a new lease, and the slot's byte again (a rewrite of pg_ctl may clear it). */
static int renew(struct tracer *t)
{
	t->cfg.lease_ns = mono_ns() + PG_TRACE_LEASE_NS;
	if (bpf_map_update_elem(t->m.fd[PG_M_TRACE_CFG], &t->slot, &t->cfg, BPF_ANY))
		return pg_sys_err(-errno, "cannot renew the trace lease");
	t->ctl->trace[t->slot] = 1;
	t->wall_off = wall_offset();
	return 0;
}

static void release(struct tracer *t)
{
	struct pg_trace_cfg off = {};

	if (!t->claimed)
		return;
	t->ctl->trace[t->slot] = 0;
	bpf_map_delete_elem(t->m.fd[PG_M_TRACE_RINGS], &t->slot);
	/* last: from here on another tracer may take the slot */
	bpf_map_update_elem(t->m.fd[PG_M_TRACE_CFG], &t->slot, &off, BPF_ANY);
	t->claimed = false;
}

/* Our slot's counters, summed over CPUs. */
static void slot_counters(struct tracer *t, __u64 *emitted, __u64 *suppressed, __u64 *lost)
{
	int ncpus = libbpf_num_possible_cpus(), c;
	struct pg_trace_rl *rl = calloc(ncpus > 0 ? ncpus : 1, sizeof(*rl));

	*emitted = *suppressed = *lost = 0;
	if (!rl || bpf_map_lookup_elem(t->m.fd[PG_M_TRACE_RL], &t->slot, rl)) {
		free(rl);
		return;
	}
	for (c = 0; c < ncpus; c++) {
		*emitted += rl[c].emitted;
		*suppressed += rl[c].suppressed;
		*lost += rl[c].lost;
	}
	free(rl);
}

static const char *ifname(__u32 ifindex, char *buf)
{
	if (if_indextoname(ifindex, buf))
		return buf;
	snprintf(buf, IF_NAMESIZE, "if%u", ifindex);
	return buf;
}

/* "rule 3 tcp/25 in drop", as `portgate test` words it. */
static void rule_text(struct tracer *t, __u32 id, struct pg_rule *r, bool *ok, char *buf, size_t n)
{
	*ok = id && !bpf_map_lookup_elem(t->m.fd[PG_M_RULES], &id, r) &&
	      r->action != PG_ACTION_NONE;
	if (!*ok) {
		snprintf(buf, n, id ? "rule %u (removed)" : "no rule", id);
		return;
	}
	if (r->port == r->port_end)
		snprintf(buf, n, "rule %u %s/%u %s %s", id, pg_proto_name(r->proto), r->port,
			 pg_dir_name(r->dir), pg_action_name(r->action));
	else
		snprintf(buf, n, "rule %u %s/%u-%u %s %s", id, pg_proto_name(r->proto), r->port,
			 r->port_end, pg_dir_name(r->dir), pg_action_name(r->action));
}

static void addr_text(const struct pg_trace_event *ev, const __u8 *a, char *buf, size_t n)
{
	if (ev->ip_version)
		inet_ntop(ev->ip_version == 6 ? AF_INET6 : AF_INET, a, buf, n);
	else
		buf[0] = 0;
}

/* --syslog: a token bucket of lines per second. */
static bool syslog_take(struct tracer *t)
{
	__u64 now = mono_ns();

	if (t->sl_last)
		t->sl_tokens += (double)(now - t->sl_last) / 1e9 * t->a.syslog_rate;
	else
		t->sl_tokens = t->a.syslog_rate;
	if (t->sl_tokens > t->a.syslog_rate)
		t->sl_tokens = t->a.syslog_rate;
	t->sl_last = now;
	if (t->sl_tokens < 1) {
		t->sl_dropped++;
		return false;
	}
	t->sl_tokens -= 1;
	return true;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;
	const struct pg_trace_event *ev = data;
	char desc[320], rs[96], ifn[IF_NAMESIZE + 8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	const char *sub, *peer, *verdict;
	__s64 wall;
	time_t sec;
	struct tm tm;
	char tbuf[32];
	struct pg_rule r;
	bool rule_ok;

	/* not trace_stop: what reached the ring before Ctrl-C is still shown */
	if (size < sizeof(*ev) || t->out_broken)
		return 0;
	/* --rule naming a rule in each direction: the kernel filters on neither */
	if (t->a.have_rule && !t->cfg.rule_id && ev->rule_id != t->rule_ids[PG_DIR_IN] &&
	    ev->rule_id != t->rule_ids[PG_DIR_OUT])
		return 0;
	if (t->a.count && t->shown >= t->a.count)
		return 0;
	t->shown++;
	if (t->a.count && t->shown >= t->a.count)
		trace_stop = 1;

	wall = (__s64)ev->ts_ns + t->wall_off;
	sec = wall / 1000000000LL;
	if (t->dump) {
		struct pcap_pkthdr h = {.caplen = ev->cap_len, .len = ev->len};

		h.ts.tv_sec = sec;
		h.ts.tv_usec = (wall % 1000000000LL) / 1000;
		if (ev->cap_len) {
			pcap_dump((u_char *)t->dump, &h, ev->data);
			if (pcap_dump_flush(t->dump))
				t->out_broken = true;
		}
		return 0;
	}

	localtime_r(&sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	if (ev->cap_len)
		tr_describe_frame(ev->data, ev->cap_len, ev->cap_len, desc, sizeof(desc));
	else
		snprintf(desc, sizeof(desc), "(frame not captured)");
	rule_text(t, ev->rule_id, &r, &rule_ok, rs, sizeof(rs));
	addr_text(ev, ev->saddr, src, sizeof(src));
	addr_text(ev, ev->daddr, dst, sizeof(dst));
	/* the subscriber is the destination inbound, the source outbound */
	sub = ev->dir == PG_DIR_IN ? dst : src;
	peer = ev->dir == PG_DIR_IN ? src : dst;
	verdict = ev->reason >= PG_R_FIRST_DROP ? "DROP" : "PASS";
	ifname(ev->ifindex, ifn);

	if (t->a.json) {
		struct pg_json j;
		char iso[48];

		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(iso + strlen(iso), sizeof(iso) - strlen(iso), ".%06lld",
			 (long long)(wall % 1000000000LL) / 1000);
		pg_json_init_line(&j, stdout);
		pg_json_obj(&j, NULL);
		pg_json_str(&j, "time", iso);
		pg_json_u64(&j, "ts_ns", ev->ts_ns);
		pg_json_str(&j, "iface", ifn);
		pg_json_u64(&j, "ifindex", ev->ifindex);
		pg_json_str(&j, "dir", pg_dir_name(ev->dir));
		pg_json_str(&j, "verdict", verdict);
		pg_json_str(&j, "reason", pg_reason_name(ev->reason));
		if (rule_ok) {
			pg_json_obj(&j, "rule");
			pg_json_u64(&j, "id", ev->rule_id);
			pg_json_str(&j, "proto", pg_proto_name(r.proto));
			pg_json_u64(&j, "port", r.port);
			pg_json_u64(&j, "port_end", r.port_end);
			pg_json_str(&j, "dir", pg_dir_name(r.dir));
			pg_json_str(&j, "action", pg_action_name(r.action));
			pg_json_end_obj(&j);
		} else if (ev->rule_id) {
			pg_json_obj(&j, "rule");
			pg_json_u64(&j, "id", ev->rule_id);
			pg_json_end_obj(&j);
		} else {
			pg_json_null(&j, "rule");
		}
		if (ev->ip_version) {
			pg_json_u64(&j, "ip", ev->ip_version);
			pg_json_u64(&j, "l4proto", ev->l4proto);
			pg_json_str(&j, "src", src);
			pg_json_str(&j, "dst", dst);
			pg_json_str(&j, "subscriber", sub);
			pg_json_str(&j, "peer", peer);
		} else {
			pg_json_null(&j, "ip");
		}
		if (ev->sport || ev->dport) {
			pg_json_u64(&j, "sport", ev->sport);
			pg_json_u64(&j, "dport", ev->dport);
		} else {
			pg_json_null(&j, "sport");
			pg_json_null(&j, "dport");
		}
		pg_json_u64(&j, "len", ev->len);
		pg_json_u64(&j, "cap_len", ev->cap_len);
		pg_json_u64(&j, "cpu", ev->cpu);
		pg_json_str(&j, "description", desc);
		pg_json_end_obj(&j);
		fputc('\n', stdout);
	} else if (t->a.syslog) {
		if (syslog_take(t))
			pg_syslog(LOG_DAEMON | LOG_NOTICE, "trace: %s %s %s %s %s: %s len %u%s%s",
				  ifn, pg_dir_name(ev->dir), verdict, pg_reason_name(ev->reason),
				  rs, desc, ev->len, ev->ip_version ? " subscriber " : "",
				  ev->ip_version ? sub : "");
		return 0;
	} else {
		printf("%s.%06lld %s %s %s %s %s: %s len %u%s%s\n", tbuf,
		       (long long)(wall % 1000000000LL) / 1000, ifn, pg_dir_name(ev->dir), verdict,
		       pg_reason_name(ev->reason), rs, desc, ev->len,
		       ev->ip_version ? " subscriber " : "", ev->ip_version ? sub : "");
	}
	if (fflush(stdout))
		t->out_broken = true; /* a closed pipe (trace | head): stop */
	return 0;
}

static int open_output(struct tracer *t)
{
	if (!t->a.pcap)
		return 0;
	t->pd = pcap_open_dead(DLT_EN10MB, PG_TRACE_SNAP);
	if (!t->pd)
		return -ENOMEM;
	t->dump = pcap_dump_open(t->pd, t->a.pcap);
	if (!t->dump) {
		pg_err("trace: cannot write '%s': %s", t->a.pcap, pcap_geterr(t->pd));
		return -EIO;
	}
	pcap_dump_flush(t->dump); /* the header, even if nothing follows */
	return 0;
}

int cmd_trace(const struct pg_opts *o, int argc, char **argv)
{
	struct tracer t = {.ring_fd = -1};
	struct ring_buffer *rb = NULL;
	struct sigaction sa = {.sa_handler = trace_on_signal};
	__u64 last_renew, last_summary, emitted, suppressed, lost, prev_supp = 0;
	int err;

	err = parse_args(argc, argv, &t.a);
	if (err)
		return err > 0 ? PG_EXIT_OK : PG_EXIT_USAGE;
	t.a.json |= o->json;
	if (t.a.json && (t.a.pcap || t.a.syslog))
		return pg_usage_err("trace",
				    "-j is for the text output: not with --pcap or --syslog"),
		       PG_EXIT_USAGE;

	err = pg_maps_open(o, PG_MAPS_LOCK, &t.m);
	if (err)
		return PG_EXIT_RUNTIME;
	t.ctl_len = sysconf(_SC_PAGESIZE);
	t.ctl = mmap(NULL, t.ctl_len, PROT_READ | PROT_WRITE, MAP_SHARED, t.m.fd[PG_M_CTL], 0);
	if (t.ctl == MAP_FAILED) {
		t.ctl = NULL;
		err = pg_sys_err(-errno, "cannot map %s", pg_map_names[PG_M_CTL]);
		goto out;
	}
	build_cfg(&t);
	err = (t.a.have_rule ? resolve_rule(&t) : 0) ?: open_output(&t);
	if (err)
		goto out;
	err = claim(&t);
	/* the lock only guards the claim: writers must not wait for a trace */
	close(t.m.lock_fd);
	t.m.lock_fd = -1;
	if (err)
		goto out;
	t.wall_off = wall_offset();
	rb = ring_buffer__new(t.ring_fd, on_event, &t, NULL);
	if (!rb) {
		err = pg_sys_err(-errno, "cannot read the trace ring buffer");
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (t.a.syslog)
		pg_syslog(LOG_DAEMON | LOG_INFO,
			  "trace: started (slot %u, rate %lu/s per CPU, syslog %lu lines/s)",
			  t.slot, t.a.rate, t.a.syslog_rate);
	else /* stderr in every mode: scripts wait for this line before sending */
		fprintf(stderr,
			"portgate: tracing (slot %u, at most %lu events/s per CPU), Ctrl-C to stop\n",
			t.slot, t.a.rate);
	last_renew = last_summary = mono_ns();
	while (!trace_stop && !t.out_broken) {
		__u64 now;

		err = ring_buffer__poll(rb, 250);
		if (err < 0 && err != -EINTR) {
			pg_sys_err(err, "trace: reading the ring buffer");
			break;
		}
		err = 0;
		now = mono_ns();
		if (now - last_renew >= 1000000000ULL) {
			err = renew(&t);
			if (err)
				break;
			last_renew = now;
		}
		if (t.a.syslog && now - last_summary >= 60000000000ULL) {
			slot_counters(&t, &emitted, &suppressed, &lost);
			if (suppressed != prev_supp || t.sl_dropped)
				pg_syslog(
					LOG_DAEMON | LOG_NOTICE,
					"trace: last minute: %llu events suppressed by the rate limit, %llu lines held back",
					(unsigned long long)(suppressed - prev_supp),
					(unsigned long long)t.sl_dropped);
			prev_supp = suppressed;
			t.sl_dropped = 0;
			last_summary = now;
		}
	}
	if (!err && !t.out_broken)
		ring_buffer__consume(rb); /* what arrived before the stop */
	slot_counters(&t, &emitted, &suppressed, &lost);
	if (t.a.syslog)
		pg_syslog(LOG_DAEMON | LOG_INFO,
			  "trace: stopped: %lu shown, %llu suppressed by the rate limit, %llu lost",
			  t.shown, (unsigned long long)suppressed, (unsigned long long)lost);
	else
		fprintf(stderr,
			"portgate: trace: %lu shown, %llu suppressed by the rate limit, %llu lost (ring full)\n",
			t.shown, (unsigned long long)suppressed, (unsigned long long)lost);
out:
	release(&t);
	ring_buffer__free(rb);
	if (t.ring_fd >= 0)
		close(t.ring_fd);
	if (t.dump)
		pcap_dump_close(t.dump);
	if (t.pd)
		pcap_close(t.pd);
	if (t.ctl)
		munmap((void *)t.ctl, t.ctl_len);
	pg_maps_close(&t.m);
	return err ? (err == -EINVAL ? PG_EXIT_USAGE : PG_EXIT_RUNTIME) : PG_EXIT_OK;
}
