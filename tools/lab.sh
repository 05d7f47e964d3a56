#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The portgate lab: a throwaway BNG with real SNMP, SMTP and HTTP peers in
# network namespaces, shared by `make demo` (tools/demo.sh) and the
# end-to-end tests (tests/test_e2e.c).
#
#   internet host (inet)                     ISP host (isp)
#   198.51.100.10  2001:db8:100::10          192.0.2.10 NMS   2001:db8:192::10
#   snmpd, SMTP 25/587                       192.0.2.25 relay 2001:db8:192::25
#        | eth0                              192.0.2.11 other 2001:db8:192::11
#        |                                   SMTP 25   | eth0
#   HTTP 80                                            |
#        | up0 (uplink)                                | up1 (uplink)
#        +-------------------- BNG (bng) --------------+
#          198.51.100.1  192.0.2.1  100.64.0.1  100.64.1.1, routes v4+v6
#                 | acc0 (access)                  | acc1 (access), VLAN 100 in
#                 | eth0                           | eth0   skb metadata (vlan_meta)
#        subscriber host (sub)              second subscriber host (sub2)
#   100.64.0.10 home 2001:db8:64::10        100.64.1.10 2001:db8:65::10
#   100.64.0.20 business 2001:db8:64::20    snmpd, SMTP 25, HTTP 80
#   snmpd on udp/161, SMTP 25/465/587/2525/2526, HTTP 80
#
# Where portgate runs (PG_LAB_TOPO, read by up and reset):
#   uplink (default)  up0, up1 --role uplink (inbound at XDP ingress);
#                     acc0, acc1 --role access --outbound-only
#   access            only the subscriber-facing NICs: acc0, acc1 --role
#                     access (outbound at XDP ingress, inbound at tc
#                     egress); the uplinks run nothing. sub2 <-> sub is
#                     hairpinned through the BNG, and traffic to sub2
#                     leaves acc1 with its VLAN tag in skb metadata (veth
#                     tx-vlan-offload), as on a NIC with VLAN offload.
#
# Usage: lab.sh up ID [--bare]        build it (--bare: without portgate)
#        lab.sh down ID               tear it down, verify nothing is left
#        lab.sh exec ID HOST CMD...   run CMD in host inet|isp|bng|sub
#        lab.sh pg ID ARGS...         run build/portgate in the BNG
#        lab.sh reset ID              detach all, attach again: fresh maps
#        lab.sh probe ID FROM TO 4|6 snmp|smtp|http [PORT]
#                                     real client from endpoint FROM to TO;
#                                     prints answered|timeout|refused|error
#                                     (PROBE_LPORT=N: curl's --local-port)
#        lab.sh addr ENDPOINT 4|6     address of an endpoint
#        lab.sh gc                    remove labs whose owner pid is gone
# Endpoints: inet nms relay isp (the ISP host's non-NMS address) sub biz sub2.
# ID: a short word or number (the owner's pid: `gc` then knows it is dead).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG=${PG_BIN:-$ROOT/build/portgate}
PY=${PG_LAB_PYTHON:-/usr/bin/python3} # aiosmtpd is a Debian package
T=${PG_LAB_TIMEOUT:-2}		      # client timeout, seconds
MODE=${PG_LAB_MODE:-native}	      # XDP mode of the BNG's attachments
TOPO=${PG_LAB_TOPO:-uplink}	      # where portgate runs: uplink or access
HOSTS=(inet isp bng sub sub2)

declare -A A4=([inet]=198.51.100.10 [nms]=192.0.2.10 [relay]=192.0.2.25
	[isp]=192.0.2.11 [sub]=100.64.0.10 [biz]=100.64.0.20 [sub2]=100.64.1.10)
declare -A A6=([inet]=2001:db8:100::10 [nms]=2001:db8:192::10
	[relay]=2001:db8:192::25 [isp]=2001:db8:192::11 [sub]=2001:db8:64::10
	[biz]=2001:db8:64::20 [sub2]=2001:db8:65::10)
declare -A HOST_OF=([inet]=inet [nms]=isp [relay]=isp [isp]=isp [sub]=sub
	[biz]=sub [sub2]=sub2)

SUB_SMTP=25,465,587,2525,2526 # 2526: an SMTP port nobody blocks
SUB2_SMTP=25 # sub2 keeps 2525 free: its clients use it as a local port
INET_SMTP=25,587
ISP_SMTP=25

die() {
	echo "lab: $*" >&2
	exit 1
}

setid() {
	[[ ${1:-} =~ ^[a-z0-9]{1,8}$ ]] || die "bad lab id '${1:-}': expected 1-8 of [a-z0-9]"
	ID=$1
	PIN=/sys/fs/bpf/pglab$ID
	STATE=/run/pglab$ID
}

ns() { echo "pgl$ID-$1"; }
nsx() {
	local h=$1
	shift
	ip netns exec "$(ns "$h")" "$@"
}
pg() { nsenter --net="/run/netns/$(ns bng)" "$PG" --pin-path "$PIN" "$@"; }

addr() {
	local a
	case $2 in
	4) a=${A4[$1]:-} ;;
	6) a=${A6[$1]:-} ;;
	*) die "bad family '$2': expected 4 or 6" ;;
	esac
	[ -n "$a" ] || die "unknown endpoint '$1': expected one of ${!A4[*]}"
	echo "$a"
}

# give_up MESSAGE PROBE-OUTPUT LOG: a lab failure that says why. The
# message ends with the last probe's own output and the tail of the daemon
# log that belongs to it (up_failed then prints no other log).
give_up() {
	local msg=$1 out=$2 log=$3
	{
		echo "lab: $msg"
		echo "--- last probe's output:"
		if [ -n "$out" ]; then sed 's/^/    /' <<<"$out"; else echo "    (none)"; fi
		echo "--- tail of $log:"
		if [ -s "$log" ]; then tail -n 10 "$log" | sed 's/^/    /'; else echo "    (empty or missing)"; fi
	} >&2
	SHOWN_LOG=$log
	exit 1
}

# Poll (bounded) until every PORT of PROTO listens in HOST, whose daemon
# NAME logs to $STATE/HOST-NAME.log.
wait_listen() {
	local h=$1 proto=$2 ports=$3 name=$4 deadline=$((SECONDS + ${PG_LAB_WAIT:-20})) p missing out why st
	while :; do
		missing=
		for p in ${ports//,/ }; do
			[ -n "$(nsx "$h" ss -Hln "--$proto" "sport = :$p")" ] || missing+=" $p"
		done
		[ -z "$missing" ] && return 0
		if ! kill -0 "${DAEMON[$h-$name]}" 2>/dev/null; then
			st=0
			wait "${DAEMON[$h-$name]}" || st=$?
			why="$name exited with status $st"
		elif [ $SECONDS -ge $deadline ]; then
			why="after 20 s"
		else
			sleep 0.1
			continue
		fi
		out="(in $(ns "$h")) \$ ss -Hlnp --$proto"$'\n'"$(nsx "$h" ss -Hlnp "--$proto" 2>&1)"
		give_up "$h: $proto ports not listening:$missing ($why)" "$out" "$STATE/$h-$name.log"
	done
}

# Poll (bounded) until a real SMTP session from endpoint FROM to TO works.
wait_route() {
	local from=$1 to=$2 fam=$3 deadline=$((SECONDS + 10)) res
	until res=$(PROBE_OUT=$STATE/probe.out cmd_probe "$from" "$to" "$fam" smtp); do
		if [ $SECONDS -ge $deadline ]; then
			give_up "no SMTP session from $from to $to over IPv$fam after 10 s (probe: $res)" \
				"$(cat "$STATE/probe.out" 2>/dev/null)" "$STATE/${HOST_OF[$to]}-serve.log"
		fi
		sleep 0.1
	done
}

declare -A DAEMON # HOST-NAME -> pid of the shell that waits for it

start() { # HOST NAME CMD...: a daemon of the lab, logging to STATE
	local h=$1 name=$2
	shift 2
	nsx "$h" setsid "$@" >"$STATE/$h-$name.log" 2>&1 </dev/null &
	DAEMON[$h-$name]=$!
}

start_snmpd() {
	local h=$1 conf=$STATE/$1-snmpd.conf
	mkdir -p "$STATE/$h-snmp"
	cat >"$conf" <<-EOF
		agentaddress udp:161,udp6:161
		rocommunity public default
		rocommunity6 public default
		sysName portgate-lab-$h
	EOF
	SNMP_PERSISTENT_DIR=$STATE/$h-snmp MIBS='' start "$h" snmpd \
		snmpd -f -C -c "$conf" -Lf "$STATE/$h-snmpd.log"
}

link() { # BNG-IF HOST V4-NET V6-NET ENDPOINTS...
	local bif=$1 h=$2 n4=$3 n6=$4 e
	shift 4
	ip -n "$(ns bng)" link add "$bif" type veth peer name eth0 netns "$(ns "$h")"
	ip -n "$(ns bng)" addr add "$n4.1/24" dev "$bif"
	ip -n "$(ns bng)" addr add "$n6::1/64" dev "$bif" nodad
	for e in "$@"; do
		ip -n "$(ns "$h")" addr add "${A4[$e]}/24" dev eth0
		ip -n "$(ns "$h")" addr add "${A6[$e]}/64" dev eth0 nodad
	done
	ip -n "$(ns bng)" link set "$bif" up
	ip -n "$(ns "$h")" link set eth0 up
	ip -n "$(ns "$h")" route add default via "$n4.1"
	ip -n "$(ns "$h")" -6 route add default via "$n6::1"
}

# VLAN 100 between the BNG's acc1 and sub2, in skb metadata: this kernel
# has no VLAN devices, so tools/lab_vlan.bpf.c does what a VLAN device on
# an offloading NIC does. Its tc egress filter on acc1 (priority 1, before
# portgate's) puts the tag into skb metadata; sub2's tc ingress takes it off.
vlan_meta() { # BNG-IF HOST
	local obj pins=/sys/fs/bpf/pglab$ID-vlan
	obj=$(dirname "$PG")/lab_vlan.bpf.o
	[ -r "$obj" ] || die "$obj not built (make $obj)"
	mkdir -p "$pins"
	bpftool prog loadall "$obj" "$pins" type classifier
	nsenter --net="/run/netns/$(ns bng)" tc qdisc add dev "$1" clsact
	nsenter --net="/run/netns/$(ns bng)" tc filter add dev "$1" egress prio 1 handle 1 \
		bpf da object-pinned "$pins/vlan_push"
	nsenter --net="/run/netns/$(ns "$2")" tc qdisc add dev eth0 clsact
	nsenter --net="/run/netns/$(ns "$2")" tc filter add dev eth0 ingress prio 1 handle 1 \
		bpf da object-pinned "$pins/vlan_pop"
}

up_failed() {
	local f
	# give_up already showed the log that says why; else show them all
	[ -n "${SHOWN_LOG:-}" ] || for f in "$STATE"/*.log; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 5 "$f"; }
	done >&2
	cmd_down >/dev/null 2>&1 || true
}

cmd_up() {
	local bare=${1:-}
	cmd_gc
	[ -e "/run/netns/$(ns bng)" ] && die "lab $ID already exists"
	# From here on, a failure tears down what was built.
	trap 'rc=$?; [ $rc -eq 0 ] || [ -n "${PG_LAB_KEEP:-}" ] || up_failed; exit $rc' EXIT
	mkdir -p "$STATE"
	local h f
	for h in "${HOSTS[@]}"; do
		ip netns add "$(ns "$h")"
		# No DAD: addresses are usable at once, nothing to wait for.
		nsx "$h" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_dad=0
		ip -n "$(ns "$h")" link set lo up
	done
	nsx bng sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	link up0 inet 198.51.100 2001:db8:100 inet
	link up1 isp 192.0.2 2001:db8:192 nms relay isp
	link acc0 sub 100.64.0 2001:db8:64 sub biz
	link acc1 sub2 100.64.1 2001:db8:65 sub2
	vlan_meta acc1 sub2

	start_snmpd sub
	start_snmpd inet
	start_snmpd sub2
	start sub serve "$PY" "$ROOT/tools/lab-serve.py" --smtp $SUB_SMTP --http 80
	start sub2 serve "$PY" "$ROOT/tools/lab-serve.py" --smtp $SUB2_SMTP --http 80
	start inet serve "$PY" "$ROOT/tools/lab-serve.py" --smtp $INET_SMTP --http 80
	start isp serve "$PY" "$ROOT/tools/lab-serve.py" --smtp $ISP_SMTP
	wait_listen sub udp 161 snmpd
	wait_listen inet udp 161 snmpd
	wait_listen sub2 udp 161 snmpd
	wait_listen sub tcp "$SUB_SMTP,80" serve
	wait_listen sub2 tcp "$SUB2_SMTP,80" serve
	wait_listen inet tcp "$INET_SMTP,80" serve
	wait_listen isp tcp $ISP_SMTP serve
	# Routing and services, before portgate is in the path.
	for f in 4 6; do
		wait_route sub inet $f
		wait_route sub relay $f
		wait_route inet sub $f
		wait_route sub2 sub $f
		wait_route sub sub2 $f
	done

	[ "$bare" = --bare ] || cmd_attach
	trap - EXIT
}

# portgate on the BNG (PG_LAB_TOPO): uplink: both uplinks inbound, the
# access side outbound only; access: only the subscriber-facing NICs, both
# directions (XDP ingress outbound, tc egress inbound).
cmd_attach() {
	[ -x "$PG" ] || die "$PG not built (make build/portgate)"
	case $TOPO in
	uplink)
		pg attach up0 --role uplink --mode "$MODE" >/dev/null
		pg attach up1 --role uplink --mode "$MODE" >/dev/null
		pg attach acc0 --role access --outbound-only --mode "$MODE" >/dev/null
		pg attach acc1 --role access --outbound-only --mode "$MODE" >/dev/null
		;;
	access)
		pg attach acc0 --role access --mode "$MODE" >/dev/null
		pg attach acc1 --role access --mode "$MODE" >/dev/null
		;;
	*) die "bad PG_LAB_TOPO '$TOPO': expected uplink or access" ;;
	esac
}

# Fresh maps: default policy, no exemption, zero counters.
cmd_reset() {
	pg detach --all >/dev/null
	[ ! -e "$PIN" ] || die "pins left in $PIN after detach --all"
	cmd_attach
}

cmd_down() {
	local h pids=() left=() deadline
	if [ -e "/run/netns/$(ns bng)" ] && [ -d "$PIN" ] && [ -x "$PG" ]; then
		pg detach --all >/dev/null 2>&1 || true
	fi
	for h in "${HOSTS[@]}"; do
		[ -e "/run/netns/$(ns "$h")" ] || continue
		mapfile -t pids < <(ip netns pids "$(ns "$h")")
		[ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
	done
	deadline=$((SECONDS + 5))
	for h in "${HOSTS[@]}"; do
		[ -e "/run/netns/$(ns "$h")" ] || continue
		while mapfile -t pids < <(ip netns pids "$(ns "$h")") && [ ${#pids[@]} -gt 0 ]; do
			if [ $SECONDS -ge $((deadline + 5)) ]; then
				left+=("processes ${pids[*]} in $(ns "$h")")
				continue 2
			fi
			[ $SECONDS -lt $deadline ] || kill -KILL "${pids[@]}" 2>/dev/null || true
			sleep 0.1
		done
		ip netns del "$(ns "$h")"
	done
	rm -rf "$PIN" "$STATE" "/sys/fs/bpf/pglab$ID-vlan"
	# Verify: no namespace, pin or state of this lab is left.
	for h in "${HOSTS[@]}"; do
		[ -e "/run/netns/$(ns "$h")" ] && left+=("netns $(ns "$h")")
	done
	[ -e "$PIN" ] && left+=("pin $PIN")
	[ -e "$STATE" ] && left+=("dir $STATE")
	[ ${#left[@]} -eq 0 ] || die "lab $ID: left behind: ${left[*]}"
}

cmd_gc() { # labs named after a pid that no longer runs
	local n id
	for n in /run/netns/pgl*-bng; do
		[ -e "$n" ] || continue
		id=${n#/run/netns/pgl}
		id=${id%-bng}
		if [[ ! $id =~ ^[0-9]+$ ]] || [ -d "/proc/$id" ]; then
			continue
		fi
		echo "lab: removing stale lab $id" >&2
		(setid "$id" && cmd_down) || true
	done
}

# One real client session; prints answered, timeout, refused or error.
# With PROBE_OUT=FILE, the client's whole output goes to FILE too.
cmd_probe() {
	[ $# -ge 4 ] || die "probe: expected FROM TO 4|6 snmp|smtp|http [PORT]"
	local from=$1 to=$2 fam=$3 client=$4 port=${5:-} src dst h out rc=0 cmd
	src=$(addr "$from" "$fam")
	dst=$(addr "$to" "$fam")
	h=${HOST_OF[$from]}
	case $client in
	snmp)
		port=${port:-161}
		local transport=udp
		[ "$fam" = 4 ] || transport=udp6
		cmd=(snmpget -v2c -c public -t "$T" -r 0 --clientaddr="$src"
			"$transport:[$dst]:$port" 1.3.6.1.2.1.1.5.0)
		;;
	smtp)
		port=${port:-25}
		cmd=(swaks --server "$dst" --port "$port" --local-interface "$src"
			--from probe@example.org --to postmaster@example.com
			--quit-after RCPT --timeout "$T")
		;;
	http)
		port=${port:-80}
		[ "$fam" = 6 ] && dst="[$dst]"
		cmd=(curl -sS -g -o /dev/null --interface "$src" --max-time "$T"
			${PROBE_LPORT:+--local-port "$PROBE_LPORT"} "http://$dst:$port/")
		;;
	*) die "probe: bad client '$client': expected snmp, smtp or http" ;;
	esac
	# SNMP client state in the lab's directory, not /var/lib/snmp.
	out=$(MIBS='' SNMP_PERSISTENT_DIR=$STATE/snmp-client nsx "$h" "${cmd[@]}" 2>&1) || rc=$?
	# the client's own words, for whoever has to say why (wait_route)
	[ -z "${PROBE_OUT:-}" ] || printf '(in %s) $ %s\n%s\n(exit %d)\n' \
		"$(ns "$h")" "${cmd[*]}" "$out" "$rc" >"$PROBE_OUT"
	if [ $rc -eq 0 ]; then
		echo answered
	elif grep -qi 'timeout\|timed out' <<<"$out"; then
		echo timeout
		return 1
	elif grep -qi "refused\|couldn't connect" <<<"$out"; then
		echo refused
		return 2
	else
		echo "error: $(tail -n 1 <<<"$out")"
		return 2
	fi
}

[ $# -ge 1 ] || die "usage: lab.sh up|down|reset|exec|pg|probe|addr|gc ..."
cmd=$1
shift
case $cmd in
addr) addr "$@" ;;
gc) cmd_gc ;;
up | down | reset | exec | pg | probe)
	[ "$(id -u)" -eq 0 ] || die "run as root (netns, BPF)"
	setid "${1:-}"
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down ;;
	reset) cmd_reset ;;
	exec)
		[ $# -ge 2 ] || die "exec: expected HOST CMD..."
		nsx "$@"
		;;
	pg) pg "$@" ;;
	probe) cmd_probe "$@" ;;
	esac
	;;
*) die "unknown command '$cmd': expected up, down, reset, exec, pg, probe, addr or gc" ;;
esac
