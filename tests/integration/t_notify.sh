# shellcheck shell=bash
# berth run's notifications and commit statuses against local receivers (fake_receiver.py) and
# a real swarm, following git repositories: signed events with the reconcile's outcome (applied,
# failed, drift corrected), retries after 500s, dead and hanging receivers that never slow a
# reconcile (drops counted), and the commit status of each forge checked as the forge documents it.

# shellcheck source=receiver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/receiver_lib.sh"

IMG=berth-test/busybox:latest
NSECRET=nt-s3cret-Do-Not-Print
TOKEN=forge-T0ken-Do-Not-Print

spec_text() {
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-svc:\n      image: %s\n      command: [sleep, "3600"]\n      environment: {MODE: %s}\n      deploy: {replicas: 0}\n' \
		"$1" "$1" "$IMG" "$2"
}

# repo_init OWNER: a bare repository on disk ($BARE) with the spec (MODE=one) on main, and its clone $WORK.
repo_init() {
	BARE=$(mktemp -d)/spec.git WORK=$(mktemp -d)/work
	git init -q --bare -b main "$BARE"
	git init -q -b main "$WORK"
	git -C "$WORK" config user.email t@example.test
	git -C "$WORK" config user.name tester
	git -C "$WORK" remote add origin "$BARE"
	commit_spec "$(spec_text "$1" one)" first
}

# commit_spec TEXT MSG: deploy/berth.yaml is TEXT, committed and pushed.
commit_spec() {
	mkdir -p "$WORK/deploy"
	printf '%s\n' "$1" >"$WORK/deploy/berth.yaml"
	git -C "$WORK" add -A
	git -C "$WORK" commit -q -m "$2"
	git -C "$WORK" push -q -f origin main
}
head_sha() { git -C "$WORK" rev-parse HEAD; }

# run_start ARGS...: berth run in the background on a free port; $PID, $PORT, $LOG.
run_start() {
	PORT=$(free_port) LOG=$(mktemp)
	"$BERTH" run --cache-dir "$T_DIR/cache" --listen "127.0.0.1:$PORT" "$@" >"$LOG" 2>&1 &
	PID=$!
	git__on_exit "kill -9 $PID 2>/dev/null || true"
	wait_until 30 "berth run answers /readyz" curl -fsS "http://127.0.0.1:$PORT/readyz"
}
run_stop() {
	kill -TERM "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
}
metric() { curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

test_events_are_signed_and_carry_the_outcome() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	receiver_start
	printf '%s\n' "$NSECRET" >"$T_DIR/nsecret"
	run_start --repo "$BARE" --path deploy --interval 2s --notify "http://127.0.0.1:$RPORT/hook" \
		--notify-secret-file "$T_DIR/nsecret"
	wait_until 30 "apply_succeeded arrives" has_event apply_succeeded
	# a broken commit: apply_failed with the spec's problems as errors, nothing applied
	commit_spec "$(spec_text "$owner" one | sed 's/      deploy:/      replicas_typo: 3\n      deploy:/')" broken
	local broken
	broken=$(head_sha)
	wait_until 30 "apply_failed arrives" has_event apply_failed
	# the fix, then drift put back
	commit_spec "$(spec_text "$owner" two)" fix
	local fixed
	fixed=$(head_sha)
	wait_until 30 "the fix is applied" bash -c "[ \$(grep -c apply_succeeded '$RLOG') -ge 2 ]"
	docker service update -q --detach --env-add MODE=drifted "${owner}-svc" >/dev/null
	wait_until 30 "drift_corrected arrives" has_event drift_corrected
	wait_until 10 "the sends are counted" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '\$1 == \"berth_notifications_total{result=\\\"sent\\\"}\" {print \$2}')\" -ge 4 ]"
	run_stop
	# every request: a POST of JSON, its X-Signature-256 the HMAC-SHA256 of the body under the secret
	/usr/bin/python3 - "$RLOG" "$NSECRET" "$broken" "$fixed" <<'PY'
import hashlib, hmac, json, re, sys
log, secret, broken, fixed = sys.argv[1:]
reqs = [json.loads(l) for l in open(log)]
seen = {}
for r in reqs:
    assert r["method"] == "POST" and r["path"] == "/hook", r
    assert r["headers"]["content-type"] == "application/json", r["headers"]
    want = "sha256=" + hmac.new(secret.encode(), r["body"].encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(r["headers"]["x-signature-256"], want), (r["headers"], want)
    ev = json.loads(r["body"])
    assert set(ev) == {"event", "revision", "summary", "errors", "time", "text"}, ev
    assert r["headers"]["x-berth-event"] == ev["event"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ev["time"]), ev
    assert re.fullmatch(r"[0-9a-f]{40}", ev["revision"]), ev
    assert ev["text"].startswith("berth: " + ev["event"].replace("_", " ") + " at " + ev["revision"][:7]), ev
    assert secret not in r["body"]
    seen.setdefault(ev["event"], []).append(ev)
ok = seen["apply_succeeded"]
assert ok[0]["errors"] == [] and ok[0]["summary"].startswith("1 added, 0 changed"), ok[0]
assert any(e["revision"] == fixed and e["summary"].startswith("0 added, 1 changed") for e in ok), ok
bad = seen["apply_failed"][0]
assert bad["revision"] == broken and bad["summary"] == "the spec is invalid (1 problem)", bad
assert len(bad["errors"]) == 1 and bad["errors"][0].startswith("deploy/berth.yaml:") and "replicas_typo" in bad["errors"][0], bad
assert bad["errors"][0] in bad["text"], bad
drift = seen["drift_corrected"][0]
assert drift["revision"] == fixed and drift["summary"].startswith("0 added, 1 changed"), drift
print("checked", len(reqs), "requests")
PY
	assert_not_contains "$(cat "$LOG")" "$NSECRET" "the notify secret leaked into the log"
	assert_not_contains "$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null || true)" "$NSECRET"
}

test_a_receiver_answering_500_gets_the_event_again() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	receiver_start --fail-first 2
	run_start --repo "$BARE" --path deploy --interval 10m --notify "http://127.0.0.1:$RPORT/hook"
	wait_until 30 "the third attempt is answered 204" bash -c "grep -q '\"status\": 204' '$RLOG'"
	wait_until 10 "the send is counted" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '\$1 == \"berth_notifications_total{result=\\\"sent\\\"}\" {print \$2}')\" = 1 ]"
	/usr/bin/python3 - "$RLOG" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["status"] for r in reqs] == [500, 500, 204], [r["status"] for r in reqs]
assert len({r["body"] for r in reqs}) == 1, "a retry sends the same body"
assert "x-signature-256" not in reqs[0]["headers"], "no secret, no signature"
gaps = [b["time"] - a["time"] for a, b in zip(reqs, reqs[1:])]
assert 0.4 <= gaps[0] and 0.9 <= gaps[1] and gaps[1] > gaps[0] * 1.2 - 0.6, gaps  # backoff 1 s, 2 s with jitter [0.5, 1)
print("gaps", [round(g, 2) for g in gaps])
PY
	assert_eq "" "$(metric 'berth_notifications_total{result="failed"}')" "nothing given up"
	run_stop
}

# reconciles DURATION_S: how many reconciles berth run counted in that window, and their mean time.
reconciles_in() {
	local n0 s0 n1 s1
	n0=$(metric 'berth_reconcile_total{result="success"}') s0=$(metric berth_reconcile_duration_seconds_sum)
	sleep "$1"
	n1=$(metric 'berth_reconcile_total{result="success"}') s1=$(metric berth_reconcile_duration_seconds_sum)
	/usr/bin/python3 -c "import sys; n=$n1-$n0; print(n, '%.3f' % (($s1-$s0)/n if n else 0))"
}

test_dead_and_hanging_receivers_never_slow_reconciles() {
	local owner base with dead
	owner=$(unique_owner)
	repo_init "$owner"
	# the baseline: no notifications
	run_start --repo "$BARE" --path deploy --interval 1s
	wait_until 30 "the first sync" docker service inspect "${owner}-svc"
	base=$(reconciles_in 6)
	run_stop
	# a receiver that never answers (four times: the queue of 2 overflows at the first event) and a
	# port nothing listens on
	receiver_start --hang
	dead=$(free_port)
	BERTH_NOTIFY_QUEUE=2 run_start --repo "$BARE" --path deploy --interval 1s \
		--notify "http://127.0.0.1:$RPORT/a" --notify "http://127.0.0.1:$RPORT/b" \
		--notify "http://127.0.0.1:$RPORT/c" --notify "http://127.0.0.1:$dead/d"
	commit_spec "$(spec_text "$owner" two)" second
	wait_until 30 "the second commit is applied" bash -c "docker service inspect ${owner}-svc --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=two"
	wait_until 10 "the hanging receiver got the first event" test -s "$RLOG"
	wait_until 10 "drops are counted once the queue is full" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '\$1 == \"berth_notifications_dropped_total\" {print \$2}')\" -ge 5 ]"
	with=$(reconciles_in 6)
	t_log "reconciles in 6 s (count, mean seconds): without notifications $base, with dead receivers $with"
	local bn bm wn wm
	read -r bn bm <<<"$base"
	read -r wn wm <<<"$with"
	[ "$wn" -ge $((bn - 1)) ] || t_fail "fewer reconciles with dead receivers: $wn against $bn"
	/usr/bin/python3 -c "import sys; sys.exit(0 if $wm < $bm + 0.5 else 1)" || t_fail "reconciles slower with dead receivers: ${wm}s against ${bm}s"
	# drift is still put back at once
	docker service update -q --detach --env-add MODE=drifted "${owner}-svc" >/dev/null
	wait_until 10 "the drift is healed" bash -c "docker service inspect ${owner}-svc --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=two"
	wait_until 10 "the drift event is dropped too" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '\$1 == \"berth_notifications_dropped_total\" {print \$2}')\" -ge 9 ]"
	assert_eq "" "$(metric 'berth_notifications_total{result="sent"}')" "nothing was sent"
	local t0
	t0=$(t_now_ms)
	run_stop
	local took=$(($(t_now_ms) - t0))
	t_log "berth run stopped in $took ms with a hanging receiver"
	# the loop's own stop (under 1.5 s), 2 s for the queue to drain, 1 s for the transfer to abort
	[ "$took" -lt 6000 ] || t_fail "berth run took $took ms to stop with a hanging receiver"
}

# forge_case FORGE PREFIX: berth run following a served repository, with the forge's fake.
forge_case() {
	local forge=$1 prefix=$2 owner name first broken
	owner=$(unique_owner)
	name=app-$owner
	git_http_start
	git_repo_new "$name"
	git -C "$GIT_WORK/$name" config user.email t@example.test
	git -C "$GIT_WORK/$name" config user.name tester
	first=$(git_commit "$name" deploy/berth.yaml "$(spec_text "$owner" one)")
	receiver_start --forge "$forge" --token "$TOKEN" --prefix "$prefix"
	printf '%s\n' "$TOKEN" >"$T_DIR/token"
	run_start --repo "http://127.0.0.1:$GIT_HTTP_PORT/pub/$name.git" --path deploy --interval 2s \
		--commit-status "$forge" --commit-status-token-file "$T_DIR/token" \
		--commit-status-url "http://127.0.0.1:$RPORT$prefix"
	wait_until 30 "two statuses on the first commit" bash -c "[ \$(wc -l <'$RLOG') -ge 2 ]"
	broken=$(git_commit "$name" deploy/berth.yaml "$(spec_text "$owner" one | sed 's/      deploy:/      replicas_typo: 3\n      deploy:/')")
	wait_until 30 "two statuses on the broken commit" bash -c "[ \$(wc -l <'$RLOG') -ge 4 ]"
	# another reconcile of the broken commit (after its backoff): no more statuses, only changes are posted
	wait_until 30 "the broken commit is retried" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '\$1 == \"berth_reconcile_total{result=\\\"failure\\\"}\" {print \$2}')\" -ge 2 ]"
	wait_until 10 "the statuses are counted" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/metrics | awk '\$1 == \"berth_commit_statuses_total{result=\\\"sent\\\"}\" {print \$2}')\" = 4 ]"
	run_stop
	/usr/bin/python3 - "$RLOG" "$forge" "$prefix" "pub/$name" "$first" "$broken" <<'PY'
import json, sys, urllib.parse
log, forge, prefix, project, first, broken = sys.argv[1:]
reqs = [json.loads(l) for l in open(log)]
for r in reqs:
    assert r["problems"] == [] and r["status"] == 201, r
owner, repo = project.split("/")
def path(sha):
    if forge == "gitlab":
        return "%s/projects/%s/statuses/%s" % (prefix, urllib.parse.quote(project, safe=""), sha)
    return "%s/repos/%s/%s/statuses/%s" % (prefix, owner, repo, sha)
bodies = [json.loads(r["body"]) for r in reqs]
assert [r["path"] for r in reqs] == [path(first)] * 2 + [path(broken)] * 2, [r["path"] for r in reqs]
pending, ok, failed = {"gitlab": ("running", "success", "failed")}.get(forge, ("pending", "success", "failure"))
assert [b["state"] for b in bodies] == [pending, ok, pending, failed], bodies
key = "name" if forge == "gitlab" else "context"
assert all(b[key] == "berth" for b in bodies), bodies
assert bodies[1]["description"] == "applied (1 added, 0 changed, 0 replaced, 0 destroyed)", bodies[1]
assert bodies[3]["description"] == "the spec is invalid (1 problem)", bodies[3]
print("checked", len(reqs), "statuses")
PY
	assert_not_contains "$(cat "$LOG")" "$TOKEN" "the forge token leaked into the log"
}

test_commit_status_github() { forge_case github /api/v3; }
test_commit_status_gitlab() { forge_case gitlab /api/v4; }
test_commit_status_gitea() { forge_case gitea /api/v1; }

test_bad_options_are_refused() {
	assert_exit 2 "$BERTH" run --repo https://example.test/a/b.git --commit-status bitbucket --commit-status-token-file /dev/null
	assert_contains "$T_ERR" "--commit-status is github, gitlab or gitea"
	assert_exit 2 "$BERTH" run --repo https://example.test/a/b.git --commit-status github
	assert_contains "$T_ERR" "--commit-status needs --commit-status-token-file"
	printf 'tok\n' >"$T_DIR/tok"
	assert_exit 2 "$BERTH" run --repo /srv/spec.git --commit-status gitea --commit-status-token-file "$T_DIR/tok"
	assert_contains "$T_ERR" "--commit-status needs a --repo URL that names the owner and the repository"
	assert_exit 2 "$BERTH" run --notify ftp://example.test/x .
	assert_contains "$T_ERR" "--notify takes an http:// or https:// URL"
}
