# shellcheck shell=bash
# Scale sets that back the swarm, on a real multi-node swarm: the ARM simulator's scale-set
# instances are dockerd workers in their own namespaces (workers_lib.sh, worker_hook.sh) joined to
# a manager of their own; berth maps instances to nodes, drains before it deletes, waits for joins.

# shellcheck source=tests/integration/azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh"
# shellcheck source=tests/integration/workers_lib.sh
source "$(dirname "$T_FILE")/workers_lib.sh"

IMG=berth-test/busybox:latest

# cap_spec DIR CAPACITY SWARM_BLOCK SERVICES: the spec of scale set "workers" and the services;
# CAPACITY is a number, or an autoscale block ("autoscale: {...}"); CAP_SWARM_SETTINGS, lines
# put under swarm: before the services (engines, tls).
cap_spec() {
	mkdir -p "$1"
	local size="capacity: $2"
	case $2 in autoscale:*) size=$2 ;; esac
	{
		printf 'version: 1\nname: %s\n' "$OWNER"
		[ -z "${4:-}" ] || printf 'swarm:\n%s  services:\n%s\n' "${CAP_SWARM_SETTINGS:-}" "$4"
		printf 'azure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n' "$SUB" "$RG"
		printf '  scale_sets:\n    workers:\n      %s\n      swarm: %s\n' "$size" "$3"
	} >"$1/berth.yaml"
}

# svc NAME REPLICAS CONSTRAINT [EXTRA]: one service entry (busybox sleeping).
svc() {
	printf '    %s:\n      image: %s\n      command: [sleep, "100000"]\n      deploy: {replicas: %s, placement: {constraints: ["%s"]%s}}\n' \
		"$1" "$IMG" "$2" "$3" "${4:-}"
}

running() { docker service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true; }
running_is() { [ "$(running "$1")" = "$2" ]; }
instances() { sim_state "' '.join(v['properties']['osProfile']['computerName'] for s in st['scale_sets'] if s['name'] == 'workers' for v in s['virtualMachines'])"; }
node_tasks() { docker node ps "$1" --filter desired-state=running -q | wc -l; }

setup_workers() {
	OWNER=$(unique_owner)
	workers_up
	trap workers_down EXIT
	workers_sim workers "$1"
	wait_until 60 "$1 workers are Ready" workers_ready "$1"
}

test_plan_maps_instances_to_nodes_and_flags_strays() {
	setup_workers 2
	local dir
	dir=$(mktemp -d)
	cap_spec "$dir" 2 "{role: worker}"
	# a node no instance stands for: a worker started outside the scale set
	"$WORKERS_HOOK" create other stray000001
	wait_until 60 "the stray worker is Ready" workers_ready 3
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" "scale set workers: instances and swarm nodes: 0=workers000000 (node workers000000, ready, 0 tasks), 1=workers000001 (node workers000001, ready, 0 tasks)"
	assert_contains "$T_OUT" "swarm node stray000001 (worker) has no instance in a scale set that backs the swarm"
	# an instance whose worker died still has its (down) node; one whose node was removed has none
	"$WORKERS_HOOK" delete workers workers000001
	docker node rm -f workers000001 >/dev/null
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" "scale set workers: instance 1 (workers000001) has no swarm node"
}

# Loads: workers 0 and 1 carry the label load=high and run 2 "heavy" tasks each besides one
# "spread" task each; workers 2 and 3 run one "spread" task each. 4 -> 2 must drain 2 and 3.
test_scale_in_drains_exactly_the_least_loaded_nodes_and_keeps_every_task() {
	setup_workers 4
	docker node update --label-add load=high workers000000 >/dev/null
	docker node update --label-add load=high workers000001 >/dev/null
	local dir services
	dir=$(mktemp -d)
	services="$(svc "${OWNER}-heavy" 4 node.labels.load==high)
$(svc "${OWNER}-spread" 4 node.role==worker ", max_replicas_per_node: 2")"
	cap_spec "$dir" 4 "{role: worker, drain_timeout: 60s}" "$services"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	wait_until 60 "heavy runs 4" running_is "${OWNER}-heavy" 4
	wait_until 60 "spread runs 4" running_is "${OWNER}-spread" 4
	# spread puts one task on each worker (the least loaded first)
	assert_eq "1 1" "$(node_tasks workers000002) $(node_tasks workers000003)" "tasks on workers 2 and 3"
	cap_spec "$dir" 2 "{role: worker, drain_timeout: 60s}" "$services"
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" 'instance 3: "workers000003 (node workers000003, 1 task): fewest tasks" -> "drained"'
	assert_contains "$T_OUT" 'instance 2: "workers000002 (node workers000002, 1 task): fewest tasks" -> "drained"'
	assert_not_contains "$T_OUT" "instance 0:"
	assert_not_contains "$T_OUT" "instance 1:"
	# apply in the background, watching the running counts all along
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/apply.out" 2>&1 &
	local pid=$! min_heavy=4 min_spread=4 h s
	while kill -0 "$pid" 2>/dev/null; do
		h=$(running "${OWNER}-heavy") s=$(running "${OWNER}-spread")
		[ "$h" -ge "$min_heavy" ] || min_heavy=$h
		[ "$s" -ge "$min_spread" ] || min_spread=$s
		sleep 0.2
	done
	wait "$pid" || { cat "$T_DIR/apply.out"; t_fail "apply failed"; }
	t_log "$(cat "$T_DIR/apply.out")"
	assert_eq 4 "$min_heavy" "heavy tasks running at the least during the drain (none was on a drained node)"
	# the two spread tasks of the drained nodes are stopped before their replacements start
	[ "$min_spread" -ge 2 ] || t_fail "spread dropped to $min_spread running during the drain"
	assert_eq "workers000000 workers000001" "$(instances)" "the instances left"
	assert_eq "workers000000
workers000001" "$(worker_nodes)" "the nodes left in the swarm"
	assert_eq 4 "$(running "${OWNER}-heavy")" "heavy after"
	assert_eq 4 "$(running "${OWNER}-spread")" "spread after"
	assert_requests_match_spec
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

# A service pinned to the node being drained cannot move: the drain times out, says why, and the
# node stays drained with its instance.
test_drain_timeout_is_reported_and_the_node_stays_drained() {
	setup_workers 2
	local dir services
	dir=$(mktemp -d)
	services=$(svc "${OWNER}-pinned" 1 node.hostname==workers000001)
	cap_spec "$dir" 2 "{role: worker, drain_timeout: 4s}" "$services"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	wait_until 60 "pinned runs" running_is "${OWNER}-pinned" 1
	docker service create -q --detach --name "${OWNER}-x" --label berth.owner="$OWNER" \
		--constraint node.hostname==workers000000 --replicas 2 "$IMG" sleep 100000 >/dev/null
	wait_until 60 "x runs" running_is "${OWNER}-x" 2
	cap_spec "$dir" 1 "{role: worker, drain_timeout: 4s}" "$services"
	assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT$T_ERR" "scale set workers: drain did not finish within 4s: service ${OWNER}-pinned runs 0/1 tasks elsewhere; the nodes stay drained"
	assert_eq "drain $OWNER" "$(docker node inspect workers000001 --format '{{.Spec.Availability}} {{index .Spec.Labels "berth.draining"}}')" "the node"
	assert_eq "workers000000 workers000001" "$(instances)" "no instance deleted"
	# the next plan continues with the same node (resumed, not re-chosen)
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" 'instance 1: "workers000001 (node workers000001, 0 tasks): already drained by berth (resumed)"'
	# giving the scale-in up (the capacity back at 2) puts the node back into service
	cap_spec "$dir" 2 "{role: worker, drain_timeout: 4s}" "$services"
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" "swarm node workers000001 will be updated in place (drained for a scale-in that is no longer wanted: back into service)"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq "active " "$(docker node inspect workers000001 --format '{{.Spec.Availability}} {{index .Spec.Labels "berth.draining"}}')" "the node"
	wait_until 60 "pinned runs again" running_is "${OWNER}-pinned" 1
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

# kill -9 while berth waits for the drain, then after the instances are deleted but before the
# nodes are removed: each rerun carries on with the same instances.
test_kill_during_drain_and_after_delete_resumes() {
	setup_workers 3
	local dir services pid
	dir=$(mktemp -d)
	services=$(svc "${OWNER}-pinned" 1 node.hostname==workers000002)
	cap_spec "$dir" 3 "{role: worker, drain_timeout: 120s}" "$services"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	wait_until 60 "pinned runs" running_is "${OWNER}-pinned" 1
	# workers 0 and 1 carry more tasks, so 2 goes; its pinned task keeps the drain waiting
	docker service create -q --detach --name "${OWNER}-x" --label berth.owner="$OWNER" \
		--constraint node.hostname!=workers000002 --constraint node.role==worker --replicas 4 "$IMG" sleep 100000 >/dev/null
	wait_until 60 "x runs" running_is "${OWNER}-x" 4
	cap_spec "$dir" 2 "{role: worker, drain_timeout: 120s}" "$services"
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/a1.out" 2>&1 &
	pid=$!
	drained() { [ "$(docker node inspect workers000002 --format '{{.Spec.Availability}}')" = drain ]; }
	wait_until 60 "workers000002 is drained" drained
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	# (1) drain started: the plan continues it; let the pinned service go and the rerun finishes
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" 'instance 2: "workers000002 (node workers000002, 0 tasks): already drained by berth (resumed)"'
	services=$(svc "${OWNER}-pinned" 1 node.role==worker)
	cap_spec "$dir" 2 "{role: worker, drain_timeout: 120s}" "$services"
	# (2) hold the delete's poll: kill berth once the instance is gone but its node is not removed
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/a2.out" 2>&1 &
	pid=$!
	gone() { [ "$(instances)" = "workers000000 workers000001" ]; }
	wait_until 120 "instance 2 is deleted" gone
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	if worker_nodes | grep -qx workers000002; then
		# (3) nodes not yet removed: the plan removes the drained node whose instance is gone
		assert_exit 0 "$BERTH" plan --no-color "$dir"
		assert_contains "$T_OUT" "swarm node workers000002"
		assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	else
		t_log "berth removed the node before it was killed: stage (3) not reached this run"
	fi
	assert_eq "workers000000
workers000001" "$(worker_nodes)" "the nodes left"
	wait_until 60 "pinned runs elsewhere" running_is "${OWNER}-pinned" 1
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

# Growth: the service that needs one task per worker on three workers converges only once the new
# instance's node joined; berth waits for it before the service step. The new worker joins 8 s
# after its instance is created and a service may take 4 s to converge: without the join wait the
# service step would fail.
test_scale_out_waits_for_the_new_node_before_the_services() {
	setup_workers 2
	local dir services
	dir=$(mktemp -d)
	services=$(svc "${OWNER}-one-each" 2 node.role==worker ", max_replicas_per_node: 1")
	cap_spec "$dir" 2 "{role: worker, join_timeout: 60s}" "$services"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	services=$(svc "${OWNER}-one-each" 3 node.role==worker ", max_replicas_per_node: 1")
	cap_spec "$dir" 3 "{role: worker, join_timeout: 60s}" "$services"
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" "(kept; Azure adds the new ones, berth waits for their nodes)"
	sim_post /_sim/config "{\"instance_hook\": \"env WORKERS_JOIN_DELAY=8 $WORKERS_HOOK\"}"
	local t0
	t0=$(t_now_ms)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color --timeout 4s "$dir"
	[ $(($(t_now_ms) - t0)) -ge 8000 ] || t_fail "apply took less than the join delay"
	assert_contains "$T_OUT" "Apply complete: 2 done, 0 failed, 0 skipped."
	assert_eq 3 "$(running "${OWNER}-one-each")" "one task per worker"
	assert_eq "workers000000
workers000001
workers000002" "$(worker_nodes ready)" "the nodes"
}

# ---- cluster autoscaling ----

set_tag() { sim_state "[s.get('tags', {}).get('berth-autoscale', '') for s in st['scale_sets'] if s['name'] == 'workers'][0]"; }
node_label() { docker node inspect "$1" --format "{{index .Spec.Labels \"$2\"}}"; }
pending_for_resources() { docker service ps "$1" --filter desired-state=running --format '{{.Error}}' --no-trunc | grep -q 'insufficient resources'; }
# plan_says DIR TEXT: berth plan DIR prints TEXT (the output is shown when it does not).
plan_says() {
	local out
	out=$("$BERTH" plan --no-color "$1" 2>&1) || true
	grep -qF "$2" <<<"$out" || { echo "$out"; return 1; }
}

# busy_and_idle SERVICE: of the two workers, busy runs SERVICE's one task, idle the other.
busy_and_idle() {
	busy=$(docker service ps "$1" --filter desired-state=running --format '{{.Node}}')
	idle=workers000000
	[ "$busy" != "$idle" ] || idle=workers000001
}

# One worker (with the host's CPUs) and a service of two tasks that reserve 3/4 of them each: one
# stays pending for lack of resources. Once it has been pending for pending_tasks_for, the set
# grows by the node it needs, berth waits for that node to join, and the task runs there.
test_cluster_scales_out_when_tasks_stay_pending() {
	setup_workers 1
	local dir services cpus
	dir=$(mktemp -d)
	# each task reserves three quarters of a worker's CPUs: two never fit on one
	cpus=$(docker node inspect workers000000 --format '{{.Description.Resources.NanoCPUs}}' | awk '{printf "%.2f", $1 * 0.75 / 1e9}')
	services=$(svc "${OWNER}-big" 2 node.role==worker "}, resources: {reservations: {cpus: '$cpus'}")
	cap_spec "$dir" "autoscale: {min: 1, max: 3, scale_out: {pending_tasks_for: 3s}}" "{role: worker, join_timeout: 60s}" "$services"
	# the service cannot converge with one of its tasks pending: the apply says so
	assert_exit 1 "$BERTH" apply --auto-approve --no-color --timeout 3s "$dir"
	wait_until 30 "a task is pending for lack of resources" pending_for_resources "${OWNER}-big"
	assert_eq 1 "$(running "${OWNER}-big")" "running before"
	wait_until 30 "the plan scales out" plan_says "$dir" "autoscale up: 1 task pending for lack of resources for 3s or more"
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" "1 new node of"
	assert_contains "$T_OUT" ': 1 -> 2)'
	assert_contains "$T_OUT" 'capacity: "1" -> "2"'
	# saved, then applied a second later: still the plan made then (no age or reading in it)
	assert_exit 2 "$BERTH" plan --no-color --detailed-exitcode --out "$T_DIR/tfplan" "$dir"
	local t0
	t0=$(date +%s)
	later() { [ "$(date +%s)" -gt "$t0" ]; }
	wait_until 5 "a second has passed" later
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$T_DIR/tfplan"
	assert_eq "workers000000 workers000001" "$(instances)" "the instances"
	assert_eq "workers000000
workers000001" "$(worker_nodes ready)" "both nodes joined before the apply ended"
	wait_until 60 "both tasks run" running_is "${OWNER}-big" 2
	case $(set_tag) in "2 "*" up") ;; *) t_fail "the scale set's berth-autoscale tag is '$(set_tag)'" ;; esac
	assert_requests_match_spec
	# nothing pending, nothing idle: no further change
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "scale set workers: autoscale keeps 2 instances"
}

# Two workers, one task: the empty worker is idle (no task, 0% CPU). berth starts its idle clock
# (a node label), and once it has been idle for scale_in.for the scale set shrinks by that node,
# through the drain: the task never stops, the instance and the node go.
test_cluster_scales_in_an_idle_node_through_the_drain() {
	setup_workers 2
	local dir services busy idle
	dir=$(mktemp -d)
	services=$(svc "${OWNER}-one" 1 node.role==worker)
	# for: 20s leaves the second apply below well within the idle node's clock
	cap_spec "$dir" "autoscale: {min: 1, max: 3, cooldown: 1s, scale_in: {cpu_below: 20%, for: 20s}}" "{role: worker, drain_timeout: 60s}" "$services"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	wait_until 60 "one runs" running_is "${OWNER}-one" 1
	busy_and_idle "${OWNER}-one"
	# the first apply saw both nodes empty and started both clocks; the next stops the busy node's
	# (its task's stats are on its own engine, which berth does not reach here: its load is unknown)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	[ -n "$(node_label "$idle" berth.idle-since)" ] || t_fail "$idle has no berth.idle-since label"
	[ -z "$(node_label "$busy" berth.idle-since)" ] || t_fail "the busy node $busy kept its idle clock"
	wait_until 40 "the plan scales in" plan_says "$dir" "autoscale down: node $idle"
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/apply.out" 2>&1 &
	local pid=$! least=1
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(running "${OWNER}-one")" -ge 1 ] || least=0
		sleep 0.2
	done
	wait "$pid" || { cat "$T_DIR/apply.out"; t_fail "apply failed"; }
	t_log "$(cat "$T_DIR/apply.out")"
	assert_contains "$(cat "$T_DIR/apply.out")" "record the autoscale decision"
	assert_eq 1 "$least" "the task kept running"
	assert_eq "$busy" "$(worker_nodes)" "the node left"
	assert_eq 1 "$(running "${OWNER}-one")" "one after"
	case $(set_tag) in "1 "*" down") ;; *) t_fail "the scale set's berth-autoscale tag is '$(set_tag)'" ;; esac
	# at min: nothing more goes
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "autoscale keeps 1 instance: at min 1"
	assert_requests_match_spec
}

# berth run does the same by itself, and comes back when the idle clock runs out (its interval
# is an hour here: nothing else would wake it), logs the decision, and shows it in /status and
# the metrics.
test_cluster_autoscale_under_berth_run() {
	setup_workers 2
	local dir services port log
	dir=$(mktemp -d)
	services=$(svc "${OWNER}-one" 1 node.role==worker)
	cap_spec "$dir" "autoscale: {min: 1, max: 3, cooldown: 1s, scale_in: {cpu_below: 20%, for: 4s}}" "{role: worker, drain_timeout: 60s}" "$services"
	port=$(free_port) log=$T_DIR/run.log
	"$BERTH" run "$dir" --interval 1h --listen "127.0.0.1:$port" >"$log" 2>&1 &
	CAP_RUN_PID=$!
	trap 'kill $CAP_RUN_PID 2>/dev/null || true; workers_down' EXIT
	one_instance() { [ "$(instances | wc -w)" = 1 ]; }
	wait_until 90 "berth run scaled in to one instance" one_instance
	wait_until 30 "one worker left" workers_ready 1
	metric() { curl -fsS "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
	status_ok() {
		curl -fsS "http://127.0.0.1:$port/status" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
a = [x for x in s["autoscale"] if x.get("scale_set") == "workers"]
assert a and a[0]["capacity"] == 1 and a[0]["current"] == 1 and a[0]["direction"] == "hold", a
assert "at min 1" in a[0]["reason"], a'
	}
	wait_until 30 "/status shows the decision" status_ok
	gauge_one() { [ "$(metric 'berth_autoscale_desired_capacity{scale_set="workers"}')" = 1 ]; }
	wait_until 10 "the desired capacity gauge" gauge_one
	t_log "$(cat "$log")"
	assert_eq 1 "$(metric 'berth_autoscale_decisions_total{scale_set="workers",direction="down"}')" "one decision down"
	assert_contains "$(cat "$log")" "info autoscale scale_set=workers direction=down from=2 to=1 reason=node workers00000"
	assert_eq 1 "$(running "${OWNER}-one")" "the service still runs"
	kill -TERM "$CAP_RUN_PID"
	wait "$CAP_RUN_PID" 2>/dev/null || true
}

# With each worker's engine reachable over TLS (swarm.engines), the busy node's load is known:
# berth reads its CPU-burning task's stats, stops its idle clock as busy, and the node that goes
# is the idle one.
test_cluster_scale_in_reads_each_nodes_load_over_tls() {
	export WORKERS_TLS=1
	setup_workers 2
	local dir services busy idle
	dir=$(mktemp -d)
	CAP_SWARM_SETTINGS="  engines:
    workers000000: $(cat "$WORKERS_DIR/w-workers000000/tcp")
    workers000001: $(cat "$WORKERS_DIR/w-workers000001/tcp")
  tls: {ca: $WORKERS_DIR/tls/ca.pem, cert: $WORKERS_DIR/tls/cert.pem, key: $WORKERS_DIR/tls/key.pem}
"
	services="    ${OWNER}-burn:
      image: $IMG
      command: [sh, -c, 'while :; do :; done']
      deploy: {replicas: 1, placement: {constraints: [node.role==worker]}}"
	cap_spec "$dir" "autoscale: {min: 1, max: 3, cooldown: 1s, scale_in: {cpu_below: 20%, for: 4s}}" "{role: worker, drain_timeout: 60s}" "$services"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	wait_until 60 "burn runs" running_is "${OWNER}-burn" 1
	busy_and_idle "${OWNER}-burn"
	# the first apply saw both nodes empty; now the busy one's task burns a core
	wait_until 30 "the busy node's clock stops" plan_says "$dir" "swarm node $busy will be updated in place (busy again: its tasks use"
	# that apply stops the busy node's clock, and scales in once the idle one's has run out (the
	# same apply, or a later one)
	applied_down() {
		"$BERTH" apply --auto-approve --no-color "$dir" >>"$T_DIR/applies.out" 2>&1 || return 1
		[ -z "$(node_label "$busy" berth.idle-since 2>/dev/null)" ] || t_fail "the busy node $busy kept its idle clock"
		[ "$(worker_nodes)" = "$busy" ]
	}
	wait_until 60 "the idle node is gone" applied_down
	assert_contains "$(cat "$T_DIR/applies.out")" "autoscale down: node $idle"
	assert_eq "$busy" "$(worker_nodes)" "the node left"
	assert_eq 1 "$(running "${OWNER}-burn")" "burn after"
	unset WORKERS_TLS
}

# A manager is never chosen: with worker 1 promoted (the highest instance id, which a tie of task
# counts would pick), 2 -> 1 drains and deletes instance 0, and the autoscaler, with both nodes
# idle, scales in the worker, never the manager.
test_a_manager_is_never_chosen() {
	setup_workers 2
	docker node promote workers000001 >/dev/null
	is_manager() { [ "$(docker node inspect workers000001 --format '{{.Spec.Role}} {{.ManagerStatus.Reachability}}')" = "manager reachable" ]; }
	wait_until 60 "workers000001 is a reachable manager" is_manager
	local dir
	dir=$(mktemp -d)
	cap_spec "$dir" 1 "{role: worker, drain_timeout: 60s}"
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" 'instance 0: "workers000000 (node workers000000, 0 tasks): fewest tasks" -> "drained"'
	assert_not_contains "$T_OUT" "instance 1:"
	cap_spec "$dir" "autoscale: {min: 1, max: 3, cooldown: 1s, scale_in: {for: 1s}}" "{role: worker, drain_timeout: 60s}"
	# the first apply starts the idle clock of the worker only (the manager is never a candidate)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	[ -z "$(node_label workers000001 berth.idle-since)" ] || t_fail "the manager got an idle clock"
	gone() {
		"$BERTH" apply --auto-approve --no-color "$dir" >>"$T_DIR/applies.out" 2>&1 || return 1
		[ "$(instances)" = workers000001 ]
	}
	wait_until 60 "the worker's instance is deleted" gone
	assert_contains "$(cat "$T_DIR/applies.out")" "autoscale down: node workers000000"
	is_manager || t_fail "the manager is not a reachable manager any more"
}
