#!/usr/bin/env bash
# tests/docs/check_docs.sh [FILE.md...]: every block of the docs that claims to be a berth
# command's output is compared, byte for byte, with what the real binary prints.
#
# The marker convention (also written, as a comment, at the top of docs/cli.md):
#
#   <!-- output: berth ARGS -->
#   ```console
#   $ berth ARGS
#   ...exactly what `berth ARGS` prints, stdout then stderr...
#   ```
#
#   - The marker line is exactly `<!-- output: berth ARGS -->`, and the next line opens the fence.
#   - The block's first line is `$ berth ARGS`, the same ARGS; every following line, up to the
#     closing fence, is the output. Output that does not end in a newline cannot be shown.
#   - ARGS are split on spaces (no quoting, no globbing, no variables: nothing is evaluated), and
#     the command runs from the repository root with stdin from /dev/null, NO_COLOR=1, and a
#     20 s limit. Its exit status is not compared; show it in prose or in an unmarked block.
#   - To rewrite every marked block with the real output: tests/docs/update_docs.py build/berth docs/*.md README.md
#   - Blocks without a marker are not checked: use them for illustrations (elided output,
#     files that are not in the repository, a live engine's answers).
#
# The binary is $BERTH, else build/berth. Files: the arguments, else docs/*.md and README.md.
# Prints one line per block and ends with "docs: N passed, N failed" (a marker without a block,
# or no marker at all, is a failure). Exit status 1 if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
berth=${BERTH:-build/berth}
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(docs/*.md README.md)

passed=0 failed=0
finish() {
	echo "docs: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
if [ ! -x "$berth" ]; then
	echo "docs: $berth is not an executable (run make, or set BERTH)"
	failed=1
	finish
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each marked block becomes $work/N.where (FILE:LINE), N.cmd (berth ARGS) and N.expected; a
# malformed one becomes N.error instead.
for f in "${files[@]}"; do
	awk -v file="$f" -v dir="$work" '
	function out(name, text) { printf "%s", text > (dir "/" n "." name); close(dir "/" n "." name) }
	state == 0 && /^<!-- output: .* -->$/ {
		n = FILENAME; gsub(/[^A-Za-z0-9]/, "_", n); n = sprintf("%s-%06d", n, FNR)
		cmd = $0; sub(/^<!-- output: /, "", cmd); sub(/ -->$/, "", cmd)
		out("where", file ":" FNR); out("cmd", cmd)
		state = 1; next
	}
	state == 1 {
		if ($0 !~ /^```/) { out("error", "the marker is not followed by a fenced block"); state = 0; next }
		fence = $0; sub(/[^`].*$/, "", fence); body = ""; state = 2; next
	}
	state == 2 {
		if ($0 == fence) { out("expected", body); state = 0; next }
		body = body $0 "\n"; next
	}
	END {
		if (state == 1) out("error", "the marker is not followed by a fenced block")
		if (state == 2) out("error", "the fenced block is not closed")
	}' "$f"
done

for where_file in "$work"/*.where; do
	[ -e "$where_file" ] || continue
	id=${where_file%.where}
	where=$(cat "$where_file") cmd=$(cat "$id.cmd")
	if [ -e "$id.error" ]; then
		echo "docs: FAIL $where: $(cat "$id.error")"
		failed=$((failed + 1))
		continue
	fi
	read -ra args <<<"$cmd"
	if [ "${args[0]:-}" != berth ]; then
		echo "docs: FAIL $where: '$cmd': only berth commands can be checked"
		failed=$((failed + 1))
		continue
	fi
	first=$(head -n 1 "$id.expected")
	if [ "$first" != "\$ $cmd" ]; then
		echo "docs: FAIL $where: the block must start with '\$ $cmd' (it starts with '$first')"
		failed=$((failed + 1))
		continue
	fi
	{
		printf '$ %s\n' "$cmd"
		NO_COLOR=1 timeout 20 "$berth" "${args[@]:1}" </dev/null 2>&1
	} >"$id.actual"
	if cmp -s "$id.expected" "$id.actual"; then
		echo "docs: ok $where: $cmd"
		passed=$((passed + 1))
	else
		echo "docs: FAIL $where: '$cmd' prints something else (- the docs, + the real output):"
		diff -u --label "$where" --label "$berth" "$id.expected" "$id.actual" | sed 's/^/  /'
		failed=$((failed + 1))
	fi
done
if [ $((passed + failed)) -eq 0 ]; then
	echo "docs: FAIL no '<!-- output: berth ... -->' marker in ${files[*]}"
	failed=1
fi
finish
