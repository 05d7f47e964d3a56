// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * portgate command line: global options, the command table, one
 * dispatcher, and the argument parsers every command shares. Exit codes:
 * 0 ok, 1 runtime error, 2 usage error (a contract with scripts).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>

#include "loader.h"

#ifndef PG_VERSION
#error "PG_VERSION comes from the VERSION file (see the Makefile)"
#endif

bool pg_verbose;
const char *pg_err_where;

static void pg_err_start(void)
{
	fputs("portgate: ", stderr);
	if (pg_err_where)
		fprintf(stderr, "%s: ", pg_err_where);
}

/* When the dispatcher writes the command's audit line (audit.c). */
enum pg_audit_when {
	PG_AUDIT_NEVER = 0, /* read-only: nothing logged */
	PG_AUDIT_ALWAYS,    /* changes state */
	PG_AUDIT_RESET,	    /* changes state with --reset only (stats) */
	PG_AUDIT_REPAIR,    /* changes state with --repair only (check) */
	PG_AUDIT_NOT_DRY,   /* changes state unless --check or --dry-run (apply) */
};

struct pg_cmd {
	const char *name;
	pg_cmd_fn fn;
	const char *usage;
	const char *help;
	enum pg_audit_when audit;
};

static const struct pg_cmd pg_cmds[] = {
	{"attach", cmd_attach,
	 "IFACE --role uplink|access [--outbound-only] [--mode native|generic] [--force]",
	 "attach the filter to IFACE (uplink: inbound at XDP ingress; access: outbound at XDP ingress and inbound at tc egress)",
	 PG_AUDIT_ALWAYS},
	{"detach", cmd_detach, "IFACE | --all",
	 "detach from IFACE; the last detach removes the pins", PG_AUDIT_ALWAYS},
	{"status", cmd_status, "[-j]", "interfaces, rule and exemption counts, capacities",
	 PG_AUDIT_NEVER},
	{"upgrade", cmd_upgrade, "[-j]",
	 "switch every interface to this binary's program, without a gap (rules and counters stay)",
	 PG_AUDIT_ALWAYS},
	{"block", cmd_block, "PROTO PORT[-PORT] [--dir in|out] [--monitor] [--all-segments]",
	 "drop (or only count, --monitor) a destination port or range; TCP: connection attempts unless --all-segments",
	 PG_AUDIT_ALWAYS},
	{"unblock", cmd_unblock, "PROTO PORT[-PORT] [--dir in|out]", "remove a rule",
	 PG_AUDIT_ALWAYS},
	{"rules", cmd_rules, "[-j]", "list the rules with their counters", PG_AUDIT_NEVER},
	{"defaults", cmd_defaults, "", "restore the default policy (inbound SMTP and SNMP)",
	 PG_AUDIT_ALWAYS},
	{"allow", cmd_allow,
	 "PREFIX|--file FILE --subscriber|--peer [--rule PROTO/PORT] [--dir in|out] [--force] [--dynamic]",
	 "exempt a prefix (or each line of FILE, - = stdin) from one rule or from all rules"
	 " (--dynamic: an ip-up hook's, kept by apply, not saved)",
	 PG_AUDIT_ALWAYS},
	{"disallow", cmd_disallow,
	 "PREFIX|--file FILE --subscriber|--peer [--rule PROTO/PORT] [--dir in|out] [--dynamic]",
	 "remove an exemption (or each line of FILE: all or nothing); --dynamic: only a dynamic one",
	 PG_AUDIT_ALWAYS},
	{"exemptions", cmd_exemptions, "[-j]", "list the exemptions", PG_AUDIT_NEVER},
	{"stats", cmd_stats, "[-j] [--per-cpu] [--watch SECONDS] [--reset]",
	 "counters summed over CPUs and per interface; --watch prints rates", PG_AUDIT_RESET},
	{"apply", cmd_apply, "[FILE] [--check] [--dry-run] [--exit-code]",
	 "make the live state equal to FILE (default " PG_DEFAULT_CONF "), atomically",
	 PG_AUDIT_NOT_DRY},
	{"save", cmd_save, "", "print the live state in the grammar 'apply' reads", PG_AUDIT_NEVER},
	{"test", cmd_test,
	 "[--role uplink|access] [-j] [--strict] [--config FILE [--diff]] (--pcap FILE | --hex HEX... | -)",
	 "run frames through the program (BPF_PROG_TEST_RUN)", PG_AUDIT_NEVER},
	{"check", cmd_check, "[-j] [--repair]",
	 "cross-check the pinned state (after an incident); exit 1 if inconsistent",
	 PG_AUDIT_REPAIR},
	{"metrics", cmd_metrics, "[--output FILE]",
	 "Prometheus text format; --output replaces FILE atomically (node_exporter textfile)",
	 PG_AUDIT_NEVER},
	{"trace", cmd_trace,
	 "[--prefix P] [--rule PROTO/PORT] [--iface IF] [--exempt] [--count N] [--rate N] [-j] [-w FILE] [--syslog]",
	 "print each dropped/monitored packet as it happens (Ctrl-C stops)", PG_AUDIT_NEVER},
};

/* Whether this invocation changes state, so the dispatcher logs it. */
static bool pg_audited(const struct pg_cmd *cmd, int argc, char **argv)
{
	int i;

	if (cmd->audit == PG_AUDIT_RESET || cmd->audit == PG_AUDIT_REPAIR) {
		const char *flag = cmd->audit == PG_AUDIT_RESET ? "--reset" : "--repair";

		for (i = 1; i < argc; i++)
			if (!strcmp(argv[i], flag))
				return true;
		return false;
	}
	if (cmd->audit == PG_AUDIT_NOT_DRY) {
		for (i = 1; i < argc; i++)
			if (!strcmp(argv[i], "--check") || !strcmp(argv[i], "--dry-run"))
				return false;
		return true;
	}
	return cmd->audit == PG_AUDIT_ALWAYS;
}

#define PG_NCMDS (sizeof(pg_cmds) / sizeof(pg_cmds[0]))

static void pg_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: portgate [--pin-path DIR] [-j] [-v] COMMAND [ARGS]\n\n"
		   "Commands:\n");
	for (i = 0; i < PG_NCMDS; i++)
		fprintf(f, "  %-10s %s\n  %-10s   %s\n", pg_cmds[i].name, pg_cmds[i].usage, "",
			pg_cmds[i].help);
	fprintf(f,
		"\nGlobal options (before or after the command):\n"
		"  --pin-path DIR  bpffs directory of the state (default %s)\n"
		"  -j, --json      JSON output\n"
		"  -v, --verbose   libbpf and verifier messages\n"
		"  -h, --help      this help ('portgate COMMAND --help' for one command)\n"
		"  --version       print the version (-v: also libbpf and the kernel's features)\n"
		"\nExit codes: 0 ok, 1 runtime error, 2 usage error;"
		" 3: apply changed the live state (when asked to say so).\n",
		PG_DEFAULT_PIN_PATH);
}

void pg_err(const char *fmt, ...)
{
	va_list ap;

	pg_err_start();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int pg_sys_err(int err, const char *fmt, ...)
{
	va_list ap;

	if (err == -EPERM || err == -EACCES) {
		pg_err("needs CAP_BPF and CAP_NET_ADMIN (run as root)");
		return -EPERM;
	}
	pg_err_start();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(-err));
	return err;
}

int pg_exit_code(int err)
{
	if (!err)
		return PG_EXIT_OK;
	return err == -EINVAL ? PG_EXIT_USAGE : PG_EXIT_RUNTIME;
}

int pg_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	pg_err_start();
	fprintf(stderr, "%s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

int pg_parse_proto(const char *s, __u8 *proto)
{
	if (!strcmp(s, "tcp"))
		*proto = PG_PROTO_TCP;
	else if (!strcmp(s, "udp"))
		*proto = PG_PROTO_UDP;
	else
		return pg_usage_err(NULL, "bad protocol '%s': expected tcp or udp", s);
	return 0;
}

int pg_parse_dir(const char *s, __u8 *dir)
{
	if (!strcmp(s, "in"))
		*dir = PG_DIR_IN;
	else if (!strcmp(s, "out"))
		*dir = PG_DIR_OUT;
	else
		return pg_usage_err(NULL, "bad direction '%s': expected in or out", s);
	return 0;
}

static int pg_parse_port(const char *s, const char *whole, __u16 *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return pg_usage_err(
			NULL, "bad port '%s': expected a number 1-65535 or a range like 1000-2000",
			whole);
	if ((v < 1 || v > 65535) && s == whole)
		return pg_usage_err(NULL, "bad port '%s': expected 1-65535", s);
	if (v < 1 || v > 65535)
		return pg_usage_err(NULL, "bad port '%s' in '%s': expected 1-65535", s, whole);
	*port = v;
	return 0;
}

int pg_parse_ports(const char *s, __u16 *lo, __u16 *hi)
{
	const char *dash = strchr(s, '-');
	char first[16];

	if (!dash)
		return pg_parse_port(s, s, lo) ?: (*hi = *lo, 0);
	if (dash == s || (size_t)(dash - s) >= sizeof(first))
		return pg_usage_err(
			NULL, "bad port '%s': expected a number 1-65535 or a range like 1000-2000",
			s);
	memcpy(first, s, dash - s);
	first[dash - s] = '\0';
	if (pg_parse_port(first, s, lo) || pg_parse_port(dash + 1, s, hi))
		return -EINVAL;
	if (*lo > *hi)
		return pg_usage_err(NULL, "bad port range '%s': first port above last", s);
	return 0;
}

const char *pg_proto_name(unsigned int proto)
{
	return proto == PG_PROTO_TCP ? "tcp" : proto == PG_PROTO_UDP ? "udp" : "?";
}

const char *pg_dir_name(unsigned int dir)
{
	return dir == PG_DIR_IN ? "in" : dir == PG_DIR_OUT ? "out" : "?";
}

const char *pg_action_name(unsigned int action)
{
	return action == PG_ACTION_DROP ? "drop" : action == PG_ACTION_MONITOR ? "monitor" : "none";
}

/*
 * Command arguments: "--opt VALUE", "--opt=VALUE" or positionals. Global
 * options were already removed by main(). Returns 1 while there is an
 * argument, 0 at the end.
 */
int pg_args_next(struct pg_args *a, const char **opt, const char **val)
{
	static char buf[64];
	const char *s, *eq;

	if (a->i >= a->argc)
		return 0;
	s = a->argv[a->i++];
	*val = NULL;
	if (s[0] == '-' && s[1] && !(s[1] >= '0' && s[1] <= '9')) {
		eq = strchr(s, '=');
		if (eq && s[1] == '-' && (size_t)(eq - s) < sizeof(buf)) {
			memcpy(buf, s, eq - s);
			buf[eq - s] = '\0';
			*opt = buf;
			*val = eq + 1;
		} else {
			*opt = s;
		}
		return 1;
	}
	*opt = NULL;
	*val = s;
	return 1;
}

int pg_args_value(struct pg_args *a, const char *opt, const char **val)
{
	if (*val)
		return 0;
	if (a->i >= a->argc)
		return pg_usage_err(a->cmd, "option '%s' needs a value", opt);
	*val = a->argv[a->i++];
	return 0;
}

static const struct pg_cmd *pg_find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < PG_NCMDS; i++)
		if (!strcmp(pg_cmds[i].name, name))
			return &pg_cmds[i];
	return NULL;
}

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static bool pg_has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

/*
 * Say up front which privileges are missing, instead of a confusing
 * EACCES from bpffs. CAP_SYS_ADMIN stands in for CAP_BPF on older kernels.
 */
static bool pg_privileged(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return true; /* cannot tell: let the kernel decide */
	return (pg_has_cap(d, CAP_BPF) || pg_has_cap(d, CAP_SYS_ADMIN)) &&
	       pg_has_cap(d, CAP_NET_ADMIN);
}

static int pg_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	pg_kernel_note_libbpf(fmt, aq);
	va_end(aq);
	if (level == LIBBPF_DEBUG && !pg_verbose)
		return 0;
	if (!pg_verbose)
		return 0; /* our own one-line message says what failed */
	return vfprintf(stderr, fmt, ap);
}

/* rest: room for argc + 1 words, the command and its arguments. */
static int pg_main(int argc, char **argv, char **rest)
{
	struct pg_opts o = {.pin_path = PG_DEFAULT_PIN_PATH};
	const struct pg_cmd *cmd = NULL;
	bool help = false, version = false;
	int i, n = 0, rc;

	/* Global options anywhere; the first other word is the command. */
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (!strcmp(s, "--pin-path")) {
			if (++i >= argc) {
				pg_usage_err(NULL, "option '--pin-path' needs a directory");
				return PG_EXIT_USAGE;
			}
			o.pin_path = argv[i];
		} else if (!strncmp(s, "--pin-path=", 11)) {
			o.pin_path = s + 11;
		} else if (!strcmp(s, "-j") || !strcmp(s, "--json")) {
			o.json = true;
		} else if (!strcmp(s, "-v") || !strcmp(s, "--verbose")) {
			o.verbose = true;
		} else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			help = true;
		} else if (!strcmp(s, "--version")) {
			version = true;
		} else if (!cmd) {
			if (s[0] == '-') {
				pg_usage_err(NULL, "unknown option '%s', try 'portgate --help'", s);
				return PG_EXIT_USAGE;
			}
			cmd = pg_find_cmd(s);
			if (!cmd) {
				pg_usage_err(NULL, "unknown command '%s', try 'portgate --help'",
					     s);
				return PG_EXIT_USAGE;
			}
			rest[n++] = argv[i];
		} else {
			rest[n++] = argv[i];
		}
	}
	if (!o.pin_path[0]) {
		pg_usage_err(NULL, "bad pin path '': expected a directory under /sys/fs/bpf");
		return PG_EXIT_USAGE;
	}
	pg_verbose = o.verbose;
	libbpf_set_print(pg_libbpf_print);

	if (version) {
		struct pg_kernel k;

		printf("portgate %s\n", PG_VERSION);
		if (o.verbose) {
			printf("libbpf     %s\n", libbpf_version_string());
			pg_kernel_probe(&k);
			pg_kernel_print(stdout, &k);
		}
		return PG_EXIT_OK;
	}

	if (help && cmd && (cmd->fn == cmd_test || cmd->fn == cmd_trace)) {
		rest[n++] = "--help"; /* the test command documents its own options */
		return cmd->fn(&o, n, rest);
	}
	if (help && cmd) {
		printf("usage: portgate %s %s\n  %s\n", cmd->name, cmd->usage, cmd->help);
		return PG_EXIT_OK;
	}
	if (help) {
		pg_help(stdout);
		return PG_EXIT_OK;
	}
	if (!cmd) {
		pg_usage_err(NULL, "expected a command, try 'portgate --help'");
		return PG_EXIT_USAGE;
	}
	if (!pg_privileged()) {
		pg_err("needs CAP_BPF and CAP_NET_ADMIN (run as root)");
		return PG_EXIT_RUNTIME;
	}
	rc = cmd->fn(&o, n, rest);
	if (rc != PG_EXIT_OK)
		pg_kernel_verifier_summary();
	/* the one place that writes audit lines: after the command, with its result */
	if (pg_audited(cmd, n, rest))
		pg_audit(&o, n, rest, rc);
	return rc;
}

int main(int argc, char **argv)
{
	char **rest = calloc(argc + 1, sizeof(*rest));
	int rc;

	if (!rest)
		return PG_EXIT_RUNTIME;
	rc = pg_main(argc, argv, rest);
	free(rest);
	return rc;
}
