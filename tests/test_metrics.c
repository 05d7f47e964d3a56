// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * portgate's metrics as Prometheus gets them: Debian's real
 * prometheus-node-exporter serves the file portgate-metrics.service
 * writes, and its /metrics (read with curl) must equal `portgate stats -j`
 * and `status -j`.
 *
 * Everything runs inside a private netns (the test process enters it):
 * veths va (uplink) and vb (access) with portgate attached under a private
 * pin path, traffic through the pinned programs with BPF_PROG_TEST_RUN
 * (so the live counters move), the metrics written by the command line of
 * systemd/portgate-metrics.service (binary and directory swapped for the
 * test's), node_exporter with only its textfile collector on a loopback
 * socket handed over by socket activation (listening before it starts: no
 * port race, no wait), and tests/metrics_check.py parsing the scrape with
 * prometheus_client's parser. Torn down in .fini, also on failure.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "pkt.h"
#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"
#define BIG (256 * 1024)

static char ns[64], pin[64], dir[64], textdir[96], top[PATH_MAX];
static pid_t exporter = -1;
static int port;

static void setup(void)
{
	char path[128];
	int fd;

	cr_assert(getcwd(top, sizeof(top)));
	snprintf(ns, sizeof(ns), "pgmet%d", getpid());
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgmet%d", getpid());
	snprintf(dir, sizeof(dir), "/tmp/pgmet%d", getpid());
	snprintf(textdir, sizeof(textdir), "%s/textfile", dir); /* node_exporter's */
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
	cr_assert_eq(mkdir(textdir, 0755), 0, "mkdir %s: %s", textdir, strerror(errno));
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns add %s && ip -n %s link set lo up && "
			   /* no IPv6 autoconf chatter on the veths: the counters stay still */
			   "ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
			   "net.ipv6.conf.default.disable_ipv6=1 && "
			   "ip -n %s link add va type veth peer name vb && "
			   "ip -n %s link set va up && ip -n %s link set vb up",
			   ns, ns, ns, ns, ns, ns),
		     0);
	/* this process (and all it starts) lives in the test netns from now on */
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
	close(fd);
}

static void teardown(void)
{
	int st;

	if (exporter > 0) {
		kill(exporter, SIGTERM);
		waitpid(exporter, &st, 0);
		exporter = -1;
	}
	tl_sh(NULL, 0, PORTGATE " --pin-path %s detach --all 2>/dev/null", pin);
	tl_sh(NULL, 0, "rm -rf %s", pin);
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	tl_sh(NULL, 0, "rm -rf %s", dir);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* portgate ARGS with the test pin path; exit 0 required. */
#define PG_OK(fmt, ...)                                                                          \
	do {                                                                                     \
		char err_[4096];                                                                 \
		int rc_ = tl_sh(err_, sizeof(err_), PORTGATE " --pin-path %s " fmt " 2>&1", pin, \
				##__VA_ARGS__);                                                  \
		cr_assert_eq(rc_, 0, "portgate " fmt ": exit %d: %s", ##__VA_ARGS__, rc_, err_); \
	} while (0)

/*
 * Start node_exporter with only the textfile collector reading dir, on a
 * socket bound and listening here (socket activation: LISTEN_FDS=1, fd 3).
 */
static void start_exporter(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char arg[128], log[128], pidbuf[16];
	int fd, lfd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	snprintf(arg, sizeof(arg), "--collector.textfile.directory=%s", textdir);
	snprintf(log, sizeof(log), "%s/exporter.log", dir);
	exporter = fork();
	cr_assert(exporter >= 0);
	if (!exporter) {
		lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (lfd < 0 || dup2(fd, 3) != 3 || dup2(lfd, 1) != 1 || dup2(lfd, 2) != 2)
			_exit(127);
		snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pidbuf, 1);
		execlp("prometheus-node-exporter", "prometheus-node-exporter",
		       "--web.systemd-socket", "--collector.disable-defaults",
		       "--collector.textfile", arg, (char *)NULL);
		_exit(127);
	}
	close(fd);
}

/* GET /metrics from node_exporter into out (curl waits for the accept). */
static void scrape(char *out, size_t cap)
{
	int rc = tl_sh(out, cap, "curl -sS --max-time 20 http://127.0.0.1:%d/metrics", port);
	char log[4096] = "";

	if (rc)
		tl_sh(log, sizeof(log), "cat %s/exporter.log", dir);
	cr_assert_eq(rc, 0, "curl node_exporter on 127.0.0.1:%d: exit %d; its log:\n%s", port, rc,
		     log);
}

/*
 * Write the metrics the way the timer does: the ExecStart= of
 * systemd/portgate-metrics.service, with this tree's binary and pin path
 * and the test's directory for node_exporter's.
 */
static void write_like_the_timer(void)
{
	char cmd[1024], out[4096];

	cr_assert_eq(tl_sh(cmd, sizeof(cmd),
			   "sed -n 's/^ExecStart=//p' systemd/portgate-metrics.service"),
		     0);
	cr_assert(strstr(cmd, "/usr/sbin/portgate metrics --output "), "ExecStart: %s", cmd);
	cr_assert(strstr(cmd, "/var/lib/prometheus/node-exporter/"), "ExecStart: %s", cmd);
	cmd[strcspn(cmd, "\n")] = '\0';
	cr_assert_eq(tl_sh(out, sizeof(out),
			   "c=$(printf '%%s' '%s' | sed -e 's|^/usr/sbin/portgate|%s/" PORTGATE
			   " --pin-path %s|' -e 's|/var/lib/prometheus/node-exporter/|%s/|') && "
			   "$c 2>&1",
			   cmd, top, pin, textdir),
		     0, "the timer's command failed: %s", out);
	/* written whole and renamed: no temporary file left, mode 0644 */
	cr_assert_eq(tl_sh(out, sizeof(out), "ls -A %s", textdir), 0);
	cr_assert_str_eq(out, "portgate.prom\n", "files in the textfile directory: %s", out);
	cr_assert_eq(tl_sh(out, sizeof(out), "stat -c %%a %s/portgate.prom", textdir), 0);
	cr_assert_str_eq(out, "644\n");
}

struct traffic {
	const char *name;
	const char *prog; /* pinned program: prog_uplink (in) or prog_access (out) */
	struct pkt_spec spec;
	int repeat;
	__u32 verdict;
	const char *reason; /* the stats -j key that must count it */
};

static const struct traffic traffic[] = {
	{"in tcp/25 blocked",
	 "prog_uplink",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25},
	 7,
	 XDP_DROP,
	 "blocked"},
	{"in v6 udp/161 blocked",
	 "prog_uplink",
	 {.ip = 6, .proto = IPPROTO_UDP, .dport = 161},
	 3,
	 XDP_DROP,
	 "blocked"},
	{"in udp/161 from the NMS exempt",
	 "prog_uplink",
	 {.ip = 4, .proto = IPPROTO_UDP, .dport = 161, .src = "192.0.2.10"},
	 4,
	 XDP_PASS,
	 "exempt"},
	{"in udp/1900 monitored",
	 "prog_uplink",
	 {.ip = 4, .proto = IPPROTO_UDP, .dport = 1900, .payload = 200},
	 5,
	 XDP_PASS,
	 "monitored"},
	{"in tcp/443 no rule",
	 "prog_uplink",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 443},
	 11,
	 XDP_PASS,
	 "no_match"},
	{"in ihl 4 malformed",
	 "prog_uplink",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .ihl = 4},
	 2,
	 XDP_PASS,
	 "malformed_ihl"},
	{"out tcp/25 blocked",
	 "prog_access",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25},
	 6,
	 XDP_DROP,
	 "blocked"},
	{"out tcp/25 to the relay exempt",
	 "prog_access",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .dst = "192.0.2.25"},
	 1,
	 XDP_PASS,
	 "exempt"},
};

#define NTRAFFIC (sizeof(traffic) / sizeof(traffic[0]))

static const char *verdict_name(__u32 v)
{
	return v == XDP_PASS ? "PASS" : v == XDP_DROP ? "DROP" : "other";
}

/* Every vector through its pinned program: the live, pinned counters move. */
static void send_traffic(void)
{
	unsigned char buf[PKT_MAX], out[PKT_MAX];
	char path[256];
	size_t i;
	int fd;

	for (i = 0; i < NTRAFFIC; i++) {
		const struct traffic *t = &traffic[i];
		LIBBPF_OPTS(bpf_test_run_opts, o);

		snprintf(path, sizeof(path), "%s/%s", pin, t->prog);
		fd = bpf_obj_get(path);
		cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
		o.data_in = buf;
		o.data_size_in = pkt_build(&t->spec, buf, sizeof(buf));
		o.data_out = out;
		o.data_size_out = sizeof(out);
		o.repeat = t->repeat;
		cr_assert(o.data_size_in > 0, "%s: frame does not build", t->name);
		cr_assert_eq(bpf_prog_test_run_opts(fd, &o), 0, "%s: %s", t->name, strerror(errno));
		close(fd);
		cr_assert_eq(o.retval, t->verdict, "%s: verdict %s, expected %s", t->name,
			     verdict_name(o.retval), verdict_name(t->verdict));
	}
}

/* stats -j and status -j into files in dir; the table sent `rounds` times. */
static void save_json(int rounds)
{
	char out[256];
	size_t i, k;

	PG_OK("-j stats > %s/stats.json", dir);
	PG_OK("-j status > %s/status.json", dir);
	for (i = 0; i < NTRAFFIC; i++) {
		unsigned long long want = 0, got;

		for (k = 0; k < NTRAFFIC; k++)
			if (!strcmp(traffic[k].reason, traffic[i].reason))
				want += traffic[k].repeat * rounds;
		cr_assert_eq(tl_sh(out, sizeof(out), "jq .totals.%s %s/stats.json",
				   traffic[i].reason, dir),
			     0);
		got = strtoull(out, NULL, 10);
		cr_assert_eq(got, want, "%s: stats -j .totals.%s = %llu, sent %llu",
			     traffic[i].name, traffic[i].reason, got, want);
	}
}

/* The scrape, checked by tests/metrics_check.py against the saved JSON. */
static void check_scrape(const char *scraped)
{
	char path[128], out[16384], version[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/scrape.txt", dir);
	f = fopen(path, "w");
	cr_assert(f);
	fputs(scraped, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(tl_sh(version, sizeof(version), "cat VERSION"), 0);
	version[strcspn(version, "\n")] = '\0';
	cr_assert_eq(tl_sh(out, sizeof(out),
			   "/usr/bin/python3 tests/metrics_check.py %s %s/stats.json "
			   "%s/status.json %s %d 2>&1",
			   path, dir, dir, version, PG_R_COUNT),
		     0, "node_exporter's /metrics vs portgate stats -j / status -j:\n%s", out);
	cr_log_info("%s", out);
}

static void configure(void)
{
	PG_OK("attach va --role uplink");
	PG_OK("attach vb --role access --outbound-only");
	PG_OK("block udp 1900 --monitor");
	PG_OK("block tcp 6660-6669");
	PG_OK("block tcp 25 --dir out");
	PG_OK("allow 192.0.2.0/24 --peer --rule udp/161");
	PG_OK("allow 192.0.2.25 --peer --rule tcp/25 --dir out");
	PG_OK("allow 2001:db8:64:1200::/56 --subscriber");
}

Test(metrics, node_exporter_serves_the_counters_of_stats, .timeout = 120)
{
	static char scraped[BIG];

	configure();
	send_traffic();
	write_like_the_timer();
	save_json(1);
	start_exporter();
	scrape(scraped, sizeof(scraped));
	cr_assert(strstr(scraped, "portgate_packets_total{reason=\"blocked\",verdict=\"drop\"} 16"),
		  "node_exporter does not serve the blocked packets (7 + 3 + 6)");
	check_scrape(scraped);

	/* more traffic, the timer runs again: node_exporter serves the new file */
	send_traffic();
	write_like_the_timer();
	save_json(2);
	scrape(scraped, sizeof(scraped));
	cr_assert(strstr(scraped, "portgate_packets_total{reason=\"blocked\",verdict=\"drop\"} 32"),
		  "node_exporter serves the old file after the timer ran again");
	check_scrape(scraped);
}

/* Nothing loaded: the file says so (portgate_loaded 0) and the command succeeds. */
Test(metrics, not_loaded_is_a_metric, .timeout = 60)
{
	static char scraped[BIG];

	write_like_the_timer();
	start_exporter();
	scrape(scraped, sizeof(scraped));
	cr_assert(strstr(scraped, "\nportgate_loaded 0\n"), "%s", scraped);
	cr_assert(strstr(scraped, "\nnode_textfile_scrape_error 0\n"), "%s", scraped);
	cr_assert(!strstr(scraped, "portgate_packets_total"), "counters without state");
}

/* A failed write keeps the old file: exit 1, old content, no temporary left. */
Test(metrics, failed_write_keeps_the_old_file)
{
	char before[BIG], after[BIG], out[4096];

	configure();
	write_like_the_timer();
	cr_assert_eq(tl_sh(before, sizeof(before), "cat %s/portgate.prom", textdir), 0);
	send_traffic();
	/* a directory where the file should be renamed to: rename fails */
	cr_assert_eq(tl_sh(out, sizeof(out),
			   PORTGATE " --pin-path %s metrics --output %s 2>&1; echo \"exit $?\"",
			   pin, textdir),
		     0);
	cr_assert(strstr(out, "exit 1") && strstr(out, "portgate: cannot rename"), "%s", out);
	cr_assert_eq(tl_sh(out, sizeof(out),
			   PORTGATE " --pin-path %s metrics --output /nonexistent/pg.prom 2>&1; "
				    "echo \"exit $?\"",
			   pin),
		     0);
	cr_assert(strstr(out, "exit 1") && strstr(out, "portgate: cannot create"), "%s", out);
	cr_assert_eq(tl_sh(after, sizeof(after), "cat %s/portgate.prom", textdir), 0);
	cr_assert_str_eq(after, before, "the old file changed");
	cr_assert_eq(tl_sh(out, sizeof(out), "ls -A %s", textdir), 0);
	cr_assert_str_eq(out, "portgate.prom\n", "left in %s: %s", textdir, out);
	cr_assert_eq(tl_sh(out, sizeof(out), "ls -A %s", dir), 0);
	cr_assert_str_eq(out, "textfile\n", "left in %s: %s", dir, out);
	/* usage errors */
	cr_assert_eq(tl_sh(NULL, 0, PORTGATE " --pin-path %s metrics --output 2>/dev/null", pin),
		     2);
	cr_assert_eq(tl_sh(NULL, 0, PORTGATE " --pin-path %s -j metrics 2>/dev/null", pin), 2);
	cr_assert_eq(tl_sh(NULL, 0, PORTGATE " --pin-path %s metrics extra 2>/dev/null", pin), 2);
}
