# shellcheck shell=bash
# Crash consistency: berth apply killed with -9 part-way, then run again. Whatever the moment of
# the kill, the rerun (berth apply --auto-approve, then berth plan --detailed-exitcode) must judge
# the service from its live state: converged when its spec is healthy, failed (apply exit 1, the
# plan still showing it, exit 2) when its tasks crash; never "success" for a service that has not
# converged. berth keeps no journal: the rerun has only the engine's state to go by.
#
# Each case starts from its own state (set up by a normal apply), writes the target spec, starts
# berth apply and kills it at one of these points:
#   sent   the engine has berth's write (the service exists, or its version moved on)
#   tasks  the engine has made a task of the new spec (the rollout has begun)
#   settle sent, then the engine is left to itself until it settles (paused, rolled back, tasks
#          failing or running) before the rerun
# Every verdict goes to $T_DIR/crash-tally; the last case prints "crash consistency: N/N".

IMG=berth-test/busybox:latest
HEALTHY="[sleep, '3600']"
HEALTHY2="[sleep, '3601']"
CRASHING="[sh, -c, 'exit 3']"
CRASH_POINTS="sent tasks settle"

# crash_spec OWNER DIR COMMAND [FAILURE_ACTION]: one service OWNER-s, two replicas, quick restarts.
crash_spec() {
	mkdir -p "$2"
	cat >"$2/berth.yaml" <<EOF
version: 1
name: $1
swarm:
  services:
    $1-s:
      image: $IMG
      command: $3
      stop_grace_period: 1s
      deploy:
        replicas: 2
        restart_policy: {delay: 100ms}
        update_config: {parallelism: 1, monitor: 2s, failure_action: ${4:-pause}}
EOF
}

api_get() { curl -fsS --max-time 5 --unix-socket /var/run/docker.sock "http://engine/v1.41$1"; }

svc_version() { docker service inspect "$1" --format '{{.Version.Index}}' 2>/dev/null || echo 0; }

# written SERVICE OLD_VERSION: the engine has a write newer than OLD_VERSION (0: none yet).
written() { [ "$(svc_version "$1")" -gt "$2" ]; }

# new_task_seen SERVICE: the engine has made a task from the service's current template.
new_task_seen() {
	local svc tasks
	svc=$(api_get "/services/$1") || return 1
	tasks=$(api_get "/tasks?filters=$(python3 -c 'import json, sys, urllib.parse; print(urllib.parse.quote(json.dumps({"service": [sys.argv[1]]})))' "$1")") || return 1
	python3 -c '
import json, sys
svc, tasks = json.loads(sys.argv[1]), json.loads(sys.argv[2])
cs = svc["Spec"]["TaskTemplate"]["ContainerSpec"]
sys.exit(0 if any(t["Spec"]["ContainerSpec"].get("Args") == cs.get("Args") for t in tasks) else 1)
' "$svc" "$tasks"
}

# settled SERVICE KIND: the engine has done what it does by itself for a target of KIND.
settled() {
	local state
	state=$(docker service inspect "$1" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
	case $state in
	updating | rollback_started) return 1 ;;
	paused | rollback_completed | rollback_paused) return 0 ;;
	esac
	if [ "$2" = healthy ]; then
		service_running "$1" 2
	else
		[ "$(docker service ps "$1" --format '{{.CurrentState}}' | grep -c '^Failed')" -ge 2 ]
	fi
}

# poll_fast DESC cmd...: like wait_until, every 50 ms (the kill must come right after the write).
poll_fast() {
	local desc=$1 deadline=$(($(t_now_ms) + 60000))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(t_now_ms)" -lt "$deadline" ] || t_fail "timed out waiting for $desc"
		sleep 0.05
	done
}

# crash_case STEP POINT KIND OWNER DIR: applies DIR's spec (already written), kills berth at POINT,
# reruns, and records the verdict. KIND is the target's: healthy or crashing.
crash_case() {
	local step=$1 point=$2 kind=$3 owner=$4 dir=$5 svc="$4-s" old pid rc apply_rc plan_rc verdict
	old=$(svc_version "$svc")
	"$BERTH" apply --auto-approve --timeout 60s --no-color "$dir" >"$T_DIR/killed.out" 2>&1 &
	pid=$!
	poll_fast "berth's write to $svc" written "$svc" "$old"
	[ "$point" != tasks ] || poll_fast "a task of the new spec of $svc" new_task_seen "$svc"
	kill -9 "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	# A berth that finished before the kill tests nothing here.
	[ "$rc" -eq 137 ] || t_fail "$step/$point: berth was not killed (it exited with $rc): $(tail -n 3 "$T_DIR/killed.out")"
	[ "$point" != settle ] || wait_until 90 "$svc to settle" settled "$svc" "$kind"

	apply_rc=0
	"$BERTH" apply --auto-approve --timeout 60s --no-color "$dir" >"$T_DIR/rerun.out" 2>&1 || apply_rc=$?
	plan_rc=0
	"$BERTH" plan --detailed-exitcode --no-color "$dir" >"$T_DIR/plan.out" 2>&1 || plan_rc=$?
	t_log "$step/$point: rerun apply exit $apply_rc: $(grep -E 'FAILED|Apply |No changes' "$T_DIR/rerun.out" | tr '\n' ' ')"
	t_log "$step/$point: plan exit $plan_rc: $(grep -E '^  # |No changes' "$T_DIR/plan.out" | tr '\n' ' ')"
	if [ "$kind" = healthy ]; then
		if [ "$apply_rc" -eq 0 ] && [ "$plan_rc" -eq 0 ] && service_running "$svc" 2 &&
			[ "$(docker service inspect "$svc" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')" != updating ]; then
			verdict="ok converged"
		else
			verdict="BAD: healthy target not converged by the rerun (apply $apply_rc, plan $plan_rc)"
		fi
	elif [ "$apply_rc" -eq 0 ]; then
		verdict="BAD: rerun apply reported success on a service that does not converge"
	elif [ "$plan_rc" -ne 2 ]; then
		verdict="BAD: plan after the failed rerun shows no change (exit $plan_rc)"
	elif ! grep -qE 'non-zero exit \(3\)|paused the update|rolled back the update' "$T_DIR/rerun.out"; then
		verdict="BAD: the rerun failed without the engine's reason: $(grep FAILED "$T_DIR/rerun.out")"
	else
		verdict="ok failed correctly"
	fi
	echo "$step/$point: $verdict" >>"$T_DIR/crash-tally"
	t_log "$step/$point: $verdict"
	[[ $verdict == ok* ]] || t_fail "$step/$point: $verdict"
}

# Runs one step at every kill point: SETUP_FN OWNER DIR prepares the state (and the target spec).
crash_step() {
	local step=$1 kind=$2 setup=$3 point owner dir bad=0
	for point in $CRASH_POINTS; do
		owner=$(unique_owner) dir=$(mktemp -d)
		"$setup" "$owner" "$dir"
		(crash_case "$step" "$point" "$kind" "$owner" "$dir") || bad=1
		cleanup_owner "$owner"
	done
	[ "$bad" -eq 0 ] || t_fail "$step: $(grep -c BAD "$T_DIR/crash-tally") bad verdict(s) so far, see the log"
}

setup_create_crashing() { crash_spec "$1" "$2" "$CRASHING"; }
setup_create_healthy() { crash_spec "$1" "$2" "$HEALTHY"; }
# A healthy service, applied and converged; then the target spec is written.
setup_healthy_then() {
	crash_spec "$1" "$2" "$HEALTHY" "$4"
	assert_exit 0 "$BERTH" apply --auto-approve --timeout 60s "$2"
	crash_spec "$1" "$2" "$3" "$4"
}
setup_update_to_crashing() { setup_healthy_then "$1" "$2" "$CRASHING" pause; }
setup_update_to_crashing_rollback() { setup_healthy_then "$1" "$2" "$CRASHING" rollback; }
setup_update_to_healthy() { setup_healthy_then "$1" "$2" "$HEALTHY2" pause; }
# A service whose update to a crashing spec the engine paused; then a healthy spec is the target.
setup_crashing_then_healthy() {
	setup_healthy_then "$1" "$2" "$CRASHING" pause
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 60s "$2"
	crash_spec "$1" "$2" "$HEALTHY2" pause
}

test_create_crashing() { crash_step create-crashing crashing setup_create_crashing; }
test_create_healthy() { crash_step create-healthy healthy setup_create_healthy; }
test_update_healthy_to_crashing() { crash_step update-to-crashing crashing setup_update_to_crashing; }
test_update_healthy_to_crashing_with_rollback() {
	crash_step update-to-crashing-rollback crashing setup_update_to_crashing_rollback
}
test_update_healthy_to_healthy() { crash_step update-to-healthy healthy setup_update_to_healthy; }
test_update_crashing_to_healthy() { crash_step update-crashing-to-healthy healthy setup_crashing_then_healthy; }

test_crash_consistency_count() {
	local total good
	total=$(grep -c . "$T_DIR/crash-tally" || true)
	good=$(grep -c ': ok ' "$T_DIR/crash-tally" || true)
	sed 's/^/  /' "$T_DIR/crash-tally" >&2
	echo "crash consistency: $good/$total" >&2
	[ -n "${T_ONLY:-}" ] || assert_eq 18 "$total" "cases run (6 steps, 3 kill points each)"
	assert_eq "$total" "$good" "cases where the rerun converged or failed correctly"
}
