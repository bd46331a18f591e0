#!/usr/bin/env bash
# Integration tests against a real Docker engine in swarm mode (scripts/swarm-up.sh starts one if
# none answers). Runs every tests/integration/t_*.sh, or the ones named as arguments (t_x.sh, t_x
# or x), each file in its own bash process; each test_* function in it is one case (see lib.sh).
# Prints "ok NAME" or "FAIL NAME: reason" (followed by the case's output) per case and ends with
# one line "integration: N passed, N failed". Exit status 1 if any case failed.
#
# Environment: BERTH (the binary, default build/berth), T_ONLY (a regex: run only the test_*
# functions it matches), T_VERBOSE=1 (show passing cases' output too), T_FILE_TIMEOUT (seconds a
# file may take, default 600).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

BERTH=${BERTH:-$root/build/berth}
[[ $BERTH == /* ]] || BERTH=$PWD/$BERTH
export BERTH
export BERTH_TEST_DOCKER_HOST=unix:///var/run/docker.sock
export DOCKER_HOST=$BERTH_TEST_DOCKER_HOST
# Never let a credential probe leave the machine: the instance metadata service is a dead loopback port.
export AZURE_IMDS_ENDPOINT=http://127.0.0.1:1
T_RESULTS=$(mktemp) T_CURRENT=$(mktemp)
export T_RESULTS T_CURRENT
trap 'rm -f "$T_RESULTS" "$T_CURRENT"' EXIT

files=()
if [ $# -eq 0 ]; then
	# T_EXCLUDE: file names (t_image ...) this run leaves out, for a stage where they test
	# nothing new (the image holds its own berth, not the ASan one); they are not counted.
	for f in "$here"/t_*.sh; do
		[ -e "$f" ] || continue
		[[ " ${T_EXCLUDE:-} " == *" $(basename "$f" .sh) "* ]] && continue
		files+=("$f")
	done
else
	for a in "$@"; do
		for f in "$a" "$here/$a" "$here/$a.sh" "$here/t_$a.sh"; do
			[ -f "$f" ] && { files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); continue 2; }
		done
		echo "FAIL $a: no such test file"
		echo "FAIL $a: no such test file" >>"$T_RESULTS"
	done
fi

summary() {
	local p f
	p=$(grep -c '^ok ' "$T_RESULTS")
	f=$(grep -c '^FAIL ' "$T_RESULTS")
	echo "integration: $p passed, $f failed"
	[ "$f" -eq 0 ]
}

[ -x "$BERTH" ] || echo "integration: warning: $BERTH is not built (make); cases that run it will fail" >&2

if ! "$root/scripts/swarm-up.sh"; then
	echo "FAIL swarm-up: no Docker engine in swarm mode (scripts/swarm-up.sh failed, see above)" | tee -a "$T_RESULTS"
	summary
	exit 1
fi

for f in "${files[@]}"; do
	before=$(wc -l <"$T_RESULTS")
	: >"$T_CURRENT"
	# shellcheck disable=SC2016
	timeout --kill-after=60 "${T_FILE_TIMEOUT:-600}" \
		bash -c 'source "$1" && t__run_file "$2"' t_run "$here/lib.sh" "$f"
	rc=$?
	stem=$(basename "$f" .sh)
	stem=${stem#t_}
	new=$(tail -n +"$((before + 1))" "$T_RESULTS")
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$new"; then
		why="exited with status $rc"
		[ "$rc" -eq 124 ] && why="timed out after ${T_FILE_TIMEOUT:-600}s"
		if [ -s "$T_CURRENT" ]; then
			why="$why in case $(cat "$T_CURRENT")"
		elif [ -z "$new" ]; then
			why="$why before running any case (does the file load?)"
		fi
		echo "FAIL $stem: $why" | tee -a "$T_RESULTS"
	fi
done

summary
