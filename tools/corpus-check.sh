#!/usr/bin/env bash
# Run `portgate test` over every capture of a directory (tcpdump's own
# tests/*.pcap, *.pcapng, or any operator's) and say what it reads:
#
#   tools/corpus-check.sh DIR [PORTGATE]
#
# Prints the files read, per link type (files, frames run, frames
# skipped); per file that portgate refuses because of its link type, the
# type, grouped ("LINK: N files" then the names); then the files that
# fail for another reason (corrupt captures, which tcpdump's suite holds
# on purpose), grouped by the first words of the error; then one summary
# line: "files N, read R, refused by link type L, unreadable U, frames run
# F, skipped S". Nothing is pinned: each run uses the default policy in
# private maps, under a pin path of its own. Needs root (loads BPF).
set -euo pipefail
dir=${1:?usage: tools/corpus-check.sh DIR [PORTGATE]}
pg=${2:-$(dirname "$0")/../build/portgate}
pin=/sys/fs/bpf/pgcorpus$$
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

files=0 ok=0 refused=0 other=0 run=0 skipped=0
: >"$tmp/read"
: >"$tmp/refused"
: >"$tmp/other"
while IFS= read -r -d '' f; do
	files=$((files + 1))
	if "$pg" --pin-path "$pin" test -j --pcap "$f" >"$tmp/out" 2>"$tmp/err"; then
		ok=$((ok + 1))
		IFS=$'\t' read -r n s lt < <(jq -r '.[-1].summary |
			"\(.frames)\t\(.skipped // 0)\t\(.link_type)"' "$tmp/out")
		run=$((run + n))
		skipped=$((skipped + s))
		printf '%s\t%s\t%s\n' "$lt" "$n" "$s" >>"$tmp/read"
	elif lt=$(sed -n 's/.*: link type \(number [0-9]*\|[^ ]*\).* carries no frames.*/\1/p' "$tmp/err") &&
		[ -n "$lt" ]; then
		refused=$((refused + 1))
		printf '%s\t%s\n' "$lt" "${f##*/}" >>"$tmp/refused"
	else
		other=$((other + 1))
		why=$(head -n 1 "$tmp/err" | sed -e "s|'[^']*'|'…'|g" -e 's/frame [0-9]*/frame N/' |
			cut -c1-90)
		printf '%s\t%s\n' "$why" "${f##*/}" >>"$tmp/other"
	fi
done < <(find "$dir" -maxdepth 1 \( -type f -o -type l \) \( -name '*.pcap' -o -name '*.pcapng' \) -print0 | sort -z)

group() {
	sort "$1" | awk -F'\t' '
		$1 != k { if (k != "") printf "%s: %d file%s\n  %s\n", k, n, (n > 1 ? "s" : ""), l
			  k = $1; n = 0; l = "" }
		{ n++; l = l (n > 1 ? " " : "") $2 }
		END { if (k != "") printf "%s: %d file%s\n  %s\n", k, n, (n > 1 ? "s" : ""), l }'
}
if [ -s "$tmp/read" ]; then
	echo "read by link type (files, frames run, frames skipped):"
	sort "$tmp/read" | awk -F'\t' '
		$1 != k { if (k != "") printf "  %-24s %4d %6d %6d\n", k, f, r, s
			  k = $1; f = r = s = 0 }
		{ f++; r += $2; s += $3 }
		END { if (k != "") printf "  %-24s %4d %6d %6d\n", k, f, r, s }'
fi
if [ -s "$tmp/refused" ]; then
	echo "refused by link type:"
	group "$tmp/refused"
fi
if [ -s "$tmp/other" ]; then
	echo "not read for another reason:"
	group "$tmp/other"
fi
echo "files $files, read $ok, refused by link type $refused, unreadable $other, frames run $run, skipped $skipped"
