# shellcheck shell=bash
# Shared by t_leader.sh and bench/leader_bench.sh: Azurite (build/tools, scripts/install-deps.sh)
# on a free loopback port, berth run replicas electing a leader on one blob of it, the ARM
# simulator giving them something to write (a scale set whose capacity a drifter keeps undoing),
# and readers of their /status and JSON logs. Needs lib.sh and azure_lib.sh sourced first.

LEADER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
LEASE_S=${LEASE_S:-15}
REPLICAS=()

# azurite_start [PORT]: the Blob service on PORT (default a free one) storing under $C_DIR/azurite;
# $AZ_PORT, $AZ_PID, $AZ_KEYFILE.
azurite_start() {
	AZ_PORT=${1:-$(free_port)}
	azurite_launch "http://127.0.0.1:$AZ_PORT" --
}

# azurite_start_https: the same over https only, with `--oauth basic` (bearer tokens: it decodes
# them and checks issuer, audience and lifetime; Shared Key and SAS still work), its certificate
# for 127.0.0.1 signed by a CA made here ($AZ_CA, PEM).
azurite_start_https() {
	local tls=$C_DIR/tls
	AZ_PORT=$(free_port)
	mkdir -p "$tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=berth test CA" \
		-keyout "$tls/ca.key" -out "$tls/ca.pem" 2>>"$C_DIR/tls.log" || t_fail "openssl: the CA"
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" \
		-out "$tls/server.csr" 2>>"$C_DIR/tls.log" || t_fail "openssl: the server key"
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tls/ext"
	openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 1 \
		-extfile "$tls/ext" -out "$tls/server.pem" 2>>"$C_DIR/tls.log" || t_fail "openssl: the server certificate"
	AZ_CA=$tls/ca.pem
	azurite_launch "https://127.0.0.1:$AZ_PORT" --cacert "$AZ_CA" -- \
		--cert "$tls/server.pem" --key "$tls/server.key" --oauth basic
}

# azurite_launch BASE_URL [CURL_ARGS...] -- [AZURITE_ARGS...]: starts it on $AZ_PORT, waits until
# BASE_URL answers (curl with CURL_ARGS).
azurite_launch() {
	local bin=$LEADER_ROOT/build/tools/node_modules/.bin/azurite-blob base=$1 curl_args=()
	shift
	while [ "$1" != -- ]; do curl_args+=("$1"); shift; done
	shift
	[ -x "$bin" ] || t_fail "azurite is not installed (scripts/install-deps.sh puts it in build/tools)"
	mkdir -p "$C_DIR/azurite"
	"$bin" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" --location "$C_DIR/azurite" --silent "$@" >>"$C_DIR/azurite.log" 2>&1 &
	AZ_PID=$!
	AZ_KEYFILE=$C_DIR/azkey
	printf '%s\n' "$AZ_KEY" >"$AZ_KEYFILE"
	wait_until 30 "azurite listens" curl -s -o /dev/null "${curl_args[@]}" "$base/devstoreaccount1?comp=list"
}

azurite_stop() {
	[ -n "${AZ_PID:-}" ] || return 0
	kill -9 "$AZ_PID" 2>/dev/null || true
	wait "$AZ_PID" 2>/dev/null || true
	AZ_PID=
}

# The blob the replicas lease, through port P (default Azurite's).
lease_url() { echo "http://127.0.0.1:${1:-$AZ_PORT}/devstoreaccount1/berth-leader/$T_STEM"; }
lease_url_https() { echo "https://127.0.0.1:$AZ_PORT/devstoreaccount1/berth-leader/$T_STEM"; }

# leader_setup OWNER: a directory for the case ($C_DIR), the simulator with a scale set "workers" at capacity 2 and a spec that wants
# it at 3, in $SPEC_DIR.
leader_setup() {
	OWNER=$1
	C_DIR=$(mktemp -d -p "$T_DIR")
	sim_start "$OWNER"
	SPEC_DIR=$C_DIR/spec
	mkdir -p "$SPEC_DIR"
	printf 'version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n  scale_sets:\n    workers: {capacity: 3}\n' \
		"$OWNER" "$SUB" "$RG" >"$SPEC_DIR/berth.yaml"
	trap 'leader_cleanup' EXIT
}

# replica_start NAME [LEASE_URL]: berth run as instance NAME; its port in PORT_NAME, pid in
# PID_NAME, JSON log in $C_DIR/NAME.log. With NO_KEY=1, no account key (a SAS in the URL, or the
# Azure credential chain); with LEASE_CA=FILE, --leader-lease-ca-file FILE.
replica_start() {
	local name=$1 url=${2:-$(lease_url)} port key=(--leader-lease-key-file "$AZ_KEYFILE")
	port=$(free_port)
	[ -z "${NO_KEY:-}" ] || key=()
	[ -z "${LEASE_CA:-}" ] || key+=(--leader-lease-ca-file "$LEASE_CA")
	"$BERTH" run "$SPEC_DIR" --interval 1s --listen "127.0.0.1:$port" --log-format json \
		--leader-lease "$url" --leader-lease-duration "${LEASE_S}s" "${key[@]}" \
		--instance-id "$name" >>"$C_DIR/$name.log" 2>&1 &
	printf -v "PID_$name" '%s' $!
	printf -v "PORT_$name" '%s' "$port"
	REPLICAS+=("$name")
	wait_until 20 "$name answers /healthz" curl -fsS "http://127.0.0.1:$port/healthz"
}

replica_pid() { local v=PID_$1; echo "${!v}"; }
replica_port() { local v=PORT_$1; echo "${!v}"; }

replica_kill() {
	kill -"${2:-9}" "$(replica_pid "$1")" 2>/dev/null || true
	wait "$(replica_pid "$1")" 2>/dev/null || true
	return 0
}

# leader_field NAME EXPR: EXPR over the replica's /status "leader" object `l`.
leader_field() {
	curl -fsS "http://127.0.0.1:$(replica_port "$1")/status" |
		/usr/bin/python3 -c "import json,sys; l=json.load(sys.stdin)['leader']; print($2)"
}

# names_leader NAME LEADER: NAME's /status names LEADER (a function: wait_until runs it anew).
names_leader() { [ "$(leader_field "$1" "l['leader']")" = "$2" ]; }

# leaders NAMES...: the names of those that say they lead, space separated.
leaders() {
	local n out=()
	for n in "$@"; do
		[ "$(leader_field "$n" "l['is_leader']" 2>/dev/null)" = True ] && out+=("$n")
	done
	echo "${out[*]}"
}

# agree NAMES...: exactly one of them leads and every one of them names it.
agree() {
	local l n
	one_leader_among "$@" || return 1
	l=$(leaders "$@")
	for n in "$@"; do names_leader "$n" "$l" || return 1; done
}

one_leader_among() { local l; l=$(leaders "$@"); [ -n "$l" ] && [ "${l// /}" = "$l" ]; }
someone_else_leads() { local l; l=$(leaders "$@"); [ -n "$l" ]; }

# drifter_start: puts the scale set back to capacity 2 every second, so a leader writes each pass.
drifter_start() {
	(
		while :; do
			sim_post /_sim/seed "{\"scale_sets\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"workers\",\"location\":\"westeurope\",\"capacity\":2,\"tags\":{\"berth-owner\":\"$OWNER\"}}]}" || true
			sleep 1
		done
	) >/dev/null 2>&1 &
	DRIFTER_PID=$!
}

# log_times NAME MSG_REGEX [EVENT]: Unix times (float) of the replica's JSON log lines whose msg
# matches (and whose event is EVENT, when given), one a line.
log_times() {
	/usr/bin/python3 - "$C_DIR/$1.log" "$2" "${3:-}" <<'PY'
import datetime, json, re, sys
path, rx, event = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3]
for line in open(path, errors="replace"):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if not rx.search(j.get("msg", "")) or (event and j.get("event") != event):
        continue
    t = datetime.datetime.strptime(j["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    print("%.3f" % t.timestamp())
PY
}

now_s() { printf '%s\n' "$EPOCHREALTIME"; }

leader_cleanup() {
	local n
	set +e
	[ -z "${DRIFTER_PID:-}" ] || { kill "$DRIFTER_PID"; wait "$DRIFTER_PID"; } 2>/dev/null
	[ -z "${PROXY_PID:-}" ] || { kill "$PROXY_PID"; wait "$PROXY_PID"; } 2>/dev/null
	# SIGTERM, so that a sanitizer build reports leaks; -9 for any still there after 10 s
	for n in "${REPLICAS[@]}"; do kill -TERM "$(replica_pid "$n")" 2>/dev/null; done
	for n in "${REPLICAS[@]}"; do
		timeout 10 tail --pid="$(replica_pid "$n")" -f /dev/null
		replica_kill "$n" 9
	done
	azurite_stop
	sim_stop
	local bad=0
	for n in "${REPLICAS[@]}"; do
		if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$C_DIR/$n.log"; then
			echo "FAILED: a sanitizer report in $n's log:" >&2
			grep -E -A20 'AddressSanitizer|LeakSanitizer|runtime error:' "$C_DIR/$n.log" | head -40 >&2
			bad=1
		fi
	done
	# LEADER_KEEP=DIR: keep the replicas' logs of each case there
	[ -z "${LEADER_KEEP:-}" ] || { mkdir -p "$LEADER_KEEP/$(cat "$T_DIR/name")"; cp "$C_DIR"/*.log "$LEADER_KEEP/$(cat "$T_DIR/name")/"; }
	[ "$bad" = 0 ] || exit 1
	return 0
}
