# shellcheck shell=bash
# berth run against the real swarm, following a git repository (a bare repository on disk, pushed
# to with git): first sync, a push announced by a signed webhook, a forged webhook, a broken commit
# and its fix, drift healed within one interval, kill -9 then restart, SIGTERM, and no secret in
# any output. Services have 0 replicas unless a case needs tasks, so applies are quick.

IMG=berth-test/busybox:latest
SECRET=whs3cret-Do-Not-Print

# repo_init OWNER: a bare repository ($BARE) and a clone to commit from ($WORK) with a spec of one
# service (env MODE=one) on branch main.
repo_init() {
	local owner=$1
	BARE=$(mktemp -d)/spec.git WORK=$(mktemp -d)/work
	git init -q --bare -b main "$BARE"
	git init -q -b main "$WORK"
	git -C "$WORK" config user.email t@example.test
	git -C "$WORK" config user.name tester
	spec_commit "$owner" one "first"
	git -C "$WORK" remote add origin "$BARE"
	git -C "$WORK" push -q origin main
}

# spec_commit OWNER MODE MSG: the spec with env MODE, committed (not pushed).
spec_commit() {
	mkdir -p "$WORK/deploy"
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-svc:\n      image: %s\n      command: [sleep, "3600"]\n      environment: {MODE: %s}\n      deploy: {replicas: 0}\n' \
		"$1" "$1" "$IMG" "$2" >"$WORK/deploy/berth.yaml"
	git -C "$WORK" add -A
	git -C "$WORK" commit -q -m "$3"
}

push() { git -C "$WORK" push -q -f origin main; }
head_sha() { git -C "$WORK" rev-parse HEAD; }

# run_start OWNER [ARGS...]: berth run in the background on a free port; $PID, $PORT, $LOG.
run_start() {
	local owner=$1; shift
	PORT=$(free_port) LOG=$(mktemp)
	printf '%s\n' "$SECRET" >"$T_DIR/secret"
	"$BERTH" run --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache" --listen "127.0.0.1:$PORT" \
		--webhook-secret-file "$T_DIR/secret" "$@" >"$LOG" 2>&1 &
	PID=$!
	wait_until 30 "berth run answers /readyz" curl -fsS "http://127.0.0.1:$PORT/readyz"
}

run_stop() {
	kill -TERM "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
}

status() { curl -fsS "http://127.0.0.1:$PORT/status"; }
status_field() { status | /usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }
service_mode() { docker service inspect "$1" --format '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{.}} {{end}}'; }
metric() { curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# github_hook BODY [SIGNATURE]: a GitHub push delivery, signed with $SECRET unless given.
github_hook() {
	local body=$1 sig=${2:-}
	[ -n "$sig" ] || sig=sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
	curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-H "X-Hub-Signature-256: $sig" --data-binary "$body" "http://127.0.0.1:$PORT/hooks/github"
}

test_first_sync_push_webhook_and_forgery() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	run_start "$owner" --interval 10m
	wait_until 30 "the first sync applied the service" docker service inspect "${owner}-svc"
	assert_contains "$(service_mode "${owner}-svc")" "MODE=one"
	assert_eq "$(head_sha)" "$(status_field 's["applied_revision"]')" "applied revision after the first sync"
	assert_eq success "$(status_field 's["last_reconcile"]["result"]')"
	# a forged webhook: 401, counted, nothing applied
	spec_commit "$owner" two "second"
	push
	assert_eq 401 "$(github_hook "{\"ref\":\"refs/heads/main\",\"after\":\"$(head_sha)\"}" sha256=00)" "forged webhook"
	assert_contains "$(curl -fsS "http://127.0.0.1:$PORT/metrics")" 'berth_webhook_requests_total{provider="github",result="unauthorized"} 1'
	assert_contains "$(service_mode "${owner}-svc")" "MODE=one" "a forged webhook applied something"
	# a signed one for another ref: accepted, ignored
	assert_eq 202 "$(github_hook '{"ref":"refs/heads/other"}')" "webhook for another ref"
	assert_contains "$(service_mode "${owner}-svc")" "MODE=one"
	# the real one: applied at once (the interval is 10 minutes)
	assert_eq 202 "$(github_hook "{\"ref\":\"refs/heads/main\",\"after\":\"$(head_sha)\"}")" "signed webhook"
	wait_until 30 "the push is applied" bash -c "docker service inspect ${owner}-svc --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=two"
	wait_until 10 "status shows the new revision" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"applied_revision\"])')\" = $(head_sha) ]"
	assert_contains "$(curl -fsS "http://127.0.0.1:$PORT/metrics")" "berth_source_revision_info{revision=\"$(head_sha)\"} 1"
	run_stop
	assert_not_contains "$(cat "$LOG")" "$SECRET" "the webhook secret leaked into the log"
}

test_broken_commit_is_reported_and_never_applied_then_fixed() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	run_start "$owner" --interval 10m
	wait_until 30 "the first sync" docker service inspect "${owner}-svc"
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-svc:\n      image: %s\n      replicas_typo: 3\n' \
		"$owner" "$owner" "$IMG" >"$WORK/deploy/berth.yaml"
	git -C "$WORK" commit -q -am broken
	push
	assert_eq 202 "$(github_hook '{"ref":"refs/heads/main"}')"
	wait_until 30 "status reports the broken commit" bash -c "curl -fsS http://127.0.0.1:$PORT/status | grep -q '\"result\": \"failure\"'"
	local st
	st=$(status)
	assert_contains "$st" '"deploy/berth.yaml:7:7: error:' "the diagnostics' location, in the repository"
	assert_contains "$st" "$(head_sha)" "the fetched revision"
	assert_eq 1 "$(metric 'berth_reconcile_total{result="failure"}')" "failures counted"
	assert_contains "$(service_mode "${owner}-svc")" "MODE=one" "live state untouched"
	# the fix is tried at once, not after the broken commit's backoff
	spec_commit "$owner" three "fix"
	push
	assert_eq 202 "$(github_hook '{"ref":"refs/heads/main"}')"
	wait_until 30 "the fix is applied" bash -c "docker service inspect ${owner}-svc --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=three"
	run_stop
}

test_drift_is_healed_within_one_interval() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	run_start "$owner" --interval 2s
	wait_until 30 "the first sync" docker service inspect "${owner}-svc"
	# (berth may heal it before the CLI even returns: the counter below proves it did)
	docker service update -q --detach --env-add MODE=drifted "${owner}-svc" >/dev/null
	wait_until 20 "the drift is healed" bash -c "docker service inspect ${owner}-svc --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=one"
	wait_until 10 "a drift correction is counted" bash -c "curl -fsS http://127.0.0.1:$PORT/metrics | grep -q '^berth_drift_corrections_total [1-9]'"
	run_stop
}

test_sigterm_exits_zero_in_time_and_kill9_restart_converges() {
	local owner start rc
	owner=$(unique_owner)
	repo_init "$owner"
	run_start "$owner" --interval 10m
	wait_until 30 "the first sync" docker service inspect "${owner}-svc"
	start=$(t_now_ms)
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	assert_eq 0 "$rc" "exit status after SIGTERM"
	[ $(($(t_now_ms) - start)) -lt 15000 ] || t_fail "berth run took more than 15 s to stop"
	# kill -9 mid-apply (the update submitted, its task not yet stable), then a restart converges
	# from git and the live objects alone
	spec_commit "$owner" four "fourth"
	sed -i 's/replicas: 0/replicas: 1/' "$WORK/deploy/berth.yaml"
	git -C "$WORK" commit -q -am "one replica"
	push
	PORT=$(free_port) LOG=$(mktemp)
	"$BERTH" run --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache" --listen "127.0.0.1:$PORT" \
		--interval 10m >"$LOG" 2>&1 &
	PID=$!
	wait_until 30 "the update is submitted" bash -c "docker service inspect ${owner}-svc --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=four"
	kill -9 "$PID"
	wait "$PID" 2>/dev/null || true
	grep -q "reconciled revision" "$LOG" && t_log "note: the apply had finished before kill -9"
	run_start "$owner" --interval 10m
	wait_until 60 "the restarted controller converges" bash -c "[ \"\$(curl -fsS http://127.0.0.1:$PORT/status | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(s[\"applied_revision\"], s[\"last_reconcile\"][\"result\"])')\" = \"$(head_sha) success\" ]"
	service_running "${owner}-svc" 1
	run_stop
}

test_once_exits_with_the_result() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	assert_exit 0 "$BERTH" run --once --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache"
	docker service inspect "${owner}-svc" >/dev/null
	printf 'version: 1\nname: %s\nswarm: {services: {x: {image: 3}}}\n' "$owner" >"$WORK/deploy/berth.yaml"
	git -C "$WORK" commit -q -am broken
	push
	assert_exit 1 "$BERTH" run --once --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache"
}

test_plan_from_the_repo_records_its_source() {
	local owner
	owner=$(unique_owner)
	repo_init "$owner"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache"
	assert_contains "$T_OUT" "Source: $BARE (ref main) at revision $(head_sha)"
	assert_exit 0 "$BERTH" plan --json --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache"
	assert_eq "$BARE main $(head_sha)" "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin)["source"]; print(s["repo"], s["ref"], s["revision"])')"
	assert_exit 0 "$BERTH" plan --out "$T_DIR/p.plan" --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache"
	assert_exit 0 "$BERTH" apply --no-color "$T_DIR/p.plan"
	assert_contains "$T_OUT" "Apply complete: 1 done"
	# PATH and --repo together are a usage error
	assert_exit 2 "$BERTH" plan --repo "$BARE" somewhere
}

# Over smart HTTP with the credentials in the URL (as people paste them): the controller works, and
# neither the password nor the user shows in its log (JSON lines here), /status or /metrics.
test_credentials_never_shown_and_json_logs() {
	local owner url st
	# shellcheck source=tests/integration/git_lib.sh
	source "$(dirname "$T_FILE")/git_lib.sh"
	git_http_start
	git_repo_new spec
	owner=$(unique_owner)
	git_commit spec deploy/berth.yaml "$(printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-svc:\n      image: %s\n      command: [sleep, "3600"]\n      deploy: {replicas: 0}\n' "$owner" "$owner" "$IMG")" >/dev/null
	url="http://$GIT_USER:$GIT_PASSWORD@127.0.0.1:$GIT_HTTP_PORT/git/spec.git"
	PORT=$(free_port) LOG=$(mktemp)
	"$BERTH" run --repo "$url" --path deploy --cache-dir "$T_DIR/cache" --listen "127.0.0.1:$PORT" \
		--log-format json --interval 10m >"$LOG" 2>&1 &
	PID=$!
	wait_until 30 "the first sync applied the service" docker service inspect "${owner}-svc"
	wait_until 10 "ready" curl -fsS "http://127.0.0.1:$PORT/readyz"
	st=$(status)$(curl -fsS "http://127.0.0.1:$PORT/metrics")
	assert_contains "$st" "\"repo\": \"http://127.0.0.1:$GIT_HTTP_PORT/git/spec.git\"" "the URL without userinfo"
	run_stop
	local all
	all="$(cat "$LOG")$st$(ls -R "$T_DIR/cache")"
	assert_not_contains "$all" "$GIT_PASSWORD" "the git password"
	assert_not_contains "$all" "$GIT_USER:" "the userinfo"
	# every log line is one JSON object
	/usr/bin/python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    j = json.loads(line)
    assert {"time", "level", "msg"} <= set(j), (n, line)' "$LOG" || t_fail "a log line is not a JSON object: $(cat "$LOG")"
}
