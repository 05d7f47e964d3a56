/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Internal API of the portgate loader. One file per concern:
 *   cli.c      argument parsing, command table, main()
 *   state.c    pin directory, lock, skeleton load with pinned-map reuse
 *   attach.c   attach/detach/status (bpf_link per interface)
 *   rules.c    block/unblock/rules/defaults
 *   exempt.c   allow/disallow/exemptions
 *   stats.c    stats, --watch, --reset
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

#endif /* PORTGATE_LOADER_H */
