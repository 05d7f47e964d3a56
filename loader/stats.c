// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * stats: the per-CPU reason counters summed over possible CPUs, the
 * totals derived from them (every packet has exactly one reason, and the
 * reason implies the verdict), per-rule counters, --watch rates, --reset.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "pgstats.h"

/* Derived totals, then every reason by name (those not already derived). */
enum pg_total {
	PG_T_RX,
	PG_T_PASSED,
	PG_T_DROPPED,
	PG_T_MONITORED,
	PG_T_EXEMPT,
	PG_T_FRAG_PASSED,
	PG_T_FRAG_DROPPED,
	PG_T_MALFORMED,
	PG_T_NOT_IP,
	PG_T_DERIVED,
};

static const char *const pg_total_names[PG_T_DERIVED] = {
	"rx",	  "passed",	      "dropped",	   "monitored",
	"exempt", "fragments_passed", "fragments_dropped", "malformed",
	"not_ip",
};

static void pg_derive(const struct pg_counter *r, struct pg_counter *t)
{
	int i;

	memset(t, 0, sizeof(*t) * PG_T_DERIVED);
	for (i = 0; i < PG_R_COUNT; i++) {
		struct pg_counter *v = &t[i >= PG_R_FIRST_DROP ? PG_T_DROPPED : PG_T_PASSED];

		v->packets += r[i].packets;
		v->bytes += r[i].bytes;
		if (i >= PG_R_FIRST_MALFORMED && i <= PG_R_LAST_MALFORMED) {
			t[PG_T_MALFORMED].packets += r[i].packets;
			t[PG_T_MALFORMED].bytes += r[i].bytes;
		}
	}
	t[PG_T_RX].packets = t[PG_T_PASSED].packets + t[PG_T_DROPPED].packets;
	t[PG_T_RX].bytes = t[PG_T_PASSED].bytes + t[PG_T_DROPPED].bytes;
	t[PG_T_MONITORED] = r[PG_R_MONITORED];
	t[PG_T_EXEMPT] = r[PG_R_EXEMPT];
	t[PG_T_FRAG_PASSED] = r[PG_R_FRAG_LATER];
	t[PG_T_FRAG_DROPPED].packets = r[PG_R_FRAG_SHORT].packets + r[PG_R_FRAG_OFF1].packets;
	t[PG_T_FRAG_DROPPED].bytes = r[PG_R_FRAG_SHORT].bytes + r[PG_R_FRAG_OFF1].bytes;
	t[PG_T_NOT_IP] = r[PG_R_NOT_IP];
}

static bool pg_reason_derived(int i)
{
	int k;

	for (k = 0; k < PG_T_DERIVED; k++)
		if (!strcmp(pg_reason_name(i), pg_total_names[k]))
			return true;
	return false;
}

/* {"rx": N, ..., "no_match": N, ...} in packets (bytes = false) or bytes. */
static void pg_json_counters(struct pg_json *j, const char *key, const struct pg_counter *r,
			     bool bytes)
{
	struct pg_counter t[PG_T_DERIVED];
	int i;

	pg_derive(r, t);
	pg_json_obj(j, key);
	for (i = 0; i < PG_T_DERIVED; i++)
		pg_json_u64(j, pg_total_names[i], bytes ? t[i].bytes : t[i].packets);
	for (i = 0; i < PG_R_COUNT; i++)
		if (!pg_reason_derived(i))
			pg_json_u64(j, pg_reason_name(i), bytes ? r[i].bytes : r[i].packets);
	pg_json_end_obj(j);
}

static void pg_text_counters(const struct pg_counter *r)
{
	struct pg_counter t[PG_T_DERIVED];
	int i;

	pg_derive(r, t);
	printf("%-24s %14s %16s\n", "COUNTER", "PACKETS", "BYTES");
	for (i = 0; i < PG_T_DERIVED; i++)
		printf("%-24s %14llu %16llu\n", pg_total_names[i], (unsigned long long)t[i].packets,
		       (unsigned long long)t[i].bytes);
	for (i = 0; i < PG_R_COUNT; i++)
		if (!pg_reason_derived(i) && (r[i].packets || i == PG_R_NO_MATCH))
			printf("  %-22s %14llu %16llu\n", pg_reason_name(i),
			       (unsigned long long)r[i].packets, (unsigned long long)r[i].bytes);
}

/*
 * Per-CPU sums over the interface slots into percpu[ncpus]; sum[] gets the
 * total; per_slot[PG_MAX_IFSLOTS] (may be NULL) the per-interface ones.
 */
int pg_read_stats_slots(int fd, int ncpus, struct pg_stats *percpu, struct pg_stats *per_slot,
			struct pg_counter *sum)
{
	struct pg_stats total;
	int err;

	err = pg_stats_read_sum(fd, ncpus, percpu, per_slot, &total);
	if (err)
		return pg_sys_err(err, "cannot read %s", pg_map_names[PG_M_STATS]);
	memcpy(sum, total.reason, sizeof(*sum) * PG_R_COUNT);
	return 0;
}

/* Every interface slot summed: per CPU into percpu[ncpus], all into sum[] (also for metrics.c). */
int pg_read_stats(int fd, int ncpus, struct pg_stats *percpu, struct pg_counter *sum)
{
	return pg_read_stats_slots(fd, ncpus, percpu, NULL, sum);
}

/* The tracers' counters (pg_trace_rl), summed over slots and CPUs. */
struct pg_trace_sum {
	unsigned int tracers; /* slots on in pg_ctl */
	__u64 emitted, suppressed, lost;
};

static int pg_read_trace(struct pg_maps *m, int ncpus, struct pg_trace_sum *t)
{
	struct pg_trace_rl *rl = calloc(ncpus, sizeof(*rl));
	struct pg_ctl ctl;
	__u32 s, zero = 0;
	int c, err = 0;

	memset(t, 0, sizeof(*t));
	if (!rl)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->fd[PG_M_CTL], &zero, &ctl)) {
		err = pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_CTL]);
		goto out;
	}
	for (s = 0; s < PG_TRACE_SLOTS; s++) {
		t->tracers += ctl.trace[s] != 0;
		if (bpf_map_lookup_elem(m->fd[PG_M_TRACE_RL], &s, rl)) {
			err = pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_TRACE_RL]);
			goto out;
		}
		for (c = 0; c < ncpus; c++) {
			t->emitted += rl[c].emitted;
			t->suppressed += rl[c].suppressed;
			t->lost += rl[c].lost;
		}
	}
out:
	free(rl);
	return err;
}

/* "eth0", "ifindex 7" (not in this network namespace), "other" (slot 0). */
const char *pg_slot_name(__u32 slot, char *buf)
{
	if (slot == PG_IFSLOT_OTHER)
		return "other";
	if (if_indextoname(slot, buf))
		return buf;
	snprintf(buf, IF_NAMESIZE + 16, "ifindex %u", slot);
	return buf;
}

bool pg_slot_used(const struct pg_stats *st)
{
	int r;

	for (r = 0; r < PG_R_COUNT; r++)
		if (st->reason[r].packets)
			return true;
	return false;
}

static void pg_text_ifaces(const struct pg_stats *per_slot)
{
	char name[IF_NAMESIZE + 16];
	bool head = false;
	__u32 s;

	for (s = 0; s < PG_MAX_IFSLOTS; s++) {
		struct pg_counter t[PG_T_DERIVED];

		if (!pg_slot_used(&per_slot[s]))
			continue;
		if (!head)
			printf("%-16s %14s %14s %14s %16s %16s\n", "INTERFACE", "RX", "PASSED",
			       "DROPPED", "RX BYTES", "DROPPED BYTES");
		head = true;
		pg_derive(per_slot[s].reason, t);
		printf("%-16s %14llu %14llu %14llu %16llu %16llu\n", pg_slot_name(s, name),
		       (unsigned long long)t[PG_T_RX].packets,
		       (unsigned long long)t[PG_T_PASSED].packets,
		       (unsigned long long)t[PG_T_DROPPED].packets,
		       (unsigned long long)t[PG_T_RX].bytes,
		       (unsigned long long)t[PG_T_DROPPED].bytes);
	}
	if (head)
		putchar('\n');
}

static void pg_json_ifaces(struct pg_json *j, const struct pg_stats *per_slot)
{
	char name[IF_NAMESIZE + 16];
	__u32 s;

	pg_json_arr(j, "interfaces");
	for (s = 0; s < PG_MAX_IFSLOTS; s++) {
		if (!pg_slot_used(&per_slot[s]))
			continue;
		pg_json_obj(j, NULL);
		if (s == PG_IFSLOT_OTHER)
			pg_json_null(j, "ifindex");
		else
			pg_json_u64(j, "ifindex", s);
		pg_json_str(j, "name", pg_slot_name(s, name));
		pg_json_counters(j, "totals", per_slot[s].reason, false);
		pg_json_counters(j, "bytes", per_slot[s].reason, true);
		pg_json_end_obj(j);
	}
	pg_json_end_arr(j);
}

static int pg_stats_reset(struct pg_maps *m, int ncpus)
{
	size_t big = sizeof(struct pg_stats) > sizeof(struct pg_trace_rl)
			     ? sizeof(struct pg_stats)
			     : sizeof(struct pg_trace_rl);
	void *zero = calloc(ncpus, big);
	struct pg_rule r;
	__u32 id, k;
	int err = 0;

	if (!zero)
		return -ENOMEM;
	for (k = 0; !err && k < PG_MAX_IFSLOTS; k++)
		if (bpf_map_update_elem(m->fd[PG_M_STATS], &k, zero, BPF_ANY))
			err = pg_sys_err(-errno, "cannot reset %s", pg_map_names[PG_M_STATS]);
	for (k = 0; !err && k < PG_TRACE_SLOTS; k++)
		if (bpf_map_update_elem(m->fd[PG_M_TRACE_RL], &k, zero, BPF_ANY))
			err = pg_sys_err(-errno, "cannot reset %s", pg_map_names[PG_M_TRACE_RL]);
	free(zero);
	for (id = 1; !err && id <= PG_MAX_RULES; id++) {
		if (bpf_map_lookup_elem(m->fd[PG_M_RULES], &id, &r))
			return pg_sys_err(-errno, "cannot read %s", pg_map_names[PG_M_RULES]);
		if (r.action != PG_ACTION_NONE)
			err = pg_rule_stats_reset(m->fd[PG_M_RULE_STATS], id);
	}
	return err;
}

static double pg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Rates every interval until SIGINT/SIGTERM: a timerfd and a signalfd, one poll. */
static int pg_watch(const struct pg_opts *o, struct pg_maps *m, int ncpus, struct pg_stats *pc,
		    unsigned int secs)
{
	struct itimerspec its = {.it_interval = {.tv_sec = secs}, .it_value = {.tv_sec = secs}};
	struct pg_counter prev[PG_R_COUNT], cur[PG_R_COUNT], tp[PG_T_DERIVED], tc[PG_T_DERIVED];
	struct pollfd pfd[2];
	double t0, t1;
	sigset_t mask;
	int tfd, sfd, err, i;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL)) {
		err = pg_sys_err(-errno, "cannot set up the --watch timer");
		goto out;
	}
	err = pg_read_stats(m->fd[PG_M_STATS], ncpus, pc, prev);
	t0 = pg_now();
	if (!o->json)
		printf("%10s %12s %14s %12s %12s %12s\n", "seconds", "rx pps", "rx bps",
		       "dropped pps", "passed pps", "dropped bps");
	fflush(stdout);
	pfd[0] = (struct pollfd){.fd = tfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	while (!err) {
		__u64 ticks;
		double dt;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (pfd[1].revents)
			break; /* interrupted: a clean exit */
		if (read(tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
			continue;
		err = pg_read_stats(m->fd[PG_M_STATS], ncpus, pc, cur);
		if (err)
			break;
		t1 = pg_now();
		dt = t1 - t0 > 0 ? t1 - t0 : 1;
		pg_derive(prev, tp);
		pg_derive(cur, tc);
#define RATE(k, f) ((double)(tc[k].f - tp[k].f) / dt)
		if (o->json) {
			struct pg_json j;

			/* one object per line: easy to stream into jq */
			printf("{\"interval\": %.3f, \"rx_pps\": %.1f, \"rx_bps\": %.1f, \"passed_pps\": %.1f, \"passed_bps\": %.1f, \"dropped_pps\": %.1f, \"dropped_bps\": %.1f}\n",
			       dt, RATE(PG_T_RX, packets), RATE(PG_T_RX, bytes) * 8,
			       RATE(PG_T_PASSED, packets), RATE(PG_T_PASSED, bytes) * 8,
			       RATE(PG_T_DROPPED, packets), RATE(PG_T_DROPPED, bytes) * 8);
			(void)j;
		} else {
			printf("%10.1f %12.0f %14.0f %12.0f %12.0f %12.0f\n", dt,
			       RATE(PG_T_RX, packets), RATE(PG_T_RX, bytes) * 8,
			       RATE(PG_T_DROPPED, packets), RATE(PG_T_PASSED, packets),
			       RATE(PG_T_DROPPED, bytes) * 8);
		}
#undef RATE
		fflush(stdout);
		for (i = 0; i < PG_R_COUNT; i++)
			prev[i] = cur[i];
		t0 = t1;
	}
out:
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

int cmd_stats(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	int ncpus = libbpf_num_possible_cpus();
	bool per_cpu = false, reset = false;
	struct pg_counter sum[PG_R_COUNT];
	unsigned long watch = 0;
	struct pg_stats *pc = NULL, *per_slot = NULL;
	struct pg_trace_sum ts;
	const char *opt, *val;
	struct pg_json j;
	struct pg_maps m;
	int c, err;

	while (pg_args_next(&a, &opt, &val)) {
		if (opt && !strcmp(opt, "--per-cpu") && !val) {
			per_cpu = true;
		} else if (opt && !strcmp(opt, "--reset") && !val) {
			reset = true;
		} else if (opt && !strcmp(opt, "--watch")) {
			char *end;

			if (pg_args_value(&a, opt, &val))
				return PG_EXIT_USAGE;
			errno = 0;
			watch = strtoul(val, &end, 10);
			if (!*val || *end || errno || val[0] == '-' || watch < 1 || watch > 86400)
				return pg_usage_err(
					       NULL,
					       "bad interval '%s': expected whole seconds 1-86400",
					       val),
				       PG_EXIT_USAGE;
		} else {
			return pg_usage_err(a.cmd,
					    "unexpected argument '%s', try 'portgate stats --help'",
					    opt ?: val),
			       PG_EXIT_USAGE;
		}
	}
	if (ncpus <= 0)
		return pg_sys_err(ncpus ?: -EINVAL, "cannot count CPUs"), PG_EXIT_RUNTIME;
	err = pg_maps_open(o, reset ? PG_MAPS_LOCK : 0, &m);
	if (err)
		return PG_EXIT_RUNTIME;
	pc = calloc(ncpus, sizeof(*pc));
	per_slot = calloc(PG_MAX_IFSLOTS, sizeof(*per_slot));
	if (!pc || !per_slot) {
		err = -ENOMEM;
		goto out;
	}
	if (reset) {
		err = pg_stats_reset(&m, ncpus);
		goto out;
	}
	if (watch) {
		err = pg_watch(o, &m, ncpus, pc, watch);
		goto out;
	}
	err = pg_read_stats_slots(m.fd[PG_M_STATS], ncpus, pc, per_slot, sum)
		      ?: pg_read_trace(&m, ncpus, &ts);
	if (err)
		goto out;

	if (o->json) {
		pg_json_init(&j, stdout);
		pg_json_obj(&j, NULL);
		pg_json_counters(&j, "totals", sum, false);
		pg_json_counters(&j, "bytes", sum, true);
		pg_json_ifaces(&j, per_slot);
		pg_json_obj(&j, "trace");
		pg_json_u64(&j, "tracers", ts.tracers);
		pg_json_u64(&j, "events", ts.emitted);
		pg_json_u64(&j, "suppressed", ts.suppressed);
		pg_json_u64(&j, "lost", ts.lost);
		pg_json_end_obj(&j);
	} else {
		pg_text_counters(sum);
		putchar('\n');
		pg_text_ifaces(per_slot);
		printf("trace: %u tracer(s) on, %llu events, %llu suppressed (rate limit), %llu lost (ring full)\n\n",
		       ts.tracers, (unsigned long long)ts.emitted,
		       (unsigned long long)ts.suppressed, (unsigned long long)ts.lost);
	}
	err = pg_rules_emit(&m, o->json ? &j : NULL, "rules");
	if (err)
		goto out;
	if (o->json) {
		if (per_cpu) {
			pg_json_arr(&j, "per_cpu");
			for (c = 0; c < ncpus; c++) {
				pg_json_obj(&j, NULL);
				pg_json_u64(&j, "cpu", c);
				pg_json_counters(&j, "totals", pc[c].reason, false);
				pg_json_counters(&j, "bytes", pc[c].reason, true);
				pg_json_end_obj(&j);
			}
			pg_json_end_arr(&j);
		}
		pg_json_end_obj(&j);
		pg_json_done(&j);
	} else if (per_cpu) {
		for (c = 0; c < ncpus; c++) {
			printf("\nCPU %d\n", c);
			pg_text_counters(pc[c].reason);
		}
	}
out:
	free(pc);
	free(per_slot);
	pg_maps_close(&m);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}
