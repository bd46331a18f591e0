#!/usr/bin/env bash
# bench/swarm_bench.sh BUILD_DIR: the swarm apply benchmark, run by bench/run.sh (`make bench`).
#
# Against the local engine (DOCKER_HOST, else /var/run/docker.sock), in one run, with N services
# (default 200; image berth-test/busybox:latest, command `sleep 3600`, replicas 0 by default so
# that scheduling and starting tasks does not dominate), it measures the wall time of:
#   - berth apply --auto-approve of a generated spec, from empty, at --parallelism 8 (the default)
#     and at --parallelism 1;
#   - docker stack deploy --resolve-image never of the equivalent compose file (version 3.8);
#   - the floor: BUILD_DIR/bench/create_loop, N sequential POST /services/create on one
#     keep-alive connection (one docker handle), nothing else;
# each BENCH_SWARM_REPS times (default 3) after one unrecorded warm-up round, interleaved (the
# order rotates every round) so that machine and engine noise hits all of them; then, with the N services applied, a no-op
# `berth plan` (requests from BERTH_STATS=1, and the median wall time of BENCH_SWARM_PLAN_REPS,
# default 5) and a no-op `berth apply` (writes). It prints medians and the ratios
# berth/stack deploy (target <= 0.8) and berth/floor (target <= 1.5), each "met" or "MISSED".
#
# Everything it creates is named bench-<8 hex> (owner labels, service names, the stack) and is
# removed between measurements (polling, bounded, until it is gone) and at exit, whatever
# happens; it touches nothing else on the engine. A benchmark reports; it is not a test: the
# exit status is 0 even when a target is MISSED, and 0 with a "skipped" line when no engine in
# swarm mode is reachable; non-zero only when the benchmark itself cannot run.
#
# Environment: BENCH_SWARM_SERVICES (200), BENCH_SWARM_REPS (3), BENCH_SWARM_PLAN_REPS (5),
# BENCH_SWARM_REPLICAS (0; with 1, berth's apply also waits until every task runs, stack deploy
# and the loop return before: the report then adds, for each, the time until all tasks run),
# BENCH_SWARM_IMAGE (berth-test/busybox:latest), BENCH_SWARM_TIMEOUT (seconds to
# wait for removals, 180), BENCH_SWARM_WARMUP=0 skips the warm-up round, BENCH_SWARM=0 skips
# the benchmark, BENCH_KEEP=1 keeps the generated files.
# shellcheck disable=SC2317 # ids_* are called as "ids_$kind", cleanup from the trap
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${BENCH_SWARM_SERVICES:-200}
reps=${BENCH_SWARM_REPS:-3}
plan_reps=${BENCH_SWARM_PLAN_REPS:-5}
replicas=${BENCH_SWARM_REPLICAS:-0}
image=${BENCH_SWARM_IMAGE:-berth-test/busybox:latest}
wait_s=${BENCH_SWARM_TIMEOUT:-180}
stack_target=0.8
floor_target=1.5
plan_req_target=6

say() { echo "bench: swarm: $*" >&2; }
skip() {
	echo "bench: swarm apply benchmark skipped: $*"
	exit 0
}

[ "${BENCH_SWARM:-1}" = 0 ] && skip "BENCH_SWARM=0"
for f in "$build/berth" "$build/bench/create_loop"; do
	[ -x "$f" ] || { echo "bench: $f is missing; run 'make bench'" >&2; exit 2; }
done
berth=$(cd "$(dirname "$build/berth")" && pwd)/berth
create_loop=$(cd "$build/bench" && pwd)/create_loop

# --- is there an engine in swarm mode, with the image? -------------------------------------------
command -v docker >/dev/null || skip "no docker CLI on PATH"
engine=${DOCKER_HOST:-unix:///var/run/docker.sock}
if ! state=$(timeout 20 docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null); then
	skip "no Docker engine reachable at $engine (scripts/swarm-up.sh starts one)"
fi
[ "$state" = "active true" ] ||
	skip "the engine at $engine is not a swarm manager (state: $state; scripts/swarm-up.sh sets one up)"
docker image inspect "$image" >/dev/null 2>&1 ||
	skip "image $image is not on the engine (scripts/swarm-up.sh imports it; nothing is pulled)"

# --- names, files, cleanup -----------------------------------------------------------------------
run_id=bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
owner=$run_id-b         # berth's owner; services $owner-0001 ...
stack=$run_id-k         # docker stack; services ${stack}_s0001 ...
loop_owner=$run_id-l    # create_loop's services $loop_owner-0001 ..., label berth.owner=$loop_owner
tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-swarm-bench.XXXXXX")

now_us() { echo "${EPOCHREALTIME/./}"; }
ms_since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

ids_berth() { docker service ls -q --filter "label=berth.owner=$owner"; }
ids_loop() { docker service ls -q --filter "label=berth.owner=$loop_owner"; }
ids_stack() { docker service ls -q --filter "label=com.docker.stack.namespace=$stack"; }
nets_stack() { docker network ls -q --filter "label=com.docker.stack.namespace=$stack"; }
# Task containers, when replicas > 0 (container names are SERVICE.SLOT.TASK).
declare -A prefix=([berth]=$owner- [loop]=$loop_owner- [stack]=${stack}_)
containers() { docker ps -aq --filter "name=$1"; }
count() { "$@" | grep -c . || true; }

# Removes what one kind of measurement created and waits (bounded) until the engine has let go
# (services, the stack's network, and with replicas > 0 the task containers); then, unless told
# "last", pauses a second so that the managers settle before the next measurement.
remove_kind() { # berth|loop|stack [last]
	local kind=$1 ids deadline
	case $kind in
	stack) docker stack rm "$stack" >/dev/null 2>&1 || true ;;
	*)
		ids=$("ids_$kind" 2>/dev/null || true)
		[ -z "$ids" ] || xargs docker service rm <<<"$ids" >/dev/null 2>&1 || true
		;;
	esac
	deadline=$(($(date +%s) + wait_s))
	while :; do
		ids=$("ids_$kind" 2>/dev/null || true)
		[ "$kind" = stack ] && ids+=$(nets_stack 2>/dev/null || true)
		local what=services
		if [ -z "$ids" ] && [ "$replicas" != 0 ]; then
			ids=$(containers "${prefix[$kind]}" 2>/dev/null || true)
			what=containers
		fi
		[ -z "$ids" ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			say "$kind $what of $run_id still there after ${wait_s}s"
			return 1
		fi
		# Stragglers (a removal that raced a creation): remove again. Containers of removed
		# services go by themselves (sleep ignores SIGTERM: 10 s, then SIGKILL).
		if [ "$what" = containers ]; then
			:
		elif [ "$kind" = stack ]; then
			docker stack rm "$stack" >/dev/null 2>&1 || true
		else
			xargs docker service rm <<<"$ids" >/dev/null 2>&1 || true
		fi
		sleep 0.5
	done
	[ "${2:-}" = last ] || sleep 1
}

cleaned=0
cleanup() {
	[ "$cleaned" = 1 ] && return
	cleaned=1
	local k ok=1
	for k in berth loop stack; do remove_kind "$k" last || ok=0; done
	[ "$ok" = 1 ] || say "could not remove everything named $run_id*: remove it by hand"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the inputs ------------------------------------------------------------------------------
mkdir -p "$tmp/spec"
{
	printf 'version: 1\nname: %s\nswarm:\n  services:\n' "$owner"
	for i in $(seq 1 "$n"); do
		printf '    %s-%04d:\n      image: %s\n      command: ["sleep", "3600"]\n      deploy: {replicas: %d}\n' \
			"$owner" "$i" "$image" "$replicas"
	done
} >"$tmp/spec/berth.yaml"
{
	printf 'version: "3.8"\nservices:\n'
	for i in $(seq 1 "$n"); do
		printf '  s%04d:\n    image: %s\n    command: ["sleep", "3600"]\n    deploy:\n      replicas: %d\n' \
			"$i" "$image" "$replicas"
	done
} >"$tmp/compose.yml"
"$berth" validate -q "$tmp/spec" || { echo "bench: swarm: the generated spec does not validate" >&2; exit 1; }

# --- the measurements ------------------------------------------------------------------------
declare -A times conv_times # kind -> "ms ms ms"
declare -A labels=([berth8]="berth.owner=$owner" [berth1]="berth.owner=$owner" [stack]="com.docker.stack.namespace=$stack"
	[loop]="berth.owner=$loop_owner")
apply_stats=''
fail() { say "$*"; exit 1; }

# Runs one measurement of KIND from empty, checks that N services exist, and removes them.
measure() {
	local kind=$1 t0 ms out err got
	err=$tmp/stderr
	t0=$(now_us)
	case $kind in
	berth8 | berth1)
		BERTH_STATS=1 "$berth" apply --auto-approve --parallelism "${kind#berth}" "$tmp/spec" >/dev/null 2>"$err" ||
			fail "berth apply failed: $(tail -n 5 "$err")"
		;;
	stack)
		docker stack deploy --resolve-image never -c "$tmp/compose.yml" "$stack" >/dev/null 2>"$err" ||
			fail "docker stack deploy failed: $(tail -n 5 "$err")"
		;;
	loop)
		out=$("$create_loop" -n "$n" -r "$replicas" -i "$image" "$loop_owner" 2>"$err") ||
			fail "create_loop failed: $(tail -n 5 "$err")"
		;;
	esac
	ms=$(ms_since "$t0")
	local ids_fn=ids_${kind%[18]}
	got=$(count "$ids_fn")
	[ "$got" = "$n" ] || fail "$kind: $got services exist after the run, expected $n"
	# With replicas > 0, also the time until every service runs all its tasks: berth's apply
	# waits for that itself; stack deploy and the loop return before (polled here every 0.25 s,
	# as berth polls).
	local conv=$ms
	if [ "$replicas" != 0 ]; then
		local deadline=$(($(date +%s) + wait_s)) ok
		while :; do
			ok=$(docker service ls --filter "label=${labels[$kind]}" --format '{{.Replicas}}' |
				awk -v r="$replicas" '$1 == r "/" r { n++ } END { print n + 0 }')
			[ "$ok" = "$n" ] && break
			[ "$(date +%s)" -lt "$deadline" ] || fail "$kind: only $ok of $n services converged within ${wait_s}s"
			sleep 0.25
		done
		conv=$(ms_since "$t0")
	fi
	case $kind in
	berth8) apply_stats=$(grep -o '[0-9]* requests to the Docker engine, [0-9]* writes' "$err" || true) ;;
	loop) loop_inner=$(awk '$1 == "loop_ms" { print $2 }' <<<"$out") ;;
	esac
	if [ "$round" = warm-up ]; then
		say "warm-up: $kind $ms ms (not counted)"
	else
		times[$kind]+="$ms "
		conv_times[$kind]+="$conv "
		[ "$kind" = loop ] && loop_inner_all+="$loop_inner "
		if [ "$replicas" = 0 ]; then
			say "round $round: $kind $ms ms"
		else
			say "round $round: $kind $ms ms, all tasks running after $conv ms"
		fi
	fi
	case $kind in
	berth*) remove_kind berth ;;
	*) remove_kind "$kind" ;;
	esac || fail "cannot remove the $kind services"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "met" : "MISSED" }'; }

say "run $run_id: $n services, replicas $replicas, $reps rounds (engine $engine)"
kinds=(berth8 stack loop berth1)
loop_inner_all=''
# One unrecorded round first: the first creations after a quiet spell are slower (caches, the
# engine's allocator and raft store warming up), and would penalise whichever kind runs first.
round=warm-up
if [ "${BENCH_SWARM_WARMUP:-1}" != 0 ]; then
	for k in "${kinds[@]}"; do measure "$k"; done
fi
for round in $(seq 1 "$reps"); do
	# Rotate the order every round: each kind goes first, second, ... in turn.
	for j in $(seq 0 $((${#kinds[@]} - 1))); do
		measure "${kinds[$(((j + round - 1) % ${#kinds[@]}))]}"
	done
done

# No-op plan and apply with the N services in place.
BERTH_STATS=1 "$berth" apply --auto-approve "$tmp/spec" >/dev/null 2>"$tmp/stderr" ||
	fail "berth apply failed: $(tail -n 5 "$tmp/stderr")"
plan_times='' plan_req=0
for i in $(seq 1 "$plan_reps"); do
	t0=$(now_us)
	BERTH_STATS=1 "$berth" plan "$tmp/spec" >"$tmp/plan.out" 2>"$tmp/stderr" ||
		fail "berth plan failed: $(tail -n 5 "$tmp/stderr")"
	plan_times+="$(ms_since "$t0") "
	grep -q '^No changes' "$tmp/plan.out" || fail "the plan is not empty: $(head -n 5 "$tmp/plan.out")"
	r=$(sed -n 's/^berth: \([0-9]*\) requests to the Docker engine.*/\1/p' "$tmp/stderr")
	[ -n "$r" ] || fail "berth plan printed no BERTH_STATS line"
	[ "$r" -gt "$plan_req" ] && plan_req=$r
done
t0=$(now_us)
BERTH_STATS=1 "$berth" apply --auto-approve "$tmp/spec" >/dev/null 2>"$tmp/stderr" ||
	fail "no-op berth apply failed: $(tail -n 5 "$tmp/stderr")"
noop_apply_ms=$(ms_since "$t0")
noop_apply=$(grep -o '[0-9]* requests to the Docker engine, [0-9]* writes' "$tmp/stderr" || echo '? requests, ? writes')
noop_writes=$(sed -n 's/.* \([0-9]*\) writes$/\1/p' <<<"$noop_apply")
remove_kind berth || fail "cannot remove the berth services"

# --- the report ------------------------------------------------------------------------------
m_b8=$(median <<<"${times[berth8]}")
m_b1=$(median <<<"${times[berth1]}")
m_st=$(median <<<"${times[stack]}")
m_lp=$(median <<<"${times[loop]}")
m_li=$(median <<<"$loop_inner_all")
m_pl=$(median <<<"$plan_times")
# berth's apply returns once every task runs; with replicas > 0 it is compared with the time
# until every task runs after stack deploy and the loop, not with their return.
basis=''
if [ "$replicas" = 0 ]; then
	r_st=$(ratio "$m_b8" "$m_st")
	r_lp=$(ratio "$m_b8" "$m_lp")
else
	r_st=$(ratio "$m_b8" "$(median <<<"${conv_times[stack]}")")
	r_lp=$(ratio "$m_b8" "$(median <<<"${conv_times[loop]}")")
	basis=', until all tasks run'
fi
ok_st=$(verdict "$r_st" "$stack_target")
ok_lp=$(verdict "$r_lp" "$floor_target")
ok_pr=$(verdict "$plan_req" "$plan_req_target")
ok_wr=$(verdict "${noop_writes:-1}" 0)
per() { awk -v t="$1" -v n="$n" 'BEGIN { printf "%.2f", t / n }'; }

cat <<REPORT
== berth swarm apply benchmark
machine:          $(uname -sm), $(nproc) CPU(s); engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null), docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null)
input:            $n services, image $image, command sleep 3600, replicas $replicas; $reps rounds, interleaved
                  wall time of each command, ms (median; all runs); per service
berth apply -p 8: $m_b8 (${times[berth8]% }); $(per "$m_b8") ms/service; ${apply_stats:-?}
berth apply -p 1: $m_b1 (${times[berth1]% }); $(per "$m_b1") ms/service
stack deploy:     $m_st (${times[stack]% }); $(per "$m_st") ms/service
create loop:      $m_lp (${times[loop]% }); $(per "$m_lp") ms/service (the $n requests alone: $m_li)
berth/stack:      $r_st (target <= $stack_target$basis): $ok_st
berth/floor:      $r_lp (target <= $floor_target$basis): $ok_lp
no-op plan:       $plan_req requests (target <= $plan_req_target): $ok_pr; median $m_pl ms of $plan_reps (${plan_times% })
no-op apply:      ${noop_writes:-?} writes (target 0): $ok_wr; $noop_apply_ms ms, ${noop_apply}
REPORT
if [ "$replicas" != 0 ]; then
	echo "until all tasks run (ms, median; all runs):"
	for k in berth8 berth1 stack loop; do
		printf '  %-15s %s (%s)\n' "$k:" "$(median <<<"${conv_times[$k]}")" "${conv_times[$k]% }"
	done
fi
if [ "$ok_st" = met ] && [ "$ok_lp" = met ] && [ "$ok_pr" = met ] && [ "$ok_wr" = met ]; then
	echo "bench: swarm: all targets met"
else
	echo "bench: swarm: target MISSED (see above)"
fi
exit 0
