# shellcheck shell=bash
# Shared by the integration tests that need the ARM simulator (tests/azure-sim/armsim.py).

SUB=00000000-0000-0000-0000-0000000000aa
RG=rg-berth-test

# sim_start OWNER: sim_boot, then seeds a resource group, a storage account "berthstore" and two
# scale sets ("workers" tagged for OWNER, "not-ours" untagged).
sim_start() {
	local owner=$1
	sim_boot
	sim_post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"$SUB\",\"name\":\"$RG\",\"location\":\"westeurope\"}],
		\"storage_accounts\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"berthstore\",\"location\":\"westeurope\",\"keys\":[\"S3y-Ac60unt-K3y==\",\"a2V5Mg==\"]}],
		\"scale_sets\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"workers\",\"location\":\"westeurope\",\"capacity\":2,\"tags\":{\"berth-owner\":\"$owner\"}},
		                {\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"not-ours\",\"location\":\"westeurope\",\"capacity\":1}]}"
}

# sim_boot: starts the simulator for this case on a free port with a service principal registered,
# and exports what berth needs to reach it. Seed it with sim_post /_sim/seed.
sim_boot() {
	local portfile
	portfile=$(mktemp)
	/usr/bin/python3 "$(dirname "$T_FILE")/../azure-sim/armsim.py" --port 0 --port-file "$portfile" --lro-polls 1 \
		>"$T_DIR/sim.log" 2>&1 &
	SIM_PID=$!
	trap 'sim_stop' EXIT
	wait_until 20 "the simulator listens" test -s "$portfile"
	SIM=http://127.0.0.1:$(cat "$portfile")
	sim_post /_sim/credentials '{"tenant":"t1","client_id":"berth-ci","client_secret":"s3cret-Sp"}'
	export AZURE_TENANT_ID=t1 AZURE_CLIENT_ID=berth-ci AZURE_CLIENT_SECRET=s3cret-Sp
	export AZURE_RESOURCE_MANAGER_ENDPOINT=$SIM AZURE_AUTHORITY_HOST=$SIM/
}

sim_stop() {
	[ -n "${SIM_PID:-}" ] || return 0
	kill "$SIM_PID" 2>/dev/null || true
	wait "$SIM_PID" 2>/dev/null || true
	SIM_PID=
}

sim_post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$SIM$1" >/dev/null; }
sim_get() { curl -fsS "$SIM$1"; }

# sim_state EXPR: evaluates a Python expression over the simulator's stored state `st`.
sim_state() {
	sim_get /_sim/state | /usr/bin/python3 -c "import json, sys; st = json.load(sys.stdin); print($1)"
}

# assert_requests_match_spec: every request body berth sent to the simulator so far (its
# /_sim/log) validates against the OpenAPI specs in /work/shared/api/azure (check_requests.py).
assert_requests_match_spec() {
	local log
	log=$(mktemp)
	sim_get /_sim/log >"$log"
	assert_exit 0 /usr/bin/python3 "$(dirname "$T_FILE")/../azure-sim/check_requests.py" "$log"
	assert_contains "$T_OUT" " 0 failed" "check_requests.py"
	assert_not_contains "$T_OUT" "check_requests: 0 bodies checked" "no request body was checked"
	t_log "$T_OUT"
	rm -f "$log"
}

# assert_no_client_secret: nothing berth printed last ($T_OUT, $T_ERR) shows the client secret.
assert_no_client_secret() {
	assert_not_contains "$T_OUT$T_ERR" "$AZURE_CLIENT_SECRET" "the client secret leaked"
	assert_not_contains "$T_OUT$T_ERR" "s3cret-Sp" "the client secret leaked"
}
