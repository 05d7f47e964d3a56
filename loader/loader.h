/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Internal API of the portgate loader. One file per concern:
 *   cli.c      argument parsing, command table, main()
 *   state.c    pin directory, lock, skeleton load with pinned-map reuse
 *   attach.c   attach/detach/status (bpf_link per interface)
 *   tc.c       the tc egress filter of access interfaces (clsact)
 *   rules.c    block/unblock/rules/defaults
 *   exempt.c   allow/disallow/exemptions
 *   stats.c    stats, --watch, --reset
 *   apply.c    `portgate apply`: a whole configuration file, one generation flip
 *   save.c     `portgate save`: the live state in the file's grammar
 *   metrics.c  `portgate metrics`: Prometheus text format, --output for the textfile collector
 *   testrun.c  `portgate test`: frames through BPF_PROG_TEST_RUN
 *   json.c     minimal JSON writer
 *   trace.c    `portgate trace`: drop events from the ring buffer, text/JSON/pcap/syslog
 *   syslog.c   a tiny syslog sender (audit lines, trace --syslog)
 *   audit.c    the audit line of every state-changing command
 *   lines.c    the bounded line reader of --file lists and configuration files
 * Functions return 0 or -errno; only cli.c turns them into exit codes.
 */
#ifndef PORTGATE_LOADER_H
#define PORTGATE_LOADER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "portgate.h"

#define PG_DEFAULT_PIN_PATH "/sys/fs/bpf/portgate"
#define PG_DEFAULT_CONF "/etc/portgate/portgate.conf"

/* Exit codes: a contract with automation scripts. */
enum pg_exit {
	PG_EXIT_OK = 0,
	PG_EXIT_RUNTIME = 1,
	PG_EXIT_USAGE = 2,
	PG_EXIT_CHANGED = 3, /* apply --exit-code: the live state changed */
};

/* Global options, parsed before or after the command. */
struct pg_opts {
	const char *pin_path;
	bool json;
	bool verbose;
};

struct portgate; /* the generated skeleton */

struct pg_state {
	struct portgate *skel; /* loaded; its maps are the pinned ones if any */
	int lock_fd;	       /* flock on the pin directory, -1 if none */
	bool pinned;	       /* maps live in pin_path (vs private to this process) */
	bool created;	       /* this call created the maps (and installed defaults) */
	bool frags;	       /* programs loaded with BPF_F_XDP_HAS_FRAGS */
};

enum pg_open_flags {
	PG_OPEN_CREATE = 1 << 0,	/* create and pin the maps when absent */
	PG_OPEN_PRIVATE_STATS = 1 << 1, /* own counters: never the live ones */
	PG_OPEN_PRIVATE = 1 << 3,	/* own maps (default policy): ignore any pins */
};

/*
 * Load the skeleton, reusing the maps pinned under o->pin_path. Without
 * PG_OPEN_CREATE and with nothing pinned, the maps are private to this
 * process and hold the default policy. Takes the pin-directory lock.
 */
int pg_state_open(const struct pg_opts *o, unsigned int flags, struct pg_state *st);
void pg_state_close(struct pg_state *st);

/* Replace every rule with the default policy (inbound SMTP and SNMP). */
int pg_rules_defaults(struct pg_state *st);

/* A command: argv[0] is the command name; returns an enum pg_exit. */
typedef int (*pg_cmd_fn)(const struct pg_opts *o, int argc, char **argv);

int cmd_test(const struct pg_opts *o, int argc, char **argv);

/* ---- loader-internal helpers (cli.c, state.c, ...) ---- */

/* Maps by index; pg_map_names[] holds their pin file names. */
enum pg_map_idx {
	PG_M_PORTS,
	PG_M_RULES,
	PG_M_RULE_STATS,
	PG_M_STATS,
	PG_M_EXEMPT_V4,
	PG_M_EXEMPT_V6,
	PG_M_EXEMPT_KINDS,
	PG_M_CTL,
	PG_M_TRACE_RINGS,
	PG_M_TRACE_CFG,
	PG_M_TRACE_RL,
	PG_M_EXEMPT_SUM,
	PG_M_EXEMPT_REFS,
	PG_M_EXEMPT_TAB_V4,
	PG_M_EXEMPT_TAB_V6,
	PG_M_COUNT,
};

extern const char *const pg_map_names[PG_M_COUNT];
struct bpf_object;
struct bpf_map;
/* Map i of a loaded or opened skeleton object. */
struct bpf_map *pg_skel_map(struct bpf_object *obj, int i);

#define PG_PIN_PROG_UPLINK "prog_uplink"
#define PG_PIN_PROG_ACCESS "prog_access"
#define PG_PIN_PROG_ACCESS_IN "prog_access_in" /* tc egress, inbound */
#define PG_NPROGS 3			       /* uplink, access, access_in */
#define PG_PIN_LINK_PREFIX "link_"

/*
 * Map fds of the pinned state, without loading the program: what every
 * map-only command uses, so one invocation costs a few syscalls.
 */
struct pg_maps {
	int fd[PG_M_COUNT];
	int lock_fd;
	__u32 gen;    /* the live policy generation when opened */
	bool created; /* the state did not exist and was created by this call */
};

enum pg_maps_flags {
	PG_MAPS_LOCK = 1 << 2, /* hold the exclusive pin-directory lock */
};

/* flags: PG_OPEN_CREATE, PG_MAPS_LOCK. -ENOENT (with a message) if not loaded. */
int pg_maps_open(const struct pg_opts *o, unsigned int flags, struct pg_maps *m);
void pg_maps_close(struct pg_maps *m);
/* The live policy generation, from the pg_ctl map. */
int pg_gen_read(int ctl_fd, __u32 *gen);

/* Pin directory: bpffs mount, lock, paths. */
int pg_lock_dir(const char *dir, bool create, bool excl, int *lock_fd);
int pg_pin_path(const struct pg_opts *o, const char *name, char *buf, size_t len);
bool pg_pinned(const struct pg_opts *o, const char *name);
/* With the lock held: load the program and pin maps and programs where absent. */
int pg_state_create_locked(const struct pg_opts *o);
/* Remove every pin and the directory (the last detach). */
int pg_state_remove(const struct pg_opts *o);

/* Messages: "portgate: ..." on stderr, one line. */
void pg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a failed system call (privileges on EPERM); returns err (< 0). */
int pg_sys_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* When set ("FILE:LINE"), every message names it first: see testconfig.c. */
extern const char *pg_err_where;
/* -errno -> exit code (usage errors are reported by the parsers). */
int pg_exit_code(int err);
extern bool pg_verbose;

/* Argument parsers shared by the commands; print the error, return -EINVAL. */
int pg_parse_proto(const char *s, __u8 *proto);
int pg_parse_dir(const char *s, __u8 *dir);
int pg_parse_ports(const char *s, __u16 *lo, __u16 *hi);
const char *pg_proto_name(unsigned int proto);
const char *pg_dir_name(unsigned int dir);
const char *pg_action_name(unsigned int action);

/* Tiny option scanner for the commands: see cli.c. */
struct pg_args {
	int argc;
	char **argv;
	int i;		 /* next argument */
	const char *cmd; /* for messages */
};
/* Next argument; *opt is the option name ("--dir") or NULL for a positional. */
int pg_args_next(struct pg_args *a, const char **opt, const char **val);
/* The value of the current option, or a usage error. */
int pg_args_value(struct pg_args *a, const char *opt, const char **val);
int pg_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rules on map fds (rules.c); defaults are kept there only. */
int pg_rules_defaults_maps(struct pg_maps *m);
int pg_rules_count(struct pg_maps *m, unsigned int *n);
/* Rule covering (dir, proto, port): rule id and first port, -ENOENT if none. */
int pg_rule_lookup(struct pg_maps *m, __u8 dir, __u8 proto, __u16 port, __u16 *first, __u16 *last);
int pg_rule_stats_reset(int rule_stats_fd, __u32 id);
struct pg_json;
/* Sorted rules with counters: JSON array `key` in j, or a table if j is NULL. */
int pg_rules_emit(struct pg_maps *m, struct pg_json *j, const char *key);
/* Sorted rules with counters summed over CPUs, one callback each (rules.c). */
typedef int (*pg_rule_cb)(const struct pg_rule *r, unsigned long long packets,
			  unsigned long long bytes, void *ctx);
int pg_rules_each(struct pg_maps *m, pg_rule_cb cb, void *ctx);
/* What a rule matches: "syn", "all-segments" (TCP), "all" (UDP). */
const char *pg_rule_match_name(const struct pg_rule *r);
/* "25" or "6660-6669". */
void pg_rule_ports(const struct pg_rule *r, char *buf, size_t len);

/* Exemption counts (exempt.c). */
int pg_exempt_count(const struct pg_maps *m, bool v6, unsigned int *n);
/* The exemption maps of m for the one writer (tools/lib/exempt_maps.h). */
struct pg_exm;
void pg_maps_exm(const struct pg_maps *m, struct pg_exm *x);

/* ---- shared with apply.c and save.c: the CLI's parsers are the file's ---- */

/* PROTO PORT[-PORT] [--dir in|out] [--monitor] [--all-segments] (rules.c). */
int pg_parse_rule(int argc, char **argv, bool allow_monitor, struct pg_rule *r);
/* Same rule: every field but the generation bits. */
bool pg_rule_equal(const struct pg_rule *a, const struct pg_rule *b);
/* The rule as `block` takes it: "tcp 25", "udp 160-162 --dir out --monitor". */
const char *pg_rule_args(const struct pg_rule *r, char *buf, size_t len);
/* The default rules (action drop); returns how many (at most cap written). */
unsigned int pg_rules_default_list(struct pg_rule *out, unsigned int cap);
/* Rules of generation gen: up to PG_MAX_RULES into out, ids into ids (may be NULL). */
int pg_gen_rules_read(struct pg_maps *m, __u32 gen, struct pg_rule *out, __u16 *ids,
		      unsigned int *n);
/* Empty generation gen: its port-table half, its bit in every slot; *dirty: was not empty. */
int pg_gen_rules_clear(struct pg_maps *m, __u32 gen, bool *dirty);
/*
 * Write rules into the (empty) generation gen: a rule identical to one of
 * another generation shares its slot and counters, a new one gets a free
 * slot with counters reset. *reused: how many shared a slot.
 */
int pg_gen_rules_write(struct pg_maps *m, __u32 gen, const struct pg_rule *rules, unsigned int n,
		       unsigned int *reused);

struct pg_exempt {
	bool v6;
	__u8 addr[16];
	__u8 plen; /* address prefix length */
	__u8 side; /* enum pg_side */
	__u8 dir;
	__u8 proto;   /* enum pg_proto or PG_EXEMPT_ALL_RULES */
	__u16 port;   /* the rule's port as given, resolved to its first port */
	bool broad;   /* --force, or disallow: prefixes shorter than PG_MIN_PLEN_* are fine */
	bool dynamic; /* --dynamic: added at run time, apply and save leave it alone */
};

/* One prefix of a command: the PREFIX argument or a line of --file. */
struct pg_exempt_ent {
	__u8 key[sizeof(struct pg_exempt_v6_key)]; /* zero-padded: sorts with memcmp */
	__u8 addr[16];
	__u8 plen;
	bool v6;
	bool skip;	   /* a duplicate, or (allow) already there: nothing to do */
	bool done;	   /* changed by this command: what a rollback undoes */
	__u8 flags;	   /* the value's PG_EXEMPT_F_* when it was found in the trie */
	unsigned int line; /* 0 for the PREFIX argument */
};

struct pg_exempt_list {
	struct pg_exempt_ent *e;
	size_t n, cap;
	const char *name; /* the file as messages name it; NULL: the PREFIX argument */
};

/*
 * Lines of a file ("-": stdin), bounded (lines.c): line holds at most
 * PG_FILE_MAX_LINE bytes plus the NUL, without the newline; *nul: the
 * line held a NUL byte. pg_lines_next returns 1 for a line, 0 at the end,
 * -E2BIG (a longer line), -EFBIG (the file passed PG_FILE_MAX_BYTES) or
 * -errno of a failed read, never a line cut short; after an error, stop.
 * pg_lines_open prints why it cannot open the file.
 */
#define PG_FILE_MAX_LINE 1024
#define PG_FILE_MAX_BYTES (128UL << 20)
struct pg_lines;
int pg_lines_open(const char *file, struct pg_lines **r);
int pg_lines_next(struct pg_lines *r, char *line, size_t *len, bool *nul);
void pg_lines_close(struct pg_lines *r);

/* (PREFIX | --file FILE) --subscriber|--peer [--rule P/PORT] [--dir D] [--dynamic] (exempt.c). */
int pg_parse_exempt(int argc, char **argv, struct pg_exempt *x, const char **file);
int pg_exempt_list_add(struct pg_exempt_list *l, const struct pg_exempt *x, unsigned int line);
/* Every prefix of FILE ("-": stdin), checked, with opt's options; FILE:LINE on errors. */
int pg_exempt_read(const char *file, const struct pg_exempt *opt, struct pg_exempt_list *l);
/* The trie key of x in generation gen; first = the rule's first port. */
void pg_exempt_key(__u32 gen, const struct pg_exempt *x, __u16 first, void *key, size_t *klen);
void pg_exempt_decode(const void *key, bool v6, struct pg_exempt *x, __u16 *port);
/* A prefix so short that allow wants --force for it. */
bool pg_exempt_broad(bool v6, unsigned int plen);

/* Attachments (attach.c). */
enum pg_role { PG_ROLE_UPLINK, PG_ROLE_ACCESS, PG_ROLE_UNKNOWN };
extern const char *const pg_role_names[];

struct pg_attach_req {
	const char *ifname;
	enum pg_role role;
	bool native;	 /* --mode native (the default) or generic */
	bool mode_given; /* without --mode any mode of an existing link is fine */
	bool force;
	bool outbound_only; /* access: XDP ingress only, no tc egress half */
	bool file_checked;  /* apply checked the no-double-judging rule for its file */
};

/* Why --role is required: the one line an attach without it prints. */
#define PG_ROLE_HELP                                                                               \
	"expected --role uplink (XDP ingress of a network-facing NIC: filters inbound) or --role " \
	"access (subscriber-facing NIC: XDP ingress filters outbound, tc egress inbound)"

/* IFACE --role uplink|access [--outbound-only] [--mode native|generic] [--force]. */
int pg_parse_attach(int argc, char **argv, struct pg_attach_req *r);
/* With the lock held and the programs pinned: attach, or switch the role. */
int pg_attach_locked(const struct pg_opts *o, const struct pg_attach_req *r, int ifindex);

/* A pinned link of the pin path. */
struct pg_link {
	char pin[64];	      /* file name under the pin path */
	unsigned int ifindex; /* 0: the interface went away (defunct) */
	enum pg_role role;
	bool native;
	bool outbound_only; /* access without its tc egress half */
};
/* Every link pin; *out is malloc'ed. */
int pg_links_list(const struct pg_opts *o, struct pg_link **out, unsigned int *n);
/* Detach and unpin one link (a file name under the pin path) and forget it. */
int pg_link_remove(const struct pg_opts *o, const char *pin);
/* The same for the link of ifindex in this network namespace. */
int pg_link_remove_ifindex(const struct pg_opts *o, int ifindex);
/*
 * One policy command on the maps m, argv as it follows `portgate`
 * (rules.c: block, unblock, defaults; exempt.c: allow, disallow), with
 * the commands' own parsers. 0 or -errno; the message is printed.
 */
int pg_rules_cmd_maps(struct pg_maps *m, int argc, char **argv);
int pg_exempt_cmd_maps(struct pg_maps *m, int argc, char **argv);

/* Minimal JSON writer (json.c): pretty, two-space indents. */
struct pg_json {
	FILE *f;
	int depth;
	bool first[16];
	bool line; /* one line, no indents (pg_json_init_line) */
};
void pg_json_init(struct pg_json *j, FILE *f);
/* Same writer, the whole value on one line: one object per line streams. */
void pg_json_init_line(struct pg_json *j, FILE *f);
void pg_json_obj(struct pg_json *j, const char *key);
void pg_json_arr(struct pg_json *j, const char *key);
void pg_json_end_obj(struct pg_json *j);
void pg_json_end_arr(struct pg_json *j);
void pg_json_str(struct pg_json *j, const char *key, const char *v);
void pg_json_u64(struct pg_json *j, const char *key, unsigned long long v);
void pg_json_f64(struct pg_json *j, const char *key, double v);
void pg_json_bool(struct pg_json *j, const char *key, bool v);
void pg_json_null(struct pg_json *j, const char *key);
void pg_json_done(struct pg_json *j);

int cmd_attach(const struct pg_opts *o, int argc, char **argv);
int cmd_detach(const struct pg_opts *o, int argc, char **argv);
int cmd_status(const struct pg_opts *o, int argc, char **argv);
int cmd_block(const struct pg_opts *o, int argc, char **argv);
int cmd_unblock(const struct pg_opts *o, int argc, char **argv);
int cmd_rules(const struct pg_opts *o, int argc, char **argv);
int cmd_defaults(const struct pg_opts *o, int argc, char **argv);
int cmd_allow(const struct pg_opts *o, int argc, char **argv);
int cmd_disallow(const struct pg_opts *o, int argc, char **argv);
int cmd_exemptions(const struct pg_opts *o, int argc, char **argv);
int cmd_stats(const struct pg_opts *o, int argc, char **argv);
int cmd_apply(const struct pg_opts *o, int argc, char **argv);
int cmd_save(const struct pg_opts *o, int argc, char **argv);
int cmd_metrics(const struct pg_opts *o, int argc, char **argv);

/* Reason counters of pg_stats: per CPU into percpu[ncpus], summed into sum[PG_R_COUNT]. */
int pg_read_stats(int fd, int ncpus, struct pg_stats *percpu, struct pg_counter *sum);
/* As pg_read_stats; per_slot[PG_MAX_IFSLOTS] (may be NULL) gets each interface slot's sums. */
int pg_read_stats_slots(int fd, int ncpus, struct pg_stats *percpu, struct pg_stats *per_slot,
			struct pg_counter *sum);
/* A slot's interface: "eth0", "ifindex 7" (another netns), "other"; buf holds IF_NAMESIZE + 16. */
const char *pg_slot_name(__u32 slot, char *buf);
/* The slot counted a packet. */
bool pg_slot_used(const struct pg_stats *st);

/* One interface portgate is attached to (attach.c). */
struct pg_attachment {
	char ifname[16]; /* the name it had if the interface went away */
	unsigned int ifindex;
	const char *role; /* uplink, access, unknown */
	const char *mode; /* native, generic, none, ... */
	unsigned int prog_id;
	unsigned int link_id;
	unsigned int tc_prog_id; /* the tc egress filter's program, 0 = none */
	const char *in, *out;	 /* the hook judging each direction here, NULL = none */
	bool gone; /* the interface was deleted: mode "gone", the link filters nothing */
};
typedef int (*pg_attachment_cb)(const struct pg_attachment *a, void *ctx);
/* Every pinned link of o->pin_path in this network namespace; stops at the first non-zero return. */
int pg_attachments_each(const struct pg_opts *o, pg_attachment_cb cb, void *ctx);
/* max_entries of a map fd, 0 if unknown (attach.c). */
__u32 pg_map_capacity(int fd);

/* ---- Shared hosts: pin names, network namespaces, metadata (meta.c) ---- */

/* pg_state_open: exclusive lock, every map pinned, no defaults (upgrade.c). */
#define PG_OPEN_UPGRADE (1 << 5)
/* pg_maps_open: also when the pinned map ABI differs (status shows it). */
#define PG_MAPS_ANY_ABI (1 << 4)

#define PG_PIN_META PG_STR(PG_MAP_META)

/* The network namespace a command runs in. */
struct pg_netns {
	__u64 id;  /* cookie, or the inode where the kernel has no cookie */
	__u64 ino; /* nsfs inode */
};
int pg_netns_self(struct pg_netns *ns);

/* link_<netns id>_<ifindex>: a link pin's name says whose it is. */
int pg_link_pin_name(const struct pg_netns *ns, unsigned int ifindex, char *buf, size_t len);
bool pg_link_pin_parse(const char *name, __u64 *netns_id, __u32 *ifindex);
/* A name portgate creates in a pin directory (maps, programs, links, metadata). */
bool pg_pin_is_ours(const char *name);

/* pg_meta, mmapped: recs[0] is the head, recs[1..] link records. */
struct pg_meta {
	int fd;
	struct pg_meta_rec *recs;
};
/* -ENOENT (silently) if absent and !create. */
int pg_meta_open(const struct pg_opts *o, bool create, struct pg_meta *m);
void pg_meta_close(struct pg_meta *m);
struct pg_meta_link *pg_meta_link_find(struct pg_meta *m, __u64 netns_id, __u32 ifindex);
int pg_meta_link_set(struct pg_meta *m, const struct pg_meta_link *l);
void pg_meta_link_del(struct pg_meta *m, __u64 netns_id, __u32 ifindex);

/* Build id of this binary's BPF object (state.c); 0 never happens. */
__u64 pg_build_id(void);
/* One warning line on stderr when the running build is not this binary's. */
void pg_warn_build(const struct pg_opts *o, const char *what);
/* Program fds of a loaded state: 0 uplink, 1 access (XDP), 2 access_in (tc). */
int pg_state_prog_fd(struct pg_state *st, int role);

int cmd_upgrade(const struct pg_opts *o, int argc, char **argv);
/* The running kernel (kernel.c): release and the BPF features it offers. */
struct pg_kernel {
	char release[65];
	int frags, xdp_link, tc, tcx; /* 1 yes, 0 no, -1 cannot tell */
};
void pg_kernel_probe(struct pg_kernel *k);
void pg_kernel_print(FILE *f, const struct pg_kernel *k);
void pg_kernel_json(struct pg_json *j, const struct pg_kernel *k);
/* libbpf print hook: remembers why the verifier refused a program. */
void pg_kernel_note_libbpf(const char *fmt, va_list ap);
/* After a failed command: one line naming the kernel whose verifier refused. */
void pg_kernel_verifier_summary(void);

/*
 * tc.c: the tc egress filter of an access interface (clsact, PG_TC_HANDLE
 * and PG_TC_PRIO). pg_tc_query: -ENOENT if there is none.
 */
int pg_tc_attach(const char *ifname, int ifindex, int prog_fd);
int pg_tc_detach(int ifindex);
int pg_tc_query(int ifindex, __u32 *prog_id);

/* trace.c: `portgate trace` (a tracer slot, its ring buffer, the output). */
int cmd_trace(const struct pg_opts *o, int argc, char **argv);

/* Parsers of allow/disallow (exempt.c), for other commands' filters. */
int pg_parse_prefix_arg(const char *s, bool *v6, __u8 addr[16], __u8 *plen);
int pg_parse_rule_arg(const char *s, __u8 *proto, __u16 *port);

/*
 * syslog.c: one message to the local syslog socket, /dev/log or the
 * socket named by PORTGATE_SYSLOG_SOCKET (tests). RFC 3164 framing, ident
 * "portgate". 0 or -errno; never prints.
 */
#define PG_SYSLOG_ENV "PORTGATE_SYSLOG_SOCKET"
int pg_syslog(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * audit.c: the audit line of a state-changing command (argv as it follows
 * `portgate`, rc its exit code). Called by the dispatcher only.
 */
void pg_audit(const struct pg_opts *o, int argc, char **argv, int rc);

/*
 * State checker (check.c, `portgate check`): every inconsistency of the
 * maps (pg_check_maps) and of the pins (programs on the pinned maps,
 * links on live interfaces) is one report() call.
 */
enum pg_check_flags {
	PG_CHECK_IDLE = 1 << 0,	  /* no apply between its steps: the other generation is empty */
	PG_CHECK_REPAIR = 1 << 1, /* rewrite kinds, host hashes and summary from the tries */
};
typedef void (*pg_check_report_fn)(const char *line, void *ctx);
struct pg_check_sum {
	unsigned int problems;
	__u32 gen; /* live generation */
	unsigned int rules;
	unsigned long exempt_v4, exempt_v6;
};
int pg_check_maps(struct pg_maps *m, unsigned int flags, pg_check_report_fn report, void *ctx,
		  struct pg_check_sum *sum);
int pg_check_pins(const struct pg_opts *o, const struct pg_maps *m, pg_check_report_fn report,
		  void *ctx, unsigned int *problems, unsigned int *links);
int cmd_check(const struct pg_opts *o, int argc, char **argv);

#endif /* PORTGATE_LOADER_H */
