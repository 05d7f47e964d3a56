// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * metrics: the counters, rules, exemption counts and attachments in the
 * Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector. No exporter daemon of our own: a systemd timer runs
 * `portgate metrics --output DIR/portgate.prom`, which writes a temporary
 * file in DIR and renames it over the old one, so a scrape never reads a
 * half-written file.
 *
 * Conventions: counters end in _total, one family per quantity with
 * labels for the dimensions (reason/verdict, dir/proto/ports/action),
 * HELP and TYPE once per family, every sample of a family together. Only
 * the per-reason counters are exported: the totals of `stats` are sums of
 * them (sum by (verdict) in PromQL), so exporting both would count twice.
 * The per-interface counters are a family of their own for the same
 * reason: sum without (interface, ifindex) gives portgate_packets_total.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "loader.h"

#ifndef PG_VERSION
#error "PG_VERSION comes from the VERSION file (see the Makefile)"
#endif

struct pg_rule_sample {
	struct pg_rule rule;
	unsigned long long packets, bytes;
};

struct pg_samples {
	struct pg_rule_sample *rules;
	unsigned int nrules;
	struct pg_attachment *att;
	unsigned int natt, cap_att;
};

static void pg_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void pg_label(FILE *f, const char *sep, const char *name, const char *v)
{
	fprintf(f, "%s%s=\"", sep, name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static int pg_collect_rule(const struct pg_rule *r, unsigned long long pk, unsigned long long by,
			   void *ctx)
{
	struct pg_samples *s = ctx;

	s->rules[s->nrules++] = (struct pg_rule_sample){.rule = *r, .packets = pk, .bytes = by};
	return 0;
}

static int pg_collect_attachment(const struct pg_attachment *a, void *ctx)
{
	struct pg_samples *s = ctx;
	void *p;

	if (s->natt == s->cap_att) {
		s->cap_att = s->cap_att ? 2 * s->cap_att : 16;
		p = realloc(s->att, s->cap_att * sizeof(*s->att));
		if (!p)
			return -ENOMEM;
		s->att = p;
	}
	s->att[s->natt++] = *a;
	return 0;
}

static void pg_rule_labels(FILE *f, const struct pg_rule *r)
{
	char ports[16];

	pg_rule_ports(r, ports, sizeof(ports));
	pg_label(f, "{", "dir", pg_dir_name(r->dir));
	pg_label(f, ",", "proto", pg_proto_name(r->proto));
	pg_label(f, ",", "ports", ports);
	pg_label(f, ",", "action", pg_action_name(r->action));
	fputc('}', f);
}

/* The per-interface family: one series per used slot and reason. */
static void pg_emit_ifaces(FILE *f, const struct pg_stats *per_slot, bool bytes)
{
	const char *name =
		bytes ? "portgate_interface_bytes_total" : "portgate_interface_packets_total";
	char ifname[IF_NAMESIZE + 16], id[16];
	__u32 s;
	int i;

	pg_family(
		f, name, "counter",
		bytes ? "Bytes by the interface that received (XDP) or sent (tc egress) them and by reason; ifindex 0 counts interfaces whose ifindex is 256 or more."
		      : "Packets by the interface that received (XDP) or sent (tc egress) them and by reason; summed over interfaces, portgate_packets_total.");
	for (s = 0; s < PG_MAX_IFSLOTS; s++) {
		if (!pg_slot_used(&per_slot[s]))
			continue;
		pg_slot_name(s, ifname);
		snprintf(id, sizeof(id), "%u", s);
		for (i = 0; i < PG_R_COUNT; i++) {
			fputs(name, f);
			pg_label(f, "{", "interface", ifname);
			pg_label(f, ",", "ifindex", id);
			pg_label(f, ",", "reason", pg_reason_name(i));
			pg_label(f, ",", "verdict", i >= PG_R_FIRST_DROP ? "drop" : "pass");
			fprintf(f, "} %llu\n",
				(unsigned long long)(bytes ? per_slot[s].reason[i].bytes
							   : per_slot[s].reason[i].packets));
		}
	}
}

static void pg_emit_reasons(FILE *f, const struct pg_counter *sum, bool bytes)
{
	int i;

	if (bytes)
		pg_family(f, "portgate_bytes_total", "counter",
			  "Bytes seen by the XDP program, by the reason it decided on.");
	else
		pg_family(
			f, "portgate_packets_total", "counter",
			"Packets seen by the XDP program, by the reason it decided on (exactly one per packet; the reason implies the verdict).");
	for (i = 0; i < PG_R_COUNT; i++) {
		fputs(bytes ? "portgate_bytes_total" : "portgate_packets_total", f);
		pg_label(f, "{", "reason", pg_reason_name(i));
		pg_label(f, ",", "verdict", i >= PG_R_FIRST_DROP ? "drop" : "pass");
		fprintf(f, "} %llu\n", (unsigned long long)(bytes ? sum[i].bytes : sum[i].packets));
	}
}

/* Everything but the build info and loaded flag, from the open maps. */
static int pg_emit_state(const struct pg_opts *o, struct pg_maps *m, FILE *f)
{
	int ncpus = libbpf_num_possible_cpus();
	struct pg_counter sum[PG_R_COUNT];
	struct pg_samples s = {};
	struct pg_stats *pc = NULL, *per_slot = NULL;
	unsigned int i, n4 = 0, n6 = 0;
	char id[16];
	int err;

	if (ncpus <= 0)
		return pg_sys_err(ncpus ?: -EINVAL, "cannot count CPUs");
	pc = calloc(ncpus, sizeof(*pc));
	s.rules = calloc(PG_MAX_RULES, sizeof(*s.rules));
	per_slot = calloc(PG_MAX_IFSLOTS, sizeof(*per_slot));
	if (!pc || !s.rules || !per_slot) {
		err = -ENOMEM;
		goto out;
	}
	err = pg_read_stats_slots(m->fd[PG_M_STATS], ncpus, pc, per_slot, sum);
	err = err ?: pg_rules_each(m, pg_collect_rule, &s);
	err = err ?: pg_exempt_count(m, false, &n4);
	err = err ?: pg_exempt_count(m, true, &n6);
	err = err ?: pg_attachments_each(o, pg_collect_attachment, &s);
	if (err)
		goto out;

	pg_emit_reasons(f, sum, false);
	pg_emit_reasons(f, sum, true);
	pg_emit_ifaces(f, per_slot, false);
	pg_emit_ifaces(f, per_slot, true);

	pg_family(
		f, "portgate_rule_packets_total", "counter",
		"Packets a rule dropped (action drop) or counted and passed (action monitor); exempt packets are not counted on the rule.");
	for (i = 0; i < s.nrules; i++) {
		fputs("portgate_rule_packets_total", f);
		pg_rule_labels(f, &s.rules[i].rule);
		fprintf(f, " %llu\n", s.rules[i].packets);
	}
	pg_family(f, "portgate_rule_bytes_total", "counter",
		  "Bytes a rule dropped (action drop) or counted and passed (action monitor).");
	for (i = 0; i < s.nrules; i++) {
		fputs("portgate_rule_bytes_total", f);
		pg_rule_labels(f, &s.rules[i].rule);
		fprintf(f, " %llu\n", s.rules[i].bytes);
	}

	pg_family(f, "portgate_rules", "gauge", "Rules configured.");
	fprintf(f, "portgate_rules %u\n", s.nrules);
	pg_family(f, "portgate_rules_limit", "gauge", "Rules that fit in the rule table.");
	fprintf(f, "portgate_rules_limit %u\n", pg_map_capacity(m->fd[PG_M_RULES]) - 1);
	pg_family(f, "portgate_exemptions", "gauge",
		  "Exemption prefixes configured, by address family.");
	fprintf(f, "portgate_exemptions{family=\"ipv4\"} %u\n", n4);
	fprintf(f, "portgate_exemptions{family=\"ipv6\"} %u\n", n6);
	pg_family(f, "portgate_exemptions_limit", "gauge",
		  "Exemption prefixes that fit in the table of each address family.");
	/* per generation: the tries hold two (apply builds one beside the live one) */
	fprintf(f, "portgate_exemptions_limit{family=\"ipv4\"} %u\n", PG_MAX_EXEMPT);
	fprintf(f, "portgate_exemptions_limit{family=\"ipv6\"} %u\n", PG_MAX_EXEMPT);

	pg_family(f, "portgate_attachments", "gauge", "Interfaces the XDP program is attached to.");
	fprintf(f, "portgate_attachments %u\n", s.natt);
	pg_family(
		f, "portgate_attachment_info", "gauge",
		"One series per attached interface, value 1: interface, role, XDP mode and program id.");
	for (i = 0; i < s.natt; i++) {
		fputs("portgate_attachment_info", f);
		pg_label(f, "{", "ifname", s.att[i].ifname);
		snprintf(id, sizeof(id), "%u", s.att[i].ifindex);
		pg_label(f, ",", "ifindex", id);
		pg_label(f, ",", "role", s.att[i].role);
		pg_label(f, ",", "mode", s.att[i].mode);
		snprintf(id, sizeof(id), "%u", s.att[i].prog_id);
		pg_label(f, ",", "prog_id", id);
		fputs("} 1\n", f);
	}
out:
	free(pc);
	free(per_slot);
	free(s.rules);
	free(s.att);
	return err;
}

/*
 * The whole exposition into a memory buffer first: nothing is printed or
 * written unless every map could be read.
 */
static int pg_metrics_text(const struct pg_opts *o, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	bool loaded = pg_pinned(o, pg_map_names[PG_M_PORTS]);
	struct pg_maps m;
	int err = 0;

	if (!f)
		return pg_sys_err(-errno, "cannot allocate the metrics buffer");
	pg_family(f, "portgate_build_info", "gauge",
		  "Version of the portgate binary that wrote these metrics, value 1.");
	fputs("portgate_build_info", f);
	pg_label(f, "{", "version", PG_VERSION);
	fputs("} 1\n", f);
	pg_family(f, "portgate_loaded", "gauge",
		  "1 if portgate's maps are pinned (the filter is set up), 0 if not.");
	fprintf(f, "portgate_loaded %d\n", loaded);
	if (loaded) {
		err = pg_maps_open(o, 0, &m);
		if (!err) {
			err = pg_emit_state(o, &m, f);
			pg_maps_close(&m);
		}
	}
	if (fclose(f) && !err)
		err = pg_sys_err(-errno, "cannot write the metrics buffer");
	return err;
}

/*
 * Write buf to path atomically: a temporary file in the same directory
 * (not ending in .prom, so the textfile collector ignores it), fsync,
 * mode 0644, rename over path. On failure path keeps its old content.
 */
static int pg_write_atomic(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX];
	size_t done = 0;
	ssize_t n;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) {
		pg_err("bad output file '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return pg_sys_err(-errno, "cannot create '%s'", tmp);
	while (!err && done < len) {
		n = write(fd, buf + done, len - done);
		if (n < 0 && errno != EINTR)
			err = pg_sys_err(-errno, "cannot write '%s'", tmp);
		else if (n > 0)
			done += n;
	}
	if (!err && fchmod(fd, 0644))
		err = pg_sys_err(-errno, "cannot set the mode of '%s'", tmp);
	if (!err && fsync(fd))
		err = pg_sys_err(-errno, "cannot write '%s'", tmp);
	if (close(fd) && !err)
		err = pg_sys_err(-errno, "cannot write '%s'", tmp);
	if (!err && rename(tmp, path))
		err = pg_sys_err(-errno, "cannot rename '%s' to '%s'", tmp, path);
	if (err)
		unlink(tmp);
	return err;
}

int cmd_metrics(const struct pg_opts *o, int argc, char **argv)
{
	struct pg_args a = {.argc = argc, .argv = argv, .i = 1, .cmd = argv[0]};
	const char *opt, *val, *output = NULL;
	char *buf = NULL;
	size_t len = 0;
	int err;

	while (pg_args_next(&a, &opt, &val)) {
		if (opt && !strcmp(opt, "--output")) {
			if (pg_args_value(&a, opt, &val))
				return PG_EXIT_USAGE;
			if (!*val)
				return pg_usage_err(
					       a.cmd,
					       "bad output file '': expected a path like /var/lib/prometheus/node-exporter/portgate.prom"),
				       PG_EXIT_USAGE;
			output = val;
		} else {
			return pg_usage_err(
				       a.cmd,
				       "unexpected argument '%s', try 'portgate metrics --help'",
				       opt ?: val),
			       PG_EXIT_USAGE;
		}
	}
	if (o->json)
		return pg_usage_err(
			       a.cmd,
			       "bad option '-j': metrics are in the Prometheus text format (use 'portgate stats -j' for JSON)"),
		       PG_EXIT_USAGE;
	err = pg_metrics_text(o, &buf, &len);
	if (!err && output)
		err = pg_write_atomic(output, buf, len);
	else if (!err && fwrite(buf, 1, len, stdout) != len)
		err = pg_sys_err(-EIO, "cannot write the metrics");
	free(buf);
	return err ? PG_EXIT_RUNTIME : PG_EXIT_OK;
}
