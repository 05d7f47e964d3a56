// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Helpers shared by the Criterion suites: see testlib.h. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testlib.h"

int tl_vsh(char *out, size_t cap, const char *fmt, va_list ap)
{
	char *cmd, sink[4096];
	size_t len = 0, r;
	FILE *p;
	int st;

	if (vasprintf(&cmd, fmt, ap) < 0)
		return -1;
	p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return -1;
	if (out && cap) {
		while (len + 1 < cap && (r = fread(out + len, 1, cap - 1 - len, p)) > 0)
			len += r;
		out[len] = '\0';
	}
	while (fread(sink, 1, sizeof(sink), p) > 0)
		;
	st = pclose(p);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tl_sh(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tl_vsh(out, cap, fmt, ap);
	va_end(ap);
	return rc;
}
