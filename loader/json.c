// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Minimal JSON writer: objects, arrays, strings, numbers; pretty-printed. */
#include <math.h>

#include "loader.h"

void pg_json_init(struct pg_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = true;
	j->line = false;
}

void pg_json_init_line(struct pg_json *j, FILE *f)
{
	pg_json_init(j, f);
	j->line = true;
}

static void pg_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Separator, indentation and key before a value. */
static void pg_json_key(struct pg_json *j, const char *key)
{
	if (j->depth > 0 && j->line) {
		fputs(j->first[j->depth] ? "" : ", ", j->f);
	} else if (j->depth > 0) {
		fputs(j->first[j->depth] ? "\n" : ",\n", j->f);
		fprintf(j->f, "%*s", 2 * j->depth, "");
	}
	j->first[j->depth] = false;
	if (key) {
		pg_json_string(j->f, key);
		fputs(": ", j->f);
	}
}

static void pg_json_open(struct pg_json *j, const char *key, char c)
{
	pg_json_key(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < (int)(sizeof(j->first) / sizeof(j->first[0])))
		j->depth++;
	j->first[j->depth] = true;
}

static void pg_json_close(struct pg_json *j, char c)
{
	bool empty = j->first[j->depth];

	j->depth--;
	if (!empty && !j->line)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(c, j->f);
}

void pg_json_obj(struct pg_json *j, const char *key)
{
	pg_json_open(j, key, '{');
}

void pg_json_arr(struct pg_json *j, const char *key)
{
	pg_json_open(j, key, '[');
}

void pg_json_end_obj(struct pg_json *j)
{
	pg_json_close(j, '}');
}

void pg_json_end_arr(struct pg_json *j)
{
	pg_json_close(j, ']');
}

void pg_json_str(struct pg_json *j, const char *key, const char *v)
{
	pg_json_key(j, key);
	pg_json_string(j->f, v);
}

void pg_json_u64(struct pg_json *j, const char *key, unsigned long long v)
{
	pg_json_key(j, key);
	fprintf(j->f, "%llu", v);
}

void pg_json_f64(struct pg_json *j, const char *key, double v)
{
	pg_json_key(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.1f", v);
	else
		fputs("null", j->f);
}

void pg_json_bool(struct pg_json *j, const char *key, bool v)
{
	pg_json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void pg_json_null(struct pg_json *j, const char *key)
{
	pg_json_key(j, key);
	fputs("null", j->f);
}

void pg_json_done(struct pg_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
