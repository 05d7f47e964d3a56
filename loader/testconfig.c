// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `portgate test --config FILE`: the policy of a file, for what-if runs.
 * One policy command per line, exactly as it would follow `portgate`:
 *
 *   block tcp 8080 --dir in
 *   allow 192.0.2.0/24 --peer --rule udp/161   # the NMS
 *
 * The commands are replayed, with their own parsers (rules.c, exempt.c),
 * onto maps private to this process that start as a fresh state does
 * (the default policy), so the file means what running its lines on a
 * new BNG would mean. Nothing pinned is read or changed. '#' starts a
 * comment; blank lines are ignored. Any error names FILE:LINE.
 *
 * This is the interim format; once `portgate apply` lands, its parser
 * replaces read_config() here and the rest stays.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "testrun.h"
#include "portgate.skel.h"

#define TR_CONFIG_MAX_ARGS 16

typedef int (*tr_policy_cmd)(struct pg_maps *m, int argc, char **argv);

static const struct {
	const char *name;
	tr_policy_cmd fn;
} tr_config_cmds[] = {
	{"block", pg_rules_cmd_maps},	  {"unblock", pg_rules_cmd_maps},
	{"defaults", pg_rules_cmd_maps},  {"allow", pg_exempt_cmd_maps},
	{"disallow", pg_exempt_cmd_maps},
};

/* Split a line at whitespace (no quoting: no argument holds a space). */
static int split(char *s, char **argv, int max)
{
	int argc = 0;

	while (*s) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		if (argc == max)
			return -1;
		argv[argc++] = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
	return argc;
}

/* One line: a policy command on the maps; 0 or -errno (printed). */
static int run_line(struct pg_maps *m, char *line)
{
	char *argv[TR_CONFIG_MAX_ARGS + 1];
	size_t i;
	int argc;

	line[strcspn(line, "#")] = '\0';
	argc = split(line, argv, TR_CONFIG_MAX_ARGS);
	if (argc < 0)
		return pg_usage_err(NULL, "more than %d words (expected one command per line)",
				    TR_CONFIG_MAX_ARGS);
	if (!argc)
		return 0;
	argv[argc] = NULL;
	for (i = 0; i < sizeof(tr_config_cmds) / sizeof(tr_config_cmds[0]); i++)
		if (!strcmp(argv[0], tr_config_cmds[i].name))
			return tr_config_cmds[i].fn(m, argc, argv);
	return pg_usage_err(
		NULL,
		"'%s' is not a policy command (expected block, unblock, allow, disallow or defaults)",
		argv[0]);
}

/* Every line of file onto m; stops at the first error. */
static int read_config(const char *file, struct pg_maps *m)
{
	FILE *f = fopen(file, "r");
	char *line = NULL, where[PATH_MAX + 16];
	unsigned int no = 0;
	size_t cap = 0;
	ssize_t len;
	int err = 0;

	if (!f) {
		err = -errno;
		pg_err("test: cannot open config '%s': %s", file, strerror(-err));
		return -EINVAL;
	}
	while (!err && (len = getline(&line, &cap, f)) >= 0) {
		snprintf(where, sizeof(where), "%s:%u", file, ++no);
		pg_err_where = where;
		if (strlen(line) != (size_t)len)
			err = pg_usage_err(NULL, "bad line: a NUL byte (expected a command)");
		else
			err = run_line(m, line);
		pg_err_where = NULL;
	}
	if (!err && ferror(f)) {
		err = -errno;
		pg_err("test: cannot read config '%s': %s", file, strerror(-err));
	}
	free(line);
	fclose(f);
	/* a bad line, an overlap, a missing rule: the file's fault */
	return err == -EEXIST || err == -ENOENT ? -EINVAL : err;
}

int tr_policy_config(const struct pg_opts *o, const char *file, struct tr_policy *p)
{
	struct pg_maps m = {.lock_fd = -1};
	int i, err;

	memset(p, 0, sizeof(*p));
	err = pg_state_open(o, PG_OPEN_PRIVATE | PG_OPEN_PRIVATE_STATS, &p->st);
	if (err)
		return err == -EINVAL ? -EIO : err; /* pg_state_open said why */
	p->loaded = true;
	for (i = 0; i < PG_M_COUNT; i++) {
		struct bpf_map *map = pg_skel_map(p->st.skel->obj, i);

		m.fd[i] = map ? bpf_map__fd(map) : -1;
	}
	err = pg_gen_read(m.fd[PG_M_CTL], &m.gen);
	if (!err)
		err = read_config(file, &m);
	if (err) {
		tr_policy_close(p);
		return err;
	}
	p->kind = "config";
	snprintf(p->label, sizeof(p->label), "config file %s (private maps; live state untouched)",
		 file);
	return 0;
}
