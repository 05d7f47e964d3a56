/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Helpers shared by the Criterion suites. */
#ifndef PORTGATE_TESTLIB_H
#define PORTGATE_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Run a shell command line. Up to cap - 1 bytes of its standard output go
 * into out (NUL-terminated) when out is given; the rest is drained, so the
 * command never blocks on a full pipe. Returns its exit status, or -1 if
 * it could not run or did not exit normally.
 */
int tl_vsh(char *out, size_t cap, const char *fmt, va_list ap);
int tl_sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * One command's outcome: exit status (128 + signal when killed) and what it
 * wrote, NUL-terminated and cut at the buffer's size.
 */
#define TL_OUT_MAX (512 * 1024)

struct tl_run {
	int code;
	char out[TL_OUT_MAX];
	char err[16384];
};

/* Read fd from its start into buf (cap bytes with the NUL), then close it. */
void tl_slurp(int fd, char *buf, size_t cap);

/*
 * Run argv with `in` on its standard input and `env` ("NAME=value") added to
 * its environment, both optional; stdout and stderr into r. Returns the exit
 * status, or -1 when it could not be started (r->code is then -1 too).
 */
int tl_run_argv(struct tl_run *r, char *const argv[], const char *in, const char *env);

/*
 * nsenter NS_OPT BIN --pin-path PIN ARGS..., ARGS being fmt split at spaces:
 * a portgate command inside a test's network namespace with its own pins.
 */
int tl_vpg(struct tl_run *r, const char *ns_opt, const char *bin, const char *pin, const char *in,
	   const char *env, const char *fmt, va_list ap);

#endif /* PORTGATE_TESTLIB_H */
