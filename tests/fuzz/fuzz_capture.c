// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fuzzer for the frames `portgate test` reads (loader/capture.c): hex
 * arguments and pcap/pcapng files of every link type it re-frames. After
 * a successful read every frame must be what testrun.c may run: a heap
 * buffer of exactly len bytes, TR_MIN_FRAME..TR_MAX_FRAME, no longer than
 * what was captured, and the host parser (bpf/parse.h) walks it with ASan
 * watching the buffer's end.
 *
 * Input: one mode byte, then the payload.
 *   bit 0: 0 = the payload is one --hex argument, 1 = a capture file
 *   bit 1: --strict
 * PG_FUZZ_SEEDS=DIR writes seeds: hex frames, and captures built from the
 * hand-written vectors as Ethernet, raw IP, Linux cooked v1/v2, NULL,
 * PPP, 802.11 (radiotap, PPI, Prism), Frame Relay, ARCNET, NFLOG, PKTAP,
 * Juniper Ethernet and pcapng.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "testrun.h"
#include "parse.h"

static int fz_fd = -1;
static char fz_path[64];

static void fz_die(const char *what)
{
	fprintf(stderr, "fuzz_capture: %s: %s\n", what, strerror(errno));
	abort();
}

static void fz_bad(const struct tr_frame *f, const char *what)
{
	fprintf(stderr, "fuzz_capture: frame %u (len %u, captured %u, wire %u): %s\n", f->no,
		f->len, f->cap_len, f->wire_len, what);
	abort();
}

static void fz_check(const struct tr_input *in)
{
	unsigned int i, run = 0, skipped = 0;

	for (i = 0; i < in->n; i++) {
		const struct tr_frame *f = &in->v[i];
		struct pg_pkt pkt;

		if (f->no != i + 1)
			fz_bad(f, "frames out of order");
		if (f->skip) {
			if (f->data)
				fz_bad(f, "a skipped frame holds data");
			skipped++;
			continue;
		}
		run++;
		if (!f->data || f->len < TR_MIN_FRAME || f->len > TR_MAX_FRAME)
			fz_bad(f, "a frame to run outside the frame limits");
		if (f->len > f->cap_len || f->cap_len > f->wire_len)
			fz_bad(f, "lengths: run <= captured <= wire does not hold");
		if (f->len < f->cap_len && f->len != TR_MAX_FRAME)
			fz_bad(f, "cut short without being a super-frame");
		/* the buffer is exactly len bytes (malloc in capture.c): ASan bounds it */
		memset(&pkt, 0, sizeof(pkt));
		pg_parse(f->data, f->data + f->len, &pkt);
	}
	if (run != in->run || skipped != in->skipped)
		fz_bad(&in->v[0], "run/skipped counts do not match the frames");
}

/* ---- seeds */

struct fz_buf {
	uint8_t b[65536];
	size_t n;
};

static void put(struct fz_buf *o, const void *p, size_t n)
{
	if (n && o->n + n <= sizeof(o->b)) {
		memcpy(o->b + o->n, p, n);
		o->n += n;
	}
}

static void put32(struct fz_buf *o, uint32_t v)
{
	put(o, &v, 4);
}

static void put16(struct fz_buf *o, uint16_t v)
{
	put(o, &v, 2);
}

/* IPv4/TCP to port 25 and IPv6/UDP to port 161, without Ethernet. */
static const uint8_t ip4[] = {0x45, 0,	0,   40, 0,    1,    0,	   0,	 64, 6,	 0, 0, 198, 51,
			      100,  10, 100, 64, 0,    10,   0x9c, 0x40, 0,  25, 0, 0, 0,   0,
			      0,    0,	0,   0,	 0x50, 0x02, 0x20, 0x00, 0,  0,	 0, 0};
static const uint8_t ip6[] = {0x60, 0, 0, 0, 0, 8, 17, 64, 0x20, 1,    0x0d, 0xb8, 1, 0,    0, 0,
			      0,    0, 0, 0, 0, 0, 0,  16, 0x20, 1,    0x0d, 0xb8, 0, 0x64, 0, 0,
			      0,    0, 0, 0, 0, 0, 0,  16, 0x9c, 0x40, 0,    161,  0, 8,    0, 0};

static void pcap_hdr(struct fz_buf *o, uint32_t linktype)
{
	put32(o, 0xa1b2c3d4);
	put16(o, 2);
	put16(o, 4);
	put32(o, 0);
	put32(o, 0);
	put32(o, 65535);
	put32(o, linktype);
}

/* One record: the link header hdr[hlen], then the IP packet. */
static void pcap_rec(struct fz_buf *o, const uint8_t *hdr, size_t hlen, const uint8_t *ip,
		     size_t iplen)
{
	put32(o, 1);
	put32(o, 0);
	put32(o, hlen + iplen);
	put32(o, hlen + iplen);
	put(o, hdr, hlen);
	put(o, ip, iplen);
}

static void seed(const char *dir, const char *name, uint8_t mode, const struct fz_buf *o)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputc(mode, f) == EOF || fwrite(o->b, 1, o->n, f) != o->n || fclose(f))
		fz_die(path);
}

static void seed_pcap(const char *dir, const char *name, uint32_t linktype, const uint8_t *h4,
		      size_t l4, const uint8_t *h6, size_t l6)
{
	static struct fz_buf o;

	o.n = 0;
	pcap_hdr(&o, linktype);
	pcap_rec(&o, h4, l4, ip4, sizeof(ip4));
	pcap_rec(&o, h6, l6, ip6, sizeof(ip6));
	seed(dir, name, 1, &o);
}

static int fz_write_seeds(const char *dir)
{
	static const uint8_t eth4[] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00};
	static const uint8_t eth6[] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x86, 0xdd};
	static const uint8_t null4[] = {2, 0, 0, 0}, null6[] = {10, 0, 0, 0};
	static const uint8_t ppp4[] = {0xff, 0x03, 0x00, 0x21}, ppp6[] = {0xff, 0x03, 0x00, 0x57};
	static const uint8_t sll4[] = {0, 0, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0, 0x08, 0x00};
	static const uint8_t sll6[] = {0, 4, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0, 0x86, 0xdd};
	static const uint8_t sll2_4[] = {0x08, 0, 0, 0, 0, 0, 0, 2, 0, 1,
					 0,    6, 0, 1, 2, 3, 4, 5, 0, 0};
	static const uint8_t sll2_6[] = {0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1,
					 4,    6,    0, 1, 2, 3, 4, 5, 0, 0};
	static struct fz_buf o;
	static const char *const hex[] = {
		"0001020304050001020304060800" /* + ip4 below */,
		"00:01:02:03:04:05:00:01:02:03:04:06:86:dd:60:00:00:00:00:08:11:40",
		"0x 0001 0203 0405 0001 0203 0406 8100 0064 0800 45",
		"00-01-02-03-04-05-00-01-02-03-04-06-88-64-11-00-00-01-00-2a-00-21",
	};

	mkdir(dir, 0755);
	for (size_t i = 0; i < sizeof(hex) / sizeof(hex[0]); i++) {
		char name[16];

		o.n = 0;
		put(&o, hex[i], strlen(hex[i]));
		if (i == 0)
			for (size_t j = 0; j < sizeof(ip4); j++) {
				char two[3];

				snprintf(two, sizeof(two), "%02x", ip4[j]);
				put(&o, two, 2);
			}
		snprintf(name, sizeof(name), "hex%zu", i);
		seed(dir, name, 0, &o);
	}
	seed_pcap(dir, "en10mb", 1, eth4, sizeof(eth4), eth6, sizeof(eth6));
	seed_pcap(dir, "raw", 101, NULL, 0, NULL, 0);
	seed_pcap(dir, "ipv4", 228, NULL, 0, NULL, 0);
	seed_pcap(dir, "null", 0, null4, sizeof(null4), null6, sizeof(null6));
	seed_pcap(dir, "loop", 108, (const uint8_t[]){0, 0, 0, 2}, 4,
		  (const uint8_t[]){0, 0, 0, 24}, 4);
	seed_pcap(dir, "ppp", 9, ppp4, sizeof(ppp4), ppp6, sizeof(ppp6));
	seed_pcap(dir, "sll", 113, sll4, sizeof(sll4), sll6, sizeof(sll6));
	seed_pcap(dir, "sll2", 276, sll2_4, sizeof(sll2_4), sll2_6, sizeof(sll2_6));
	/* 802.11: radiotap (TSFT, Flags), QoS data, LLC/SNAP; PPI and Prism around it */
	{
		static uint8_t rt[18 + 26 + 8], ppi[8 + 26 + 8], prism[144 + 26 + 8];
		static const uint8_t wifi[26 + 6] = {0x88, 0x02, [24] = 0, 0, 0xaa,
						     0xaa, 3,	 0,	   0, 0};
		uint8_t rt6[sizeof(rt)];

		rt[2] = 18;
		rt[4] = 3;
		memcpy(rt + 18, wifi, 32);
		rt[18 + 32] = 0x08;
		memcpy(rt6, rt, sizeof(rt));
		rt6[16] = 0x20; /* data pad: QoS header padded to 28 bytes */
		memmove(rt6 + 18 + 28, rt6 + 18 + 26, 6);
		rt6[18 + 32] = 0x86;
		rt6[18 + 33] = 0xdd;
		seed_pcap(dir, "radiotap", 127, rt, sizeof(rt), rt6, sizeof(rt6));
		ppi[2] = 8;
		ppi[4] = 105;
		memcpy(ppi + 8, rt + 18, 34);
		seed_pcap(dir, "ppi", 192, ppi, sizeof(ppi), ppi, sizeof(ppi));
		prism[0] = 0x44;
		prism[4] = 144;
		memcpy(prism + 144, rt + 18, 34);
		seed_pcap(dir, "prism", 119, prism, sizeof(prism), prism, sizeof(prism));
	}
	seed_pcap(dir, "frelay", 107, (const uint8_t[]){0x18, 0x41, 0x03, 0xcc}, 4,
		  (const uint8_t[]){0x18, 0x41, 0x03, 0x8e}, 4);
	seed_pcap(dir, "arcnet", 129, (const uint8_t[]){1, 2, 0, 0, 212, 0, 0, 0}, 8,
		  (const uint8_t[]){1, 2, 0, 0, 0xc4, 0, 0, 0}, 8);
	seed_pcap(dir, "nflog", 239,
		  (const uint8_t[]){2, 0, 0, 1, 8, 0, 10, 0, 'p', 'g', 0, 0, 44, 0, 9, 0}, 16,
		  (const uint8_t[]){10, 0, 0, 1, 64, 0, 9, 0}, 8);
	seed_pcap(dir, "pktap", 258, (const uint8_t[]){8, 0, 0, 0, 12, 0, 0, 0}, 8,
		  (const uint8_t[]){8, 0, 0, 0, 12, 0, 0, 0}, 8);
	seed_pcap(
		dir, "juniper", 178,
		(const uint8_t[]){'M', 'G', 'C', 0x01, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0},
		18, (const uint8_t[]){'M', 'G', 'C', 0x03, 0, 0, 0, 0}, 8);
	/* pcapng: section header, interface (EN10MB), one enhanced packet */
	o.n = 0;
	put32(&o, 0x0a0d0d0a);
	put32(&o, 28);
	put32(&o, 0x1a2b3c4d);
	put16(&o, 1);
	put16(&o, 0);
	put32(&o, 0xffffffff);
	put32(&o, 0xffffffff);
	put32(&o, 28);
	put32(&o, 1);
	put32(&o, 20);
	put16(&o, 1);
	put16(&o, 0);
	put32(&o, 65535);
	put32(&o, 20);
	put32(&o, 6);
	put32(&o, 32 + 56);
	put32(&o, 0);
	put32(&o, 0);
	put32(&o, 0);
	put32(&o, 54);
	put32(&o, 54);
	put(&o, eth4, sizeof(eth4));
	put(&o, ip4, sizeof(ip4));
	put16(&o, 0); /* pad to 4 */
	put32(&o, 32 + 56);
	seed(dir, "pcapng", 1, &o);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("PG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (seeds)
		exit(fz_write_seeds(seeds));
	fz_fd = memfd_create("fuzz_capture", 0);
	if (fz_fd < 0)
		fz_die("memfd_create");
	snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr_input in = {};
	bool strict;
	int err;

	if (size < 1 || size > 2 * TR_MAX_FRAME + 4096)
		return 0;
	strict = data[0] & 2;
	if (!(data[0] & 1)) {
		/* one --hex argument: a C string of exactly its bytes */
		char *s = malloc(size);

		if (!s)
			fz_die("malloc");
		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		err = tr_read_hex(&in, s, 1);
		free(s);
	} else {
		if (ftruncate(fz_fd, 0) ||
		    pwrite(fz_fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
			fz_die("memfd");
		err = tr_read_pcap(&in, fz_path, strict);
	}
	if (!err)
		fz_check(&in);
	tr_free_input(&in);
	return 0;
}
