// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * trafficgen: inject 64-byte frames into a veth pair at the highest rate
 * one core can make. A program that returns XDP_TX is run through
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES and ingress_ifindex =
 * the sending veth, so every repetition leaves that veth as a real frame
 * and reaches its peer, where the program under test runs natively.
 * (Debian's xdp-trafficgen fails on current kernels; this is the same
 * kernel mechanism without libxdp.)
 *
 * Prints one line: frames=N ns=T mpps=R (frames handed to the veth; the
 * receiver counts what it got).
 *
 * --egress: the frames leave IFACE itself through a packet socket
 * (sendmmsg, qdisc path), so they pass IFACE's tc egress hook: what
 * `make bench` measures an egress filter with. A frame the hook drops
 * fails its send (ENOBUFS) and is counted as sent; dropped=N says how
 * many did.
 */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "clock.h"
#include "pkt.h"
#include "trafficgen.skel.h"

/* The largest frame a veth of MTU 1500 passes on. */
#define ETH_FRAME_MAX 1514

/* One syscall per chunk keeps each call short enough to stay signal-safe. */
#define CHUNK 1000000ULL

static const char usage[] =
	"usage: trafficgen --dev IFACE [--frames N] [--port P] [--udp] [--ipv6]\n"
	"                  [--size BYTES] [--frame FILE] [--batch N] [--egress] [-v]\n"
	"  Sends N (default 1000000) frames to IFACE's veth peer: TCP (or UDP)\n"
	"  to destination port P (default 25), BYTES long (default 64), or the\n"
	"  Ethernet frame in FILE (raw bytes, 14..1514 of them).\n";

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int parse_u64(const char *opt, const char *s, unsigned long long max,
		     unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || !*s || *end || *out == 0 || *out > max) {
		fprintf(stderr, "trafficgen: bad %s '%s': expected an integer 1..%llu\n", opt, s,
			max);
		return -1;
	}
	return 0;
}

/* A frame someone else built (tools/soak.sh sends the test vectors). */
static int read_frame(const char *path, uint8_t *frame, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "trafficgen: bad --frame '%s': %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(frame, 1, ETH_FRAME_MAX + 1, f);
	fclose(f);
	if (n < 14 || n > ETH_FRAME_MAX) {
		fprintf(stderr, "trafficgen: bad --frame '%s': %zu bytes, expected 14..%d\n", path,
			n, ETH_FRAME_MAX);
		return -1;
	}
	*len = n;
	return 0;
}

/* --egress: frames out of ifindex through a packet socket, batch per sendmmsg. */
static int send_egress(unsigned int ifindex, uint8_t *frame, size_t len, unsigned long long frames,
		       unsigned long long batch)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex};
	struct mmsghdr msg[256];
	struct iovec iov = {.iov_base = frame, .iov_len = len};
	unsigned long long sent = 0, dropped = 0, t0, t1, c0, c1;
	unsigned int i;
	int fd;

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "trafficgen: packet socket: %s\n", strerror(errno));
		return 1;
	}
	memset(msg, 0, sizeof(msg));
	for (i = 0; i < 256; i++) {
		msg[i].msg_hdr.msg_iov = &iov;
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	while (sent < frames) {
		unsigned int n = frames - sent < batch ? frames - sent : batch;
		int r = sendmmsg(fd, msg, n, 0);

		if (r > 0) {
			sent += r;
		} else if (errno == ENOBUFS) {
			/* the egress hook dropped the first frame of the batch */
			sent++;
			dropped++;
		} else if (errno != EINTR) {
			fprintf(stderr, "trafficgen: sendmmsg: %s\n", strerror(errno));
			close(fd);
			return 1;
		}
	}
	t1 = clock_ns(CLOCK_MONOTONIC);
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	close(fd);
	printf("frames=%llu ns=%llu cpu_ns=%llu mpps=%.3f dropped=%llu\n", sent, t1 - t0, c1 - c0,
	       (double)sent * 1000.0 / (double)(t1 - t0), dropped);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dev", required_argument, NULL, 'd'},	 {"frames", required_argument, NULL, 'n'},
		{"port", required_argument, NULL, 'p'},	 {"udp", no_argument, NULL, 'u'},
		{"ipv6", no_argument, NULL, '6'},	 {"size", required_argument, NULL, 's'},
		{"batch", required_argument, NULL, 'b'}, {"verbose", no_argument, NULL, 'v'},
		{"frame", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{"egress", no_argument, NULL, 'e'},	 {},
	};
	unsigned long long frames = 1000000, port = 25, size = 64, batch = 64, sent = 0;
	unsigned long long t0, t1, c0, c1;
	struct pkt_spec spec = {.ip = 4, .proto = IPPROTO_TCP, .sport = 40000};
	struct trafficgen *skel = NULL;
	uint8_t frame[PKT_MAX];
	const char *dev = NULL, *frame_file = NULL;
	unsigned int ifindex;
	bool verbose = false, egress = false;
	size_t len;
	int c, err, ret = 1;

	while ((c = getopt_long(argc, argv, "d:n:p:u6s:b:f:vhe", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			egress = true;
			break;
		case 'd':
			dev = optarg;
			break;
		case 'n':
			if (parse_u64("--frames", optarg, 1ULL << 40, &frames))
				return 2;
			break;
		case 'p':
			if (parse_u64("--port", optarg, 65535, &port))
				return 2;
			break;
		case 'u':
			spec.proto = IPPROTO_UDP;
			break;
		case '6':
			spec.ip = 6;
			break;
		case 's':
			if (parse_u64("--size", optarg, 1500, &size))
				return 2;
			break;
		case 'b':
			/* the kernel's limit for live frames */
			if (parse_u64("--batch", optarg, 256, &batch))
				return 2;
			break;
		case 'v':
			verbose = true;
			break;
		case 'f':
			frame_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!dev || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	ifindex = if_nametoindex(dev);
	if (!ifindex) {
		fprintf(stderr, "trafficgen: bad --dev '%s': expected an interface in this netns\n",
			dev);
		return 2;
	}
	spec.dport = port;
	spec.min_len = size;
	if (frame_file) {
		if (read_frame(frame_file, frame, &len))
			return 2;
	} else {
		len = pkt_build(&spec, frame, sizeof(frame));
	}
	if (!frame_file && (!len || len > size)) {
		fprintf(stderr, "trafficgen: bad --size %llu: the frame needs %zu bytes\n", size,
			len);
		return 2;
	}

	if (egress)
		return send_egress(ifindex, frame, len, frames, batch);
	if (!verbose)
		libbpf_set_print(quiet_print);
	skel = trafficgen__open_and_load();
	if (!skel) {
		fprintf(stderr, "trafficgen: loading the XDP_TX program: %s\n", strerror(errno));
		return 1;
	}

	t0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	while (sent < frames) {
		unsigned long long n = frames - sent < CHUNK ? frames - sent : CHUNK;
		struct xdp_md ctx = {.data_end = len, .ingress_ifindex = ifindex};
		LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = n,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = batch);

		err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.trafficgen_tx), &topts);
		if (err) {
			fprintf(stderr, "trafficgen: BPF_PROG_TEST_RUN (live frames) on %s: %s\n",
				dev, strerror(-err));
			goto out;
		}
		sent += n;
	}
	t1 = clock_ns(CLOCK_MONOTONIC);
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	/*
	 * cpu_ns: this thread's on-CPU time, which includes the receiving
	 * veth's NAPI when it runs as softirq on this CPU (same-core mode).
	 */
	printf("frames=%llu ns=%llu cpu_ns=%llu mpps=%.3f\n", sent, t1 - t0, c1 - c0,
	       (double)sent * 1000.0 / (double)(t1 - t0));
	ret = 0;
out:
	trafficgen__destroy(skel);
	return ret;
}
