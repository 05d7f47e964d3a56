#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Proof that a fresh machine needs nothing done by hand: remove packages
# that only ever arrived as a Recommends (default: libio-socket-inet6-perl,
# which swaks needs for IPv6, and ethtool, which the bench needs for GRO),
# check that the preflight names each of them in one line, then run the
# README's test command from a fresh clone of this commit:
#
#   git clone . /tmp/x && cd /tmp/x && CI=true bash .ci/run
#
# which must install them again (tools/install-deps.sh) and pass.
#
# Usage (root, a few minutes): tools/fresh-machine-check.sh [PACKAGE...]
# Only committed work is cloned. The packages are installed again at the
# end whatever happens, so the machine is left as it was found.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || {
	echo "fresh-machine-check: run as root (apt-get, BPF, netns)" >&2
	exit 1
}
if [ $# -gt 0 ]; then pkgs=("$@"); else pkgs=(libio-socket-inet6-perl ethtool); fi
commit=$(git -C "$ROOT" rev-parse HEAD)
dst=$(mktemp -d /tmp/pgfresh.XXXXXX)
log=$dst.ci.log

say() { printf 'fresh-machine-check: %s\n' "$*"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

cleanup() {
	local rc=$? p missing=()
	trap - EXIT
	for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing again what this check removed: ${missing[*]}"
		"$ROOT/tools/install-deps.sh" >/dev/null || rc=1
	fi
	rm -rf "$dst" "$dst.preflight"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ] ||
	say "note: uncommitted changes in $ROOT are not part of the clone"

say "1. apt-get remove ${pkgs[*]}"
apt-get -o DPkg::Lock::Timeout=600 remove -y -qq "${pkgs[@]}" >/dev/null
for p in "${pkgs[@]}"; do
	! installed "$p" || { say "FAIL: $p is still installed"; exit 1; }
done

say "2. fresh clone of $commit in $dst"
git clone -q --no-hardlinks "$ROOT" "$dst"
git -C "$dst" checkout -q --detach "$commit"

say "3. the preflight names what is missing, one line each"
rc=0
(cd "$dst" && tools/preflight.sh) >"$dst.preflight" 2>&1 || rc=$?
sed 's/^/   | /' "$dst.preflight"
[ $rc -ne 0 ] || { say "FAIL: the preflight passed without ${pkgs[*]}"; exit 1; }
for p in "${pkgs[@]}"; do
	[ "$(grep -c "apt-get install $p\b" "$dst.preflight")" -eq 1 ] ||
		{ say "FAIL: no single preflight line names $p"; exit 1; }
done
rm -f "$dst.preflight"

say "4. CI=true bash .ci/run in the clone (log: $log)"
t0=$SECONDS
rc=0
(cd "$dst" && CI=true bash .ci/run </dev/null) >"$log" 2>&1 || rc=$?
t=$((SECONDS - t0))
grep -E '^install-deps:|^preflight:|^===|suites passed|FAILED|Synthesis' "$log" | sed 's/^/   | /'
if [ $rc -ne 0 ]; then
	tail -n 40 "$log" | sed 's/^/   ! /'
	say "FAIL: .ci/run exited $rc after $t s"
	exit 1
fi
for p in "${pkgs[@]}"; do
	installed "$p" || { say "FAIL: .ci/run passed but did not install $p"; exit 1; }
done
say "PASS: without ${pkgs[*]}, a fresh clone passed .ci/run in $t s (it installed them again)"
