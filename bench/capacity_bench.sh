#!/usr/bin/env bash
# bench/capacity_bench.sh BUILD_DIR: what a drained scale-in costs (docs/capacity.md), run by
# bench/run.sh. On the multi-node harness of the integration tests (a private swarm: a manager and
# 4 workers, each a dockerd in its own namespaces, behind the ARM simulator's scale-set instances;
# tests/integration/workers_lib.sh) with one service of 20 tasks, 5 per worker, it measures side by
# side in one run:
#   - the drain floor: workers 2 and 3 (10 tasks) set to drain by hand (docker node update, both at
#     once), until the 20 tasks run again on the other workers: what the engine needs to reschedule;
#   - berth: capacity 4 -> 2 (the same two workers are chosen: equal load, highest ids first), from
#     the start of `berth apply` (plan included) to the instances deleted in the simulator, and to
#     the end of the apply (the down nodes removed from the swarm too).
# A benchmark reports; it is not a test: exit status 0 even when something is slow; non-zero only
# when it cannot run. Needs root (namespaces, a bridge). BENCH_CAPACITY=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ "${BENCH_CAPACITY:-1}" = 0 ] && { echo "bench: capacity benchmark skipped: BENCH_CAPACITY=0"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "bench: capacity benchmark skipped: needs root (network namespaces)"; exit 0; }
docker info >/dev/null 2>&1 || { echo "bench: capacity benchmark skipped: no Docker engine"; exit 0; }
BERTH=$(cd "$build" && pwd)/berth
export AZURE_IMDS_ENDPOINT=http://127.0.0.1:1
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}

# What the harness libraries expect of the test runner.
T_FILE=$PWD/tests/integration/t_capacity.sh
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-capacity-bench.XXXXXX")
t_fail() { echo "bench: $*" >&2; exit 1; }
t_now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
wait_until() {
	local timeout=$1 desc=$2
	shift 2
	local deadline=$(($(t_now_ms) + timeout * 1000))
	until "$@" >/dev/null 2>&1; do
		[ "$(t_now_ms)" -lt "$deadline" ] || t_fail "timed out after ${timeout}s waiting for $desc"
		sleep 0.05
	done
}
# shellcheck source=tests/integration/azure_lib.sh
source tests/integration/azure_lib.sh
# shellcheck source=tests/integration/workers_lib.sh
source tests/integration/workers_lib.sh
trap 'workers_down; rm -rf "$T_DIR"' EXIT

OWNER=capacity-bench
workers_up
workers_sim workers 4
ready() { [ "$(worker_nodes ready | wc -l)" -eq "$1" ]; }
wait_until 60 "4 workers Ready" ready 4

spec() {
	cat >"$T_DIR/berth.yaml" <<EOF
version: 1
name: $OWNER
swarm:
  services:
    load:
      image: berth-test/busybox:latest
      command: [sleep, "100000"]
      deploy: {replicas: 20, placement: {constraints: [node.role==worker], max_replicas_per_node: 10}}
azure:
  subscription: $SUB
  resource_group: $RG
  location: westeurope
  scale_sets:
    workers:
      capacity: $1
      swarm: {role: worker, drain_timeout: 5m}
EOF
}
spec 4
"$BERTH" apply --auto-approve --no-color "$T_DIR" >"$T_DIR/apply0.out" 2>&1 || { cat "$T_DIR/apply0.out"; exit 1; }

# 20 tasks running, none of them on the given nodes
running_off() {
	local n
	n=$(docker service ps load --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
		grep ' Running' | grep -cvE "^($1) " || true)
	[ "$n" -eq 20 ]
}
per_node() { docker service ps load --filter desired-state=running --format '{{.Node}}' | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}'; }
wait_until 120 "20 tasks" running_off none
echo "bench: tasks per node before: $(per_node)" >&2

# --- the drain floor: by hand --------------------------------------------------------------------
t0=$(t_now_ms)
docker node update --availability drain workers000002 >/dev/null
docker node update --availability drain workers000003 >/dev/null
wait_until 300 "tasks moved off the drained nodes" running_off "workers000002|workers000003"
floor=$(($(t_now_ms) - t0))
# back to 5 per node
docker node update --availability active workers000002 >/dev/null
docker node update --availability active workers000003 >/dev/null
docker service update -q --force load >/dev/null
balanced() { [ "$(per_node)" = "workers000000:5 workers000001:5 workers000002:5 workers000003:5 " ]; }
wait_until 300 "5 tasks per node again" balanced

# --- berth: 4 -> 2 -------------------------------------------------------------------------------
spec 2
deleted_at=$T_DIR/deleted_at
(
	until [ "$(sim_state "len([v for s in st['scale_sets'] for v in s['virtualMachines']])")" = 2 ]; do sleep 0.05; done
	t_now_ms >"$deleted_at"
) &
watcher=$!
t0=$(t_now_ms)
"$BERTH" apply --auto-approve --no-color "$T_DIR" >"$T_DIR/apply1.out" 2>&1 || { cat "$T_DIR/apply1.out"; exit 1; }
t_end=$(t_now_ms)
wait "$watcher"
to_deleted=$(($(cat "$deleted_at") - t0))
total=$((t_end - t0))
left=$(worker_nodes | tr '\n' ' ')
running_off "workers000002|workers000003" || t_fail "tasks lost: $(per_node)"

awk -v f="$floor" -v d="$to_deleted" -v t="$total" -v left="$left" -v machine="$(uname -sm), $(nproc) CPU(s)" 'BEGIN {
	print "== berth capacity benchmark (scale-in of 2 of 4 workers carrying 10 of 20 tasks)"
	print "machine:                    " machine
	printf "drain floor (by hand):      %d ms (drain both nodes -> 20 tasks running elsewhere)\n", f
	printf "berth plan -> deleted:      %d ms (%.2fx the floor)\n", d, d / f
	printf "berth apply, whole:         %d ms (nodes down and removed from the swarm too)\n", t
	print "nodes left:                 " left
}'
