# shellcheck shell=bash
# Autoscaling reads each node's container stats from that node's own engine (swarm.engines, over
# TCP with swarm.tls), on a real multi-node swarm: two workers (worker_hook.sh, started directly:
# no scale set) whose dockerd also listen on tcp://THEIR_IP:2376 with --tlsverify and a server
# certificate from a test CA (workers_lib.sh's WORKERS_TLS=1), and a service whose tasks burn CPU
# on those workers only. The manager's engine, the one berth talks to, has none of their
# containers: every CPU figure in these plans came over TLS from a worker.

# shellcheck source=tests/integration/azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh" # sim_stop, which workers_down calls
# shellcheck source=tests/integration/workers_lib.sh
source "$(dirname "$T_FILE")/workers_lib.sh"

IMG=berth-test/busybox:latest

# setup_tls_workers: the TLS harness with two Ready workers, hostnames $W0 and $W1.
setup_tls_workers() {
	OWNER=$(unique_owner)
	export WORKERS_TLS=1
	workers_up
	trap workers_down EXIT
	W0=tlsworker0 W1=tlsworker1
	"$WORKERS_HOOK" create - "$W0"
	"$WORKERS_HOOK" create - "$W1"
	wait_until 60 "2 workers are Ready" workers_ready 2
}

endpoint() { cat "$WORKERS_DIR/w-$1/tcp"; }

# node_spec DIR ENGINE0 ENGINE1 CA [CERT KEY]: the service (min 2 tasks, at most 2 a node, on the
# workers only) and where each worker's engine is, with the client certificate of the test CA
# unless CERT and KEY are given.
node_spec() {
	cat >"$1/berth.yaml" <<YAML
version: 1
name: $OWNER
swarm:
  engines:
    $W0: $2
    $W1: $3
  tls: {ca: $4, cert: ${5:-$WORKERS_DIR/tls/cert.pem}, key: ${6:-$WORKERS_DIR/tls/key.pem}}
  services:
    $OWNER-burn:
      image: $IMG
      command: ["sh", "-c", "while :; do :; done"]
      deploy:
        placement: {constraints: ["node.role==worker"], max_replicas_per_node: 2}
        resources: {limits: {cpus: "0.1"}}
        autoscale: {min: 2, max: 4, cpu_percent: 60}
YAML
}

replicas() { docker service inspect "$1" --format '{{.Spec.Mode.Replicated.Replicas}}'; }
task_nodes() { docker service ps "$1" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' | awk '$2 == "Running" {print $1}' | sort -u | xargs; }
one_task_on_each_worker() { [ "$(task_nodes "$OWNER-burn")" = "$W0 $W1" ]; }

# plan_says DIR TEXT: berth plan DIR exits 0 or 2 and its output has TEXT (a regex); the output in
# $T_DIR/plan.out, appended to $T_DIR/all.out, and printed when TEXT is not there (wait_until
# shows the last one).
plan_says() {
	local rc=0
	"$BERTH" plan --no-color --detailed-exitcode "$1" >"$T_DIR/plan.out" 2>&1 || rc=$?
	cat "$T_DIR/plan.out" >>"$T_DIR/all.out"
	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || { cat "$T_DIR/plan.out"; t_fail "berth plan exited with status $rc"; }
	grep -qE "$2" "$T_DIR/plan.out" || { cat "$T_DIR/plan.out"; return 1; }
}

test_cpu_is_read_from_each_worker_over_tls_and_scales_out() {
	setup_tls_workers
	local dir svc=$OWNER-burn out
	dir=$(mktemp -d)
	node_spec "$dir" "$(endpoint "$W0")" "$(endpoint "$W1")" "$WORKERS_DIR/tls/ca.pem"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq 2 "$(replicas "$svc")" "a new autoscaled service starts at min"
	wait_until 60 "one task runs on each worker" one_task_on_each_worker
	# A task's first stats may have no previous reading (starting): plan until both have one.
	wait_until 60 "the plan scales out on both workers' CPU" \
		plan_says "$dir" "autoscale up: cpu [0-9.]+% of target 60% over 2 tasks: ceil\(2 x "
	out=$(cat "$T_DIR/plan.out")
	t_log "$out"
	assert_not_contains "$out" "without a value" "no task's CPU is missing"
	assert_not_contains "$out" "starting" "no task counted as starting"
	# the tasks burn 0.1 CPU under a 0.1 limit: about 100% of it, ceil(2 x 100/60) = 4
	assert_contains "$out" ") = 4)"
	assert_contains "$out" '~ replicas: "2" -> "4"'
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq 4 "$(replicas "$svc")" "replicas after the scale-out"
	local reason
	reason=$(docker service inspect "$svc" --format '{{index .Spec.Labels "berth.autoscale.reason"}}')
	assert_contains "$reason" "of target 60% over 2 tasks: ceil(2 x "
	assert_contains "$reason" ") = 4"
}

# The engines answer but berth cannot trust them (another CA), they do not trust berth (a client
# certificate from another CA), or one does not listen: those nodes' tasks have no value. The
# load alone would scale out; without the readings nothing changes, and nothing is an error.
test_an_unverified_or_silent_engine_is_a_missing_metric_never_an_error() {
	setup_tls_workers
	local dir svc=$OWNER-burn other=$T_DIR/other e0 e1 ip1 key_line
	dir=$(mktemp -d)
	"$(dirname "$T_FILE")/tls_certs.sh" ca "$other"
	e0=$(endpoint "$W0") e1=$(endpoint "$W1") ip1=$(cat "$WORKERS_DIR/w-$W1/addr")
	: >"$T_DIR/all.out"
	# the servers' certificates are not signed by this CA
	node_spec "$dir" "$e0" "$e1" "$other/ca.pem"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	echo "$T_OUT$T_ERR" >>"$T_DIR/all.out"
	wait_until 60 "one task runs on each worker" one_task_on_each_worker
	local none="Note: service $svc: autoscale keeps 2 replicas: no metrics (cpu: no task has a sample yet (0 starting, 2 without a value)): stays 2"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	echo "$T_OUT$T_ERR" >>"$T_DIR/all.out"
	assert_contains "$T_OUT" "$none" "another CA"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	echo "$T_OUT$T_ERR" >>"$T_DIR/all.out"
	assert_eq 2 "$(replicas "$svc")" "replicas with no reading"
	# the engines' --tlsverify refuses a client certificate from another CA
	node_spec "$dir" "$e0" "$e1" "$WORKERS_DIR/tls/ca.pem" "$other/cert.pem" "$other/key.pem"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	echo "$T_OUT$T_ERR" >>"$T_DIR/all.out"
	assert_contains "$T_OUT" "$none" "a client certificate from another CA"
	# W1's address, but no engine listens on that port: W0's task alone is over the target, W1's
	# counted as 0% puts the average below it, so no clear change
	node_spec "$dir" "$e0" "tcp://$ip1:2399" "$WORKERS_DIR/tls/ca.pem"
	wait_until 60 "the plan reads W0's task and misses W1's" \
		plan_says "$dir" "autoscale keeps 2 replicas: cpu [0-9.]+% of target 60% over 1 task, [0-9.]+% over 2 with 1 without a value counted as 0%: no clear change, stays 2"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	echo "$T_OUT$T_ERR" >>"$T_DIR/all.out"
	assert_eq 2 "$(replicas "$svc")" "replicas with W1's reading missing"
	# the same spec with both engines reachable scales out: the loads were there all along
	node_spec "$dir" "$e0" "$e1" "$WORKERS_DIR/tls/ca.pem"
	wait_until 60 "the plan scales out once both engines answer" plan_says "$dir" "autoscale up: cpu .* over 2 tasks"
	# nothing of the keys, nor where they are, in anything berth printed
	key_line=$(sed -n 2p "$WORKERS_DIR/tls/key.pem")
	local all
	all=$(cat "$T_DIR/all.out")
	assert_not_contains "$all" "PRIVATE KEY"
	assert_not_contains "$all" "$key_line" "a line of the client key"
	assert_not_contains "$all" "$(sed -n 2p "$other/key.pem")" "a line of the other client key"
	assert_not_contains "$all" "key.pem" "a key's path"
	assert_not_contains "$all" "$WORKERS_DIR/tls" "the certificates' directory"
	assert_not_contains "$all" "error" "an error"
}

# GET /nodes in its order (what berth maps hostnames with): "HOSTNAME STATE" per node.
nodes_in_api_order() {
	curl -fsS --unix-socket "$WORKERS_DIR/w-berthmgr/sock" http://localhost/nodes |
		jq -r '.[] | "\(.Description.Hostname) \(.Status.State)"'
}
# The last node named $W1 in that list is a down one: where the first match alone would be wrong.
last_w1_is_down() { [ "$(nodes_in_api_order | awk -v h="$W1" '$1 == h {s = $2} END {print s}')" = down ]; }

# w1_nodes_are "N down M ready": how many nodes named $W1 there are in each state.
w1_nodes_are() { [ "$(nodes_in_api_order | awk -v h="$W1" '$1 == h {print $2}' | sort | uniq -c | xargs)" = "$1" ]; }

# A worker replaced under the same hostname (a reimaged VM, a worker that left and joined again)
# leaves its old node, down, with that name. The tasks on the new node are read all the same.
# GET /nodes lists the nodes in an order of their own: replace the worker until one of its down
# nodes is listed after the new one (each round the new one is last with a chance of 1/(k+1)).
test_a_node_replaced_under_the_same_hostname_is_read() {
	setup_tls_workers
	local round dir svc=$OWNER-burn
	for round in 1 2 3 4 5 6; do
		"$WORKERS_HOOK" delete - "$W1"
		"$WORKERS_HOOK" create - "$W1"
		wait_until 90 "$W1's old nodes are down and the new one Ready" w1_nodes_are "$round down 1 ready"
		last_w1_is_down && break
	done
	t_log "after $round replacement(s): $(nodes_in_api_order | xargs)"
	last_w1_is_down || t_fail "the new $W1 was listed last after $round replacements"
	dir=$(mktemp -d)
	node_spec "$dir" "$(endpoint "$W0")" "$(endpoint "$W1")" "$WORKERS_DIR/tls/ca.pem"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	wait_until 60 "one task runs on each worker" one_task_on_each_worker
	wait_until 60 "the plan scales out on both workers' CPU" \
		plan_says "$dir" "autoscale up: cpu [0-9.]+% of target 60% over 2 tasks: ceil\(2 x "
	assert_not_contains "$(cat "$T_DIR/plan.out")" "without a value" "no task's CPU is missing"
}
