#!/usr/bin/env bash
# `make verifier-budget`: load portgate on this kernel and on Debian 12's
# (tools/vm/run.sh), print each entry point's instruction count and the
# verifier's "processed" count, write docs/bench/verifier.md. Fails when
# either kernel rejects the program.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/bench/verifier.md}
tool=${2:-build/verifier-budget}
[ "$(id -u)" -eq 0 ] || { echo "verifier-budget: run as root (loads BPF programs)" >&2; exit 1; }

host=$("$tool" --md) || { echo "verifier-budget: this kernel ($(uname -r)) rejects the program" >&2; exit 1; }
vm=$(tools/vm/run.sh "$tool" --md) || {
	printf '%s\n' "$vm"
	echo "verifier-budget: Debian 12's kernel rejects the program" >&2
	exit 1
}
vm=$(printf '%s\n' "$vm" | grep '^| ') # the console may carry other lines

{
	echo "# Verifier budget"
	echo
	echo "Written by \`make verifier-budget\`: each entry point loaded as the loader"
	echo "loads it (BPF_F_XDP_HAS_FRAGS where the kernel accepts it) on this machine's"
	echo "kernel and on Debian 12's own kernel in a VM. *instructions* is the program"
	echo "after the verifier (xlated), *processed* the instructions the verifier walked"
	echo "to accept it (the limit is 1,000,000)."
	echo
	echo "| kernel | entry point | load | instructions | processed |"
	echo "|---|---|---|---:|---:|"
	printf '%s\n%s\n' "$host" "$vm"
} >"$out"
cat "$out"
