#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Preflight: can this machine build, test, demo and bench portgate? Checks
# capabilities (compile a BPF object, open an SMTP session over IPv6, ...),
# not package names. Runs first in `make test`, `make demo`, `make bench`
# (and alone as `make preflight` or `tools/install-deps.sh --check`).
#
# Every missing capability is one line on stderr naming it, the Debian
# package that provides it and the failing command's last words; exit 1.
# All probes run in private namespaces and a temporary directory: nothing
# is left behind. A new capability is one `need` line at the bottom.
set -uo pipefail

PY=${PG_LAB_PYTHON:-/usr/bin/python3} # the lab's python (tools/lab.sh)
ARCH=$(uname -m)
T=$(mktemp -d /tmp/pgpreflight.XXXXXX)
trap 'rm -rf "$T"' EXIT
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

n=0 fails=0
# need CAPABILITY PACKAGE CHECK [ARGS...]: run CHECK; if it fails, one line.
# A check may write another package name to $T/pkg (the one to blame for
# how it failed), or return 77: not checked, because what it builds on is
# missing and already reported.
need() {
	local what=$1 pkg=$2 rc last
	shift 2
	rm -f "$T/pkg"
	"$@" >"$T/out" 2>&1 </dev/null
	rc=$?
	[ $rc -eq 77 ] && return
	n=$((n + 1))
	[ $rc -eq 0 ] && return
	fails=$((fails + 1))
	[ -s "$T/pkg" ] && pkg=$(<"$T/pkg")
	last=$(grep -v '^[[:space:]]*$' "$T/out" | tail -n 1 | tr -s '[:space:]' ' ' | cut -c1-160)
	printf 'preflight: missing: %s -- %s%s\n' "$what" "$(remedy $pkg)" \
		"${last:+ (${last% })}" >&2
}
remedy() { # PACKAGE...: install the missing ones (all there: not a package matter)
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "apt-get install ${missing[*]}"
	else
		echo "package(s) $* installed, yet the check fails"
	fi
}
# the same, for what needs root (reported once, by the root line)
need_root() {
	[ $IS_ROOT -eq 1 ] || return 0
	need "$@"
}

has() { # has CMD...: every command is on PATH
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || {
			echo "$c: command not found"
			return 1
		}
	done
}

cc_link() { # cc_link LIBS SOURCE: compile and link a C program
	local libs=$1
	has gcc || return 77
	printf '%b\n' "$2" >"$T/t.c"
	# shellcheck disable=SC2086 # LIBS is a word list
	gcc -o "$T/t" "$T/t.c" $libs
}

san_link() { # gcc builds and runs a program with ASan and UBSan
	has gcc || return 77
	printf 'int main(void) { return 0; }\n' >"$T/s.c"
	gcc -fsanitize=address,undefined -o "$T/s" "$T/s.c" && "$T/s"
}

fuzz_link() { # clang links libFuzzer with ASan and UBSan, and it runs
	has clang || return 77
	printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$T/f.c"
	clang -fsanitize=fuzzer,address,undefined -o "$T/f" "$T/f.c" && "$T/f" -runs=1
}

bpf_obj() { # clang targets BPF: a tiny XDP object with BTF (no headers)
	cat >"$T/p.bpf.c" <<-'EOF'
		char LICENSE[] __attribute__((section("license"), used)) = "GPL";
		__attribute__((section("xdp"), used)) int pf_pass(void *ctx)
		{
			return 2; /* XDP_PASS */
		}
	EOF
	has clang && clang -g -O2 -target bpf -c "$T/p.bpf.c" -o "$T/p.bpf.o"
}

skeleton() {
	[ -s "$T/p.bpf.o" ] || return 77
	has bpftool && bpftool gen skeleton "$T/p.bpf.o" name pf >"$T/p.skel.h"
}

bpffs() { # a bpffs mount of our own, in a private mount namespace
	mkdir -p "$T/fs"
	unshare --mount --propagation private sh -c 'mount -t bpf pgpreflight "$0"' "$T/fs"
}

bpf_load() { # the kernel loads and pins an XDP program (bpf(2), CAP_BPF)
	[ -s "$T/p.bpf.o" ] && command -v bpftool >/dev/null || return 77
	unshare --mount --propagation private sh -c \
		'mount -t bpf pgpreflight "$0" && bpftool prog load "$1" "$0/p" type xdp' \
		"$T/fs" "$T/p.bpf.o"
}

netns() { # named namespaces and veth pairs, as the lab and tests make them
	local ns=pgpf$$
	has ip ss nstat || return 1
	ip netns add $ns || return 1
	ip -n $ns link add pfa type veth peer name pfb && ip -n $ns link set pfa up
	local rc=$?
	ip netns del $ns
	return $rc
}

in_netns() { # CMD...: run in a throwaway network namespace with lo up
	unshare --net sh -c 'ip link set lo up && "$@"' sh "$@"
}

nft_ingress() { # an nftables netdev ingress chain on a veth (make bench)
	has nft ip || return 1
	in_netns sh -c 'ip link add pfa type veth peer name pfb && nft -f - <<-EOF
		table netdev pf {
			chain in {
				type filter hook ingress device pfa priority 0;
				tcp dport 25 drop
			}
		}
	EOF'
}

veth_gro() { # GRO on a veth (gives it NAPI without XDP), per-queue counters
	has ethtool ip || return 1
	in_netns sh -c 'ip link add pfa type veth peer name pfb &&
		ethtool -K pfa gro on && ethtool -S pfa | grep -q xdp_packets ||
		{ echo "ethtool -S pfa: no xdp_packets counters"; exit 1; }'
}

xdp_filter() { # xdp-filter and the BPF object bench-xdp loads from libxdp1
	has xdp-filter || return 1
	compgen -G "/usr/lib/*/bpf/xdpfilt_alw_all.o" >/dev/null ||
		compgen -G "/usr/lib/bpf/xdpfilt_alw_all.o" >/dev/null || {
		echo "xdpfilt_alw_all.o not found under /usr/lib/*/bpf"
		echo libxdp1 >"$T/pkg"
		return 1
	}
}

py() { # py CODE: the lab's python runs CODE
	[ -x "$PY" ] || return 77
	"$PY" -c "$1"
}

swaks_v6() { # a real SMTP session over IPv6 (::1 of a private netns)
	has swaks perl || return 1
	if ! perl -MIO::Socket::INET6 -e1 2>/dev/null; then
		echo libio-socket-inet6-perl >"$T/pkg"
		# without a python to listen, the module is the whole check
		[ -x "$PY" ] || { perl -MIO::Socket::INET6 -e1; return 1; }
	fi
	[ -x "$PY" ] && command -v ip >/dev/null || return 77
	in_netns "$PY" - <<-'EOF'
		import socket, subprocess, sys, threading
		s = socket.socket(socket.AF_INET6)
		s.bind(("::1", 0))
		s.listen(1)
		s.settimeout(10)
		def serve():  # answers EHLO, MAIL, RCPT; ends at QUIT
		    try:
		        c, _ = s.accept()
		        c.settimeout(10)
		        f = c.makefile("rwb")
		        f.write(b"220 preflight ESMTP\r\n")
		        f.flush()
		        for line in f:
		            quit = line[:4].upper() == b"QUIT"
		            f.write(b"221 bye\r\n" if quit else b"250 ok\r\n")
		            f.flush()
		            if quit:
		                break
		    except OSError:
		        pass
		threading.Thread(target=serve, daemon=True).start()
		r = subprocess.run(["swaks", "--server", "::1", "--port", str(s.getsockname()[1]),
		                    "--from", "a@example.org", "--to", "b@example.com",
		                    "--quit-after", "RCPT", "--timeout", "5"],
		                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
		out = r.stdout.decode(errors="replace")
		if r.returncode == 0 and "<-  250" in out:
		    sys.exit(0)
		print(out)
		sys.exit(1)
	EOF
}

man_page() { # a real man(1), not a minimized system's stub
	has man col || return 1
	printf '.TH PF 8\n.SH NAME\npreflight\n' >"$T/pf.8"
	MANWIDTH=80 man -E ascii -l "$T/pf.8" 2>&1 | col -bx | grep -q '^NAME'
}

gnuplot_png() {
	has gnuplot || return 1
	gnuplot -e "set terminal pngcairo; set output '$T/c.png'; plot x" && [ -s "$T/c.png" ]
}

# ------------------------------------------------------------ capabilities
if [ $IS_ROOT -eq 0 ]; then
	echo "preflight: missing: root (BPF, XDP, network namespaces) -- run as root" >&2
	fails=1
fi
n=1
need "make" make has make
need "C compiler (gcc) builds and links a program" "gcc libc6-dev" \
	cc_link "" '#include <stdio.h>\nint main(void) { return puts("") < 0; }'
need "kernel UAPI headers (linux/bpf.h, asm/types.h)" linux-libc-dev \
	cc_link "-I/usr/include/$ARCH-linux-gnu" '#include <linux/bpf.h>\nint main(void) { return BPF_MAP_TYPE_LPM_TRIE != 11; }'
need "libbpf headers and library (-lbpf)" libbpf-dev \
	cc_link -lbpf '#include <bpf/libbpf.h>\nint main(void) { return libbpf_major_version() < 1; }'
need "libelf headers and library (-lelf)" libelf-dev \
	cc_link -lelf '#include <gelf.h>\nint main(void) { return elf_version(EV_CURRENT) == EV_NONE; }'
need "zlib headers and library (-lz)" zlib1g-dev \
	cc_link -lz '#include <zlib.h>\nint main(void) { return !zlibVersion(); }'
need "libpcap headers and library (-lpcap)" libpcap-dev \
	cc_link -lpcap '#include <pcap/pcap.h>\nint main(void) { return !pcap_lib_version(); }'
need "Criterion test framework (-lcriterion)" libcriterion-dev \
	cc_link -lcriterion '#include <criterion/criterion.h>\nTest(pf, ok) {}'
need "clang compiles BPF objects (-target bpf)" clang bpf_obj
need "bpftool generates skeletons" bpftool skeleton
need "clang-format (make check-format)" clang-format has clang-format
need "gcc links ASan and UBSan (make test SANITIZE=1)" "libasan8 libubsan1" san_link
need "clang links libFuzzer, ASan, UBSan (make fuzz)" libclang-rt-14-dev fuzz_link
need_root "bpffs mountable (mount -t bpf)" mount bpffs
need_root "kernel loads and pins an XDP program (bpf syscall)" bpftool bpf_load
need "nsenter, unshare, taskset, setsid, flock" util-linux has nsenter unshare taskset setsid flock
need "sysctl" procps has sysctl
need_root "network namespaces and veth pairs (ip, ss, nstat)" iproute2 netns
need_root "nftables netdev ingress chain (nft)" nftables nft_ingress
need_root "ethtool turns GRO on for a veth and reads its counters" ethtool veth_gro
need "xdp-filter and its BPF programs" xdp-tools xdp_filter
need "python3 at $PY (the lab's python)" python3 has "$PY"
need "$PY imports aiosmtpd" python3-aiosmtpd py 'import aiosmtpd.smtp'
need "$PY imports scapy" python3-scapy py 'from scapy.layers.ppp import PPPoE'
need "snmpd (SNMP agent)" snmpd sh -c 'snmpd -v >/dev/null'
need "snmpget (SNMP client)" snmp snmpget --version
need "curl (HTTP client)" curl curl --version
need_root "swaks opens an SMTP session over IPv6" swaks swaks_v6
need "jq" jq sh -c 'jq -n 1 >/dev/null'
need "tcpdump reads pcap files (test_trace)" tcpdump sh -c 'tcpdump --version >/dev/null 2>&1'
need "gnuplot draws PNG charts (pngcairo)" gnuplot-nox gnuplot_png
need "git" git has git
need "scdoc builds the man page (make man)" scdoc sh -c 'printf "x(8)\n\n# NAME\n\nx\n" | scdoc >/dev/null'
need "man renders a page, col strips it (test_docs)" "man-db bsdextrautils" man_page
need "dpkg-buildpackage with debhelper (make deb)" "dpkg-dev debhelper" has dpkg-buildpackage dh
need "lintian (test_pkg)" lintian has lintian
need "bash-completion (test_pkg)" bash-completion test -r /usr/share/bash-completion/bash_completion
need "systemd-analyze verifies units (test_pkg)" systemd has systemd-analyze
need "prometheus-node-exporter (test_metrics)" prometheus-node-exporter has prometheus-node-exporter
need "$PY imports prometheus_client (test_metrics)" python3-prometheus-client py 'import prometheus_client.parser'
need "qemu boots a kernel under TCG (make test-kernel)" qemu-system-x86 qemu-system-x86_64 -accel help
need "busybox (static) for the VM's initramfs" busybox-static test -x /bin/busybox
need "depmod indexes the 6.1 kernel's modules" kmod has depmod
need "cpio packs the initramfs" cpio has cpio

if [ $fails -ne 0 ]; then
	echo "preflight: $fails of $n capabilities missing; tools/install-deps.sh installs the packages" >&2
	exit 1
fi
echo "preflight: all $n capabilities present"
