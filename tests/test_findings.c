// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What the fuzzers found (make fuzz, tests/fuzz/), kept as named vectors:
 * each input goes through the CLI (`portgate test -j`, private maps with
 * the default policy) and the JSON must hold what the fix guarantees. Run
 * under `make test SANITIZE=1` too: several findings were sanitizer
 * reports, which fail the CLI (exit 86) there. Frame findings of fuzz_xdp
 * (verdict or reason mismatches) go into tests/xdp_vectors.h instead.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define PORTGATE PG_BUILD_DIR "/portgate"

struct finding {
	const char *name;
	const char *found_by;
	const uint8_t *pcap; /* input file; NULL: hex holds --hex arguments */
	size_t pcap_len;
	const char *hex;
	const char *jq;	  /* must be true of `portgate test -j` */
	const char *conf; /* a --config file's text, or NULL */
};

/* pcap, PPP, one IPv4 TCP/25 record whose wire length says 4 GiB - 1. */
static const uint8_t wire_wrap[] = {
	0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03,
	0x00, 0x21, 0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x00, 0x00,
	0xc6, 0x33, 0x64, 0x0a, 0x64, 0x40, 0x00, 0x0a, 0x9c, 0x40, 0x00, 0x19, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const struct finding findings[] = {
	{"pcap wire length near 4 GiB wrapped below the captured length", "fuzz_capture", wire_wrap,
	 sizeof(wire_wrap), NULL,
	 ".[0].wire_len == 4294967295 and .[0].verdict == \"DROP\" and .[0].reason == "
	 "\"blocked\"",
	 NULL},
	{"IPv4 header at offset 14: misaligned loads in the host parser (UBSan)", "fuzz_xdp", NULL,
	 0,
	 "0001020304050001020304060800450000280001000040060000c633640a"
	 "6440000a9c40001900000000000000005002200000000000",
	 ".[0].verdict == \"DROP\" and .[0].reason == \"blocked\"", NULL},
	{"IPv6 header after one VLAN tag and PFC PPPoE (odd offset 25)", "fuzz_xdp", NULL, 0,
	 "0001020304050001020304068100006488641100000100315760000000000811402001"
	 "0db801000000000000000000001020010db80064000000000000000000109c4000a100080000",
	 ".[0].verdict == \"DROP\" and .[0].reason == \"blocked\"", NULL},
	{"empty configuration: qsort of no rules, a null pointer (UBSan)", "fuzz_policy", NULL, 0,
	 "0001020304050001020304060800450000280001000040060000c633640a"
	 "6440000a9c40001900000000000000005002200000000000",
	 ".[0].verdict == \"PASS\" and .[0].reason == \"no_match\" and .[-1].summary.policy == "
	 "\"config\"",
	 ""},
};

Test(findings, replayed)
{
	char tmp[64], conf[64], opt[96], out[65536];
	size_t failed = 0;

	snprintf(tmp, sizeof(tmp), "/tmp/pgfind%d.pcap", getpid());
	snprintf(conf, sizeof(conf), "/tmp/pgfind%d.conf", getpid());
	for (size_t i = 0; i < sizeof(findings) / sizeof(findings[0]); i++) {
		const struct finding *f = &findings[i];
		int rc;

		opt[0] = '\0';
		if (f->conf) {
			FILE *c = fopen(conf, "w");

			cr_assert(c && fputs(f->conf, c) >= 0 && !fclose(c));
			snprintf(opt, sizeof(opt), "--config %s", conf);
		}
		if (f->pcap) {
			FILE *p = fopen(tmp, "w");

			cr_assert(p && fwrite(f->pcap, 1, f->pcap_len, p) == f->pcap_len &&
				  !fclose(p));
			rc = tl_sh(out, sizeof(out),
				   "%s --pin-path /sys/fs/bpf/pgfind%d test -j %s --pcap %s 2>&1",
				   PORTGATE, getpid(), opt, tmp);
		} else {
			rc = tl_sh(out, sizeof(out),
				   "%s --pin-path /sys/fs/bpf/pgfind%d test -j %s --hex '%s' 2>&1",
				   PORTGATE, getpid(), opt, f->hex);
		}
		if (rc == 0) {
			rc = tl_sh(NULL, 0, "printf '%%s' '%s' | jq -e '%s' >/dev/null", out,
				   f->jq);
			if (rc)
				cr_log_error("vector \"%s\" (found by %s): not %s:\n%s", f->name,
					     f->found_by, f->jq, out);
		} else {
			cr_log_error("vector \"%s\" (found by %s): portgate test exit %d:\n%s",
				     f->name, f->found_by, rc, out);
		}
		failed += rc != 0;
	}
	unlink(tmp);
	unlink(conf);
	cr_expect_eq(failed, 0, "%zu of %zu findings regressed", failed,
		     sizeof(findings) / sizeof(findings[0]));
}
