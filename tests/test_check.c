// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate check` finds what it promises. Table-driven: each vector
 * builds a consistent state with the CLI (a private pin path; `check` must
 * say so, exit 0), breaks it in one way through the pinned maps or pins,
 * and expects exit 1 with a line naming the fault. Faults that need an
 * interface (link pins) use veths of a private netns. Torn down in .fini.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "portgate.h"
#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"
#define OUT_MAX (64 * 1024)

static char pin[64], ns[64];

static void setup(void)
{
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgchk%d", getpid());
	snprintf(ns, sizeof(ns), "pgchk%d", getpid());
	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns add %s && ip -n %s link add ca type veth peer name cb && "
			   "ip -n %s link set ca up && ip -n %s link set cb up",
			   ns, ns, ns, ns),
		     0, "netns %s", ns);
}

static void teardown(void)
{
	tl_sh(NULL, 0, "nsenter --net=/run/netns/%s %s --pin-path %s detach --all 2>/dev/null", ns,
	      PORTGATE, pin);
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	tl_sh(NULL, 0, "rm -rf %s", pin);
}

TestSuite(check, .init = setup, .fini = teardown);

/* portgate ARGS in the test's netns and pin path; stdout (and stderr) into out. */
static int pg(char *out, const char *args)
{
	return tl_sh(out, out ? OUT_MAX : 0, "nsenter --net=/run/netns/%s %s --pin-path %s %s 2>&1",
		     ns, PORTGATE, pin, args);
}

static int pinned(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin, name);
	fd = bpf_obj_get(path);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static void put_port(__u32 gen, __u32 dir, __u32 proto, __u32 port, __u16 id, __u16 first,
		     __u8 action)
{
	struct pg_port_entry e = {.rule_id = id, .rule_port = first, .action = action};
	__u32 idx = pg_port_index(gen, dir, proto, port);
	int fd = pinned("pg_ports");

	cr_assert_eq(bpf_map_update_elem(fd, &idx, &e, BPF_ANY), 0, "pg_ports: %s",
		     strerror(errno));
	close(fd);
}

static void put_rule(__u32 id, struct pg_rule r)
{
	int fd = pinned("pg_rules");

	cr_assert_eq(bpf_map_update_elem(fd, &id, &r, BPF_ANY), 0, "pg_rules: %s", strerror(errno));
	close(fd);
}

static void add_kind(__u32 gen, __u32 kind, int delta)
{
	struct pg_exempt_kinds k;
	int fd = pinned("pg_exempt_kinds");

	cr_assert_eq(bpf_map_lookup_elem(fd, &gen, &k), 0);
	k.prefix[kind] += delta;
	cr_assert_eq(bpf_map_update_elem(fd, &gen, &k, BPF_ANY), 0);
	close(fd);
}

/* An IPv4 trie entry, written as is (no kind count). */
static void put_v4(__u32 plen, __u8 scope, __u8 proto, __u16 port, const __u8 addr[4], __u8 vplen)
{
	struct pg_exempt_v4_key k = {.prefixlen = PG_LPM_META_BITS + plen,
				     .scope = scope,
				     .proto = proto,
				     .port_hi = port >> 8,
				     .port_lo = port & 0xff};
	struct pg_exempt_val v = {.addr_prefixlen = vplen};
	int fd = pinned("pg_exempt_v4");

	memcpy(k.addr, addr, 4);
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0, "pg_exempt_v4: %s",
		     strerror(errno));
	close(fd);
}

static const __u8 net192[4] = {192, 0, 2, 0};

/*
 * The state every vector starts from (the default policy plus): rule
 * "tcp 6660-6669 --dir in", one exemption per family.
 */
#define BASE                                                     \
	"block tcp 6660-6669 && P allow 192.0.2.0/24 --peer && " \
	"P allow 2001:db8::/32 --subscriber --rule tcp/6665"

static void f_free_slot(void)
{
	put_port(0, PG_DIR_IN, PG_PROTO_TCP, 3000, 777, 3000, PG_ACTION_DROP);
	put_port(0, PG_DIR_IN, PG_PROTO_TCP, 3001, 777, 3000, PG_ACTION_DROP);
}

static void f_missing(void)
{
	put_port(0, PG_DIR_IN, PG_PROTO_TCP, 6661, 0, 0, 0);
}

static __u16 rule_of(__u32 port)
{
	struct pg_port_entry e;
	__u32 idx = pg_port_index(0, PG_DIR_IN, PG_PROTO_TCP, port);
	int fd = pinned("pg_ports");

	cr_assert_eq(bpf_map_lookup_elem(fd, &idx, &e), 0);
	close(fd);
	cr_assert(e.rule_id, "no rule at tcp/in %u", port);
	return e.rule_id;
}

static void f_stale(void)
{
	put_port(0, PG_DIR_IN, PG_PROTO_TCP, 6662, rule_of(6662), 6662, PG_ACTION_DROP);
}

static void f_not_covered(void)
{
	put_port(0, PG_DIR_IN, PG_PROTO_UDP, 6662, rule_of(6662), 6660, PG_ACTION_DROP);
}

static void f_junk(void)
{
	put_port(0, PG_DIR_OUT, PG_PROTO_UDP, 9, 0, 9, PG_ACTION_DROP);
}

static void f_other_gen(void)
{
	put_rule(900, (struct pg_rule){.port = 80,
				       .port_end = 80,
				       .dir = PG_DIR_IN,
				       .proto = PG_PROTO_TCP,
				       .action = PG_ACTION_DROP,
				       .gens = 2});
}

static void f_leaked_slot(void)
{
	put_rule(901, (struct pg_rule){.port = 81, .port_end = 81, .action = PG_ACTION_DROP});
}

static void f_dirty_free_slot(void)
{
	put_rule(902, (struct pg_rule){.port = 82, .port_end = 82});
}

static void f_overlap(void)
{
	put_rule(903, (struct pg_rule){.port = 6669,
				       .port_end = 6670,
				       .dir = PG_DIR_IN,
				       .proto = PG_PROTO_TCP,
				       .action = PG_ACTION_DROP,
				       .gens = 1});
}

static void f_kind_zero(void)
{
	add_kind(0, pg_exempt_kind(0, PG_SIDE_PEER, 1, PG_DIR_IN), -1);
}

static void f_kind_high(void)
{
	add_kind(0, pg_exempt_kind(1, PG_SIDE_PEER, 0, PG_DIR_OUT), 3);
}

static void f_inactive_trie(void)
{
	put_v4(24, pg_exempt_scope(1, PG_SIDE_PEER, PG_DIR_IN), PG_EXEMPT_ALL_RULES, 0, net192, 24);
	add_kind(1, pg_exempt_kind(0, PG_SIDE_PEER, 1, PG_DIR_IN), 1);
}

static void f_host_bits(void)
{
	put_v4(16, pg_exempt_scope(0, PG_SIDE_PEER, PG_DIR_IN), PG_EXEMPT_ALL_RULES, 0, net192, 16);
}

static void f_bad_value(void)
{
	static const __u8 a[4] = {198, 51, 100, 0};

	put_v4(24, pg_exempt_scope(0, PG_SIDE_SUBSCRIBER, PG_DIR_IN), PG_EXEMPT_ALL_RULES, 0, a,
	       23);
	add_kind(0, pg_exempt_kind(0, PG_SIDE_SUBSCRIBER, 1, PG_DIR_IN), 1);
}

static void f_all_rules_port(void)
{
	static const __u8 a[4] = {203, 0, 113, 0};

	put_v4(24, pg_exempt_scope(0, PG_SIDE_SUBSCRIBER, PG_DIR_IN), PG_EXEMPT_ALL_RULES, 25, a,
	       24);
}

/*
 * Generation 0's IPv4 table slot of a host exemption (all rules, inbound):
 * cleared (put = false) or put into a free slot of its bucket.
 */
static void table_slot_v4(__u32 side, const __u8 a[4], bool put)
{
	size_t sz = ((size_t)PG_GENS << PG_XT_V4_BITS) * sizeof(struct pg_xt_b4);
	__u64 key = pg_xt_key_v4(pg_xt_meta(PG_XT_LEVELS_V4, pg_exempt_scope(0, side, PG_DIR_IN),
					    PG_EXEMPT_ALL_RULES, 0),
				 (__u32)a[0] << 24 | (__u32)a[1] << 16 | (__u32)a[2] << 8 | a[3]);
	int fd = pinned("pg_exempt_t4"), i, done = 0;
	struct pg_xt_b4 *t = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), *b;

	cr_assert_neq(t, MAP_FAILED, "pg_exempt_t4: %s", strerror(errno));
	b = &t[pg_xt_index_v4(0, pg_xt_hash_v4(key))];
	for (i = 0; i < PG_XT_V4_SLOTS && !done; i++)
		if (put ? !b->k[i] : b->k[i] == key) {
			b->k[i] = put ? key : 0;
			done = 1;
		}
	munmap(t, sz);
	close(fd);
	cr_assert(done, "pg_exempt_t4: no slot to %s", put ? "fill" : "clear");
}

static void f_slot_missing(void)
{
	static const __u8 a[4] = {198, 51, 100, 9};

	table_slot_v4(PG_SIDE_PEER, a, false);
}

static void f_slot_stray(void)
{
	static const __u8 a[4] = {203, 0, 113, 5};

	table_slot_v4(PG_SIDE_SUBSCRIBER, a, true);
}

/* 192.0.2.0/24 --peer of BASE: its bit in generation 0's IPv4 summary */
static void f_sum_cleared(void)
{
	__u32 b = pg_sum_bucket_v4(net192), idx = pg_sum_index(0, 0, b);
	__u64 w;
	int fd = pinned("pg_exempt_sum");

	cr_assert_eq(bpf_map_lookup_elem(fd, &idx, &w), 0);
	w &= ~(1ULL << pg_sum_bit(PG_SUM_PREFIX, b));
	cr_assert_eq(bpf_map_update_elem(fd, &idx, &w, BPF_ANY), 0);
	close(fd);
}

static void f_ref_missing(void)
{
	__u32 key = pg_sum_ref_key(0, 0, PG_SUM_PREFIX, 0, pg_sum_bucket_v4(net192));
	int fd = pinned("pg_exempt_refs");

	cr_assert_eq(bpf_map_delete_elem(fd, &key), 0, "pg_exempt_refs: %s", strerror(errno));
	close(fd);
}

static void f_ctl(void)
{
	struct pg_ctl ctl = {.gen = 2};
	__u32 zero = 0;
	int fd = pinned("pg_ctl");

	cr_assert_eq(bpf_map_update_elem(fd, &zero, &ctl, BPF_ANY), 0);
	close(fd);
}

static void f_prog_pin_gone(void)
{
	cr_assert_eq(tl_sh(NULL, 0, "rm %s/prog_access", pin), 0);
}

static void f_link_gone(void)
{
	cr_assert_eq(tl_sh(NULL, 0, "ip -n %s link del ca", ns), 0);
}

static void f_link_renamed(void)
{
	cr_assert_eq(tl_sh(NULL, 0, "cd %s && for l in link_*; do mv $l link_99999; done", pin), 0);
}

static void f_tc_gone(void)
{
	cr_assert_eq(tl_sh(NULL, 0, "tc -n %s filter del dev ca egress", ns), 0);
}

/* the rule says every segment (--all-segments), its port entry does not */
static void f_flags_stale(void)
{
	put_port(0, PG_DIR_IN, PG_PROTO_TCP, 6000, rule_of(6000), 6000, PG_ACTION_DROP);
}

struct fault {
	const char *name;
	const char *setup; /* CLI commands ("P" = portgate again) */
	void (*fn)(void);
	const char *want; /* a line of check's output holds this */
};

static const struct fault faults[] = {
	{"port entries point at a free slot", BASE, f_free_slot,
	 "tcp/in ports 3000-3001: entries point at free rule slot 777"},
	{"a rule's port lost its entry", BASE, f_missing, "tcp/in port 6661: no entries, but rule"},
	{"stale first port", BASE, f_stale, "port 6662: entries point at rule"},
	{"entry in another protocol's table", BASE, f_not_covered,
	 "udp/in port 6662: entries point at rule"},
	{"entry without a rule", BASE, f_junk,
	 "udp/out port 9: entries without a rule hold a first port or action"},
	{"rule in the inactive generation", BASE, f_other_gen,
	 "rule 900 (tcp 80 --dir in) is in generation 1, which is not live"},
	{"its ports are missing too", BASE, f_other_gen,
	 "generation 1 tcp/in port 80: no entries, but rule 900 covers them"},
	{"rule slot in no generation", BASE, f_leaked_slot, "rule slot 901: invalid rule"},
	{"free slot not zeroed", BASE, f_dirty_free_slot,
	 "rule slot 902: free (no action) but not"},
	{"overlapping rules", BASE, f_overlap, "overlap at port 6669"},
	{"kind count zero with entries", BASE, f_kind_zero,
	 "IPv4 --peer all-rules --dir in prefix exemptions counted 0, the trie holds 1 (the "
	 "fast path skips them"},
	{"kind count too high", BASE, f_kind_high,
	 "IPv6 --peer one-rule --dir out prefix exemptions counted 3, the trie holds 0"},
	{"exemption missing from the table", BASE " && P allow 198.51.100.9 --peer", f_slot_missing,
	 "generation 0: exemption slot 198.51.100.9/32 (scope 0x2, proto 0xff, port 0) is not in "
	 "pg_exempt_t4 (the fast path misses it)"},
	{"table slot no exemption implies", BASE, f_slot_stray,
	 "generation 0: slot 203.0.113.5/32 (scope 0, proto 0xff, port 0) in pg_exempt_t4 is "
	 "implied by no exemption"},
	{"summary bit cleared under an exemption", BASE, f_sum_cleared,
	 "generation 0: 1 words of the IPv4 summary in pg_exempt_sum differ from the tries"},
	{"summary count missing", BASE, f_ref_missing,
	 "pg_exempt_refs: count 0x80c00002 is 0, the "
	 "tries imply 1"},
	{"trie entries in the inactive generation", BASE, f_inactive_trie,
	 "1 IPv4 exemptions in generation 1, which is not live"},
	{"host bits set", BASE, f_host_bits, "host bits set beyond the prefix length"},
	{"value names another prefix length", BASE, f_bad_value, "value names another prefix"},
	{"all-rules entry with a port", BASE, f_all_rules_port, "all-rules entry with a port"},
	{"control word", BASE, f_ctl, "pg_ctl: live generation 2"},
	{"program pin gone", "attach ca --role uplink", f_prog_pin_gone,
	 "program pin prog_access: No such file"},
	{"link of a deleted interface", "attach ca --role uplink", f_link_gone,
	 "its interface is gone"},
	{"link pin named for another interface", "attach ca --role uplink", f_link_renamed,
	 "link pin link_99999"},
	{"tc egress half gone", "attach ca --role access", f_tc_gone,
	 "its tc egress filter is missing"},
	{"port entry flags stale", "block tcp 6000 --all-segments", f_flags_stale,
	 "port 6000: entries point at rule"},
};

Test(check, finds_each_fault)
{
	static char out[OUT_MAX];
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		const struct fault *f = &faults[i];
		int rc;

		/* a fresh state per vector: no fault leaks into the next one */
		teardown();
		setup();
		rc = tl_sh(out, sizeof(out),
			   "set -e; P() { nsenter --net=/run/netns/%s %s --pin-path %s \"$@\"; }; "
			   "P %s 2>&1",
			   ns, PORTGATE, pin, f->setup);
		cr_assert_eq(rc, 0, "%s: setup '%s' failed: %s", f->name, f->setup, out);
		rc = pg(out, "check");
		cr_assert_eq(rc, 0, "%s: check of the consistent state says %d:\n%s", f->name, rc,
			     out);
		f->fn();
		rc = pg(out, "check");
		if (rc != 1 || !strstr(out, f->want)) {
			failed++;
			cr_log_error(
				"vector \"%s\": check exit %d, want 1 and a line with \"%s\":\n%s",
				f->name, rc, f->want, out);
		}
	}
	cr_expect_eq(failed, 0, "%zu of %zu faults not reported", failed,
		     sizeof(faults) / sizeof(faults[0]));
}

Test(check, json_and_exit_codes)
{
	static char out[OUT_MAX];
	int rc;

	rc = pg(out, "check");
	cr_expect_eq(rc, 1, "check with nothing loaded: exit %d, want 1:\n%s", rc, out);
	cr_expect(strstr(out, "nothing loaded"), "%s", out);
	cr_expect_eq(pg(out, "check extra"), 2, "an argument is a usage error");
	cr_assert_eq(pg(out, "block udp 5000-5100 --monitor"), 0, "%s", out);
	rc = pg(out, "-j check");
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect_eq(tl_sh(NULL, 0,
			   "printf '%%s' '%s' | jq -e '.consistent == true and .problems == [] and "
			   ".rules == 6 and .generation == 0' >/dev/null",
			   out),
		     0, "check -j: %s", out);
	f_free_slot();
	rc = pg(out, "-j check");
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect_eq(tl_sh(NULL, 0,
			   "printf '%%s' '%s' | sed '$d' | jq -e '.consistent == false and "
			   "(.problems | length) == 1' >/dev/null",
			   out),
		     0, "check -j with a fault: %s", out);
}

/* --repair rewrites the structures in front of the tries from the tries. */
Test(check, repair_rebuilds_from_the_tries)
{
	static char out[OUT_MAX];
	void (*const fns[])(void) = {f_sum_cleared, f_ref_missing, f_kind_zero, f_slot_missing,
				     f_slot_stray};
	int rc;

	rc = tl_sh(out, sizeof(out),
		   "set -e; P() { nsenter --net=/run/netns/%s %s --pin-path %s \"$@\"; }; "
		   "P %s && P allow 198.51.100.9 --peer 2>&1",
		   ns, PORTGATE, pin, BASE);
	cr_assert_eq(rc, 0, "setup: %s", out);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		fns[i]();
	rc = pg(out, "check");
	cr_expect_eq(rc, 1, "check of the damaged state: %d\n%s", rc, out);
	rc = pg(out, "check --repair");
	cr_expect(strstr(out, "slot 198.51.100.9/32 put back into pg_exempt_t4") &&
			  strstr(out, "slot 203.0.113.5/32 removed from pg_exempt_t4") &&
			  strstr(out, "summary rewritten") && strstr(out, "counts rewritten"),
		  "check --repair: %d\n%s", rc, out);
	rc = pg(out, "check");
	cr_expect_eq(rc, 0, "check after --repair: %d\n%s", rc, out);
}
