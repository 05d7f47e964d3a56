// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate apply`, `save`, dynamic exemptions and portgate.service, as
 * automation uses them: build/portgate run in a private netns with a
 * private --pin-path, files under /tmp/pgap<pid>. What is proved:
 *   - a bad line is exit 2 naming FILE:LINE and the value; nothing changes
 *   - --check and --dry-run change nothing; --dry-run prints the difference
 *     in the file's grammar; --exit-code and JSON tell changed from not
 *   - a second apply changes nothing: same links and programs, counters kept
 *   - save > f && apply f: no changes; dynamic exemptions survive apply
 *   - the switch is atomic for packets (BPF_PROG_TEST_RUN in a loop while
 *     apply alternates two files whose verdicts agree on every vector)
 *   - a refused attach leaves the old state; kill -9 at random points
 *     leaves the old or the new policy and the next apply converges
 *   - the unit passes systemd-analyze verify, and its Exec lines work
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "portgate.h"
#include "pkt.h"
#include "exempt_maps.h"
#include "testlib.h"

#define PORTGATE "build/portgate"

static char ns[64], ns_path[128], pin[128], dir[128];

static struct tl_run R;

/* portgate ARGS (split on spaces) in the test netns with the test pin path. */
static int pgv(struct tl_run *r, const char *env, const char *fmt, va_list ap)
{
	return tl_vpg(r, ns_path, PORTGATE, pin, NULL, env, fmt, ap);
}

__attribute__((format(printf, 1, 2))) static int pg(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = pgv(&R, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

__attribute__((format(printf, 2, 3))) static int pg_env(const char *env, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = pgv(&R, env, fmt, ap);
	va_end(ap);
	return rc;
}

#define PG_OK(...)                                             \
	do {                                                   \
		int rc_ = pg(__VA_ARGS__);                     \
		cr_assert_eq(rc_, 0, "portgate " __VA_ARGS__); \
	} while (0)

#define PG_OK_ERR(...)                                           \
	do {                                                     \
		int rc_ = pg(__VA_ARGS__);                       \
		cr_assert_eq(rc_, 0, "exit %d: %s", rc_, R.err); \
	} while (0)

static const char *jq(const char *json, const char *filter)
{
	static struct tl_run jr;
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/jq.json", dir);
	f = fopen(path, "w");
	cr_assert(f);
	fputs(json, f);
	fclose(f);
	{
		char *argv[] = {"jq", "-c", (char *)filter, path, NULL};

		cr_assert_eq(tl_run_argv(&jr, argv, NULL, NULL), 0, "jq '%s' failed on:\n%s\n%s",
			     filter, json, jr.err);
	}
	jr.out[strcspn(jr.out, "\n")] = '\0';
	return jr.out;
}

/* dir/name with text; returns the path (static per name slot). */
static const char *put_file(const char *name, const char *fmt, ...)
{
	static char paths[8][256];
	static int slot;
	char *p = paths[slot++ % 8];
	va_list ap;
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert(f, "%s: %s", p, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	return p;
}

/* Host addresses first.. (count of them) of 100.64.0.0/10 from index `from`, one a line. */
static const char *put_hosts(const char *name, unsigned int from, unsigned int count)
{
	static char p[256];
	unsigned int i, a;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert(f);
	for (i = 0; i < count; i++) {
		a = (100u << 24) | (64u << 16) | (from + i);
		fprintf(f, "%u.%u.%u.%u\n", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	}
	fclose(f);
	return p;
}

static void setup(void)
{
	snprintf(ns, sizeof(ns), "pgap%d", getpid());
	snprintf(ns_path, sizeof(ns_path), "--net=/run/netns/%s", ns);
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgap%d", getpid());
	snprintf(dir, sizeof(dir), "/tmp/pgap%d", getpid());
	cr_assert_eq(tl_sh(NULL, 0, "mkdir -p %s", dir), 0);
	cr_assert_eq(tl_sh(NULL, 0, "ip netns add %s", ns), 0);
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip -n %s link add va type veth peer name vb && "
			   "ip -n %s link add vc type veth peer name vd && "
			   "for i in va vb vc vd; do ip -n %s link set $i up || exit 1; done",
			   ns, ns, ns),
		     0);
}

static void teardown(void)
{
	pg("detach --all");
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	tl_sh(NULL, 0, "rm -rf %s %s", pin, dir);
}

TestSuite(apply, .init = setup, .fini = teardown, .timeout = 600);

/* The live state as save prints it (the comparison of "nothing changed"). */
static char *saved(void)
{
	PG_OK_ERR("save");
	return strdup(R.out);
}

static bool one_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl && !nl[1];
}

/* ---- map-level checks: the generation nobody reads is empty ---- */

static int pin_fd(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin, name);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	return fd;
}

static __u32 live_gen(void)
{
	struct pg_ctl c;
	__u32 zero = 0;
	int fd = pin_fd(PG_STR(PG_MAP_CTL));

	cr_assert_eq(bpf_map_lookup_elem(fd, &zero, &c), 0);
	close(fd);
	return c.gen & 1;
}

static void expect_inactive_clean(const char *when)
{
	__u32 gen = live_gen(), ig = !gen, id, i, b;
	struct pg_exempt_kinds k;
	struct pg_exm x = {};
	struct pg_exm_tab tab;
	__u64 *sum;
	__u8 key[24], next[24];
	size_t psz = (size_t)PG_PORTS_ENTRIES * sizeof(struct pg_port_entry);
	size_t rsz = (size_t)(PG_MAX_RULES + 1) * sizeof(struct pg_rule);
	const struct pg_port_entry *ports;
	const struct pg_rule *rules;
	unsigned int left = 0;
	void *prev;
	int fd, v6;

	fd = pin_fd(PG_STR(PG_MAP_EXEMPT_KINDS));
	cr_assert_eq(bpf_map_lookup_elem(fd, &ig, &k), 0);
	close(fd);
	for (i = 0; i < PG_EXEMPT_KINDS; i++)
		cr_expect(!k.prefix[i] && !k.host[i], "%s: kinds[%u][%u] = %u + %u", when, ig, i,
			  k.prefix[i], k.host[i]);
	cr_expect(!k.wide[0] && !k.wide[1], "%s: wide[%u] = %u, %u", when, ig, k.wide[0],
		  k.wide[1]);
	/* the structures in front of the tries: table slots, summary words, counts */
	x.tab[0] = pin_fd(PG_STR(PG_MAP_EXEMPT_TAB_V4));
	x.tab[1] = pin_fd(PG_STR(PG_MAP_EXEMPT_TAB_V6));
	cr_assert_eq(pg_exm_tab_map(&x, &tab), 0, "%s: cannot map the exemption table", when);
	for (b = 0; b < 1U << PG_XT_V4_BITS; b++)
		for (v6 = 0; v6 < PG_XT_V4_SLOTS; v6++)
			left += tab.t4[pg_xt_index_v4(ig, b)].k[v6] != 0;
	for (b = 0; b < 1U << PG_XT_V6_BITS; b++)
		for (v6 = 0; v6 < PG_XT_V6_SLOTS; v6++)
			left += tab.t6[pg_xt_index_v6(ig, b)].s[v6].meta != 0;
	pg_exm_tab_unmap(&tab);
	close(x.tab[0]);
	close(x.tab[1]);
	cr_expect_eq(left, 0, "%s: %u table slots of the inactive generation %u", when, left, ig);
	fd = pin_fd(PG_STR(PG_MAP_EXEMPT_REFS));
	for (prev = NULL; !bpf_map_get_next_key(fd, prev, next); prev = key) {
		memcpy(key, next, 4);
		left += (*(__u32 *)key >> 30 & 1) == ig;
	}
	close(fd);
	cr_expect_eq(left, 0, "%s: %u summary counts of the inactive generation %u", when, left,
		     ig);
	fd = pin_fd(PG_STR(PG_MAP_EXEMPT_SUM));
	sum = pg_exm_sum_map(fd);
	cr_assert(sum, "mmap %s: %s", PG_STR(PG_MAP_EXEMPT_SUM), strerror(errno));
	for (i = 0; i < 4 * PG_SUM_WORDS; i++)
		left += sum[pg_sum_index(ig, 0, 0) + i] != 0;
	for (i = 0; i < 2 * PG_SUM_WORDS; i++)
		left += sum[pg_sum_bloom_index(ig, 0, 0) + i] != 0;
	pg_exm_sum_unmap(sum);
	close(fd);
	cr_expect_eq(left, 0, "%s: %u summary words of the inactive generation %u set", when, left,
		     ig);
	for (v6 = 0; v6 <= 1; v6++) {
		fd = pin_fd(v6 ? PG_STR(PG_MAP_EXEMPT_V6) : PG_STR(PG_MAP_EXEMPT_V4));
		for (prev = NULL; !bpf_map_get_next_key(fd, prev, next); prev = key) {
			memcpy(key, next, sizeof(key));
			left += ((key[4] >> 2) & 1) == ig;
		}
		close(fd);
	}
	cr_expect_eq(left, 0, "%s: %u trie entries of the inactive generation %u", when, left, ig);
	fd = pin_fd(PG_STR(PG_MAP_RULES));
	rules = mmap(NULL, rsz, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	cr_assert_neq(rules, MAP_FAILED);
	for (id = 1; id <= PG_MAX_RULES; id++)
		cr_expect(!(rules[id].gens & (1U << ig)) &&
				  !(rules[id].action != PG_ACTION_NONE && !rules[id].gens),
			  "%s: rule slot %u gens %#x action %u", when, id, rules[id].gens,
			  rules[id].action);
	munmap((void *)rules, rsz);
	fd = pin_fd(PG_STR(PG_MAP_PORTS));
	ports = mmap(NULL, psz, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	cr_assert_neq(ports, MAP_FAILED);
	for (i = 0, left = 0; i < PG_PORTS_PER_GEN; i++)
		left += ports[pg_port_index(ig, 0, 0, 0) + i].rule_id != 0;
	munmap((void *)ports, psz);
	cr_expect_eq(left, 0, "%s: %u port entries in the inactive generation", when, left);
}

/* ---- bad lines ---- */

struct bad_case {
	const char *name;
	const char *conf; /* the file; {L} lines are numbered from 1 */
	const char *list; /* list.txt, if the file names it */
	int code;
	const char *where; /* "a.conf:N" or "list.txt:N" expected in the message */
	const char *value; /* the bad value, named in the message */
};

/* 1088 bytes without a newline: beyond the reader's 1024-byte line limit */
#define X64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X1088 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64

static const struct bad_case bad_cases[] = {
	{"unknown command", "defaults\nunblock tcp 25\n", NULL, 2, "bad.conf:2", "unblock"},
	{"bad port", "# c\n\nblock tcp 99999\n", NULL, 2, "bad.conf:3", "99999"},
	{"bad protocol", "block sctp 25\n", NULL, 2, "bad.conf:1", "sctp"},
	{"bad prefix", "defaults\nallow 300.1.1.1 --peer\n", NULL, 2, "bad.conf:2", "300.1.1.1"},
	{"bad direction", "block tcp 25 --dir up\n", NULL, 2, "bad.conf:1", "up"},
	{"overlap", "block tcp 25\nblock tcp 20-30\n", NULL, 2, "bad.conf:2", "20-30"},
	{"no covering rule", "block tcp 25\nallow 192.0.2.0/24 --peer --rule tcp/26\n", NULL, 2,
	 "bad.conf:2", "tcp/26"},
	{"dynamic in a file", "allow 192.0.2.1 --subscriber --dynamic\n", NULL, 2, "bad.conf:1",
	 "--dynamic"},
	{"bad line in a list", "defaults\nallow --file list.txt --subscriber\n",
	 "100.64.0.1\nnot-an-address\n", 2, "list.txt:2", "not-an-address"},
	{"missing list", "allow --file nosuch.txt --subscriber\n", NULL, 1, "bad.conf:1",
	 "nosuch.txt"},
	{"attach twice", "attach va --role uplink\nattach va --role access --outbound-only\n", NULL,
	 2, "bad.conf:2", "va"},
	{"bad role", "attach va --role core\n", NULL, 2, "bad.conf:1", "core"},
	{"missing interface", "defaults\nattach nosuch0 --role uplink\n", NULL, 1, "bad.conf:2",
	 "nosuch0"},
	{"unknown option", "block tcp 25 --monitr\n", NULL, 2, "bad.conf:1", "--monitr"},
	{"line over 1024 bytes", "defaults\nblock tcp 25 " X1088 "\n", NULL, 2, "bad.conf:2",
	 "longer than 1024 bytes"},
	{"last line over 1024 bytes, no newline", "defaults\n" X1088, NULL, 2, "bad.conf:2",
	 "longer than 1024 bytes"},
	{"no role", "attach va\n", NULL, 2, "bad.conf:1", "--role uplink"},
	{"double judging", "attach va --role uplink\nattach vc --role access\n", NULL, 2,
	 "bad.conf:2", "judged twice"},
	{"udp --all-segments", "block udp 161 --all-segments\n", NULL, 2, "bad.conf:1",
	 "--all-segments"},
	{"uplink --outbound-only", "attach va --role uplink --outbound-only\n", NULL, 2,
	 "bad.conf:1", "--outbound-only"},
};

/*
 * The file is read by the bounded reader (loader/lines.c), not getline:
 * an endless line without a newline fails at its first 1024 bytes instead
 * of being read whole. /dev/zero would never end.
 */
Test(apply, endless_line_refused)
{
	int rc = pg("apply /dev/zero --check");

	cr_expect_eq(rc, 2, "apply /dev/zero: exit %d: %s", rc, R.err);
	cr_expect(strstr(R.err, "/dev/zero:1: line longer than 1024 bytes") && one_line(R.err),
		  "apply /dev/zero: %s", R.err);
	rc = pg("test --config /dev/zero --hex 00000000000100000000000208004500");
	cr_expect_eq(rc, 2, "test --config /dev/zero: exit %d: %s", rc, R.err);
	cr_expect(strstr(R.err, "/dev/zero:1: line longer than 1024 bytes") && one_line(R.err),
		  "test --config /dev/zero: %s", R.err);
}

Test(apply, bad_lines_change_nothing)
{
	const char *good =
		put_file("good.conf", "attach va --role uplink\ndefaults\nblock tcp 6660-6669\n"
				      "allow 192.0.2.0/24 --peer --rule udp/161\n");
	char *before, *after;
	size_t i;

	PG_OK_ERR("apply %s", good);
	before = saved();
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		const char *path = put_file("bad.conf", "%s", b->conf);

		if (b->list)
			put_file("list.txt", "%s", b->list);
		for (int check = 0; check <= 1; check++) {
			int rc = pg("apply %s%s", path, check ? " --check" : "");

			cr_expect_eq(rc, b->code, "%s%s: exit %d, expected %d: %s", b->name,
				     check ? " (--check)" : "", rc, b->code, R.err);
			cr_expect(strstr(R.err, b->where) && strstr(R.err, b->value),
				  "%s: expected '%s' and '%s' in: %s", b->name, b->where, b->value,
				  R.err);
			cr_expect(one_line(R.err), "%s: not one line: %s", b->name, R.err);
			cr_expect_str_eq(R.out, "", "%s: printed %s", b->name, R.out);
		}
		after = saved();
		cr_expect_str_eq(after, before, "%s: the live state changed", b->name);
		free(after);
	}
	expect_inactive_clean("after the refused files");
	free(before);
}

Test(apply, check_changes_nothing)
{
	const char *f =
		put_file("a.conf", "attach va --role uplink\ndefaults\nallow 192.0.2.1 --peer\n");
	char *before;

	PG_OK_ERR("apply %s --check", f);
	cr_expect(strstr(R.out, "ok (5 rules, 1 exemptions, 1 interfaces)"), "%s", R.out);
	cr_expect(access(pin, F_OK) != 0, "--check created %s", pin);
	PG_OK("-j apply %s --check", f);
	cr_expect_str_eq(jq(R.out, "[.valid, .rules, .exemptions, .interfaces]"), "[true,5,1,1]");
	/* --check also leaves an existing state alone */
	PG_OK("block tcp 7000");
	before = saved();
	PG_OK("apply %s --check", f);
	cr_expect_str_eq(saved(), before);
	free(before);
}

/* ---- dry run ---- */

Test(apply, dry_run_prints_the_difference)
{
	const char *a = put_file("a.conf", "attach va --role uplink --mode generic\n"
					   "block tcp 25\nblock tcp 2525\nblock udp 161\n"
					   "allow 192.0.2.0/24 --peer --rule udp/161\n"
					   "allow 2001:db8::/48 --subscriber --dir out\n"
					   "block tcp 25 --dir out\n");
	const char *b =
		put_file("b.conf", "attach va --role uplink --mode generic\n"
				   "attach vc --role access --outbound-only --mode generic\n"
				   "block tcp 25\nblock tcp 2525-2526\nblock udp 161\n"
				   "allow 198.51.100.9 --peer --rule tcp/25 # new\n"
				   "block tcp 25 --dir out\n"
				   "allow 2001:db8::/48 --subscriber --dir out\n");
	char *before;

	PG_OK_ERR("apply %s", a);
	before = saved();
	cr_assert_eq(pg("apply %s --dry-run", b), 0, "%s", R.err);
	cr_expect_str_eq(R.out,
			 "+ attach vc --role access --outbound-only --mode generic\n"
			 "- block tcp 2525\n"
			 "+ block tcp 2525-2526\n"
			 "+ allow 198.51.100.9 --peer --rule tcp/25\n"
			 "- allow 192.0.2.0/24 --peer --rule udp/161\n"
			 "would change: rules +1 -1, exemptions +1 -1, interfaces +1 -0 ~0\n");
	cr_expect_eq(pg("apply %s --dry-run --exit-code", b), 3, "changes: exit 3");
	cr_assert_eq(pg("-j apply %s --dry-run", b), 0);
	cr_expect_str_eq(jq(R.out, "[.changed, .dry_run, (.changes | length), .rules.added, "
				   ".exemptions.removed, .interfaces.added]"),
			 "[true,true,5,1,1,1]");
	cr_expect_str_eq(jq(R.out, ".changes[0]"),
			 "\"+ attach vc --role access --outbound-only --mode generic\"");
	cr_expect_str_eq(saved(), before, "--dry-run changed the live state");

	/* the same file: nothing to print, exit 0 even with --exit-code */
	cr_assert_eq(pg("apply %s --dry-run --exit-code", a), 0);
	cr_expect_str_eq(R.out, "no changes\n");
	PG_OK("-j apply %s --dry-run", a);
	cr_expect_str_eq(jq(R.out, "[.changed, .changes]"), "[false,[]]");
	/* role and mode changes are a removal and an addition */
	b = put_file("c.conf", "attach va --role access --outbound-only --mode generic\n");
	cr_assert_eq(pg("apply %s --dry-run", b), 0);
	cr_expect(strstr(R.out, "- attach va --role uplink --mode generic\n"
				"+ attach va --role access --outbound-only --mode generic\n"),
		  "%s", R.out);
	free(before);
}

/* ---- idempotence ---- */

/* Run one frame through a pinned program; the XDP verdict. */
static __u32 test_run(int prog_fd, const struct pkt_spec *s)
{
	static __thread uint8_t buf[PKT_MAX], out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, t);
	size_t len = pkt_build(s, buf, sizeof(buf));

	t.data_in = buf;
	t.data_size_in = len;
	t.data_out = out;
	t.data_size_out = sizeof(out);
	t.repeat = 1;
	if (!len || bpf_prog_test_run_opts(prog_fd, &t))
		return ~0u;
	return t.retval;
}

static const char *verdict_name(__u32 v)
{
	return v == XDP_DROP ? "DROP" : v == XDP_PASS ? "PASS" : v == ~0u ? "(error)" : "other";
}

Test(apply, second_apply_changes_nothing)
{
	const char *a =
		put_file("a.conf", "attach va --role uplink --mode generic\n"
				   "attach vc --role access --outbound-only --mode generic\n"
				   "defaults\nblock tcp 6660-6669\n"
				   "allow --file subs.txt --subscriber --rule tcp/25\n");
	const char *b =
		put_file("b.conf", "attach va --role uplink --mode generic\n"
				   "attach vc --role access --outbound-only --mode generic\n"
				   "defaults\nblock tcp 6660-6670\n");
	struct pkt_spec smtp = {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .dst = "100.64.9.9"};
	char links[4096], rules[8192], path[256];
	int fd, i;

	put_hosts("subs.txt", 1, 100);
	PG_OK_ERR("apply %s", a);
	cr_expect(strstr(R.out, "applied: rules +1 -0, exemptions +100 -0, interfaces +2 -0"), "%s",
		  R.out);
	snprintf(path, sizeof(path), "%s/prog_uplink", pin);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0);
	for (i = 0; i < 7; i++)
		cr_assert_eq(test_run(fd, &smtp), XDP_DROP);
	PG_OK("-j status");
	snprintf(links, sizeof(links), "%s",
		 jq(R.out, "[.programs.uplink, .programs.access, "
			   "[.interfaces[] | [.ifname, .role, .prog_id, .link_id]]]"));
	PG_OK("-j rules");
	cr_assert_lt(strlen(R.out), sizeof(rules));
	memcpy(rules, R.out, strlen(R.out) + 1);
	cr_expect_str_eq(jq(rules, ".[] | select(.port == 25 and .dir == \"in\") | .packets"), "7");

	cr_assert_eq(pg("apply %s --exit-code", a), 0, "exit %d: %s", R.code, R.err);
	cr_expect_str_eq(R.out, "no changes\n");
	PG_OK("-j apply %s", a);
	cr_expect_str_eq(jq(R.out, ".changed"), "false");
	PG_OK("-j status");
	cr_expect_str_eq(jq(R.out, "[.programs.uplink, .programs.access, "
				   "[.interfaces[] | [.ifname, .role, .prog_id, .link_id]]]"),
			 links, "links or programs replaced");
	PG_OK("-j rules");
	cr_expect_str_eq(R.out, rules, "rules or counters changed");
	expect_inactive_clean("after no changes");

	/* a real change: rules that stay keep their counters and ids */
	cr_expect_eq(pg("apply %s --exit-code", b), 3, "exit %d: %s", R.code, R.err);
	cr_expect(strstr(R.out, "applied: rules +1 -1, exemptions +0 -100, interfaces +0 -0 ~0"),
		  "%s", R.out);
	PG_OK("-j rules");
	cr_expect_str_eq(jq(R.out, ".[] | select(.port == 25 and .dir == \"in\") | .packets"), "7",
			 "a rule in both files lost its counters");
	cr_expect_str_eq(jq(R.out, ".[] | select(.port == 6660) | [.port_end, .packets]"),
			 "[6670,0]");
	PG_OK("-j status");
	cr_expect_str_eq(jq(R.out, "[.programs.uplink, .programs.access, "
				   "[.interfaces[] | [.ifname, .role, .prog_id, .link_id]]]"),
			 links, "a policy change replaced links or programs");
	expect_inactive_clean("after a change");
	close(fd);
}

/* ---- save ---- */

Test(apply, save_then_apply_is_no_change)
{
	const char *list = put_file("l.txt", "100.64.1.1\n100.64.1.2\n2001:db8:1::/64\n");
	char *s, *dyn;
	const char *f;

	PG_OK("attach va --role uplink --mode generic");
	PG_OK("attach vc --role access --outbound-only --mode generic");
	PG_OK("block tcp 6660-6669");
	PG_OK("block tcp 6000 --all-segments");
	PG_OK("block udp 53 --dir out --monitor");
	PG_OK("unblock tcp 465");
	PG_OK("allow 192.0.2.0/24 --peer --rule udp/161");
	PG_OK("block tcp 25 --dir out");
	PG_OK("allow 198.51.100.25 --peer --rule tcp/25 --dir out");
	PG_OK("allow 2001:db8::/32 --subscriber --rule tcp/6665");
	PG_OK("allow --file %s --subscriber", list);
	PG_OK("allow 10.0.0.0/7 --subscriber --force");
	PG_OK("allow 100.64.7.7 --subscriber --dynamic");
	s = saved();
	cr_expect(strstr(s, "\nallow 10.0.0.0/7 --subscriber --force\n"), "%s", s);
	cr_expect(strstr(s, "attach va --role uplink --mode generic\n"
			    "attach vc --role access --outbound-only --mode generic\n"),
		  "%s", s);
	cr_expect(strstr(s, "\nblock tcp 6660-6669\n") && !strstr(s, "tcp 465") &&
			  strstr(s, "\nblock tcp 6000 --all-segments\n") &&
			  strstr(s, "\nblock udp 53 --dir out --monitor\n") &&
			  strstr(s, "\nallow 2001:db8::/32 --subscriber --rule tcp/6660\n") &&
			  strstr(s, "\nallow 198.51.100.25 --peer --rule tcp/25 --dir out\n") &&
			  strstr(s, "\nallow 2001:db8:1::/64 --subscriber\n") &&
			  !strstr(s, "allow 100.64.7.7"),
		  "%s", s);
	f = put_file("saved.conf", "%s", s);
	cr_assert_eq(pg("apply %s --exit-code", f), 0, "exit %d: %s", R.code, R.err);
	cr_expect_str_eq(R.out, "no changes\n");
	cr_expect_str_eq(saved(), s);

	/* the dynamic exemption is kept by apply, and shown with its origin */
	PG_OK("-j exemptions");
	dyn = strdup(jq(R.out, "[.[] | select(.origin == \"dynamic\") | .prefix]"));
	cr_expect_str_eq(dyn, "[\"100.64.7.7/32\"]");
	f = put_file("small.conf", "attach va --role uplink --mode generic\ndefaults\n");
	PG_OK_ERR("apply %s", f);
	PG_OK("-j exemptions");
	cr_expect_str_eq(jq(R.out, "[.[] | [.prefix, .origin]]"),
			 "[[\"100.64.7.7/32\",\"dynamic\"]]");
	/* disallow --dynamic removes only dynamic ones */
	PG_OK("allow 192.0.2.1 --peer");
	cr_expect_eq(pg("disallow 192.0.2.1 --peer --dynamic"), 1);
	cr_expect(strstr(R.err, "192.0.2.1/32") && one_line(R.err), "%s", R.err);
	PG_OK("disallow 100.64.7.7 --subscriber --dynamic");
	PG_OK("-j exemptions");
	cr_expect_str_eq(jq(R.out, "[.[] | [.prefix, .origin]]"),
			 "[[\"192.0.2.1/32\",\"static\"]]");
	expect_inactive_clean("after save/apply");
	free(s);
	free(dyn);
}

/* ---- the atomic switch ---- */

struct vec {
	const char *name;
	struct pkt_spec s;
	__u32 verdict; /* the same under both files */
};

static const struct vec vecs[] = {
	{"tcp/25 blocked in both (25 vs 25-26)",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .src = "192.0.2.1", .dst = "100.64.200.1"},
	 XDP_DROP},
	{"tcp/25 from the relay: exempt from the rule, then from all rules",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .src = "198.51.100.7", .dst = "100.64.200.1"},
	 XDP_PASS},
	{"udp/161 blocked in both (161 vs 160-162)",
	 {.ip = 4, .proto = IPPROTO_UDP, .dport = 161, .src = "192.0.2.1", .dst = "100.64.200.1"},
	 XDP_DROP},
	{"udp/161 from the NMS: exempt in both",
	 {.ip = 4, .proto = IPPROTO_UDP, .dport = 161, .src = "203.0.113.9", .dst = "100.64.200.1"},
	 XDP_PASS},
	{"tcp/25 to an opted-out subscriber (in both lists)",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 25, .src = "192.0.2.1", .dst = "100.64.0.50"},
	 XDP_PASS},
	{"IPv6 tcp/25 blocked in both",
	 {.ip = 6, .proto = IPPROTO_TCP, .dport = 25, .src = "2001:db8::1", .dst = "2001:db8:1::1"},
	 XDP_DROP},
	{"tcp/80: no rule in either",
	 {.ip = 4, .proto = IPPROTO_TCP, .dport = 80, .src = "192.0.2.1", .dst = "100.64.200.1"},
	 XDP_PASS},
};

#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

struct shared {
	volatile int stop;
	volatile unsigned long runs, wrong;
	volatile int bad_vec;
	volatile __u32 bad_verdict;
};

static void tester(struct shared *sh, int prog_fd)
{
	size_t i;

	while (!sh->stop) {
		for (i = 0; i < NVECS; i++) {
			__u32 v = test_run(prog_fd, &vecs[i].s);

			if (v != vecs[i].verdict) {
				sh->bad_vec = i;
				sh->bad_verdict = v;
				__atomic_add_fetch(&sh->wrong, 1, __ATOMIC_RELAXED);
			}
		}
		__atomic_add_fetch(&sh->runs, 1, __ATOMIC_RELAXED);
	}
	_exit(0);
}

/* Two files whose verdicts agree on every vector, each with 2,000 subscriber exemptions. */
static void atomic_files(const char **a, const char **b)
{
	put_hosts("subs_a.txt", 1, 2000);  /* 100.64.0.1 .. */
	put_hosts("subs_b.txt", 40, 2000); /* 100.64.0.40 .. : both hold .50 */
	*a = put_file("a.conf", "attach va --role uplink --mode generic\n"
				"block tcp 25\nblock udp 161\nblock tcp 587\n"
				"allow 198.51.100.0/24 --peer --rule tcp/25\n"
				"allow 203.0.113.0/24 --peer --rule udp/161\n"
				"allow --file subs_a.txt --subscriber\n");
	*b = put_file("b.conf", "attach va --role uplink --mode generic\n"
				"block tcp 25-26\nblock udp 160-162\nblock tcp 587 --monitor\n"
				"allow 198.51.100.0/24 --peer\n"
				"allow 203.0.113.9 --peer --rule udp/160\n"
				"allow --file subs_b.txt --subscriber\n");
}

/* From uplinks to the one-NIC deployment in one file; a mix with --force round-trips. */
Test(apply, switch_to_the_one_nic_deployment)
{
	const char *f;
	char *s;

	PG_OK("attach va --role uplink --mode generic");
	PG_OK("attach vc --role access --outbound-only --mode generic");
	f = put_file("one.conf", "attach vc --role access --mode generic\ndefaults\n");
	PG_OK_ERR("apply %s", f);
	PG_OK("status -j");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .filters.in, .filters.out]]"),
			 "[[\"vc\",\"tc egress\",\"xdp ingress\"]]");

	PG_OK("attach va --role uplink --mode generic --force");
	s = saved();
	cr_expect(strstr(s, "attach va --role uplink --mode generic --force\n"), "%s", s);
	f = put_file("mixed.conf", "%s", s);
	cr_expect_eq(pg("apply %s --exit-code", f), 0, "exit %d: %s", R.code, R.err);
	cr_expect_str_eq(R.out, "no changes\n");
	free(s);
}

Test(apply, switch_is_atomic_for_packets)
{
	struct shared *sh =
		mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const char *a, *b;
	char path[256];
	int fd, i, st, n = 40;
	pid_t pid;

	cr_assert_neq(sh, MAP_FAILED);
	atomic_files(&a, &b);
	PG_OK_ERR("apply %s", a);
	snprintf(path, sizeof(path), "%s/prog_uplink", pin);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0);
	for (i = 0; i < (int)NVECS; i++)
		cr_assert_eq(test_run(fd, &vecs[i].s), vecs[i].verdict, "%s: %s under a.conf",
			     vecs[i].name, verdict_name(test_run(fd, &vecs[i].s)));
	PG_OK_ERR("apply %s", b);
	for (i = 0; i < (int)NVECS; i++)
		cr_assert_eq(test_run(fd, &vecs[i].s), vecs[i].verdict, "%s: %s under b.conf",
			     vecs[i].name, verdict_name(test_run(fd, &vecs[i].s)));

	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		tester(sh, fd);
	while (!sh->runs) /* the tester is running */
		sched_yield();
	for (i = 0; i < n; i++) {
		PG_OK_ERR("apply %s", i % 2 ? b : a);
		cr_expect(strncmp(R.out, "applied", 7) == 0, "%s", R.out);
	}
	sh->stop = 1;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	close(fd);
	cr_expect_gt(sh->runs, (unsigned long)n, "only %lu rounds of vectors ran", sh->runs);
	cr_expect_eq(sh->wrong, 0,
		     "%lu wrong verdicts in %lu rounds; last: '%s' got %s, expected %s", sh->wrong,
		     sh->runs, vecs[sh->bad_vec].name, verdict_name(sh->bad_verdict),
		     verdict_name(vecs[sh->bad_vec].verdict));
	expect_inactive_clean("after the switches");
	munmap(sh, sizeof(*sh));
}

/* ---- failure: nothing changed ---- */

Test(apply, refused_attach_rolls_back)
{
	const char *a = put_file("a.conf", "attach va --role uplink --mode generic\ndefaults\n"
					   "allow 192.0.2.0/24 --peer\n");
	/* vb attaches fine, then vc is refused: vb must be detached again */
	const char *b =
		put_file("b.conf", "attach va --role uplink --mode generic\n"
				   "attach vb --role access --outbound-only --mode generic\n"
				   "attach vc --role uplink --mode generic\nblock tcp 9999\n");
	char *before, links[4096];

	PG_OK_ERR("apply %s", a);
	before = saved();
	PG_OK("-j status");
	snprintf(links, sizeof(links), "%s", jq(R.out, "[.interfaces[] | [.ifname, .link_id]]"));
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip -n %s link set dev vc xdpgeneric obj build/xdp_pass.bpf.o sec xdp",
			   ns),
		     0, "a foreign XDP program on vc");
	cr_expect_eq(pg("apply %s", b), 1, "exit %d: %s", R.code, R.err);
	cr_expect(strstr(R.err, "vc") && strstr(R.err, "nothing changed"), "%s", R.err);
	cr_expect_str_eq(R.out, "");
	cr_expect_str_eq(saved(), before, "a refused apply changed the live state");
	PG_OK("-j status");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .link_id]]"), links,
			 "links changed");
	expect_inactive_clean("after the rollback");
	tl_sh(NULL, 0, "ip -n %s link set dev vc xdpgeneric off", ns);
	free(before);
}

/* ---- kill -9 ---- */

static bool lock_free(void)
{
	int fd = open(pin, O_RDONLY | O_DIRECTORY);
	bool ok;

	cr_assert_geq(fd, 0);
	ok = !flock(fd, LOCK_EX | LOCK_NB);
	close(fd);
	return ok;
}

Test(apply, kill9_leaves_old_or_new)
{
	const char *f[2];
	char *want[2], env[64];
	long points = 0;
	int i, kills = 0, cur = 0, rounds = 60;
	unsigned int seed = (unsigned int)time(NULL);
	const char *s;

	atomic_files(&f[0], &f[1]);
	PG_OK_ERR("apply %s", f[1]);
	want[1] = saved();
	PG_OK_ERR("apply %s", f[0]);
	want[0] = saved();
	/* how many crash points a change passes */
	cr_assert_eq(pg_env("PORTGATE_APPLY_CRASH_AT=100000000", "apply %s", f[1]), 0, "%s", R.err);
	s = strstr(R.err, "apply: ");
	cr_assert(s && (points = strtol(s + 7, NULL, 10)) > 5, "%s", R.err);
	cur = 1;
	srand(seed);
	cr_log_info("kill9: seed %u, %ld crash points", seed, points);
	for (i = 0; i < rounds; i++) {
		int to = !cur, at = 1 + rand() % (int)points, rc;
		char *now;

		snprintf(env, sizeof(env), "PORTGATE_APPLY_CRASH_AT=%d", at);
		rc = pg_env(env, "apply %s", f[to]);
		cr_assert(rc == 0 || rc == 128 + SIGKILL, "round %d: exit %d: %s", i, rc, R.err);
		kills += rc != 0;
		cr_assert(lock_free(), "round %d (point %d): the lock is still held", i, at);
		now = saved();
		cr_assert(!strcmp(now, want[0]) || !strcmp(now, want[1]),
			  "round %d (killed at point %d): the live policy is neither file:\n%s", i,
			  at, now);
		free(now);
		/* the next apply converges from whatever was left */
		PG_OK_ERR("apply %s", f[to]);
		now = saved();
		cr_assert_str_eq(now, want[to], "round %d: apply did not converge", i);
		free(now);
		expect_inactive_clean("after the converging apply");
		cur = to;
	}
	cr_expect_gt(kills, rounds / 2, "only %d of %d applies were killed", kills, rounds);
	free(want[0]);
	free(want[1]);
}

/* ---- the systemd unit ---- */

/* The value of KEY= in the unit, the binary and config replaced for the lab. */
static void unit_exec(const char *unit, const char *key, const char *conf, char *out, size_t len)
{
	const char *p = strstr(unit, key), *e;
	char line[512], *bin;

	cr_assert(p, "no %s in the unit", key);
	p += strlen(key);
	e = strchr(p, '\n');
	snprintf(line, sizeof(line), "%.*s", (int)(e - p), p);
	bin = strstr(line, "/usr/sbin/portgate ");
	cr_assert(bin == line, "%s runs '%s', expected /usr/sbin/portgate", key, line);
	snprintf(out, len, "%s", line + strlen("/usr/sbin/portgate "));
	bin = strstr(out, "/etc/portgate/portgate.conf");
	if (bin) {
		char rest[256];

		snprintf(rest, sizeof(rest), "%s", bin + strlen("/etc/portgate/portgate.conf"));
		snprintf(bin, len - (bin - out), "%s%s", conf, rest);
	}
}

Test(apply, service_unit)
{
	static char unit[8192];
	char cmd[512], cwd[256];
	const char *conf;
	FILE *f = fopen("systemd/portgate.service", "r");
	size_t n;

	cr_assert(f, "systemd/portgate.service: %s", strerror(errno));
	n = fread(unit, 1, sizeof(unit) - 1, f);
	unit[n] = '\0';
	fclose(f);
	cr_expect(strstr(unit, "\nType=oneshot\n") && strstr(unit, "\nRemainAfterExit=yes\n") &&
			  strstr(unit, "\nBefore=network-pre.target") &&
			  strstr(unit, "\nWants=network-pre.target\n") &&
			  strstr(unit, "\nDefaultDependencies=no\n"),
		  "the unit's shape");
	/* verify with the binary it names replaced by the one built here */
	cr_assert(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(tl_sh(cmd, sizeof(cmd),
			   "mkdir -p %s/unit && sed 's|/usr/sbin/portgate|%s/build/portgate|g' "
			   "systemd/portgate.service > %s/unit/portgate.service && "
			   "systemd-analyze verify %s/unit/portgate.service 2>&1",
			   dir, cwd, dir, dir),
		     0, "systemd-analyze verify: %s", cmd);

	conf = put_file("portgate.conf", "attach va --role uplink --mode generic\ndefaults\n");
	unit_exec(unit, "\nExecStart=", conf, cmd, sizeof(cmd));
	PG_OK_ERR("%s", cmd);
	PG_OK("-j status");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | [.ifname, .role]]"), "[[\"va\",\"uplink\"]]");
	cr_expect_str_eq(jq(R.out, ".rules"), "5");

	put_file(
		"portgate.conf",
		"attach va --role uplink --mode generic\nattach vc --role access --outbound-only --mode generic\n"
		"defaults\nblock tcp 25 --dir out\n");
	unit_exec(unit, "\nExecReload=", conf, cmd, sizeof(cmd));
	PG_OK_ERR("%s", cmd);
	PG_OK("-j status");
	cr_expect_str_eq(jq(R.out, "[.interfaces[] | .ifname] | sort"), "[\"va\",\"vc\"]");
	cr_expect_str_eq(jq(R.out, ".rules"), "6");

	unit_exec(unit, "\nExecStop=", conf, cmd, sizeof(cmd));
	PG_OK_ERR("%s", cmd);
	cr_expect(access(pin, F_OK) != 0, "ExecStop left %s", pin);
}
