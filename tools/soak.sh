#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# tools/soak.sh SECONDS OUTDIR (make soak [SOAK_TIME=1800]): live frames of
# the hand-written vector set (tests/xdp_vectors.h, written out by
# fuzz_xdp's seed mode) through a veth into portgate attached natively,
# burst after burst, while a second process churns the policy: block and
# unblock, allow and disallow (single and --file), apply of two configs in
# turn. Not in CI (it is a duration test).
#
# Checked for every burst: the receiving veth took in or refused (full
# ring) every injected frame, and portgate counted exactly the frames the
# veth took in (every frame accounted for). Checked at the end: every churn
# command exited 0, `portgate check` is clean, and the resident memory of
# two long-running CLI processes (stats --watch, trace) and the peak of the
# churn commands stayed flat. Writes OUTDIR/soak.md (the report section)
# and OUTDIR/bursts.tsv; exits 1 on any violation.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SECONDS OUTDIR" >&2; exit 2; }
secs=$1 OUT=$2
[ "$(id -u)" -eq 0 ] || { echo "make soak: run as root (BPF, netns, XDP)" >&2; exit 1; }
B=${BUILD:-build}
mkdir -p "$OUT"

ns=pgsoak$$ tx=sk$$t rx=sk$$r
pins=/sys/fs/bpf/pgsoak$$
tmp=$(mktemp -d /tmp/pgsoak.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	nsenter --net=/run/netns/$ns "$tmp/portgate" --pin-path $pins detach --all >/dev/null 2>&1 || true
	ip netns del $ns 2>/dev/null || true
	rm -rf "$pins" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf 'soak: %s\n' "$*" >&2; }

# private copies: a rebuild during the soak must not swap the binaries
cp "$B/portgate" "$B/trafficgen" "$tmp/"
nsx() { nsenter --net=/run/netns/$ns "$@"; }
pg() { nsx "$tmp/portgate" --pin-path $pins "$@"; }

# the vectors, one raw frame each: inbound ones (dir byte 0) the veth passes
PG_FUZZ_SEEDS=$tmp/seeds "$B/fuzz/fuzz_xdp" >/dev/null 2>&1 ||
	{ echo "soak: cannot write the vectors (build/fuzz/fuzz_xdp)" >&2; exit 1; }
mkdir "$tmp/frames"
for f in "$tmp"/seeds/vec*; do
	n=$(($(stat -c %s "$f") - 1))
	[ "$(head -c 1 "$f" | od -An -tu1 | tr -d ' ')" = 0 ] || continue
	((n >= 14 && n <= 1514)) || continue
	tail -c +2 "$f" >"$tmp/frames/$(basename "$f")"
done
frames=("$tmp"/frames/*)
log "${#frames[@]} inbound vectors of $(ls "$tmp"/seeds | wc -l), ${secs}s"

ip netns add $ns
ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n $ns link add $tx type veth peer name $rx
ip -n $ns link set $tx up
ip -n $ns link set $rx up
pg attach $rx --role uplink --mode native >/dev/null
pg defaults >/dev/null 2>&1 || true

veth_counters() { # "received ring_full"
	local r t
	r=$(nsx ethtool -S $rx | awk '/rx_queue_[0-9]+_xdp_packets:/ {n += $2} END {print n + 0}')
	t=$(nsx ethtool -S $tx | awk '/tx_queue_[0-9]+_xdp_xmit_errors:/ {n += $2} END {print n + 0}')
	echo "$r $t"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }

# two long-running CLI processes whose memory must stay flat
# nsenter execs the command (no fork for a network namespace): $! is portgate
nsenter --net=/run/netns/$ns "$tmp/portgate" --pin-path $pins stats -j --watch 1 >/dev/null &
pids+=($!)
watch_pid=$!
nsenter --net=/run/netns/$ns "$tmp/portgate" --pin-path $pins trace -j --rate 1000 >/dev/null 2>&1 &
pids+=($!)
trace_pid=$!

# the churn: its own process; one line per command (exit status, peak RSS)
cat >"$tmp/a.conf" <<-EOF
	attach $rx --role uplink --mode native
	block tcp 25
	block tcp 465
	block udp 161
	block tcp 6660-6669
	allow 100.64.0.0/24 --subscriber
EOF
cat >"$tmp/b.conf" <<-EOF
	attach $rx --role uplink --mode native
	block tcp 25
	block tcp 587
	block udp 161
	block udp 53 --monitor
	allow 198.51.100.7 --peer
EOF
for ((i = 0; i < 1000; i++)); do echo "100.$((64 + i / 256)).$((i % 256)).0/28"; done >"$tmp/list"
touch "$tmp/run"
churn() {
	local n=0 cmd port host
	while [ -e "$tmp/run" ]; do
		case $((n % 8)) in
		0) port=$((8000 + RANDOM % 1000)) cmd="block tcp $port" ;;
		1) cmd="unblock tcp $port" ;;
		2) host=198.51.100.$((RANDOM % 256)) cmd="allow $host --peer" ;;
		3) cmd="disallow $host --peer" ;;
		4) cmd="allow --file $tmp/list --subscriber" ;;
		5) cmd="disallow --file $tmp/list --subscriber" ;;
		6) cmd="apply $tmp/a.conf" ;;
		7) cmd="apply $tmp/b.conf" ;;
		esac
		# ru_maxrss of the one child: the command's peak resident set in KiB
		/usr/bin/python3 -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
			nsenter --net=/run/netns/$ns "$tmp/portgate" --pin-path $pins $cmd |
			{ read -r rc kb; echo -e "$((n % 8))\t$rc\t$kb\t$cmd"; }
		n=$((n + 1))
	done
}
churn >"$tmp/churn.tsv" &
pids+=($!)
churn_pid=$!

sleep 2 # the watchers have started (their RSS baseline): not a synchronisation
w0=$(rss_kb $watch_pid) t0=$(rss_kb $trace_pid)

echo -e "#burst\tvector\tinjected\tdelivered\tring_full\tcounted" >"$OUT/bursts.tsv"
start=$(date +%s) burst=0 bad=0 injected_total=0 counted_total=0
per=200000
while (($(date +%s) - start < secs)); do
	f=${frames[$((burst % ${#frames[@]}))]}
	read -r p0 d0 < <(veth_counters)
	c0=$(pg stats -j | jq -r '.totals.rx')
	nsx "$tmp/trafficgen" --dev $tx --frames $per --frame "$f" >/dev/null
	read -r p1 d1 < <(veth_counters)
	c1=$(pg stats -j | jq -r '.totals.rx')
	del=$((p1 - p0)) ring=$((d1 - d0)) cnt=$((c1 - c0))
	echo -e "$burst\t$(basename "$f")\t$per\t$del\t$ring\t$cnt" >>"$OUT/bursts.tsv"
	if ((del + ring != per || cnt != del)); then
		bad=$((bad + 1))
		log "burst $burst ($(basename "$f")): injected $per, taken in $del, ring full $ring, counted $cnt"
	fi
	injected_total=$((injected_total + per)) counted_total=$((counted_total + cnt))
	burst=$((burst + 1))
done
w1=$(rss_kb $watch_pid) t1=$(rss_kb $trace_pid)
rm -f "$tmp/run"
wait $churn_pid || true
cp "$tmp/churn.tsv" "$OUT/churn.tsv"

check_out=$(pg check 2>&1) && check_rc=0 || check_rc=$?
read -r ops fails < <(awk -F'\t' '{n++; if ($2 != 0) f++} END {print n + 0, f + 0}' "$OUT/churn.tsv")
# peak RSS of the first and last tenth of the churn commands, per kind
read -r m_first m_last < <(awk -F'\t' '{kb[NR] = $3} END {
	k = int(NR / 10); if (k < 1) k = 1
	for (i = 1; i <= k; i++) { if (kb[i] > a) a = kb[i]; if (kb[NR - i + 1] > b) b = kb[NR - i + 1] }
	print a + 0, b + 0 }' "$OUT/churn.tsv")

{
	echo "## Soak ($(date -u +%Y-%m-%d), $(uname -r), ${secs}s)"
	echo
	echo "\`make soak SOAK_TIME=$secs\`: ${#frames[@]} inbound hand-written vectors sent as live"
	echo "frames (bursts of $per) into a veth with portgate attached natively, while another"
	echo "process churned the policy (block/unblock, allow/disallow, --file of 1000 prefixes,"
	echo "apply of two configs in turn)."
	echo
	echo "| | |"
	echo "|---|---:|"
	echo "| bursts | $burst |"
	echo "| frames injected | $injected_total |"
	echo "| frames counted by portgate | $counted_total |"
	echo "| bursts with a frame unaccounted for | $bad |"
	echo "| churn commands (failed) | $ops ($fails) |"
	echo "| \`portgate check\` at the end | $([ $check_rc = 0 ] && echo clean || echo "exit $check_rc") |"
	echo "| \`stats --watch\` RSS start → end (KiB) | $w0 → $w1 |"
	echo "| \`trace\` RSS start → end (KiB) | $t0 → $t1 |"
	echo "| churn command peak RSS, first → last tenth (KiB) | $m_first → $m_last |"
} >"$OUT/soak.md"
cat "$OUT/soak.md"
[ $check_rc = 0 ] || echo "$check_out" >&2
# flat: the long-running processes grew by less than 1 MiB
grow_ok=$((w1 - w0 < 1024 && t1 - t0 < 1024 && m_last - m_first < 1024))
((bad == 0 && fails == 0 && check_rc == 0 && grow_ok)) || { log "FAILED"; exit 1; }
log "passed"
