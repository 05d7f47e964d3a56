// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What operators read and type cannot drift from the binary:
 *  - portgate(8) (build/portgate.8, rendered with man): every command of
 *    `portgate --help` has an entry whose synopsis is its usage line, every
 *    option of `portgate CMD --help` is described in that entry (below
 *    the synopsis; -j and the other global options once, globally), every
 *    global option in GLOBAL OPTIONS, every reason in REASONS; every entry
 *    names a real command; --version prints the VERSION file.
 *  - the bash completion (completion/portgate), sourced into bash with
 *    COMP_WORDS set: commands, each command's options as its --help
 *    prints them, interfaces, tcp/udp, existing rules and exemptions.
 *  - the conffile (contrib/portgate.conf): every commented command line
 *    runs as a portgate command (in a private netns with eth0/eth1).
 *  - contrib/ (Prometheus rules, Grafana dashboard): every portgate_*
 *    metric they use is one `portgate metrics` writes.
 * Private netns and pin path carry the pid; torn down in .fini.
 */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portgate.h"
#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"
#define BIG (256 * 1024)

static char man[BIG], help[16384], pin[64], ns[64];

/* The man page as text, one line per paragraph line (no wrapping). */
static void render_man(void)
{
	cr_assert_eq(tl_sh(man, sizeof(man),
			   "MANWIDTH=1000 man -E ascii -l " PG_BUILD_DIR
			   "/portgate.8 2>/dev/null | col -bx"),
		     0, "cannot render " PG_BUILD_DIR "/portgate.8 (make man)");
	cr_assert(strlen(man) > 1000, PG_BUILD_DIR "/portgate.8 renders empty");
}

/* Lines [start, end) of the section titled `title` (a line at column 0). */
static void section(const char *title, const char **start, const char **end)
{
	char head[64];
	const char *p, *q;

	snprintf(head, sizeof(head), "\n%s\n", title);
	p = strstr(man, head);
	cr_assert(p, "portgate(8) has no section %s", title);
	p += strlen(head);
	for (q = p; (q = strchr(q, '\n')); q++)
		if (q[1] >= 'A' && q[1] <= 'Z')
			break;
	*start = p;
	*end = q ? q + 1 : p + strlen(p);
}

/* word occurs in [s, e) with no letter, digit, '-' or '_' around it. */
static bool has_word(const char *s, const char *e, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = s; (p = strstr(p, word)) && p + n <= e; p++) {
		char b = p > s ? p[-1] : ' ', a = p[n];

		if (!(b == '-' || b == '_' || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')) &&
		    !(a == '-' || a == '_' || (a >= 'a' && a <= 'z') || (a >= '0' && a <= '9')))
			return true;
	}
	return false;
}

/* Options (-x, --xyz) in text, each once: " -j --pin-path ..." into out. */
static void options_of(const char *text, char *out, size_t cap)
{
	regmatch_t m[3];
	const char *p = text;
	char opt[64];
	regex_t re;

	out[0] = '\0';
	cr_assert_eq(regcomp(&re, "(^|[][ (|,'])(--?[a-z][a-z0-9-]*)", REG_EXTENDED | REG_NEWLINE),
		     0);
	while (!regexec(&re, p, 3, m, p == text ? 0 : REG_NOTBOL)) {
		snprintf(opt, sizeof(opt), " %.*s ", (int)(m[2].rm_eo - m[2].rm_so),
			 p + m[2].rm_so);
		if (!strstr(out, opt) && strlen(out) + strlen(opt) < cap)
			strcat(out, opt + (out[0] ? 1 : 0)); /* one space between */
		p += m[0].rm_eo;
	}
	regfree(&re);
}

/* Commands listed by `portgate --help`: two spaces, a lowercase word. */
static int commands(char names[][16], int max)
{
	const char *p;
	int n = 0;

	cr_assert_eq(tl_sh(help, sizeof(help), PORTGATE " --help"), 0);
	for (p = help; p && *p && n < max; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (p[0] == ' ' && p[1] == ' ' && p[2] >= 'a' && p[2] <= 'z')
			sscanf(p + 2, "%15[a-z]", names[n++]);
	cr_assert(n >= 10, "portgate --help lists %d commands", n);
	return n;
}

/* The COMMANDS entry of cmd: from "       portgate CMD" to the next entry. */
static bool entry(const char *cmd, const char **s, const char **e)
{
	const char *cs, *ce, *p, *q;
	char head[600];

	section("COMMANDS", &cs, &ce);
	snprintf(head, sizeof(head), "\n       portgate %s", cmd);
	for (p = cs - 1; (p = strstr(p, head)) && p < ce; p++) {
		char c = p[strlen(head)];

		if (c != ' ' && c != '\n')
			continue;
		*s = p + 1;
		q = strstr(p + 1, "\n       portgate ");
		*e = q && q < ce ? q + 1 : ce;
		return true;
	}
	return false;
}

/* Whitespace runs to one space, none at the ends. */
static void squeeze(char *s)
{
	char *d = s, *p;

	for (p = s; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			if (d != s && d[-1] != ' ')
				*d++ = ' ';
			continue;
		}
		*d++ = *p;
	}
	if (d != s && d[-1] == ' ')
		d--;
	*d = '\0';
}

Test(docs, man_covers_every_command_and_option)
{
	char names[32][16], out[4096], opts[2048], usage[1024], syn[1024], *tok, *save;
	size_t len;
	char globals[512];
	const char *s, *e, *nl;
	int n, i, bad = 0;

	render_man();
	n = commands(names, 32);
	options_of(strstr(help, "Global options") ?: "", globals, sizeof(globals));
	for (i = 0; i < n; i++) {
		cr_assert_eq(tl_sh(out, sizeof(out), PORTGATE " %s --help", names[i]), 0,
			     "portgate %s --help failed", names[i]);
		if (!entry(names[i], &s, &e)) {
			cr_log_error("portgate(8): no COMMANDS entry 'portgate %s'", names[i]);
			bad++;
			continue;
		}
		/* the entry's first line is the usage line of --help */
		nl = strchr(s, '\n');
		snprintf(syn, sizeof(syn), "%.*s", (int)(nl - s), s);
		/* the usage line and its continuations (indented deeper than the text) */
		for (len = strcspn(out + 7, "\n"); !strncmp(out + 7 + len, "\n    ", 5);)
			len += 1 + strcspn(out + 7 + len + 1, "\n");
		snprintf(usage, sizeof(usage), "%.*s", (int)len, out + 7);
		squeeze(syn);
		squeeze(usage);
		if (strncmp(out, "usage: ", 7) || strcmp(syn, usage)) {
			cr_log_error("portgate(8) %s: synopsis '%s', --help says '%s'", names[i],
				     syn, usage);
			bad++;
		}
		/* each option described below the synopsis, or a global option */
		options_of(out, opts, sizeof(opts));
		for (tok = strtok_r(opts, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (!has_word(nl, e, tok) && !strstr(globals, tok)) {
				cr_log_error(
					"portgate(8): option %s of 'portgate %s --help' is not in its entry",
					tok, names[i]);
				bad++;
			}
	}
	cr_assert_eq(bad, 0, "%d item(s) of --help missing from portgate(8)", bad);
}

Test(docs, man_covers_global_options_reasons_exit_codes)
{
	char opts[2048], *tok, *save;
	const char *s, *e, *g;
	int i, bad = 0;

	render_man();
	cr_assert_eq(tl_sh(help, sizeof(help), PORTGATE " --help"), 0);
	g = strstr(help, "Global options");
	cr_assert(g, "portgate --help has no 'Global options'");
	options_of(g, opts, sizeof(opts));
	cr_assert(strstr(opts, "--pin-path") && strstr(opts, "--version"), "options: %s", opts);
	section("GLOBAL OPTIONS", &s, &e);
	for (tok = strtok_r(opts, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (!has_word(s, e, tok)) {
			cr_log_error("portgate(8) GLOBAL OPTIONS: %s of --help missing", tok);
			bad++;
		}
	section("REASONS", &s, &e);
	for (i = 0; i < PG_R_COUNT; i++)
		if (!has_word(s, e, pg_reason_name(i))) {
			cr_log_error("portgate(8) REASONS: '%s' missing", pg_reason_name(i));
			bad++;
		}
	section("EXIT STATUS", &s, &e);
	for (i = 0; i <= 2; i++) {
		char code[8];

		snprintf(code, sizeof(code), "%d", i);
		if (!has_word(s, e, code)) {
			cr_log_error("portgate(8) EXIT STATUS: exit code %d missing", i);
			bad++;
		}
	}
	for (i = 0; i < 4; i++) {
		static const char *const need[] = {"JSON OUTPUT", "FILES", "METRICS", "SYNOPSIS"};

		section(need[i], &s, &e);
	}
	cr_assert_eq(bad, 0, "%d item(s) missing from portgate(8)", bad);
}

Test(docs, man_entries_are_real_commands)
{
	const char *s, *e, *p;
	char cmd[32], out[4096];
	int bad = 0, n = 0;

	render_man();
	section("COMMANDS", &s, &e);
	for (p = s - 1; (p = strstr(p, "\n       portgate ")) && p < e; p++) {
		if (sscanf(p + 17, "%31[a-z]", cmd) != 1)
			continue;
		n++;
		if (tl_sh(out, sizeof(out), PORTGATE " %s --help 2>&1", cmd)) {
			cr_log_error("portgate(8) describes 'portgate %s', which is not a command",
				     cmd);
			bad++;
		}
	}
	cr_assert(n >= 10, "portgate(8) COMMANDS has %d entries", n);
	cr_assert_eq(bad, 0);
}

Test(docs, version_is_the_version_file)
{
	char v[64], out[128];

	cr_assert_eq(tl_sh(v, sizeof(v), "cat VERSION"), 0);
	v[strcspn(v, "\n")] = '\0';
	cr_assert_eq(tl_sh(out, sizeof(out), PORTGATE " --version"), 0);
	out[strcspn(out, "\n")] = '\0';
	cr_assert(strlen(v) > 0);
	cr_assert_str_eq(out + strlen("portgate "), v, "--version '%s', VERSION '%s'", out, v);
	cr_assert(!strncmp(out, "portgate ", 9));
}

/* ---- completion, conffile and contrib: a private pin path with state ---- */

static void state_setup(void)
{
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgdoc%d", getpid());
	snprintf(ns, sizeof(ns), "pgdoc%d", getpid());
}

static void state_teardown(void)
{
	tl_sh(NULL, 0,
	      "nsenter --net=/run/netns/%s " PORTGATE " --pin-path %s detach --all 2>/dev/null", ns,
	      pin);
	tl_sh(NULL, 0, "ip netns del %s 2>/dev/null", ns);
	tl_sh(NULL, 0, "rm -rf %s", pin);
}

TestSuite(state, .init = state_setup, .fini = state_teardown);

/* COMPREPLY for the words (the last is the one completed), one per line. */
static void complete(char *out, size_t cap, const char *words)
{
	cr_assert_eq(tl_sh(out, cap,
			   "PATH=$PWD/build:$PATH bash -c '"
			   "source completion/portgate && "
			   "COMP_WORDS=(%s) && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && "
			   "_portgate && printf \"%%s\\n\" \"${COMPREPLY[@]}\"'",
			   words),
		     0, "completion of (%s) failed", words);
}

static bool has_line(const char *out, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = out; (p = strstr(p, line)); p++)
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return true;
	return false;
}

Test(state, completion)
{
	static const struct {
		const char *name, *words, *want, *not ;
	} cases[] = {
		{"command prefix", "portgate at", "attach", "detach"},
		{"commands", "portgate \"\"", "metrics", NULL},
		{"global options", "portgate --pin-", "--pin-path", NULL},
		{"attach: interfaces", "portgate attach \"\"", "lo", "tcp"},
		{"detach: interfaces", "portgate detach l", "lo", NULL},
		{"attach --role", "portgate attach lo --role \"\"", "access", "in"},
		{"attach --mode", "portgate attach lo --mode \"\"", "generic", NULL},
		{"block: protocols", "portgate block \"\"", "udp", "lo"},
		{"block --dir", "portgate block tcp 25 --dir \"\"", "out", NULL},
		{"unblock: protocols of rules", "portgate --pin-path PIN unblock \"\"", "tcp",
		 NULL},
		{"unblock: tcp rules", "portgate --pin-path PIN unblock tcp \"\"", "6660-6669",
		 "161"},
		{"unblock: tcp rules of --dir in",
		 "portgate --pin-path PIN unblock --dir in tcp \"\"", "25", "6660-6669"},
		{"unblock: udp rules", "portgate --pin-path PIN unblock udp \"\"", "161", "25"},
		{"disallow: v4 prefixes", "portgate --pin-path PIN disallow \"\"", "192.0.2.0/24",
		 NULL},
		{"disallow: v6 prefixes", "portgate --pin-path PIN disallow 2001",
		 "2001:db8:64::/56", "192.0.2.0/24"},
		{"allow --rule: rules",
		 "portgate --pin-path PIN allow 192.0.2.1 --peer --rule \"\"", "udp/161", NULL},
		{"stats options", "portgate stats --", "--per-cpu", NULL},
	};
	char words[512], out[8192], *p;
	size_t i;
	int bad = 0;

	cr_assert_eq(tl_sh(NULL, 0,
			   PORTGATE " --pin-path %s block tcp 6660-6669 --dir out && " PORTGATE
				    " --pin-path %s allow 192.0.2.0/24 --peer && " PORTGATE
				    " --pin-path %s allow 2001:db8:64::/56 --subscriber",
			   pin, pin, pin),
		     0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(words, sizeof(words), "%s", cases[i].words);
		p = strstr(words, "PIN");
		if (p) {
			char rest[512];

			snprintf(rest, sizeof(rest), "%s", p + 3);
			snprintf(p, words + sizeof(words) - p, "%s%s", pin, rest);
		}
		complete(out, sizeof(out), words);
		if (!has_line(out, cases[i].want) ||
		    (cases[i].not &&has_line(out, cases[i].not ))) {
			cr_log_error("completion '%s' (%s): want '%s'%s%s, got: %s", cases[i].name,
				     words, cases[i].want, cases[i].not ? ", not " : "",
				     cases[i].not ? cases[i].not : "", out);
			bad++;
		}
	}
	cr_assert_eq(bad, 0, "%d completion case(s) failed", bad);
}

/* `portgate CMD -<TAB>` offers every option `portgate CMD --help` prints. */
Test(state, completion_options_follow_help)
{
	char names[32][16], out[4096], opts[2048], got[4096], words[600], *tok, *save;
	int n, i, bad = 0;

	n = commands(names, 32);
	for (i = 0; i < n; i++) {
		cr_assert_eq(tl_sh(out, sizeof(out), PORTGATE " %s --help", names[i]), 0);
		options_of(out, opts, sizeof(opts));
		snprintf(words, sizeof(words), "portgate %s -", names[i]);
		complete(got, sizeof(got), words);
		for (tok = strtok_r(opts, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (strcmp(tok, "--json") && !has_line(got, tok)) {
				cr_log_error(
					"completion 'portgate %s -': %s of --help not offered (got: %s)",
					names[i], tok, got);
				bad++;
			}
	}
	cr_assert_eq(bad, 0, "%d option(s) missing from the completion", bad);
}

/* Every commented command line of the conffile is a valid portgate command. */
Test(state, conffile_lines_are_commands)
{
	char lines[8192], err[4096], *line, *save;
	int n = 0;

	cr_assert_eq(tl_sh(NULL, 0,
			   "ip netns add %s && ip -n %s link add eth0 type veth peer name eth1 && "
			   "ip -n %s link set eth0 up && ip -n %s link set eth1 up",
			   ns, ns, ns, ns),
		     0);
	cr_assert_eq(tl_sh(lines, sizeof(lines),
			   "sed -n 's/^#\\(attach\\|block\\|allow\\|defaults\\)\\b/\\1/p' "
			   "contrib/portgate.conf"),
		     0);
	for (line = strtok_r(lines, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		n++;
		cr_assert_eq(tl_sh(err, sizeof(err),
				   "nsenter --net=/run/netns/%s " PORTGATE " --pin-path %s %s 2>&1",
				   ns, pin, line),
			     0, "contrib/portgate.conf: 'portgate %s' fails: %s", line, err);
	}
	cr_assert(n >= 8, "contrib/portgate.conf has %d example commands", n);
}

/* Every portgate_* metric that contrib/ uses is written by `portgate metrics`. */
Test(state, contrib_uses_real_metrics)
{
	char used[4096], out[BIG], fam[128], *name, *save;
	int bad = 0;

	cr_assert_eq(tl_sh(NULL, 0, PORTGATE " --pin-path %s defaults", pin), 0);
	cr_assert_eq(tl_sh(out, sizeof(out), PORTGATE " --pin-path %s metrics", pin), 0);
	cr_assert_eq(tl_sh(used, sizeof(used),
			   "grep -ho 'portgate_[a-z_]*' contrib/portgate.rules.yml "
			   "contrib/portgate-grafana.json | sort -u"),
		     0);
	cr_assert(strlen(used) > 0);
	for (name = strtok_r(used, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		snprintf(fam, sizeof(fam), "# TYPE %s ", name);
		if (!strstr(out, fam)) {
			cr_log_error("contrib/ uses %s, which portgate metrics does not write",
				     name);
			bad++;
		}
	}
	cr_assert_eq(tl_sh(NULL, 0,
			   "/usr/bin/python3 -c 'import json, sys, yaml; "
			   "yaml.safe_load(open(\"contrib/portgate.rules.yml\")); "
			   "json.load(open(\"contrib/portgate-grafana.json\"))'"),
		     0, "contrib/ rules (YAML) or dashboard (JSON) do not parse");
	cr_assert_eq(bad, 0);
}
