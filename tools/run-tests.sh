#!/usr/bin/env bash
# Run every Criterion suite given; fail if any fails, print a total.
set -u
[ "$(id -u)" -eq 0 ] || { echo "make test: run as root (BPF, netns, XDP)" >&2; exit 1; }
failed=()
for t in "$@"; do
	echo "=== $(basename "$t")"
	"$t" --jobs=1 --short-filename || failed+=("$(basename "$t")")
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED suites: ${failed[*]}"
	exit 1
fi
echo "all ${#} suites passed"
