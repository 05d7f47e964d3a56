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

#endif /* PORTGATE_TESTLIB_H */
