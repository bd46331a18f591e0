# shellcheck shell=bash
# Service autoscaling on the real swarm: tasks that burn CPU (under a CPU limit, so the
# percentage is of something) make berth scale the service out; when the load stops (a file in a
# bind-mounted directory the test controls: the service itself does not change) it scales back
# in, only after the cooldown. A Prometheus source is tested against a local fake of the query
# API. Decisions are checked where they are explained: the plan, the labels on the service,
# berth run's log, /status and /metrics.

IMG=berth-test/busybox:latest
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

replicas() { docker service inspect "$1" --format '{{.Spec.Mode.Replicated.Replicas}}'; }
label() { docker service inspect "$1" --format "{{index .Spec.Labels \"$2\"}}"; }

# burn_spec OWNER DIR CTL: one service whose tasks spin while CTL/stop does not exist.
burn_spec() {
	cat >"$2/berth.yaml" <<YAML
version: 1
name: $1
swarm:
  services:
    $1-burn:
      image: $IMG
      command: ["sh", "-c", "while :; do if [ -e /ctl/stop ]; then sleep 1; fi; done"]
      volumes: [{type: bind, source: $3, target: /ctl, read_only: true}]
      deploy:
        resources: {limits: {cpus: "0.1"}}
        autoscale: {min: 1, max: 2, cpu_percent: 60, cooldown: 15s}
YAML
}

test_scales_out_under_load_and_back_in_after_the_cooldown() {
	local owner dir ctl svc
	owner=$(unique_owner) dir=$(mktemp -d) ctl=$(mktemp -d)
	chmod 755 "$ctl"
	svc=$owner-burn
	burn_spec "$owner" "$dir" "$ctl"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq 1 "$(replicas "$svc")" "a new autoscaled service starts at min"
	# The first stats of a task have no previous reading: apply until the load is seen.
	scaled_out() { "$BERTH" apply --auto-approve "$dir" >/dev/null 2>&1; [ "$(replicas "$svc")" = 2 ]; }
	wait_until 90 "the service scaled out to 2" scaled_out
	assert_eq 2 "$(label "$svc" berth.autoscale.replicas)" "the decision is recorded on the service"
	local reason at
	reason=$(label "$svc" berth.autoscale.reason)
	assert_contains "$reason" "of target 60% over 1 task: ceil(1 x "
	assert_contains "$reason" ") = 2"
	at=$(label "$svc" berth.autoscale.at)
	# At max, under load: nothing to do; drift correction leaves the autoscaler's replicas alone.
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
	assert_contains "$T_OUT" "Note: service $svc: autoscale keeps 2 replicas"
	# The load stops: first the cooldown holds the scale-in, then it happens.
	touch "$ctl/stop"
	held() { "$BERTH" plan "$dir" 2>&1 | grep -q "scale-in held by the cooldown"; }
	wait_until 30 "the plan holds the scale-in for the cooldown" held
	scaled_in() { "$BERTH" apply --auto-approve "$dir" >/dev/null 2>&1; [ "$(replicas "$svc")" = 1 ]; }
	wait_until 90 "the service scaled back in to 1" scaled_in
	local at2
	at2=$(label "$svc" berth.autoscale.at)
	[ $((at2 - at)) -ge 15 ] || t_fail "scaled in $((at2 - at)) s after scaling out, before the 15 s cooldown"
	assert_contains "$(label "$svc" berth.autoscale.reason)" "ceil(2 x "
	assert_contains "$(label "$svc" berth.autoscale.reason)" ") = 1"
}

test_a_manual_replicas_is_an_error() {
	local dir
	dir=$(mktemp -d)
	printf 'version: 1\nname: x\nswarm:\n  services:\n    a:\n      image: %s\n      deploy:\n        replicas: 3\n        resources: {limits: {cpus: "1"}}\n        autoscale: {max: 4, cpu_percent: 50}\n' \
		"$IMG" >"$dir/berth.yaml"
	assert_exit 1 "$BERTH" validate "$dir/berth.yaml"
	assert_contains "$T_ERR$T_OUT" "berth.yaml:8:9: error: swarm.services.a.deploy.replicas: cannot be set with autoscale"
}

# prom_start: the fake Prometheus on a free port; $PROM_URL, $PROM_ANSWERS, $PROM_LOG.
prom_start() {
	local port
	port=$(free_port)
	PROM_ANSWERS=$T_DIR/answers.json PROM_LOG=$T_DIR/queries.log
	echo '{}' >"$PROM_ANSWERS"
	: >"$PROM_LOG"
	/usr/bin/python3 "$HERE/prom_fake.py" "$port" "$PROM_ANSWERS" "$PROM_LOG" &
	PROM_PID=$!
	PROM_URL=http://127.0.0.1:$port
	wait_until 10 "the fake Prometheus answers" curl -fsS "$PROM_URL/api/v1/query?query=up"
	: >"$PROM_LOG"
}

prom_spec() {
	cat >"$2/berth.yaml" <<YAML
version: 1
name: $1
swarm:
  services:
    $1-api:
      image: $IMG
      command: [sleep, "3600"]
      deploy:
        autoscale:
          max: 10
          source: {prometheus: "$PROM_URL/", query: 'sum(rate(requests_total{service="api"}[1m]))', target: 50}
YAML
}

test_prometheus_source() {
	local owner dir svc
	owner=$(unique_owner) dir=$(mktemp -d)
	prom_start
	trap 'kill $PROM_PID 2>/dev/null || true' EXIT
	svc=$owner-api
	prom_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq 1 "$(replicas "$svc")"
	local q='sum(rate(requests_total{service="api"}[1m]))'
	: >"$PROM_LOG"
	/usr/bin/python3 -c 'import json,sys; json.dump({sys.argv[1]: {"values": ["100", "130"]}}, open(sys.argv[2], "w"))' "$q" "$PROM_ANSWERS"
	assert_exit 2 "$BERTH" plan --detailed-exitcode "$dir"
	assert_contains "$T_OUT" "autoscale up: prometheus 230 per task (230 over 1 task) of target 50: ceil(230/50) = 5"
	assert_contains "$T_OUT" 'replicas: "1" -> "5"'
	assert_eq "$q" "$(cat "$PROM_LOG")" "one query per evaluation, exactly as written"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq 5 "$(replicas "$svc")"
	# A scalar within the tolerance: 5 x 50 = 250, 260 is 4% off.
	/usr/bin/python3 -c 'import json,sys; json.dump({sys.argv[1]: {"scalar": "260"}}, open(sys.argv[2], "w"))' "$q" "$PROM_ANSWERS"
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
	assert_contains "$T_OUT" "autoscale keeps 5 replicas: prometheus 52 per task (260 over 5 tasks) of target 50: within tolerance 10%"
	# Prometheus fails: no metric, nothing changes, and the plan says why.
	/usr/bin/python3 -c 'import json,sys; json.dump({sys.argv[1]: {"error": ["bad_data", "parse error at char 4"], "status": 400}}, open(sys.argv[2], "w"))' "$q" "$PROM_ANSWERS"
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
	assert_contains "$T_OUT" "autoscale keeps 5 replicas: no metrics (prometheus (HTTP 400: Prometheus: bad_data: parse error at char 4): no value): stays 5"
	# Prometheus unreachable: the same.
	kill "$PROM_PID"
	wait "$PROM_PID" 2>/dev/null || true
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
	assert_contains "$T_OUT" "autoscale keeps 5 replicas: no metrics (prometheus (cannot query Prometheus at $PROM_URL/"
}

test_run_logs_status_and_metrics() {
	local owner dir svc port log
	owner=$(unique_owner) dir=$(mktemp -d)
	prom_start
	svc=$owner-api
	prom_spec "$owner" "$dir"
	local q='sum(rate(requests_total{service="api"}[1m]))'
	/usr/bin/python3 -c 'import json,sys; json.dump({sys.argv[1]: {"values": ["90"]}}, open(sys.argv[2], "w"))' "$q" "$PROM_ANSWERS"
	port=$(free_port) log=$T_DIR/run.log
	"$BERTH" run "$dir" --interval 1s --listen "127.0.0.1:$port" >"$log" 2>&1 &
	RUN_PID=$!
	trap 'kill $RUN_PID $PROM_PID 2>/dev/null || true' EXIT
	at_two() { [ "$(replicas "$svc" 2>/dev/null)" = 2 ]; }
	wait_until 60 "berth run scaled the service to 2" at_two
	metric() { curl -fsS "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
	status_ok() {
		curl -fsS "http://127.0.0.1:$port/status" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
a = [x for x in s["autoscale"] if x["service"] == sys.argv[1]]
assert a and a[0]["replicas"] == 2 and a[0]["current"] == 2 and a[0]["direction"] == "hold", a
assert "within tolerance" in a[0]["reason"] or "stays 2" in a[0]["reason"], a
assert not [x for x in s["rollouts"] if x.get("kind")], s["rollouts"]' "$svc"
	}
	wait_until 30 "/status shows the decision" status_ok
	gauge_two() { [ "$(metric "berth_autoscale_desired_replicas{service=\"$svc\"}")" = 2 ]; }
	wait_until 10 "the desired replicas gauge" gauge_two
	local ups
	ups=$(metric "berth_autoscale_decisions_total{service=\"$svc\",direction=\"up\"}")
	assert_eq 1 "$ups" "one decision up"
	assert_contains "$(cat "$log")" "info autoscale service=$svc direction=up from=1 to=2 reason=prometheus 90 per task (90 over 1 task) of target 50: ceil(90/50) = 2"
	kill -TERM "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null || true
}

# swarm.engines names the node's engine; one that cannot be reached makes its tasks missing
# metrics: no decision, and the plan says so.
test_unreachable_node_engine_is_a_missing_metric() {
	local owner dir host port
	owner=$(unique_owner) dir=$(mktemp -d)
	host=$(docker info --format '{{.Name}}') port=$(free_port)
	cat >"$dir/berth.yaml" <<YAML
version: 1
name: $owner
swarm:
  engines:
    $host: tcp://127.0.0.1:$port
  services:
    $owner-idle:
      image: $IMG
      command: [sleep, "3600"]
      deploy:
        resources: {limits: {cpus: "0.1"}}
        autoscale: {min: 1, max: 3, cpu_percent: 50}
YAML
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
	assert_contains "$T_OUT" "Note: service $owner-idle: autoscale keeps 1 replica: no metrics (cpu: no task has a sample yet (0 starting, 1 without a value)): stays 1"
}
