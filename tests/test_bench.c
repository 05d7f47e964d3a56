// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The benchmark tools, run once on tiny counts so they don't rot: they must
 * exit 0, give every frame the verdict the comparison assumes (portgate and
 * xdp-filter configured with the same rules), and portgate's counters must
 * account for every frame the generator injected. No timing assertions.
 */
#include <criterion/criterion.h>

#include "testlib.h"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[PATH_MAX]; /* the repository: build/tests/test_bench/../../.. */
static char ns[64], out_dir[128];

static void find_root(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	cr_assert(n > 0, "cannot read /proc/self/exe");
	exe[n] = '\0';
	snprintf(root, sizeof(root), "%s", dirname(dirname(dirname(exe))));
	/* the tools and tools/bench.sh are addressed relative to the root */
	cr_assert_eq(chdir(root), 0, "cannot chdir to %s", root);
}

/* Value of "key\tvalue" (stats) or the verdict of "cost\tcase\tprog\t..." */
static long long stat_value(const char *out, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s\t", key);
	p = strstr(out, pat);
	if (!p && !strncmp(out, pat + 1, strlen(pat + 1)))
		p = out - 1;
	return p ? atoll(p + strlen(pat)) : -1;
}

static const char *cost_verdict(const char *out, const char *prefix, char *buf, size_t cap)
{
	const char *p = strstr(out, prefix), *eol;
	const char *tab;
	int i;

	if (!p)
		return "(missing)";
	eol = strchr(p, '\n');
	tab = p;
	/* verdict is the last tab-separated field */
	for (i = 0; tab && (!eol || tab < eol); i++) {
		const char *next = strchr(tab + 1, '\t');

		if (!next || (eol && next > eol))
			break;
		tab = next;
	}
	snprintf(buf, cap, "%.*s", (int)((eol ? eol : p + strlen(p)) - tab - 1), tab + 1);
	return buf;
}

/* ------------------------------------------------------------ cost */

static const struct {
	const char *frame;
	const char *portgate;	/* verdict portgate must give */
	const char *xdp_filter; /* verdict xdp-filter gives with the same rules */
} cost_vectors[] = {
	{"v4_tcp443", "PASS", "PASS"},
	{"v4_tcp25", "DROP", "DROP"},
	{"v6_udp161", "DROP", "DROP"},
	{"qinq_pppoe_v6_tcp443", "PASS", "PASS"},
	{"v6_3ext_tcp25", "DROP", "DROP"},
	/* xdp-filter cannot see through MPLS: it passes the frame */
	{"mpls_v4_tcp25", "DROP", "PASS"},
};

Test(bench, cost_tiny)
{
	static char out[16384];
	char pfx[128], v[32];
	size_t i;
	int rc;

	find_root();
	rc = tl_sh(out, sizeof(out), "build/bench-xdp cost --repeat 1000 --rounds 1");
	cr_assert_eq(rc, 0, "bench-xdp cost exited %d:\n%s", rc, out);
	for (i = 0; i < sizeof(cost_vectors) / sizeof(cost_vectors[0]); i++) {
		snprintf(pfx, sizeof(pfx), "cost\t%s\tportgate\t", cost_vectors[i].frame);
		cr_expect_str_eq(cost_verdict(out, pfx, v, sizeof(v)), cost_vectors[i].portgate,
				 "%s: portgate verdict %s, expected %s", cost_vectors[i].frame, v,
				 cost_vectors[i].portgate);
		snprintf(pfx, sizeof(pfx), "cost\t%s\txdp-filter\t", cost_vectors[i].frame);
		cr_expect_str_eq(cost_verdict(out, pfx, v, sizeof(v)), cost_vectors[i].xdp_filter,
				 "%s: xdp-filter verdict %s, expected %s", cost_vectors[i].frame, v,
				 cost_vectors[i].xdp_filter);
		snprintf(pfx, sizeof(pfx), "cost\t%s\tpass\t", cost_vectors[i].frame);
		cr_expect_str_eq(cost_verdict(out, pfx, v, sizeof(v)), "PASS",
				 "%s: the XDP_PASS anchor said %s", cost_vectors[i].frame, v);
	}
}

/* ------------------------------------------------------------ scale */

static const struct {
	const char *point;
	const char *probe;
	const char *verdict;
} scale_vectors[] = {
	{"rules\t1", "v4_tcp443", "PASS"},     {"rules\t1", "v4_tcp25", "DROP"},
	{"rules\t65536", "v4_tcp443", "PASS"}, {"rules\t65536", "v4_tcp25", "DROP"},
	{"exempt\t0", "v4_tcp25", "DROP"},     {"exempt\t2000", "v4_tcp443", "PASS"},
	{"exempt\t2000", "v4_tcp25", "DROP"},
};

Test(bench, scale_tiny)
{
	static char out[16384];
	char pfx[128], v[32];
	size_t i;
	int rc;

	find_root();
	rc = tl_sh(out, sizeof(out),
		   "build/bench-xdp scale --repeat 1000 --rounds 1 --max-exempt 2000");
	cr_assert_eq(rc, 0, "bench-xdp scale exited %d:\n%s", rc, out);
	for (i = 0; i < sizeof(scale_vectors) / sizeof(scale_vectors[0]); i++) {
		snprintf(pfx, sizeof(pfx), "scale\t%s\t%s\t", scale_vectors[i].point,
			 scale_vectors[i].probe);
		cr_expect_str_eq(cost_verdict(out, pfx, v, sizeof(v)), scale_vectors[i].verdict,
				 "scale %s %s: %s, expected %s", scale_vectors[i].point,
				 scale_vectors[i].probe, v, scale_vectors[i].verdict);
	}
	cr_expect(strstr(out, "ctl\tblock_port_map\t"), "no control-plane timing:\n%s", out);
	cr_expect(strstr(out, "ctl\tadd_10k_exempt_map\t"), "no exemption timing:\n%s", out);
}

/* ------------------------------------------------------------ live */

static void live_setup(void)
{
	find_root();
	snprintf(ns, sizeof(ns), "pgtb%d", getpid());
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns add %s && "
			   "ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
			   "net.ipv6.conf.default.disable_ipv6=1 && "
			   "ip -n %s link add tba type veth peer name tbb && "
			   "ip -n %s link set tba up && ip -n %s link set tbb up",
			   ns, ns, ns, ns, ns),
		     0, "cannot create netns %s with a veth pair", ns);
}

static void live_teardown(void)
{
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
}

#define LIVE_FRAMES 10000

static const struct {
	const char *name;
	const char *prog; /* bench-xdp attach target */
	const char *gen;  /* trafficgen frame options */
	const char *key;  /* counter of the attached program */
	long long want;
} live_vectors[] = {
	{"portgate drops inbound TCP 25", "portgate", "--port 25", "dropped", LIVE_FRAMES},
	{"portgate drops nothing else", "portgate", "--port 25", "passed", 0},
	{"portgate passes TCP 443", "portgate", "--port 443", "passed", LIVE_FRAMES},
	{"portgate drops UDP 161 over IPv6", "portgate", "--port 161 --udp --ipv6", "dropped",
	 LIVE_FRAMES},
	{"portgate counts every frame", "portgate", "--port 25", "rx", LIVE_FRAMES},
	{"xdp-filter drops TCP 25 too", "xdp-filter", "--port 25", "xdp_DROP", LIVE_FRAMES},
	{"xdp-filter passes TCP 443", "xdp-filter", "--port 443", "xdp_PASS", LIVE_FRAMES},
};

Test(bench, live_tiny, .init = live_setup, .fini = live_teardown)
{
	static char out[4096];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(live_vectors) / sizeof(live_vectors[0]); i++) {
		const char *nsx = "nsenter --net=/run/netns/";

		rc = tl_sh(out, sizeof(out), "%s%s build/bench-xdp attach tbb %s 2>&1", nsx, ns,
			   live_vectors[i].prog);
		cr_assert_eq(rc, 0, "%s: attach exited %d: %s", live_vectors[i].name, rc, out);
		rc = tl_sh(out, sizeof(out), "%s%s build/trafficgen --dev tba --frames %d %s 2>&1",
			   nsx, ns, LIVE_FRAMES, live_vectors[i].gen);
		cr_expect_eq(rc, 0, "%s: trafficgen exited %d: %s", live_vectors[i].name, rc, out);
		cr_expect(strstr(out, "frames=10000 "), "%s: trafficgen said: %s",
			  live_vectors[i].name, out);
		rc = tl_sh(out, sizeof(out), "%s%s build/bench-xdp stats tbb", nsx, ns);
		cr_expect_eq(rc, 0, "%s: stats exited %d", live_vectors[i].name, rc);
		cr_expect_eq(stat_value(out, live_vectors[i].key), live_vectors[i].want,
			     "%s: %s = %lld, expected %lld\n%s", live_vectors[i].name,
			     live_vectors[i].key, stat_value(out, live_vectors[i].key),
			     live_vectors[i].want, out);
		cr_assert_eq(tl_sh(NULL, 0, "%s%s build/bench-xdp detach tbb", nsx, ns), 0,
			     "%s: detach failed", live_vectors[i].name);
	}
}

/* ------------------------------------------------------------ make bench */

static void report_setup(void)
{
	find_root();
	snprintf(out_dir, sizeof(out_dir), "/tmp/pgbench-test-%d", getpid());
}

static void report_teardown(void)
{
	tl_sh(NULL, 0, "rm -rf '%s'", out_dir);
}

Test(bench, report_quick, .init = report_setup, .fini = report_teardown, .timeout = 300)
{
	static const char *const must[] = {
		"## 1. Cost per packet",
		"## 2. Live traffic",
		"## 3. Scale and control plane",
		"## Targets",
		"## Apply at scale",
		"| IPv4 TCP 443 (no rule) |",
		"| bare XDP_DROP |",
		"| xdp-filter |",
		"| nftables netdev ingress |",
		"| 65,536 rules |",
		"### Exemptions (issue 15)",
		"| IPv4 | 10,000 |",
		"| IPv6 | 10,000 |",
		"`portgate allow --file` of 1,000 lines",
	};
	static char out[65536];
	struct stat st;
	size_t i;
	int rc;

	rc = tl_sh(out, sizeof(out), "BENCH_QUICK=1 BENCH_OUT='%s' tools/bench.sh 2>&1", out_dir);
	cr_assert_eq(rc, 0, "tools/bench.sh (quick) exited %d:\n%s", rc, out);
	rc = tl_sh(out, sizeof(out), "cat '%s/report.md'", out_dir);
	cr_assert_eq(rc, 0, "no report.md");
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		cr_expect(strstr(out, must[i]), "report.md lacks '%s'", must[i]);
	/* the quick run's accounting check must hold too */
	cr_expect(strstr(out, "| portgate counters account for every injected frame | all rounds | "
			      "- | met |"),
		  "accounting check failed in report.md:\n%s", out);
	cr_expect(stat(out_dir, &st) == 0);
	rc = tl_sh(out, sizeof(out), "test -s '%s/chart.png'", out_dir);
	cr_expect_eq(rc, 0, "chart.png missing or empty");
}
