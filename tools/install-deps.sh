#!/usr/bin/env bash
# Install what portgate needs to build, test, demo and bench on Debian 12.
# Idempotent and quick when everything is already there.
#
#   tools/install-deps.sh           install what is missing (as root)
#   tools/install-deps.sh --check   only check capabilities (tools/preflight.sh)
#   tools/install-deps.sh --list    print the package names, one a line
#
# Every package the project uses is named here, also those that would only
# arrive as a Recommends: apt-get runs with --no-install-recommends, so
# nothing is installed by accident. Add a package to its group below and
# its capability to tools/preflight.sh (one line).
set -euo pipefail

pkgs=(
	# build: C, BPF objects and skeletons, the libraries portgate links
	make gcc libc6-dev clang llvm linux-libc-dev bpftool pkg-config
	libbpf-dev libelf-dev zlib1g-dev libpcap-dev
	# tests and style gate
	libcriterion-dev clang-format jq
	# make test SANITIZE=1 (gcc's ASan/UBSan runtimes), make fuzz (clang's libFuzzer)
	libasan8 libubsan1 libclang-rt-14-dev
	# network plumbing (netns, veth, nsenter, sysctl, mount, GRO on veth)
	iproute2 util-linux mount procps psmisc nftables ethtool
	# XDP reference filter (xdp-filter and its xdpfilt_*.o objects)
	xdp-tools libxdp1
	# lab peers and clients (tools/lab.sh, lab-serve.py, lab-frames.py)
	python3 python3-aiosmtpd python3-scapy snmpd snmp curl
	# swaks needs IO::Socket::INET6 for IPv6 (only a Recommends of swaks)
	swaks perl libio-socket-inet6-perl
	# bench report and chart
	gnuplot-nox
	# tools/fresh-machine-check.sh clones the repository
	git
	# Debian package, man page, completion (make deb, make man; test_pkg, test_docs)
	debhelper dpkg-dev lintian scdoc man-db bsdextrautils bash-completion systemd
	# metrics: node_exporter serves portgate's textfile (test_metrics)
	prometheus-node-exporter python3-prometheus-client
	# Debian 12's kernel 6.1 in a VM (make test-kernel, make verifier-budget)
	qemu-system-x86 busybox-static kmod cpio
	# portgate trace -w: tcpdump reads the pcap back (test_trace)
	tcpdump
)

case ${1:-} in
--check) exec "$(dirname "$0")/preflight.sh" ;;
--list)
	printf '%s\n' "${pkgs[@]}"
	exit 0
	;;
'') ;;
*)
	echo "install-deps: unknown option '$1': expected --check or --list" >&2
	exit 2
	;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to apt-get install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
t0=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (another checkout's install-deps) instead
# of failing at once on its lock.
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts snmpd on install; the lab runs its own instances.
systemctl disable --now snmpd >/dev/null 2>&1 || true
# Likewise prometheus-node-exporter: the metrics test runs its own instance.
systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true
echo "install-deps: installed ${#missing[@]} package(s) in $((SECONDS - t0)) s"
