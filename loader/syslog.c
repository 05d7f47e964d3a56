// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A tiny syslog sender: one datagram per message to /dev/log (journald or
 * rsyslog), RFC 3164 framing, ident "portgate". libc's openlog() cannot be
 * pointed at another socket, and the tests read the audit lines back from
 * a socket of their own: PORTGATE_SYSLOG_SOCKET names it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "loader.h"

int pg_syslog(int pri, const char *fmt, ...)
{
	const char *path = getenv(PG_SYSLOG_ENV);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char msg[2048], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	int fd, n, err = 0;

	if (!path || !path[0])
		path = "/dev/log";
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(msg, sizeof(msg), "<%d>%s portgate[%d]: ", pri, stamp, (int)getpid());
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = -errno;
	close(fd);
	return err;
}
