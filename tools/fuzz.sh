#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# tools/fuzz.sh DIR SECONDS FUZZER...: run each libFuzzer binary SECONDS
# seconds (one after the other, one job each: the machine is shared).
# Corpora live in DIR/corpus/NAME and grow across runs; each fuzzer
# writes its seeds (PG_FUZZ_SEEDS) to DIR/seeds/NAME first. A crash or
# mismatch lands in DIR/findings/ and fails the run, naming the file to
# replay (`FUZZER FILE`). Prints executions and coverage per fuzzer.
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: $0 DIR SECONDS FUZZER..." >&2; exit 2; }
dir=$1 secs=$2
shift 2
[ "$(id -u)" -eq 0 ] || { echo "make fuzz: run as root (BPF_PROG_TEST_RUN, BPF maps)" >&2; exit 1; }
mkdir -p "$dir/findings"
failed=()
for f in "$@"; do
	name=$(basename "$f")
	corpus=$dir/corpus/$name seeds=$dir/seeds/$name log=$dir/$name.log
	mkdir -p "$corpus"
	rm -rf "$seeds"
	mkdir -p "$dir/seeds"
	PG_FUZZ_SEEDS=$seeds "$f" >/dev/null 2>&1 || { echo "$name: cannot write seeds" >&2; failed+=("$name"); continue; }
	echo "=== $name: ${secs}s"
	# the parsers' one-line errors would drown the log; fuzz_xdp only prints findings
	quiet=-close_fd_mask=2
	[ "$name" = fuzz_xdp ] && quiet=
	"$f" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
		$quiet -artifact_prefix="$dir/findings/$name-" "$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
	echo "$name: ${execs:-?} executions, ${cov:-no coverage line}, corpus $(find "$corpus" -type f | wc -l) inputs"
	if [ $rc -ne 0 ]; then
		grep -E 'MISMATCH|ERROR: |runtime error|Test unit written|fuzz_' "$log" | head -20
		echo "$name: FAILED (exit $rc), log $log"
		failed+=("$name")
	fi
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "fuzz: findings in ${failed[*]} (replay: FUZZER $dir/findings/FILE)"
	exit 1
fi
echo "fuzz: ${#} fuzzers, no findings"
