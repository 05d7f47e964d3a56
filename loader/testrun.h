/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `portgate test`, internal: the frames to run (capture.c reads them from
 * a capture of any link type that carries IP, or from hex) and the policy
 * they run against (testrun.c: live or default; testconfig.c: a file).
 */
#ifndef PORTGATE_TESTRUN_H
#define PORTGATE_TESTRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "loader.h"

/*
 * Largest frame run: a 9000-byte jumbo MTU plus Ethernet, two VLAN tags
 * and slack, the same ceiling the frame builder and lab use. No BNG port
 * hands XDP a longer frame; a capture's longer ones are GRO/TSO
 * super-frames (the host merged segments after XDP), judged on their
 * headers: their first TR_MAX_FRAME bytes run.
 */
#define TR_MAX_FRAME 9216
#define TR_MIN_FRAME 14 /* an Ethernet header */

struct tr_frame {
	uint8_t *data;	   /* Ethernet frame run; NULL when skipped */
	uint32_t len;	   /* bytes run through the program */
	uint32_t cap_len;  /* bytes captured (after re-framing) */
	uint32_t wire_len; /* length on the wire (after re-framing) */
	unsigned int no;   /* position in the input, from 1 */
	bool outgoing;	   /* Linux cooked: sent by the capturing host */
	char *skip;	   /* why the frame was not run, or NULL */
};

struct tr_input {
	struct tr_frame *v;
	unsigned int n, cap;
	const char *link; /* the capture's link type name; NULL for hex */
	bool reframed;	  /* frames were given an Ethernet header */
	unsigned int run; /* frames that run */
	unsigned int skipped, truncated;
};

/*
 * One hex frame (always strict: a hand-typed frame of a bad length is a
 * mistake), or a whole pcap/pcapng. Without strict a frame that cannot
 * run is kept as skipped (reported, counted) and a frame longer than
 * TR_MAX_FRAME runs truncated; with strict either is a usage error naming
 * the frame. Errors are printed; -EINVAL is the input's fault.
 */
int tr_read_hex(struct tr_input *in, const char *s, unsigned int no);
int tr_read_pcap(struct tr_input *in, const char *path, bool strict);
void tr_free_input(struct tr_input *in);

/*
 * describe() of `portgate test` for any frame (trace.c): "vlan 100 pppoe
 * ipv4 tcp 198.51.100.10:40000 > 100.64.0.10:25", from the XDP program's
 * own parser; "(captured len of wire_len bytes)" when the frame was cut.
 * Returns the parser's result.
 */
int tr_describe_frame(const uint8_t *data, uint32_t len, uint32_t wire_len, char *desc, size_t n);

/*
 * A policy source: the maps the frames run against, loaded privately or
 * shared with the live state, with private counters either way.
 */
struct tr_policy {
	struct pg_state st;
	bool loaded;
	const char *kind; /* "live", "default", "config" (JSON summary) */
	char label[160];  /* the text output's first line */
};

/* The live policy under o->pin_path, or the default one if nothing is pinned. */
int tr_policy_live(const struct pg_opts *o, struct tr_policy *p);
/*
 * The policy of a configuration file (testconfig.c): the `portgate apply`
 * format, read by apply's own reader, its rules and exemptions written
 * into private maps. The live state is never touched.
 */
int tr_policy_config(const struct pg_opts *o, const char *file, struct tr_policy *p);
void tr_policy_close(struct tr_policy *p);

#endif /* PORTGATE_TESTRUN_H */
