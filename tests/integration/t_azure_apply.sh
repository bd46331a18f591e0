# shellcheck shell=bash
# berth plan/apply of the Azure section (scale-set capacity, file shares) against the ARM
# simulator in tests/azure-sim, which each case starts on a free port.

SUB=00000000-0000-0000-0000-0000000000aa
RG=rg-berth-test

# Starts the simulator for this case, registers a service principal and seeds a resource group,
# a storage account and two scale sets (one tagged for OWNER, one not). Exports what berth needs.
sim_start() {
	local owner=$1 portfile
	portfile=$(mktemp)
	/usr/bin/python3 "$(dirname "$T_FILE")/../azure-sim/armsim.py" --port 0 --port-file "$portfile" --lro-polls 1 \
		>"$T_DIR/sim.log" 2>&1 &
	SIM_PID=$!
	trap 'kill $SIM_PID 2>/dev/null' EXIT
	wait_until 20 "the simulator listens" test -s "$portfile"
	SIM=http://127.0.0.1:$(cat "$portfile")
	sim_post /_sim/credentials '{"tenant":"t1","client_id":"berth-ci","client_secret":"s3cret-Sp"}'
	sim_post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"$SUB\",\"name\":\"$RG\",\"location\":\"westeurope\"}],
		\"storage_accounts\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"berthstore\",\"location\":\"westeurope\",\"keys\":[\"a2V5MQ==\",\"a2V5Mg==\"]}],
		\"scale_sets\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"workers\",\"location\":\"westeurope\",\"capacity\":2,\"tags\":{\"berth-owner\":\"$owner\"}},
		                {\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"not-ours\",\"location\":\"westeurope\",\"capacity\":1}]}"
	export AZURE_TENANT_ID=t1 AZURE_CLIENT_ID=berth-ci AZURE_CLIENT_SECRET=s3cret-Sp
	export AZURE_RESOURCE_MANAGER_ENDPOINT=$SIM AZURE_AUTHORITY_HOST=$SIM/
}

sim_post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$SIM$1" >/dev/null; }
sim_get() { curl -fsS "$SIM$1"; }

# azure_spec OWNER DIR BODY: a spec whose azure section holds BODY.
azure_spec() {
	mkdir -p "$2"
	printf 'version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n%s\n' \
		"$1" "$SUB" "$RG" "$3" >"$2/berth.yaml"
}

# sim_state EXPR: evaluates a Python expression over the simulator's stored state `st`.
sim_state() {
	sim_get /_sim/state | /usr/bin/python3 -c "import json, sys; st = json.load(sys.stdin); print($1)"
}

share_quota() {
	sim_state "next((str(s.get('properties', s.get('props', {})).get('shareQuota')) for s in st['file_shares'] if s['name'] == '$1'), 'absent')"
}

capacity() {
	sim_state "next(s['sku']['capacity'] for s in st['scale_sets'] if s['name'] == '$1')"
}

test_shares_and_capacity_from_empty_then_nothing_to_do() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	azure_spec "$owner" "$dir" "  scale_sets:
    workers: {capacity: 4}
  file_shares:
    logs: {storage_account: berthstore, quota_gb: 100}
    data: {storage_account: berthstore, quota_gb: 50, protect: false}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_ERR" "berth: Azure credential: service principal"
	assert_contains "$T_OUT" '~ capacity: "2" -> "4"'
	assert_contains "$T_OUT" '# file share logs will be created'
	assert_contains "$T_OUT" "Plan: 2 to add, 1 to change, 0 to replace, 0 to destroy."
	assert_not_contains "$T_OUT$T_ERR" "s3cret-Sp" "the client secret leaked"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 3 done, 0 failed, 0 skipped."
	assert_eq 4 "$(capacity workers)" "scale set capacity"
	assert_eq 100 "$(share_quota logs)" "quota of logs"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	# A quota change is an update in place.
	azure_spec "$owner" "$dir" "  scale_sets:
    workers: {capacity: 4}
  file_shares:
    logs: {storage_account: berthstore, quota_gb: 200}
    data: {storage_account: berthstore, quota_gb: 50, protect: false}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" '~ quota_gb: "100" -> "200"'
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq 200 "$(share_quota logs)" "quota of logs after the change"
}

test_protected_shares_are_never_deleted() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	azure_spec "$owner" "$dir" "  file_shares:
    keepme: {storage_account: berthstore}
    dropme: {storage_account: berthstore, protect: false}
    stays: {storage_account: berthstore}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	azure_spec "$owner" "$dir" "  file_shares:
    stays: {storage_account: berthstore}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# file share dropme will be destroyed (not in the spec (protect: false))"
	assert_not_contains "$T_OUT" "keepme"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq absent "$(share_quota dropme)"
	assert_eq 5120 "$(share_quota keepme)" "a protected share survives its removal from the spec"
}

test_scale_sets_must_exist_and_carry_the_owner_tag() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	azure_spec "$owner" "$dir" "  scale_sets:
    missing: {capacity: 1}
    not-ours: {capacity: 3}"
	assert_exit 1 "$BERTH" apply --auto-approve "$dir"
	assert_contains "$T_ERR" "scale set 'missing' does not exist in resource group '$RG'; berth sizes scale sets, it does not create them"
	assert_contains "$T_ERR" "scale set 'not-ours' is not tagged berth-owner=$owner"
}

test_throttling_is_waited_out() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	sim_post /_sim/faults '{"rules":[{"method":"PUT","path_regex":"shares/slow","action":"status","status":429,"retry_after":1,"times":2}]}'
	azure_spec "$owner" "$dir" "  file_shares:
    slow: {storage_account: berthstore, quota_gb: 10}"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 1 done"
	assert_eq 10 "$(share_quota slow)"
	# The simulator saw the two throttled attempts and the one that went through.
	assert_eq "429 429 201" "$(sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(r["status"]) for r in json.load(sys.stdin) if r["method"] == "PUT" and r["path"].endswith("/slow")))')"
}
