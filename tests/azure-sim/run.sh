#!/usr/bin/env bash
# The ARM simulator's fidelity tests (test_fidelity.py): starts armsim.py on a free port, runs the
# tests against it with Debian's interpreter (python3 on PATH may lack python3-azure), stops it.
# Last line: "azure-sim: N passed, N failed"; exit status 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
if ! "$PY" -c 'import jsonschema, azure.mgmt.containerinstance, azure.mgmt.trafficmanager, azure.mgmt.storage, azure.mgmt.compute, azure.mgmt.resource' 2>/dev/null; then
	echo "azure-sim: $PY lacks python3-azure or python3-jsonschema (make deps)" >&2
	echo "azure-sim: 0 passed, 1 failed"
	exit 1
fi
tmp=$(mktemp -d)
sim_pid=
cleanup() {
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
"$PY" armsim.py --port 0 --port-file "$tmp/port" 2>"$tmp/sim.log" &
sim_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/port" ] && break
	kill -0 "$sim_pid" 2>/dev/null || break
	sleep 0.05
done
if [ ! -s "$tmp/port" ]; then
	cat "$tmp/sim.log" >&2
	echo "azure-sim: the simulator did not start" >&2
	echo "azure-sim: 0 passed, 1 failed"
	exit 1
fi
ARMSIM_URL="http://127.0.0.1:$(cat "$tmp/port")" "$PY" -W ignore::ResourceWarning test_fidelity.py "$@" \
	>"$tmp/out" 2>&1
rc=$?
grep -vE '^azure-sim: [0-9]+ passed, [0-9]+ failed$' "$tmp/out"
line=$(grep -E '^azure-sim: [0-9]+ passed, [0-9]+ failed$' "$tmp/out" | tail -n 1)
if [ -z "$line" ]; then
	echo "azure-sim: 0 passed, 1 failed"
	exit 1
fi
if grep -q 'armsim bug' "$tmp/sim.log"; then
	# an internal error in the simulator fails the run even if no test noticed
	echo "azure-sim: the simulator logged internal errors:"
	cat "$tmp/sim.log"
	p=$(sed -E 's/^azure-sim: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/^azure-sim: [0-9]+ passed, ([0-9]+) failed$/\1/' <<<"$line")
	line="azure-sim: $p passed, $((f + 1)) failed"
	rc=1
fi
echo "$line"
[ "$rc" -eq 0 ] || exit 1
