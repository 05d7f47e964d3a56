// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The audit log: every command that changes state leaves one line in
 * syslog/the journal (LOG_AUTHPRIV, ident portgate): the command as typed,
 * in the CLI's own grammar, who ran it and how it ended. cli.c calls it
 * once, from the dispatcher, for the commands its table marks.
 *
 *   audit: uid=0 auid=1000 sudo_user=alice pin_path=/sys/fs/bpf/portgate
 *          cmd="unblock tcp 25" result=ok
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "loader.h"

/* An argument as the shell would need it: bare when safe, else '...' quoted. */
static void pg_audit_arg(char *buf, size_t n, const char *s)
{
	size_t len = strlen(buf);
	bool plain = *s != 0;
	const char *p;

	for (p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%",
			    *p))
			plain = false;
	if (plain) {
		snprintf(buf + len, n - len, "%s%s", len ? " " : "", s);
		return;
	}
	snprintf(buf + len, n - len, "%s'", len ? " " : "");
	for (p = s; *p && strlen(buf) + 6 < n; p++) {
		len = strlen(buf);
		if (*p == '\'')
			snprintf(buf + len, n - len, "'\\''");
		else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			snprintf(buf + len, n - len, "?");
		else
			snprintf(buf + len, n - len, "%c", *p);
	}
	len = strlen(buf);
	snprintf(buf + len, n - len, "'");
}

/* The login uid survives sudo and su: who really sat at the keyboard. */
static long pg_loginuid(void)
{
	FILE *f = fopen("/proc/self/loginuid", "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1 || v == 4294967295L)
		v = -1;
	fclose(f);
	return v;
}

void pg_audit(const struct pg_opts *o, int argc, char **argv, int rc)
{
	const char *sudo = getenv("SUDO_USER");
	const char *result = rc == PG_EXIT_OK	   ? "ok"
			     : rc == PG_EXIT_USAGE ? "usage-error (nothing changed)"
						   : "failed";
	char cmd[1024] = "", who[160];
	long auid = pg_loginuid();
	int i;

	for (i = 0; i < argc; i++)
		pg_audit_arg(cmd, sizeof(cmd), argv[i]);
	snprintf(who, sizeof(who), "uid=%u", (unsigned int)getuid());
	if (auid >= 0)
		snprintf(who + strlen(who), sizeof(who) - strlen(who), " auid=%ld", auid);
	if (sudo && sudo[0]) {
		char q[96] = "";

		pg_audit_arg(q, sizeof(q), sudo);
		snprintf(who + strlen(who), sizeof(who) - strlen(who), " sudo_user=%s", q);
	}
	/* an audit line that cannot be written must not fail the change: stderr says so */
	if (pg_syslog(LOG_AUTHPRIV | LOG_NOTICE, "audit: %s pin_path=%s cmd=\"%s\" result=%s", who,
		      o->pin_path, cmd, result) &&
	    pg_verbose)
		pg_err("audit: cannot write to syslog");
}
