# shellcheck shell=bash
# Rollouts of container groups by Traffic Manager weights (docs/rollouts.md) against the ARM
# simulator: its endpoint monitor follows the revision groups' state and injected health faults,
# its probe server answers berth's own FQDN probe, and both berth and the simulator run 100 times
# faster than real time (BERTH_TIME_SCALE, config time_scale), so a 1m pause passes in 0.6 s.

# shellcheck source=tests/integration/azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh"
# shellcheck source=tests/integration/receiver_lib.sh
source "$(dirname "$T_FILE")/receiver_lib.sh"

SCALE=100
export BERTH_TIME_SCALE=$SCALE

# ro_boot OWNER: the simulator on scale, a resource group, and the probe routed to its server.
ro_boot() {
	sim_boot
	sim_post /_sim/config "{\"time_scale\": $SCALE}"
	sim_post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"$SUB\",\"name\":\"$RG\",\"location\":\"westeurope\"}]}"
	local pp
	pp=$(sim_state "st['probe_port']")
	export BERTH_PROBE_CONNECT_TO="::127.0.0.1:$pp"
}

# ro_spec OWNER DIR IMAGE [HEALTH] [EXTRA_ROLLOUT]: the group web rolled out through profile shop.
ro_spec() {
	local health=${4:-"monitor: Online
          probe: {path: /healthz, port: 80, expect: 200, interval: 10s}"}
	mkdir -p "$2"
	cat >"$2/berth.yaml" <<EOF
version: 1
name: $1
azure:
  subscription: $SUB
  resource_group: $RG
  location: westeurope
  container_groups:
    web:
      ip: public
      dns_label: shop-$1
      ports: [80]
      containers:
        web:
          image: $3
          cpu: 1
          memory_gb: 1
          ports: [80]
      rollout:
        traffic_manager: shop
        steps: [10, 50, 100]
        pause: 1m
        timeout: ${RO_TIMEOUT:-10m}
        health:
          $health
${5:-}
  traffic_manager:
    shop:
      routing: weighted
      dns_name: shop-$1
      ttl: 10
      monitor: {protocol: HTTP, port: 80, path: /healthz, interval: 10, timeout: 5, tolerated_failures: 2}
EOF
}

# desired_rev DIR: the revision of the spec's group (berth rollout status).
desired_rev() {
	"$BERTH" rollout status --json "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["desired"])'
}

# writes: the writes berth made so far, one per line, from the simulator's request log:
# "create web-REV", "delete web-REV", "web-REV=WEIGHT", "unroute web-REV", "tag PHASE STEP".
writes() {
	sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin):
    m, p, st, b = r["method"], r["path"], r.get("status"), r.get("body") or {}
    if st is None or not (200 <= st < 300) or m not in ("PUT", "PATCH", "DELETE"):
        continue
    last = p.rstrip("/").split("/")[-1]
    if "/containerGroups/" in p or "/containergroups/" in p.lower():
        print(("create " if m == "PUT" else "delete ") + last)
    elif "/externalEndpoints/" in p:
        print("%s=%s" % (last, b["properties"]["weight"]) if m == "PUT" else "unroute " + last)
    elif m == "PATCH" and "berth-rollout" in (b.get("tags") or {}):
        t = dict(kv.split("=", 1) for kv in b["tags"]["berth-rollout"].split(";") if "=" in kv)
        print("tag %s %s" % (t["phase"], t["step"]))
'
}

# traffic: the live endpoints of profile shop as "NAME=WEIGHT", sorted; and the revision groups.
traffic() {
	sim_state "' '.join(sorted('%s=%s' % (e['name'], e['properties']['weight']) for p in st['traffic_manager_profiles'] for e in p['properties']['endpoints']))"
}
# traffic_is PAIR...: the live endpoints are exactly these NAME=WEIGHT pairs.
traffic_is() {
	local want
	want=$(/usr/bin/python3 -c 'import sys; print(" ".join(sorted(sys.argv[1:])))' "$@")
	[ "$(traffic)" = "$want" ]
}
groups() {
	sim_state "' '.join(sorted(g['name'] for g in st['container_groups']))"
}

# ro_first OWNER DIR: the first revision deployed (all traffic, no steps); prints its revision.
ro_first() {
	ro_spec "$1" "$2" busybox:1.36
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$2"
	assert_contains "$T_OUT" "rollout web: done"
	desired_rev "$2"
}

test_happy_path_weights_from_the_request_log() {
	local owner dir r1 r2
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	assert_eq "web-$r1=1000" "$(traffic)" "the first revision takes all traffic at once"
	ro_spec "$owner" "$dir" busybox:1.37
	r2=$(desired_rev "$dir")
	[ "$r1" != "$r2" ] || t_fail "a new image must be a new revision"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# rollout web will be updated in place ($r1 → $r2, 10% → 50% → 100%, pause 1m)"
	assert_contains "$T_OUT" "+ step 1: \"10%: $r2 100 / $r1 900, pause 60s once healthy\""
	assert_contains "$T_OUT" "+ step 3: \"100%: $r2 1000, endpoint of $r1 removed, then its group\""
	assert_exit 0 "$BERTH" plan --json "$dir"
	assert_contains "$T_OUT" "\"reason\": \"$r1 → $r2, 10% → 50% → 100%, pause 1m\""
	sim_post /_sim/log/clear '{}' 2>/dev/null || true
	local before
	before=$(writes | wc -l)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "rollout web: step 2/3 (50%): healthy"
	assert_contains "$T_OUT" "Apply complete: 1 done, 0 failed, 0 skipped."
	local got want
	got=$(writes | tail -n +$((before + 1)) | grep -v '^tag' | tr '\n' ' ')
	want="create web-$r2 web-$r2=100 web-$r1=900 web-$r2=500 web-$r1=500 web-$r2=1000 unroute web-$r1 delete web-$r1 "
	assert_eq "$want" "$got" "the writes of the rollout, in order"
	got=$(writes | tail -n +$((before + 1)) | grep '^tag' | tr '\n' ' ')
	assert_eq "tag progressing -1 tag progressing 0 tag progressing 0 tag progressing 1 tag progressing 1 tag progressing 2 tag succeeded 2 " "$got" "the progress recorded on the profile"
	assert_eq "web-$r2=1000" "$(traffic)" "all traffic on the new revision, the old endpoint gone"
	assert_eq "web-$r2" "$(groups)" "one revision left"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	assert_no_client_secret
	assert_requests_match_spec
}

# rollback_case K: the new revision turns unhealthy at step K; everything goes back to r1.
test_unhealthy_new_revision_rolls_back_at_each_step() {
	local owner dir r1 r2 k
	for k in 1 2 3; do
		owner=$(unique_owner) dir=$(mktemp -d)
		ro_boot
		r1=$(ro_first "$owner" "$dir")
		ro_spec "$owner" "$dir" busybox:1.37
		r2=$(desired_rev "$dir")
		sim_post /_sim/faults "{\"rules\":[{\"action\":\"unhealthy_at_step\",\"group\":\"web-$r2\",\"step\":$k}]}"
		assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
		assert_contains "$T_OUT" "rollout web failed at step $k/3"
		assert_contains "$T_OUT" "rolled back, traffic is on $r1"
		assert_eq "web-$r1=1000" "$(traffic)" "step $k: all traffic back on the stable revision"
		assert_eq "web-$r1" "$(groups)" "step $k: the new revision is gone (no orphan)"
		local w
		w=$(writes | grep -v '^tag' | tr '\n' ' ')
		assert_not_contains "$w" "unroute web-$r1" "step $k: the stable endpoint was never removed"
		# The old revision is back at 1000 before the new one's endpoint and group go.
		[[ $k -eq 3 ]] || assert_contains "$w" "web-$r1=1000 unroute web-$r2 delete web-$r2" "step $k: rollback order"
		[[ $k -ne 3 ]] || assert_contains "$w" "unroute web-$r2 delete web-$r2" "step 3: rollback order"
		# Not retried until the spec changes: the plan says so and nothing is written.
		local n
		n=$(writes | wc -l)
		assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
		assert_contains "$T_OUT" "Note: rollout web: revision $r2 failed at step $k/3"
		assert_contains "$T_OUT" "not retried until the spec changes"
		assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
		assert_eq "$n" "$(writes | wc -l)" "step $k: a failed revision is not retried"
		sim_stop
	done
}

test_container_exit_rolls_back() {
	local owner dir r1 r2
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	ro_spec "$owner" "$dir" busybox:1.37
	r2=$(desired_rev "$dir")
	# The container exits 30 s (simulated) after it started; ACI restarts it (policy Always).
	sim_post /_sim/faults "{\"rules\":[{\"action\":\"exit_after\",\"group\":\"web-$r2\",\"seconds\":30,\"exit_code\":3}]}"
	assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "rollout web failed at step"
	assert_contains "$T_OUT" "revision $r2"
	assert_eq "web-$r1=1000" "$(traffic)" "traffic back on the stable revision"
	assert_eq "web-$r1" "$(groups)" "the new revision is gone"
}

test_probe_failure_rolls_back_through_the_real_probe() {
	local owner dir r1 r2
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	# Without the monitor gate only berth's own probe can see the failure.
	RO_HEALTH="monitor: none
          probe: {path: /healthz, port: 80, expect: 200, interval: 10s}"
	ro_spec "$owner" "$dir" busybox:1.36 "$RO_HEALTH"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	r1=$(desired_rev "$dir")
	ro_spec "$owner" "$dir" busybox:1.37 "$RO_HEALTH"
	r2=$(desired_rev "$dir")
	sim_post /_sim/faults "{\"rules\":[{\"action\":\"probe_fails\",\"group\":\"web-$r2\"}]}"
	RO_TIMEOUT=3m ro_spec "$owner" "$dir" busybox:1.37 "$RO_HEALTH"
	assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "probe answered 503, expected 200"
	assert_contains "$T_OUT" "not healthy within the timeout"
	assert_eq "web-$r1=1000" "$(traffic)" "traffic back on the stable revision"
	# The probes went to the revision's real FQDN (Host header), through CONNECT_TO.
	local hosts
	hosts=$(sim_get /_sim/probes | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted({p["host"].lower() for p in json.load(sys.stdin)})))')
	assert_contains "$hosts" "shop-$owner-$r2.westeurope.azurecontainer.io" "the probe's Host"
}

test_timeout_rolls_back() {
	local owner dir r1 r2
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	RO_TIMEOUT=2m ro_spec "$owner" "$dir" busybox:1.37
	r2=$(desired_rev "$dir")
	# Its containers never come up within the timeout (an image that takes forever to pull).
	sim_post /_sim/faults "{\"rules\":[{\"action\":\"slow_start\",\"path_regex\":\"web-$r2\",\"reads\":100000}]}"
	assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "containers not running within the timeout"
	assert_eq "web-$r1=1000" "$(traffic)" "traffic stays on the stable revision"
	assert_eq "web-$r1" "$(groups)" "the new revision is gone"
}

# status_of DIR EXPR: a Python expression over berth rollout status --json's first rollout `r`.
status_of() {
	"$BERTH" rollout status --json "$1" | /usr/bin/python3 -c "import json,sys; r = json.load(sys.stdin)[0]; print($2)"
}

# status_is DIR EXPR VALUE: EXPR over the status (status_of) prints VALUE (for wait_until).
status_is() {
	[ "$(status_of "$1" "$2")" = "$3" ]
}

# writes_at_least N: at least N writes are in the simulator's log (for wait_until).
writes_at_least() {
	[ "$(writes | wc -l)" -ge "$1" ]
}

test_promote_and_abort() {
	local owner dir r1 r2 pid
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	# Pauses of 10 h (6 min real): only a promote ends them.
	ro_spec "$owner" "$dir" busybox:1.37
	sed -i 's/^        pause: 1m$/        pause: 10h/' "$dir/berth.yaml"
	r2=$(desired_rev "$dir")
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/apply.out" 2>&1 &
	pid=$!
	wait_until 20 "step 1 is healthy and pausing" status_is "$dir" "r.get('healthy')" True
	assert_exit 0 "$BERTH" rollout status "$dir"
	assert_contains "$T_OUT" "rolling out $r2: step 1 of 3 (10%)"
	assert_contains "$T_OUT" "left in the pause"
	assert_contains "$T_OUT" "revision $r2: group running, weight 100, monitor Online"
	assert_exit 0 "$BERTH" rollout promote web "$dir"
	wait_until 30 "the promoted rollout finishes" status_is "$dir" "r['phase']" succeeded
	wait "$pid" || t_fail "the apply that was promoted failed: $(cat "$T_DIR/apply.out")"
	assert_contains "$(cat "$T_DIR/apply.out")" "promoted: pause skipped"
	assert_eq "web-$r2=1000" "$(traffic)" "promoted to the end"
	# Abort: a third revision, rolled back by hand while it pauses.
	sed -i 's/busybox:1.37/busybox:1.38/' "$dir/berth.yaml"
	local r3
	r3=$(desired_rev "$dir")
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/apply2.out" 2>&1 &
	pid=$!
	wait_until 20 "step 1 of r3 is healthy" status_is "$dir" "r.get('healthy') and r.get('revision')" "$r3"
	assert_exit 0 "$BERTH" rollout abort web "$dir"
	assert_contains "$T_OUT" "rolled back"
	assert_eq "web-$r2=1000" "$(traffic)" "aborted: all traffic back on r2"
	assert_eq "web-$r2" "$(groups)" "aborted: r3 is gone"
	# The apply that was driving it fails, with the operator's reason.
	local rc=0
	wait "$pid" || rc=$?
	assert_eq 1 "$rc" "the apply of the aborted rollout fails"
	assert_contains "$(cat "$T_DIR/apply2.out")" "aborted by an operator"
	assert_exit 1 "$BERTH" rollout promote web "$dir"
	assert_contains "$T_ERR" "nothing in progress to promote"
}

test_change_mid_rollout_abandons_then_starts_the_newest() {
	local owner dir r1 r2 r3 pid
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	ro_spec "$owner" "$dir" busybox:1.37
	sed -i 's/^        pause: 1m$/        pause: 10h/' "$dir/berth.yaml"
	r2=$(desired_rev "$dir")
	"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/apply.out" 2>&1 &
	pid=$!
	wait_until 20 "r2 has 10%" traffic_is "web-$r1=900" "web-$r2=100"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	ro_spec "$owner" "$dir" busybox:1.38
	r3=$(desired_rev "$dir")
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "~ abandon: \"$r2\" -> \"traffic back to the stable revision\""
	local before
	before=$(writes | wc -l)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	local got
	got=$(writes | tail -n +$((before + 1)) | grep -v '^tag' | tr '\n' ' ')
	assert_eq "web-$r1=1000 unroute web-$r2 delete web-$r2 create web-$r3 web-$r3=100 web-$r1=900 web-$r3=500 web-$r1=500 web-$r3=1000 unroute web-$r1 delete web-$r1 " "$got" "abandon r2, then r3 from the first step"
	assert_eq "web-$r3=1000" "$(traffic)"
	assert_eq "web-$r3" "$(groups)"
}

# writes_held: a write is being held by the simulator's hold_writes rule (for wait_until).
writes_held() {
	[ "$(sim_state "sum(r.get('held', 0) for r in st['faults'])")" -gt 0 ]
}

# kill -9 after the k-th write of a rollout (the simulator holds the next one unanswered, then
# drops it), for every k; then apply again: it must finish from where it was.
test_kill_9_at_every_write_resumes() {
	local owner dir r1 r2 pid total k resumed=0
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	ro_spec "$owner" "$dir" busybox:1.37
	r2=$(desired_rev "$dir")
	# The happy path's writes, counted once.
	local base
	base=$(writes | wc -l)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	total=$(($(writes | wc -l) - base))
	t_log "a rollout is $total writes"
	[ "$total" -ge 15 ] || t_fail "expected at least 15 writes in a rollout, got $total"
	sim_stop
	for k in $(seq 0 $((total - 1))); do
		owner=$(unique_owner) dir=$(mktemp -d)
		ro_boot
		r1=$(ro_first "$owner" "$dir")
		ro_spec "$owner" "$dir" busybox:1.37
		r2=$(desired_rev "$dir")
		base=$(writes | wc -l)
		sim_post /_sim/faults "{\"rules\":[{\"action\":\"hold_writes\",\"after\":$k}]}"
		"$BERTH" apply --auto-approve --no-color "$dir" >"$T_DIR/killed.out" 2>&1 &
		pid=$!
		wait_until 30 "write $((k + 1)) of the rollout is held" writes_held
		kill -9 "$pid"
		wait "$pid" 2>/dev/null || true
		curl -fsS -X DELETE "$SIM/_sim/faults" >/dev/null
		local at
		at=$(writes | tail -n +$((base + 1)) | tail -1)
		assert_eq "$k" "$(($(writes | wc -l) - base))" "killed after exactly $k writes"
		assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
		assert_eq "web-$r2=1000" "$(traffic)" "killed after write $k (${at:-none}): traffic at the end"
		assert_eq "web-$r2" "$(groups)" "killed after write $k (${at:-none}): revisions at the end"
		# Never back to 0%: once r2 had a weight, it never lost its endpoint or went down.
		local seq
		seq=$(writes | tail -n +$((base + 1)) | grep -E "^web-$r2=|^unroute web-$r2" | tr '\n' ' ')
		/usr/bin/python3 -c '
import sys
ws = [int(w.split("=")[1]) for w in sys.argv[1].split() if "=" in w]
assert "unroute" not in sys.argv[1], "the new revision lost its endpoint: " + sys.argv[1]
assert ws == sorted(ws), "its weight went down: " + sys.argv[1]
' "$seq" || t_fail "killed after write $k (${at:-none}): $seq"
		resumed=$((resumed + 1))
		sim_stop
	done
	t_log "kill -9 at every write of a rollout: $resumed/$total resumed and finished"
	assert_eq "$total" "$resumed" "resumed rollouts"
}

test_run_advances_rollouts_and_exports_metrics() {
	local owner dir r1 r2 pid port
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	ro_spec "$owner" "$dir" busybox:1.37
	r2=$(desired_rev "$dir")
	port=$(free_port)
	# An interval of an hour: only the rollout's own requeues can move it along.
	"$BERTH" run --interval 1h --listen "127.0.0.1:$port" "$dir" >"$T_DIR/run.log" 2>&1 &
	pid=$!
	wait_until 20 "run listens" curl -fsS "http://127.0.0.1:$port/healthz"
	wait_until 30 "berth run reports the rollout in progress" \
		sh -c "curl -fsS http://127.0.0.1:$port/metrics | grep -q 'berth_rollout_weight{group=\"web\",revision=\"$r2\"} 100'"
	assert_contains "$(curl -fsS "http://127.0.0.1:$port/metrics")" 'berth_rollout_step{group="web"} 1' "the step gauge"
	wait_until 60 "berth run finishes the rollout" traffic_is "web-$r2=1000" || { cat "$T_DIR/run.log" >&2; false; }
	wait_until 60 "the rollout counted as succeeded" \
		sh -c "curl -fsS http://127.0.0.1:$port/metrics | grep -q 'berth_rollouts_total{result=\"succeeded\"} 1'"
	local st
	st=$(curl -fsS "http://127.0.0.1:$port/status")
	assert_contains "$st" "\"phase\": \"succeeded\""
	kill "$pid"
	wait "$pid" || true
	assert_not_contains "$(cat "$T_DIR/run.log")" "s3cret-Sp" "the client secret leaked"
}

# berth run --notify: a rollout_step notification per step, then a rollback's (run/notify.h).
test_run_notifies_rollout_steps_and_rollbacks() {
	local owner dir r1 r2 r3 pid port
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	r1=$(ro_first "$owner" "$dir")
	ro_spec "$owner" "$dir" busybox:1.37
	r2=$(desired_rev "$dir")
	receiver_start
	port=$(free_port)
	"$BERTH" run --interval 1h --listen "127.0.0.1:$port" --notify "http://127.0.0.1:$RPORT/n" "$dir" >"$T_DIR/run.log" 2>&1 &
	pid=$!
	git__on_exit "kill -9 $pid 2>/dev/null || true"
	wait_until 60 "berth run finishes the rollout" traffic_is "web-$r2=1000"
	wait_until 10 "three rollout_step notifications" bash -c "[ \$(grep -c rollout_step '$RLOG') -ge 3 ]"
	kill "$pid"
	wait "$pid" || true
	# the next revision fails its health at step 2: rolled back to r2
	ro_spec "$owner" "$dir" busybox:1.38
	r3=$(desired_rev "$dir")
	sim_post /_sim/faults "{\"rules\":[{\"action\":\"unhealthy_at_step\",\"group\":\"web-$r3\",\"step\":2}]}"
	"$BERTH" run --interval 1h --listen "127.0.0.1:$port" --notify "http://127.0.0.1:$RPORT/n" "$dir" >>"$T_DIR/run.log" 2>&1 &
	pid=$!
	git__on_exit "kill -9 $pid 2>/dev/null || true"
	wait_until 60 "a rollout_rolled_back notification" has_event rollout_rolled_back
	wait_until 30 "then apply_failed" has_event apply_failed
	kill "$pid"
	wait "$pid" || true
	event_bodies | /usr/bin/python3 -c '
import json, sys
r1, r2, r3 = sys.argv[1:]
evs = [json.loads(l) for l in sys.stdin]
steps = [e["rollout"] for e in evs if e["event"] == "rollout_step"]
assert [(s["group"], s["revision"], s["step"], s["steps"]) for s in steps[:3]] == [("web", r2, k, 3) for k in (1, 2, 3)], steps
assert all(e["summary"] == "rollout web: step %d/3" % e["rollout"]["step"] for e in evs if e["event"] == "rollout_step")
assert [(s["revision"], s["step"]) for s in steps[3:]] == [(r3, 1), (r3, 2)], steps  # r3 failed in step 2
back = [e for e in evs if e["event"] == "rollout_rolled_back"]
assert len(back) == 1, back
b = back[0]["rollout"]
assert (b["revision"], b["step"], b["from"]) == (r3, 2, r2), b
assert b["reason"] and back[0]["errors"] == [b["reason"]], back
assert back[0]["text"].startswith("berth: rollout rolled back at %s: rollout web: " % back[0]["revision"]), back[0]["text"]
failed = [e for e in evs if e["event"] == "apply_failed"][-1]
assert failed["summary"] == "0 done, 1 failed, 0 skipped", failed
assert len(failed["errors"]) == 1 and failed["errors"][0].startswith("update rollout web: rollout web failed at step 2/3: "), failed
print(len(evs), "notifications:", [e["event"] for e in evs])
' "$r1" "$r2" "$r3"
}

test_secure_values_are_never_printed_and_change_the_revision() {
	local owner dir r1 r2
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	export SHOP_TOKEN=t0ps3cret-Value-1
	ro_spec "$owner" "$dir" busybox:1.36
	sed -i 's/^          ports: \[80\]$/          ports: [80]\n          secure_environment: {TOKEN: "${env:SHOP_TOKEN}"}/' "$dir/berth.yaml"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	r1=$(desired_rev "$dir")
	export SHOP_TOKEN=t0ps3cret-Value-2
	r2=$(desired_rev "$dir")
	[ "$r1" != "$r2" ] || t_fail "a changed secure value must be a new revision"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_not_contains "$T_OUT$T_ERR" "t0ps3cret" "a secure value in the plan"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_not_contains "$T_OUT$T_ERR" "t0ps3cret" "a secure value in the apply's output"
	assert_exit 0 "$BERTH" rollout status --json "$dir"
	assert_not_contains "$T_OUT$T_ERR" "t0ps3cret" "a secure value in the status"
	assert_not_contains "$(sim_get /_sim/log)" "t0ps3cret" "the simulator's log redacts it too"
}

# A group that had no rollout gets one: its first revision takes the traffic before the plain
# group and its hand-written endpoint go.
test_plain_group_becomes_rolled_out() {
	local owner dir r1
	owner=$(unique_owner) dir=$(mktemp -d)
	ro_boot
	ro_spec "$owner" "$dir" busybox:1.36
	# The same group without a rollout, behind a hand-written endpoint.
	/usr/bin/python3 - "$dir/berth.yaml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"      rollout:\n(        .*\n|          .*\n)+", "", s)
s = s.rstrip("\n") + "\n      endpoints:\n        web: {container_group: web, weight: 1000}\n"
open(p, "w").write(s)
PY
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq "web=1000" "$(traffic)" "the plain group behind its endpoint"
	ro_spec "$owner" "$dir" busybox:1.36
	r1=$(desired_rev "$dir")
	assert_exit 0 "$BERTH" plan --no-color "$dir"
	assert_contains "$T_OUT" "# container group web will be destroyed (replaced by revisions)"
	assert_contains "$T_OUT" "# rollout web will be created (first revision $r1, all traffic)"
	local before
	before=$(writes | wc -l)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq "web-$r1=1000" "$(traffic)" "the revision's endpoint only"
	assert_eq "web-$r1" "$(groups)" "the revision only"
	# Its endpoint was there before the old one went.
	local got
	got=$(writes | tail -n +$((before + 1)) | grep -v '^tag' | tr '\n' ' ')
	[[ $got == "create web-$r1 web-$r1=1000 "* ]] || t_fail "the revision must serve first: $got"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}
