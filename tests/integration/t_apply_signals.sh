# shellcheck shell=bash
# berth apply stopped by SIGINT or SIGTERM: no further step starts, the step in flight stops
# waiting, berth exits 1 and says what was done. The first service can never converge (its only
# task is pending on a node label no node has), so the apply is in its convergence wait when the
# signal comes; the second service waits behind it (--parallelism 1).

IMG=berth-test/busybox:latest

spec() {
	mkdir -p "$2"
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-stuck:\n      image: %s\n      command: [sleep, "3600"]\n      deploy:\n        replicas: 1\n        placement: {constraints: ["node.labels.berth-never == yes"]}\n    %s-next:\n      image: %s\n      command: [sleep, "3600"]\n      deploy: {replicas: 0}\n' \
		"$1" "$1" "$IMG" "$1" "$IMG" >"$2/berth.yaml"
}

# interrupt SIGNAL: starts an apply, sends SIGNAL once the stuck service is being waited for,
# and leaves the apply's output in $out and its exit status in $rc.
interrupt() {
	local sig=$1 owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir"
	out=$(mktemp)
	"$BERTH" apply --auto-approve --no-color --parallelism 1 --timeout 10m "$dir" >"$out" 2>&1 &
	local pid=$!
	wait_until 30 "the apply waits for the stuck service" grep -q "create service ${owner}-stuck\.\.\." "$out"
	wait_until 30 "the stuck service exists" docker service inspect "${owner}-stuck"
	kill -s "$sig" "$pid"
	rc=0
	wait "$pid" || rc=$?
	t_log "$(cat "$out")"
	OWNER=$owner
}

test_sigint_stops_the_apply_cleanly() {
	interrupt INT
	assert_eq 1 "$rc" "exit status after SIGINT"
	local text
	text=$(cat "$out")
	assert_contains "$text" "berth: interrupted: no more steps start"
	assert_contains "$text" "create service ${OWNER}-stuck: FAILED: service ${OWNER}-stuck: cancelled while waiting for it to converge"
	assert_contains "$text" "create service ${OWNER}-next: skipped: cancelled"
	assert_contains "$text" "Apply interrupted: 0 done, 1 failed, 1 skipped."
	# nothing started after the signal: the second service was never created
	assert_exit '!0' docker service inspect "${OWNER}-next"
}

test_sigterm_stops_the_apply_cleanly() {
	interrupt TERM
	assert_eq 1 "$rc" "exit status after SIGTERM"
	assert_contains "$(cat "$out")" "Apply interrupted: 0 done, 1 failed, 1 skipped."
	assert_exit '!0' docker service inspect "${OWNER}-next"
}
