#!/usr/bin/env bash
# Install what portgate needs to build, test, demo and bench on Debian 12.
# Idempotent and quick when everything is already there.
set -euo pipefail

pkgs=(
	make gcc clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool pkg-config
	libcriterion-dev libpcap-dev iproute2 nftables xdp-tools util-linux clang-format
	snmpd snmp swaks python3-aiosmtpd python3-scapy curl jq gnuplot-nox
	procps psmisc
	debhelper lintian scdoc man-db bash-completion prometheus-node-exporter
	python3-prometheus-client systemd
)

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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts snmpd on install; the lab runs its own instances.
systemctl disable --now snmpd >/dev/null 2>&1 || true
# Likewise prometheus-node-exporter: the metrics test runs its own instance.
systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true
