# shellcheck shell=bash
# The integration tests' library, sourced by run.sh into one bash process per test file.
#
# A test file tests/integration/t_NAME.sh defines test cases as functions test_* (run in the order
# they are written, each in its own subshell with `set -eEuo pipefail`, each reported as a case);
# a file without test_* functions is run top to bottom as a single case. Every case sees:
#   BERTH                   absolute path of the berth binary under test
#   BERTH_TEST_DOCKER_HOST  the engine (also exported as DOCKER_HOST for the docker CLI)
# A case fails on a failed assertion or on any command failing (set -e); the reason is the
# assertion's message or the failing command and its line. A failing case's output is shown.
#
#   t_begin NAME                    names the current case (default: the function name)
#   t_log MSG...                    a note in the case's output (shown when it fails)
#   t_fail MSG                      fails the case now
#   assert_eq EXPECTED ACTUAL [MSG]
#   assert_contains HAYSTACK NEEDLE [MSG]      (and assert_not_contains)
#   assert_exit CODE cmd...         runs cmd; CODE is its exit status, or '!0' for any failure;
#                                   leaves its stdout in $T_OUT, stderr in $T_ERR, status in $T_RC
#   wait_until TIMEOUT_S DESC cmd...  polls cmd every 0.2 s until it succeeds; fails with DESC
#   unique_owner                    prints a fresh owner id t-<8 hex>, removed at the file's end
#   cleanup_owner OWNER             removes every service, secret, config, network and volume
#                                   labelled berth.owner=OWNER (runs by itself at the file's end
#                                   for every unique_owner)
#   free_port                       prints a TCP port nothing listens on or publishes
#   service_running NAME [N]        succeeds when service NAME has N (default 1) running tasks
#   http_body_is URL BODY           succeeds when GET URL answers 2xx with exactly BODY
#   plan_has_no_spec_changes PATH   berth's plan of PATH changes no field; its only steps are
#                                   services "not converged" (printed: NAME: REASON)

T_OUT='' T_ERR='' T_RC=0

t_now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }

t_log() { echo "# $*" >&2; }

# The reason goes to a file: the case runs in a subshell and may call this from a deeper one.
t_fail() {
	[ -n "${T_DIR:-}" ] && printf '%s\n' "$*" >"$T_DIR/reason"
	echo "FAILED: $*" >&2
	exit 1
}

t_begin() {
	[ -n "${T_DIR:-}" ] && printf '%s\n' "$*" >"$T_DIR/name"
	t_log "case: $*"
}

assert_eq() {
	local exp=$1 act=$2 msg=${3:-values differ}
	[ "$exp" = "$act" ] || t_fail "$msg: expected '$exp', got '$act'"
}

assert_contains() {
	local hay=$1 needle=$2 msg=${3:-text lacks an expected part}
	[[ $hay == *"$needle"* ]] || t_fail "$msg: '$needle' not in '$(t__clip "$hay")'"
}

assert_not_contains() {
	local hay=$1 needle=$2 msg=${3:-text has an unexpected part}
	[[ $hay != *"$needle"* ]] || t_fail "$msg: '$needle' found in '$(t__clip "$hay")'"
}

assert_exit() {
	local want=$1; shift
	local o e
	o=$(mktemp) e=$(mktemp)
	T_RC=0
	"$@" >"$o" 2>"$e" || T_RC=$?
	T_OUT=$(cat "$o") T_ERR=$(cat "$e")
	rm -f "$o" "$e"
	if [ "$want" = '!0' ]; then
		[ "$T_RC" -ne 0 ] && return 0
	elif [ "$T_RC" -eq "$want" ]; then
		return 0
	fi
	printf '%s\n' "$T_OUT" | sed 's/^/stdout: /' >&2
	printf '%s\n' "$T_ERR" | sed 's/^/stderr: /' >&2
	t_fail "'$*' exited with status $T_RC, expected $want${T_ERR:+ (stderr: $(t__clip "$T_ERR"))}"
}

wait_until() {
	local timeout=$1 desc=$2; shift 2
	local deadline=$(($(t_now_ms) + timeout * 1000)) out rc
	out=$(mktemp)
	while :; do
		rc=0
		"$@" >"$out" 2>&1 </dev/null || rc=$?
		[ "$rc" -eq 0 ] && { rm -f "$out"; return 0; }
		[ "$(t_now_ms)" -lt "$deadline" ] || break
		sleep 0.2
	done
	sed 's/^/last output: /' "$out" | tail -n 20 >&2
	rm -f "$out"
	t_fail "timed out after ${timeout}s waiting for $desc ('$*' last exited with status $rc)"
}

unique_owner() {
	local id
	id=t-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	[ -n "${T_DIR:-}" ] && echo "$id" >>"$T_DIR/owners"
	echo "$id"
}

# A port in 20000-32767 (below the kernel's ephemeral range) that no socket listens on and no
# swarm service publishes. Another run may take it in between: tests create services promptly.
free_port() {
	local p tries used
	used=$(docker service ls --format '{{.Ports}}' 2>/dev/null || true)
	for ((tries = 0; tries < 200; tries++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		[[ $used == *":$p->"* ]] && continue
		t__listening "$p" || { echo "$p"; return 0; }
	done
	t_fail "free_port: no free port found"
}

t__listening() {
	local hex
	hex=$(printf '%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }'
}

service_running() {
	local name=$1 want=${2:-1} n
	n=$(docker service ps --filter desired-state=running --format '{{.CurrentState}}' "$name" |
		grep -c '^Running' || true)
	[ "$n" -eq "$want" ]
}

http_body_is() {
	local body
	body=$(curl -fsS --max-time 2 "$1") || return 1
	[ "$body" = "$2" ] || { echo "body: '$body'" >&2; return 1; }
}

# plan_has_no_spec_changes DIR: berth plan --json DIR changes no field of anything; the only steps
# it may have are services that have not converged (their tasks cannot run here), each saying why.
# Prints those steps' reasons.
plan_has_no_spec_changes() {
	assert_exit 0 "$BERTH" plan --json "$1"
	printf '%s' "$T_OUT" | python3 -c '
import json, sys
bad = []
for s in json.load(sys.stdin)["steps"]:
    why = s["reason"] or ""
    if s["kind"] != "service" or s["action"] != "update" or s["changes"] or not why.startswith("not converged: "):
        bad.append("%s %s %s (%s): %d changes" % (s["action"], s["kind"], s["name"], why, len(s["changes"])))
    else:
        print(s["name"] + ": " + why)
if bad:
    sys.exit("the plan changes the spec: " + "; ".join(bad))
' || t_fail "$1: the plan changes the spec"
}

# Removes what carries berth.owner=OWNER: services first (their tasks hold the rest), their task
# containers (removed outright rather than waiting out a stop grace period), then secrets, configs,
# networks (retried: an overlay network stays "in use" for a moment after its tasks go) and
# volumes. Returns 1, with a message, if something is left after 30 s.
cleanup_owner() {
	local owner=$1 f="label=berth.owner=$1" left=() ids id deadline kind
	[ -n "$owner" ] || { echo "cleanup_owner: no owner given" >&2; return 1; }
	mapfile -t ids < <(docker service ls -q --filter "$f")
	if [ ${#ids[@]} -gt 0 ]; then
		docker service rm "${ids[@]}" >/dev/null || true
	fi
	deadline=$(($(t_now_ms) + 30000))
	while :; do
		mapfile -t left < <(t__task_containers "${ids[@]}")
		[ ${#left[@]} -eq 0 ] && break
		docker rm -f "${left[@]}" >/dev/null 2>&1 || true
		[ "$(t_now_ms)" -lt "$deadline" ] || break
		sleep 0.2
	done
	for kind in secret config; do
		mapfile -t left < <(docker "$kind" ls -q --filter "$f")
		[ ${#left[@]} -eq 0 ] || docker "$kind" rm "${left[@]}" >/dev/null || true
	done
	while :; do
		mapfile -t left < <(docker network ls -q --filter "$f")
		[ ${#left[@]} -eq 0 ] && break
		docker network rm "${left[@]}" >/dev/null 2>&1 || true
		[ "$(t_now_ms)" -lt "$deadline" ] || break
		sleep 0.2
	done
	mapfile -t left < <(docker volume ls -q --filter "$f")
	[ ${#left[@]} -eq 0 ] || docker volume rm "${left[@]}" >/dev/null 2>&1 || true
	left=()
	for kind in service secret config network volume; do
		mapfile -t ids < <(docker "$kind" ls -q --filter "$f")
		[ ${#ids[@]} -eq 0 ] || left+=("${#ids[@]} ${kind}(s)")
	done
	[ ${#left[@]} -eq 0 ] && return 0
	echo "cleanup_owner $owner: still there after 30 s: ${left[*]}" >&2
	return 1
}

# The containers of the swarm services whose IDs (full, or the short ones `ls -q` prints) are given.
t__task_containers() {
	[ $# -gt 0 ] || return 0
	docker ps -a --filter label=com.docker.swarm.service.id \
		--format '{{.ID}} {{.Label "com.docker.swarm.service.id"}}' |
		awk -v ids="$*" 'BEGIN { n = split(ids, id, " ") }
			{ for (i = 1; i <= n; i++) if (index($2, id[i]) == 1) { print $1; next } }'
}

t__clip() {
	local s=${1//$'\n'/ | }
	[ ${#s} -le 300 ] && printf '%s' "$s" || printf '%s...' "${s:0:300}"
}

# --- the runner side: run.sh calls t__run_file FILE in a fresh bash ------------------------------

# Records the first failing command of a case (an assertion's own reason is written first).
t__on_err() {
	[ -s "$T_DIR/reason" ] || printf "line %s: '%s' exited with status %s\n" "$3" "$2" "$1" >"$T_DIR/reason"
}

t__report() {
	local line=$1
	echo "$line"
	echo "$line" >>"$T_RESULTS"
	echo "$line" >>"$T_DIR/results"
}

# Runs one case: FN is a function name, or empty to source the whole file as the case.
t__run_case() {
	local fn=$1 label=$2 rc start name reason
	: >"$T_DIR/reason"
	printf '%s\n' "$label" >"$T_DIR/name"
	start=$(t_now_ms)
	[ -z "${T_CURRENT:-}" ] || printf '%s\n' "$label" >"$T_CURRENT"
	(
		set -eEuo pipefail
		trap 't__on_err $? "$BASH_COMMAND" $LINENO' ERR
		# shellcheck disable=SC1090
		if [ -n "$fn" ]; then "$fn"; else source "$T_FILE"; fi
	) >"$T_DIR/log" 2>&1 </dev/null
	rc=$?
	name="$T_STEM: $(cat "$T_DIR/name")"
	if [ "$rc" -eq 0 ]; then
		t__report "ok $name ($(($(t_now_ms) - start)) ms)"
		[ -z "${T_VERBOSE:-}" ] || sed 's/^/  | /' "$T_DIR/log"
	else
		reason=$(cat "$T_DIR/reason")
		[ -n "$reason" ] || reason="exited with status $rc: $(tail -n 1 "$T_DIR/log")"
		t__report "FAIL $name: $reason"
		tail -n 60 "$T_DIR/log" | sed 's/^/  | /'
	fi
}

t__file_exit() {
	local rc=$? owner bad=0
	set +e
	if [ -s "$T_DIR/owners" ]; then
		while read -r owner; do
			cleanup_owner "$owner" >>"$T_DIR/cleanup.log" 2>&1 || bad=1
		done <"$T_DIR/owners"
		if [ "$bad" -ne 0 ]; then
			t__report "FAIL $T_STEM: cleanup: $(tail -n 1 "$T_DIR/cleanup.log")"
			sed 's/^/  | /' "$T_DIR/cleanup.log"
			rc=1
		fi
	fi
	rm -rf "$T_DIR"
	exit "$rc"
}

t__run_file() {
	T_FILE=$1
	T_STEM=$(basename "$T_FILE" .sh)
	T_STEM=${T_STEM#t_}
	T_DIR=$(mktemp -d)
	export T_FILE T_STEM T_DIR
	: >"$T_DIR/owners"
	: >"$T_DIR/results"
	trap t__file_exit EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	local fns=() fn
	# test_* functions in the order they are written ("test_x() {" or "function test_x {").
	mapfile -t fns < <(grep -oE '^[[:space:]]*(function[[:space:]]+test_[A-Za-z0-9_]+|test_[A-Za-z0-9_]+[[:space:]]*\(\))' "$T_FILE" |
		grep -oE 'test_[A-Za-z0-9_]+' | awk '!seen[$0]++')
	if [ ${#fns[@]} -eq 0 ]; then
		t__run_case "" "$T_STEM"
	else
		# Defines the cases (and runs any top-level setup, which should be light) here; a failure
		# ends this process and run.sh reports the file as failed.
		set -euo pipefail
		# shellcheck disable=SC1090
		source "$T_FILE"
		set +euo pipefail
		for fn in $(declare -F | awk '$3 ~ /^test_/ { print $3 }'); do
			[[ " ${fns[*]} " == *" $fn "* ]] || fns+=("$fn")
		done
		for fn in "${fns[@]}"; do
			declare -F "$fn" >/dev/null || continue
			[ -z "${T_ONLY:-}" ] || [[ $fn =~ $T_ONLY ]] || continue
			t__run_case "$fn" "$fn"
		done
	fi
	! grep -qs '^FAIL' "$T_DIR/results"
}
