/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Internal API of the portgate loader. One file per concern:
 *   cli.c      argument parsing, command table, main()
 *   state.c    pin directory, lock, skeleton load with pinned-map reuse
 *   attach.c   attach/detach/status (bpf_link per interface)
 *   rules.c    block/unblock/rules/defaults
 *   exempt.c   allow/disallow/exemptions
 *   stats.c    stats, --watch, --reset
 *   metrics.c  `portgate metrics`: Prometheus text format, --output for the textfile collector
 *   testrun.c  `portgate test`: frames through BPF_PROG_TEST_RUN
 *   json.c     minimal JSON writer
 * Functions return 0 or -errno; only cli.c turns them into exit codes.
 */
#ifndef PORTGATE_LOADER_H
#define PORTGATE_LOADER_H

#include <stdbool.h>
#include <stdio.h>

#include "portgate.h"

#define PG_DEFAULT_PIN_PATH "/sys/fs/bpf/portgate"

/* Exit codes: a contract with automation scripts. */
enum pg_exit {
	PG_EXIT_OK = 0,
	PG_EXIT_RUNTIME = 1,
	PG_EXIT_USAGE = 2,
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
	PG_M_COUNT,
};

extern const char *const pg_map_names[PG_M_COUNT];
struct bpf_object;
struct bpf_map;
/* Map i of a loaded or opened skeleton object. */
struct bpf_map *pg_skel_map(struct bpf_object *obj, int i);

#define PG_PIN_PROG_UPLINK "prog_uplink"
#define PG_PIN_PROG_ACCESS "prog_access"
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
/* "25" or "6660-6669". */
void pg_rule_ports(const struct pg_rule *r, char *buf, size_t len);

/* Exemption counts (exempt.c). */
int pg_exempt_count(const struct pg_maps *m, bool v6, unsigned int *n);

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
};
void pg_json_init(struct pg_json *j, FILE *f);
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
int cmd_metrics(const struct pg_opts *o, int argc, char **argv);

/* Reason counters of pg_stats: per CPU into percpu[ncpus], summed into sum[PG_R_COUNT]. */
int pg_read_stats(int fd, int ncpus, struct pg_stats *percpu, struct pg_counter *sum);

/* One interface portgate is attached to (attach.c). */
struct pg_attachment {
	char ifname[16]; /* "(gone)" if the interface went away */
	unsigned int ifindex;
	const char *role; /* uplink, access, unknown */
	const char *mode; /* native, generic, none, ... */
	unsigned int prog_id;
	unsigned int link_id;
};
typedef int (*pg_attachment_cb)(const struct pg_attachment *a, void *ctx);
/* Every pinned link of o->pin_path; stops at the first non-zero return. */
int pg_attachments_each(const struct pg_opts *o, pg_attachment_cb cb, void *ctx);
/* max_entries of a map fd, 0 if unknown (attach.c). */
__u32 pg_map_capacity(int fd);

/*
 * State checker (check.c, `portgate check`): every inconsistency of the
 * maps (pg_check_maps) and of the pins (programs on the pinned maps,
 * links on live interfaces) is one report() call.
 */
enum pg_check_flags {
	PG_CHECK_IDLE = 1 << 0,	  /* no apply between its steps: the other generation is empty */
	PG_CHECK_REPAIR = 1 << 1, /* rewrite the exemption-kind counts from the tries */
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
