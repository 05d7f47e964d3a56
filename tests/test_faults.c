// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fault injection: every state-changing command (apply included) killed with SIGKILL at
 * random moments, many times, while a guard process runs the pinned
 * uplink program (BPF_PROG_TEST_RUN) on frames to the ports the default
 * policy blocks: they are blocked before and after every command, so not
 * one of them may pass at any moment. After each kill the pin-directory
 * lock is free, and `portgate check` is clean or the next command repairs
 * it: the same command run again (block, attach, ...), or for exemption
 * counts `check --repair` (a killed allow leaves them too high). Then
 * the command's inverse returns to the baseline, which `check` must call
 * consistent. Table-driven: one row per command.
 *
 * PG_FAULT_KILLS=N kills each command N times (default 10), PG_FAULT_ONLY=
 * WORD only the commands whose name holds WORD; the seed of the kill
 * moments is printed (PG_FAULT_SEED=S replays it).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "pkt.h"
#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"
#define OUT_MAX (64 * 1024)
#define N_PREFIXES 100000

static char pin[64], ns[64], list[64], conf_a[64], conf_b[64];

/* Shared with the guard process. */
struct guard {
	atomic_int stop;
	atomic_ulong runs, passed, errors;
	char first[160]; /* the first frame that passed */
};

static struct guard *G;
static pid_t guard_pid = -1;

static int pg(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pg(char *out, const char *fmt, ...)
{
	char args[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return tl_sh(out, out ? OUT_MAX : 0, "nsenter --net=/run/netns/%s %s --pin-path %s %s 2>&1",
		     ns, PORTGATE, pin, args);
}

static void setup(void)
{
	FILE *f;

	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgflt%d", getpid());
	snprintf(ns, sizeof(ns), "pgflt%d", getpid());
	snprintf(list, sizeof(list), "/tmp/pgflt%d.list", getpid());
	snprintf(conf_a, sizeof(conf_a), "/tmp/pgflt%d.a.conf", getpid());
	snprintf(conf_b, sizeof(conf_b), "/tmp/pgflt%d.b.conf", getpid());
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns add %s && ip -n %s link add fa type veth peer name fb && "
			   "ip -n %s link add fc type veth peer name fd && "
			   "for i in fa fb fc fd; do ip -n %s link set $i up || exit 1; done",
			   ns, ns, ns, ns),
		     0, "netns %s", ns);
	/* 100,000 /32s of 100.64.0.0/10, exempt as peers: the guard's source is not one */
	f = fopen(list, "w");
	cr_assert(f);
	for (int i = 0; i < N_PREFIXES; i++)
		fprintf(f, "100.%d.%d.%d/32\n", 64 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
	cr_assert_eq(fclose(f), 0);
	/* two whole states for apply: A adds a large range and the 100,000 prefixes */
	f = fopen(conf_a, "w");
	cr_assert(f);
	fprintf(f,
		"attach fa --role uplink\ndefaults\nblock udp 10000-60000\nallow --file %s --peer\n",
		list);
	cr_assert_eq(fclose(f), 0);
	f = fopen(conf_b, "w");
	cr_assert(f);
	fprintf(f, "attach fa --role uplink\ndefaults\nblock tcp 6660-6669\n");
	cr_assert_eq(fclose(f), 0);
	G = mmap(NULL, sizeof(*G), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(G != MAP_FAILED);
	memset(G, 0, sizeof(*G));
}

static void teardown(void)
{
	if (guard_pid > 0) {
		G->stop = 1;
		waitpid(guard_pid, NULL, 0);
		guard_pid = -1;
	}
	pg(NULL, "detach --all");
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	tl_sh(NULL, 0, "rm -rf %s %s %s %s", pin, list, conf_a, conf_b);
}

TestSuite(faults, .init = setup, .fini = teardown);

/* The guard: the pinned uplink program on default-blocked frames, until told to stop. */
static void guard_loop(int prog_fd)
{
	static const struct pkt_spec frames[] = {
		{.ip = 4, .proto = IPPROTO_TCP, .sport = 40000, .dport = 25},
		{.ip = 6, .proto = IPPROTO_UDP, .sport = 40000, .dport = 161},
		{.ip = 4, .proto = IPPROTO_TCP, .sport = 40000, .dport = 587},
		{.ip = 6, .proto = IPPROTO_TCP, .sport = 40000, .dport = 2525},
	};
	static uint8_t buf[4][256], out[512];
	size_t len[4];

	for (int i = 0; i < 4; i++)
		len[i] = pkt_build(&frames[i], buf[i], sizeof(buf[i]));
	while (!G->stop) {
		for (int i = 0; i < 4; i++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf[i], .data_size_in = len[i],
				    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

			if (bpf_prog_test_run_opts(prog_fd, &o)) {
				G->errors++;
				continue;
			}
			G->runs++;
			if (o.retval != XDP_DROP && !G->passed++)
				snprintf(G->first, sizeof(G->first), "%s/%u passed (verdict %u)",
					 frames[i].proto == IPPROTO_TCP ? "tcp" : "udp",
					 frames[i].dport, o.retval);
		}
	}
	_exit(0);
}

static void guard_start(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/prog_uplink", pin);
	fd = bpf_obj_get(path);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	guard_pid = fork();
	cr_assert(guard_pid >= 0);
	if (!guard_pid)
		guard_loop(fd);
	close(fd);
}

/* The pin directory's lock is free: a killed command took its flock with it. */
static bool lock_free(void)
{
	int fd = open(pin, O_RDONLY | O_DIRECTORY);
	bool ok;

	if (fd < 0)
		return true; /* no state, no lock */
	ok = !flock(fd, LOCK_EX | LOCK_NB);
	close(fd);
	return ok;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Starts `portgate ARGS` in the netns; returns the pid. */
static pid_t spawn(const char *args)
{
	char line[512];
	pid_t pid;

	snprintf(line, sizeof(line), "exec nsenter --net=/run/netns/%s %s --pin-path %s %s", ns,
		 PORTGATE, pin, args);
	pid = fork();
	cr_assert(pid >= 0);
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	return pid;
}

struct fault_cmd {
	const char *name;
	const char *before; /* makes the command's precondition (may fail: already so) */
	const char *cmd;
	const char *after; /* back to the baseline */
};

static const struct fault_cmd cmds[] = {
	{"block of a large range", NULL, "block udp 10000-60000", "unblock udp 10000-60000"},
	{"unblock of a large range", "block udp 10000-60000", "unblock udp 10000-60000", NULL},
	{"allow --file of 100,000 prefixes", NULL, "allow --file @L --peer",
	 "disallow --file @L --peer"},
	{"defaults", "block tcp 6660-6669", "defaults", NULL},
	{"attach", NULL, "attach fc --role uplink", "detach fc"},
	{"detach", "attach fc --role uplink", "detach fc", NULL},
	{"apply", "apply @B", "apply @A", "apply @B"},
};

/* "@L" in a command is the prefix list, "@A" and "@B" the files for apply. */
static const char *expand(const char *s, char *buf, size_t len)
{
	const char *at = strstr(s, "@");

	if (!at)
		return s;
	snprintf(buf, len, "%.*s%s%s", (int)(at - s), s,
		 at[1] == 'L'	? list
		 : at[1] == 'A' ? conf_a
				: conf_b,
		 at + 2);
	return buf;
}

static __u64 rng;

static __u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

Test(faults, kill_every_command, .timeout = 1800)
{
	static char out[OUT_MAX];
	int kills = getenv("PG_FAULT_KILLS") ? atoi(getenv("PG_FAULT_KILLS")) : 10;
	__u64 seed = getenv("PG_FAULT_SEED") ? strtoull(getenv("PG_FAULT_SEED"), NULL, 0)
					     : (__u64)time(NULL) * 2654435761ULL;
	size_t failed = 0;

	rng = seed ? seed : 1;
	cr_log_info("faults: seed %#llx (PG_FAULT_SEED replays), %d kills per command",
		    (unsigned long long)seed, kills);
	cr_assert_eq(pg(out, "attach fa --role uplink"), 0, "%s", out);
	cr_assert_eq(pg(out, "check"), 0, "fresh state: %s", out);
	guard_start();

	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		const struct fault_cmd *fc = &cmds[c];
		char b1[256], b2[256], b3[256];
		const char *cmd = expand(fc->cmd, b1, sizeof(b1));
		const char *after = fc->after ? expand(fc->after, b2, sizeof(b2)) : NULL;
		const char *before = fc->before ? expand(fc->before, b3, sizeof(b3)) : NULL;
		unsigned int clean = 0, by_cmd = 0, by_repair = 0;
		double t0, full;
		int rc;

		/* how long the command takes unkilled: the kills land within that */
		if (before)
			pg(NULL, "%s", before);
		t0 = now();
		rc = pg(out, "%s", cmd);
		full = now() - t0;
		cr_assert_eq(rc, 0, "%s: '%s' failed unkilled: %s", fc->name, cmd, out);
		if (after)
			cr_assert_eq(pg(out, "%s", after), 0, "%s: '%s': %s", fc->name, after, out);

		if (getenv("PG_FAULT_ONLY") && !strstr(fc->name, getenv("PG_FAULT_ONLY")))
			continue;
		for (int k = 0; k < kills; k++) {
			/* half anywhere, half in the last 40%: where the maps are written */
			double at = k % 2 ? 0.6 + 0.5 * (rnd() % 1000) / 1000.0
					  : 1.1 * (rnd() % 1000) / 1000.0;
			useconds_t delay = (useconds_t)(at * full * 1e6);
			pid_t pid;
			int st;

			if (before)
				pg(NULL, "%s", before);
			pid = spawn(cmd);
			usleep(delay);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			if (!lock_free()) {
				cr_log_error(
					"%s: kill %d after %u us: the pin directory stays locked",
					fc->name, k, delay);
				failed++;
			}
			if (pg(out, "check") == 0) {
				clean++;
			} else {
				/* the next command: the same one again, then the counts */
				pg(NULL, "%s", cmd);
				if (pg(out, "check") == 0) {
					by_cmd++;
				} else if (pg(out, "check --repair") == 0) {
					by_repair++;
				} else {
					cr_log_error("%s: kill %d after %u us: not repaired:\n%s",
						     fc->name, k, delay, out);
					failed++;
				}
			}
			if (after)
				pg(NULL, "%s", after);
			if (pg(out, "check")) {
				cr_log_error("%s: kill %d: inconsistent after '%s':\n%s", fc->name,
					     k, after ?: "(nothing)", out);
				failed++;
			}
		}
		cr_log_info("%s: %.3f s unkilled; %d kills: %u clean, %u repaired by running it "
			    "again, %u by check --repair",
			    fc->name, full, kills, clean, by_cmd, by_repair);
	}
	G->stop = 1;
	waitpid(guard_pid, NULL, 0);
	guard_pid = -1;
	cr_log_info("guard: %lu runs of default-blocked frames, %lu passed, %lu errors",
		    (unsigned long)G->runs, (unsigned long)G->passed, (unsigned long)G->errors);
	cr_expect(G->runs > 0, "the guard never ran");
	cr_expect_eq(G->passed, 0, "a blocked port passed during the kills: %s", G->first);
	cr_expect_eq(G->errors, 0, "BPF_PROG_TEST_RUN failed %lu times", (unsigned long)G->errors);
	cr_expect_eq(failed, 0, "%zu kills left the state broken (seed %#llx)", failed,
		     (unsigned long long)seed);
}
