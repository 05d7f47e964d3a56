// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Helpers shared by the Criterion suites: see testlib.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

void tl_slurp(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
}

/* memfds, not pipes: the child never blocks on a reader, however much it writes. */
int tl_run_argv(struct tl_run *r, char *const argv[], const char *in, const char *env)
{
	int ofd = memfd_create("out", 0), efd = memfd_create("err", 0), ifd = memfd_create("in", 0);
	size_t len = in ? strlen(in) : 0;
	pid_t pid = -1;
	int st;

	r->code = -1;
	r->out[0] = r->err[0] = '\0';
	if (ofd < 0 || efd < 0 || ifd < 0 || (len && write(ifd, in, len) != (ssize_t)len))
		goto out;
	lseek(ifd, 0, SEEK_SET);
	pid = fork();
	if (!pid) {
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		if (env)
			putenv((char *)env);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
out:
	if (ifd >= 0)
		close(ifd);
	if (ofd >= 0)
		tl_slurp(ofd, r->out, sizeof(r->out));
	if (efd >= 0)
		tl_slurp(efd, r->err, sizeof(r->err));
	return r->code;
}

int tl_vpg(struct tl_run *r, const char *ns_opt, const char *bin, const char *pin, const char *in,
	   const char *env, const char *fmt, va_list ap)
{
	char line[2048], *argv[64], *tok, *save;
	int n = 0;

	vsnprintf(line, sizeof(line), fmt, ap);
	argv[n++] = "nsenter";
	argv[n++] = (char *)ns_opt;
	argv[n++] = (char *)bin;
	argv[n++] = "--pin-path";
	argv[n++] = (char *)pin;
	for (tok = strtok_r(line, " ", &save); tok && n < 63; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	return tl_run_argv(r, argv, in, env);
}
