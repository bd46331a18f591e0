#!/usr/bin/env bash
# Runs cmocka test binaries, prints each one's output, and ends with one summary line:
# "unit: N passed, N failed". Exit status 1 if any test failed or a binary crashed.
set -uo pipefail
passed=0 failed=0 crashed=0
for t in "$@"; do
	out=$(mktemp)
	"$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "run-unit: $t exited with status $rc" >&2
		crashed=$((crashed + 1)); failed=$((failed + 1))
	fi
	rm -f "$out"
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
