// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fuzzer for the policy grammar: a configuration file as `portgate apply`
 * and `portgate test --config` read it (apply.c: pg_conf_read, the one
 * reader, with the commands' own parsers: block and defaults with ports
 * and ranges, allow with prefixes, --rule, --dir and --file lines, attach
 * lines checked), then loaded as `test --config` loads it (pg_conf_load:
 * the other generation written, flipped, the old one emptied) onto
 * private maps that start as a fresh state does. Whatever the file says
 * and however it fails, the maps must stay consistent: `portgate check`'s
 * pg_check_maps() runs after every input and any inconsistency aborts.
 * ASan and UBSan watch the parsers.
 *
 * Input: the configuration; if it holds a line "%%", the bytes after it
 * are the file named F (relative: the fuzzer runs in a private
 * directory), for `allow --file F`. PG_FUZZ_SEEDS=DIR writes the seeds.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "conf.h"
#include "portgate.skel.h"
#include "exempt_maps.h"

#define FZ_PORTS_SIZE ((size_t)PG_PORTS_ENTRIES * sizeof(struct pg_port_entry))
#define FZ_RULES_SIZE ((size_t)(PG_MAX_RULES + 1) * sizeof(struct pg_rule))

static struct pg_state fz_st;
static struct pg_maps fz_m = {.lock_fd = -1};
static void *fz_ports, *fz_rules;
static char fz_dir[64]; /* where the inputs run: `--file F` names its F */
static int fz_top;	/* the fuzzer's own directory (corpus paths are relative) */

static void fz_die(const char *what)
{
	fprintf(stderr, "fuzz_policy: %s: %s\n", what, strerror(errno));
	abort();
}

/* Back to a fresh state: empty maps, then the default policy. */
static void fz_reset(void)
{
	static __u8 key[sizeof(struct pg_exempt_v6_key)], next[sizeof(key)];
	struct pg_exm x;
	__u32 g;
	int i;

	memset(fz_ports, 0, FZ_PORTS_SIZE);
	memset(fz_rules, 0, FZ_RULES_SIZE);
	for (i = PG_M_EXEMPT_V4; i <= PG_M_EXEMPT_V6; i++)
		while (!bpf_map_get_next_key(fz_m.fd[i], NULL, next)) {
			memcpy(key, next, sizeof(key));
			if (bpf_map_delete_elem(fz_m.fd[i], key))
				fz_die("trie delete");
		}
	pg_maps_exm(&fz_m, &x);
	for (g = 0; g < PG_GENS; g++)
		if (pg_exm_gen_reset(&x, g))
			fz_die("exemption summary reset");
	if (pg_rules_defaults_maps(&fz_m))
		fz_die("defaults");
}

static void fz_report(const char *line, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "fuzz_policy: INCONSISTENT: %s\n", line);
}

static void fz_write(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd))
		fz_die(path);
}

static const char *const fz_seeds[] = {
	"block tcp 8080 --dir in\nallow 192.0.2.0/24 --peer --rule udp/161   # the NMS\n",
	"defaults\nblock udp 6660-6669 --monitor\nblock udp 6660-6669 --monitor\n",
	"block tcp 1-65535 --dir out\nblock tcp 1-65535 --dir out\nblock tcp 0 --dir in\n",
	"block tcp 25 --dir out\nallow 100.64.0.0/10 --subscriber --dir out --rule tcp/25\n"
	"attach eth0 --role access --mode generic\n",
	"allow --file F --peer\nallow --file F --peer\n%%\n192.0.2.0/24\n2001:db8::/32 # c\n"
	"  198.51.100.7  \n\n203.0.113.0/25\n",
	"allow --file F --subscriber --rule tcp/25\n%%\n100.64.0.0/10\n100.64.0.1/10\n",
	"allow 2001:db8:64::/48 --subscriber --dir=out\nallow ::/0 --peer\nallow ::/0 --peer --force\n",
	"block udp 161\nblock tcp 25 --monitor\nblock tcp 20-30\n",
	"allow 192.0.2.1 --peer --rule tcp/9999\nallow 300.1.1.1/8 --peer\n",
	"block tcp 465\nallow 192.0.2.0/24 --peer --rule tcp/465\nblock tcp 460-470\n",
};

static int fz_write_seeds(const char *dir)
{
	char path[4096];
	size_t i;

	mkdir(dir, 0755);
	for (i = 0; i < sizeof(fz_seeds) / sizeof(fz_seeds[0]); i++) {
		snprintf(path, sizeof(path), "%s/seed%02zu", dir, i);
		fz_write(path, (const uint8_t *)fz_seeds[i], strlen(fz_seeds[i]));
	}
	return 0;
}

static int fz_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pg_opts o = {.pin_path = "/sys/fs/bpf/portgate-fuzz-unused"};
	const char *seeds = getenv("PG_FUZZ_SEEDS");
	int i;

	(void)argc;
	(void)argv;
	if (seeds)
		exit(fz_write_seeds(seeds));
	libbpf_set_print(fz_quiet);
	/* `allow --file -` must not wait for a terminal */
	if (!freopen("/dev/null", "r", stdin))
		fz_die("/dev/null");
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/pgfuzz-policy.XXXXXX");
	fz_top = open(".", O_RDONLY | O_DIRECTORY);
	if (fz_top < 0 || !mkdtemp(fz_dir))
		fz_die("private directory");
	if (pg_state_open(&o, PG_OPEN_PRIVATE | PG_OPEN_PRIVATE_STATS, &fz_st))
		fz_die("pg_state_open (root?)");
	for (i = 0; i < PG_M_COUNT; i++) {
		struct bpf_map *map = pg_skel_map(fz_st.skel->obj, i);

		fz_m.fd[i] = map ? bpf_map__fd(map) : -1;
	}
	if (pg_gen_read(fz_m.fd[PG_M_CTL], &fz_m.gen))
		fz_die("pg_ctl");
	fz_ports = mmap(NULL, FZ_PORTS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			fz_m.fd[PG_M_PORTS], 0);
	fz_rules = mmap(NULL, FZ_RULES_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			fz_m.fd[PG_M_RULES], 0);
	if (fz_ports == MAP_FAILED || fz_rules == MAP_FAILED)
		fz_die("mmap");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = NULL, *file = NULL;
	struct pg_check_sum sum = {};
	size_t conf_len = size, i;
	int err;

	if (size > 8192)
		return 0;
	for (i = 0; i + 3 <= size; i++)
		if ((i == 0 || data[i - 1] == '\n') && !memcmp(data + i, "%%\n", 3)) {
			sep = data + i;
			break;
		}
	if (sep) {
		conf_len = sep - data;
		file = sep + 3;
	}
	if (chdir(fz_dir))
		fz_die(fz_dir);
	fz_write("config", data, conf_len);
	fz_write("F", file ? file : (const uint8_t *)"", file ? size - (file - data) : 0);
	fz_reset();
	{
		struct ap_conf c = {.path = "config"};

		if (!pg_conf_read(&c))
			pg_conf_load(&fz_m, &c);
		pg_conf_free(&c);
	}
	if (fchdir(fz_top))
		fz_die("back to the fuzzer's directory");
	err = pg_check_maps(&fz_m, PG_CHECK_IDLE, fz_report, NULL, &sum);
	if (err || sum.problems) {
		fprintf(stderr,
			"fuzz_policy: the maps are inconsistent after this input (%d, %u)\n", err,
			sum.problems);
		abort();
	}
	return 0;
}
