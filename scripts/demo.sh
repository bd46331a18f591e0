#!/usr/bin/env bash
# berth's main job on the bundled example: make sure a local single-node swarm runs, apply
# examples/quickstart to it, and show that a second plan finds nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=${1:-build/berth}

scripts/swarm-up.sh
run() { echo; echo "\$ berth $*"; "$BERTH" "$@"; }

run validate examples/quickstart
run apply --auto-approve examples/quickstart
set +e
run plan --detailed-exitcode examples/quickstart
status=$?
set -e
if [ "$status" -ne 0 ]; then
	echo "demo: the second plan is not empty (exit $status)" >&2
	exit 1
fi
echo
echo "The second plan is empty: the swarm matches the spec."
if body=$(curl -fsS -m 5 http://127.0.0.1:18080/ 2>/dev/null); then
	echo "The service answers on http://127.0.0.1:18080/: $body"
fi
