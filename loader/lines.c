// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The one line reader for files portgate reads: `allow --file` lists and
 * configuration files (apply, test --config). Read in blocks and cut by
 * memchr, so a line is never longer than PG_FILE_MAX_LINE bytes in
 * memory, however long it is in the file (no getline: a newline-less
 * input of gigabytes would be read whole before its length is seen), and
 * a file never more than PG_FILE_MAX_BYTES.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

struct pg_lines {
	FILE *f;
	size_t pos, end;
	unsigned long total; /* bytes of the file so far */
	char buf[65536];
};

int pg_lines_open(const char *file, struct pg_lines **out)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	struct pg_lines *r;
	int err;

	*out = NULL;
	/* not pg_sys_err: EACCES on a file is no missing CAP_BPF */
	if (!f) {
		err = -errno;
		pg_err("cannot open '%s': %s", file, strerror(-err));
		return err;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		if (f != stdin)
			fclose(f);
		return pg_sys_err(-ENOMEM, "cannot read '%s'", file);
	}
	r->f = f;
	*out = r;
	return 0;
}

int pg_lines_next(struct pg_lines *r, char *line, size_t *len, bool *nul)
{
	size_t take;
	char *p, *nl;

	*len = 0;
	*nul = false;
	for (;;) {
		if (r->pos == r->end) {
			errno = 0;
			r->end = fread(r->buf, 1, sizeof(r->buf), r->f);
			r->pos = 0;
			if (!r->end && ferror(r->f))
				return errno ? -errno : -EIO;
			if (!r->end) {
				line[*len] = '\0';
				return *len > 0;
			}
		}
		p = r->buf + r->pos;
		nl = memchr(p, '\n', r->end - r->pos);
		take = nl ? (size_t)(nl - p) : r->end - r->pos;
		r->total += take + !!nl;
		if (r->total > PG_FILE_MAX_BYTES)
			return -EFBIG;
		if (*len + take > PG_FILE_MAX_LINE)
			return -E2BIG;
		*nul |= memchr(p, '\0', take) != NULL;
		memcpy(line + *len, p, take);
		*len += take;
		r->pos += take + !!nl;
		if (nl) {
			line[*len] = '\0';
			return 1;
		}
	}
}

void pg_lines_close(struct pg_lines *r)
{
	if (!r)
		return;
	if (r->f != stdin)
		fclose(r->f);
	free(r);
}
