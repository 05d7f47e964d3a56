#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# `make demo`: build the lab (tools/lab.sh), attach portgate to the BNG's
# subscriber-facing NICs only (the one-NIC deployment: --role access) and
# drive real SNMP, SMTP and HTTP clients through it over IPv4 and IPv6;
# then the alternative deployment (uplinks) with raw VLAN/QinQ/PPPoE frames.
# Prints one row per session (OK when the outcome is the expected one),
# then the counters and rules. Exits non-zero if any row is unexpected.
# The lab is torn down on exit, Ctrl-C or failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=$ROOT/tools/lab.sh
ID=$$ # lab.sh gc recognises a dead owner by this pid
[ "$(id -u)" -eq 0 ] || {
	echo "demo: run as root (netns, BPF, XDP)" >&2
	exit 1
}

TMP=$(mktemp -d /tmp/pgdemo.XXXXXX)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	wait 2>/dev/null || true # probes still running after Ctrl-C
	echo
	if "$LAB" down "$ID"; then
		echo "lab $ID torn down: no namespace, pin or lab process left"
	else
		rc=1
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Shown names of the lab's endpoints (see tools/lab.sh).
declare -A NAME=([inet]=internet [nms]="ISP NMS" [relay]="ISP relay"
	[isp]="ISP other" [sub]=home [biz]=business [sub2]="home 2")

pg() {
	echo "  $ portgate $*"
	"$LAB" pg "$ID" "$@" >/dev/null
}

ROWS=()
# row SERVICE CLIENT PORT FROM TO FAMILY EXPECTED(open|blocked)
# CLIENT http:N: from local port N (curl --local-port)
row() { ROWS+=("$*"); }

failures=0
# Run the queued rows in parallel (each waits at most the client timeout),
# then print them in order.
run_rows() {
	local i r service client port from to fam expected result mark
	for i in "${!ROWS[@]}"; do
		read -r service client port from to fam expected <<<"${ROWS[$i]}"
		PROBE_LPORT=$([[ $client == *:* ]] && echo "${client#*:}" || true) \
			"$LAB" probe "$ID" "$from" "$to" "$fam" "${client%%:*}" "$port" >"$TMP/$i" 2>&1 &
	done
	wait || true
	printf '  %-11s %-8s %-28s %-28s %-8s %-8s\n' service port from to expected result
	for i in "${!ROWS[@]}"; do
		read -r service client port from to fam expected <<<"${ROWS[$i]}"
		r=$(head -n 1 "$TMP/$i")
		case $r in
		answered) result=open ;;
		timeout) result=blocked ;;
		*) result=$r ;;
		esac
		if [ "$result" = "$expected" ]; then
			mark=OK
		else
			mark=FAIL
			failures=$((failures + 1))
		fi
		printf '  %-11s %-8s %-28s %-28s %-8s %-8s %s\n' "${service//_/ }" \
			"$([ "$client" = snmp ] && echo udp || echo tcp)/$port" \
			"${NAME[$from]} $("$LAB" addr "$from" "$fam")" \
			"${NAME[$to]} $("$LAB" addr "$to" "$fam")" "$expected" "$result" "$mark"
	done
	ROWS=()
}

section() {
	echo
	echo "$*"
}

echo "portgate lab demo (lab $ID): building namespaces, starting snmpd, SMTP and HTTP peers"
PG_LAB_TOPO=access "$LAB" up "$ID"
echo "  BNG: portgate attached only to the subscriber-facing NICs; default policy"
echo "  $ portgate attach acc0 --role access; portgate attach acc1 --role access"
"$LAB" pg "$ID" status | sed -n '/^interfaces/,/^rules/p' | sed '$d; s/^/  /'

section "1. Inbound, internet -> home subscriber: SMTP and SNMP blocked, the rest open"
for f in 4 6; do
	for p in 25 465 587 2525; do
		row SMTP smtp $p inet sub $f blocked
	done
	row SNMP snmp 161 inet sub $f blocked
	row HTTP http 80 inet sub $f open
	row SMTP_2526 smtp 2526 inet sub $f open
done
run_rows

section "1b. Hairpin, home <-> home 2 through the BNG (acc1 carries VLAN 100 in skb metadata)"
for f in 4 6; do
	row SMTP smtp 25 sub2 sub $f blocked
	row SMTP smtp 25 sub sub2 $f blocked
	row SNMP snmp 161 sub sub2 $f blocked
	row HTTP http 80 sub2 sub $f open
done
run_rows

section "1c. A subscriber's own connection from local port 2525: SYN-ACK and the rest pass (tcp_not_syn)"
row HTTP_from_2525 http:2525 80 sub2 inet 4 open
row HTTP_from_587 http:587 80 sub2 inet 6 open
row SMTP smtp 2525 inet sub 4 blocked
run_rows

section "2. Exemptions: the ISP's NMS (peer side), a business customer who opted out (subscriber side)"
pg allow "$("$LAB" addr nms 4)" --peer --rule udp/161
pg allow "$("$LAB" addr nms 6)" --peer --rule udp/161
pg allow "$("$LAB" addr biz 4)" --subscriber --rule tcp/25
pg allow "$("$LAB" addr biz 6)" --subscriber --rule tcp/25
for f in 4 6; do
	row SNMP snmp 161 nms sub $f open
	row SNMP snmp 161 isp sub $f blocked
	row SMTP smtp 25 inet biz $f open
	row SMTP smtp 587 inet biz $f blocked
done
run_rows

section "3. Outbound sessions of the subscriber get their replies"
for f in 4 6; do
	row SMTP smtp 25 sub inet $f open
	row SNMP snmp 161 sub inet $f open
done
run_rows

section "4. Outbound SMTP policy: subscribers reach port 25 only on the ISP relay"
pg block tcp 25 --dir out
pg allow "$("$LAB" addr relay 4)" --peer --rule tcp/25 --dir out
pg allow "$("$LAB" addr relay 6)" --peer --rule tcp/25 --dir out
for f in 4 6; do
	row SMTP smtp 25 sub relay $f open
	row SMTP smtp 25 sub inet $f blocked
	row SMTP smtp 25 sub isp $f blocked
	row Submission smtp 587 sub inet $f open
done
run_rows

section "5. The alternative deployment: inbound at the uplinks' XDP, access NICs --outbound-only"
PG_LAB_TOPO=uplink "$LAB" reset "$ID"
echo "  $ portgate attach up0 --role uplink; ... attach acc0 --role access --outbound-only"
pg allow "$("$LAB" addr nms 4)" --peer --rule udp/161
pg block tcp 25 --dir out
pg allow "$("$LAB" addr relay 6)" --peer --rule tcp/25 --dir out
echo "  frames this kernel cannot build as devices, sent raw into up0/acc0 (3 copies each)"
"${PG_LAB_PYTHON:-/usr/bin/python3}" "$ROOT/tools/lab-frames.py" "$ID" ||
	failures=$((failures + 1))

echo
echo "portgate stats (totals by reason, then per rule)"
"$LAB" pg "$ID" stats
echo
echo "portgate exemptions"
"$LAB" pg "$ID" exemptions
echo
if [ $failures -ne 0 ]; then
	echo "demo: $failures unexpected row(s)"
	exit 1
fi
echo "demo: every row as expected"
