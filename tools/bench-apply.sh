#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# `portgate apply` at scale: a file with N subscriber exemptions (default
# 1,000,000) applied to a fresh state, applied again (no changes), then a
# file that differs in one line. Writes a Markdown section to $1 (stdout if
# none). Wall and CPU (user + sys) time per run, and apply -v's phases of
# the one-line change. BENCH_QUICK=1: 10,000 exemptions.
set -euo pipefail

cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-apply: run as root" >&2; exit 1; }
[ -x build/portgate ] || { echo "bench-apply: build/portgate missing: run make first" >&2; exit 1; }
n=${BENCH_APPLY_N:-1000000}
[ "${BENCH_QUICK:-0}" = 1 ] && n=10000
out=${1:-/dev/stdout}

ns=pgbapply$$
pins=/sys/fs/bpf/pgbapply$$
dir=$(mktemp -d /tmp/pgbapply.XXXXXX)
cleanup() {
	set +e
	nsenter --net=/run/netns/$ns "$dir/portgate" --pin-path "$pins" detach --all >/dev/null 2>&1
	ip netns del $ns 2>/dev/null
	rm -rf "$pins" "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp build/portgate "$dir/"
ip netns add $ns
ip -n $ns link add eth0 type veth peer name eth1
ip -n $ns link set eth0 up

# N host addresses from 100.64.0.0/10 (4,194,304 of them)
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) {
	a = 1 + i; printf "100.%d.%d.%d\n", 64 + int(a / 65536), int(a / 256) % 256, a % 256 } }' \
	>"$dir/subs.txt"
common="attach eth0 --role uplink --mode generic
defaults
allow 192.0.2.0/26 --peer --rule udp/161
allow --file subs.txt --subscriber"
printf '%s\nallow 198.51.100.25 --peer --rule tcp/25\n' "$common" >"$dir/a.conf"
printf '%s\nallow 198.51.100.26 --peer --rule tcp/25\n' "$common" >"$dir/b.conf"

# one run: "wall | CPU" (CPU = user + sys of portgate)
run() {
	local t
	t=$({ TIMEFORMAT='%R %U %S'; time nsenter --net=/run/netns/$ns "$dir/portgate" \
		--pin-path "$pins" "$@" >"$dir/out" 2>"$dir/err"; } 2>&1)
	echo "$t" | awk '{ printf "%.2f s | %.2f s", $1, $2 + $3 }'
}

first=$(run apply "$dir/a.conf")
again=$(run apply "$dir/a.conf")
grep -qx 'no changes' "$dir/out" || { echo "bench-apply: second apply changed something" >&2; exit 1; }
one=$(run -v apply "$dir/b.conf")
grep -q 'exemptions +1 -1' "$dir/out" || { echo "bench-apply: unexpected: $(cat "$dir/out")" >&2; exit 1; }
phases=$(sed -n 's/^portgate: apply: //p' "$dir/err")
check=$(run apply "$dir/a.conf" --check)

{
	printf '\n## Apply at scale\n\n'
	printf '`tools/bench-apply.sh`: a configuration file with %s subscriber exemptions (one `allow --file`), on %s CPUs (load average %s while measuring).\n\n' \
		"$(echo "$n" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
	printf '| run | wall | CPU (user + sys) |\n|---|---:|---:|\n'
	printf '| `apply --check` (read and check only) | %s |\n' "$check"
	printf '| first `apply` (empty state) | %s |\n' "$first"
	printf '| `apply` of the same file (no changes) | %s |\n' "$again"
	printf '| `apply` of a file that differs in one line | %s |\n' "$one"
	printf '\nPhases of the one-line change (`apply -v`, wall and CPU):\n\n```\n%s\n```\n' "$phases"
} >"$out"
