# shellcheck shell=bash
# berth plan/apply of the Azure section (scale sets, file shares, container groups, Traffic
# Manager) against the ARM simulator in tests/azure-sim, which each case starts on a free port.

# shellcheck source=tests/integration/azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh"

# azure_spec OWNER DIR BODY: a spec whose azure section holds BODY.
azure_spec() {
	mkdir -p "$2"
	printf 'version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n%s\n' \
		"$1" "$SUB" "$RG" "$3" >"$2/berth.yaml"
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
	assert_no_client_secret
	assert_eq 200 "$(share_quota logs)" "quota of logs after the change"
	assert_requests_match_spec
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

# --- container groups and Traffic Manager -------------------------------------------------------

# cg_spec OWNER DIR [IMAGE] [CPU] [BLUE_WEIGHT] [EXT_WEIGHT]: file shares, a 3-container group
# with a file-share volume, a public IP and a DNS label and a secure environment value, and a
# weighted profile with an endpoint on the group and one on an external name.
cg_spec() {
	azure_spec "$1" "$2" "  file_shares:
    content: {storage_account: berthstore, quota_gb: 10}
  container_groups:
    web:
      ip: public
      dns_label: berth-web-$1
      containers:
        app:
          image: ${3:-nginx:1.25}
          cpu: ${4:-1}
          memory_gb: 1.5
          ports: [80]
          environment: {MODE: blue}
          secure_environment: {API_TOKEN: \"\${env:WEB_TOKEN}\"}
          volume_mounts: {content: /usr/share/nginx/html}
        sidecar:
          image: busybox:1.36
          cpu: 0.5
          memory_gb: 0.5
          command: [sleep, infinity]
        logger: {image: 'busybox:1.36', cpu: 0.25, memory_gb: 0.5}
      volumes:
        content: {file_share: content}
  traffic_manager:
    shop-$1:
      monitor: {protocol: HTTP, path: /healthz, interval: 10, timeout: 5}
      endpoints:
        blue: {container_group: web, weight: ${5:-900}}
        ext: {target: www.example.com, weight: ${6:-100}}"
}

# The simulator's request log as "METHOD STATUS PATH" lines (paths shortened to the last two parts).
sim_requests() {
	sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin):
    print(r["method"], r["status"], "/".join(r["path"].split("/")[-2:]))'
}

# stored_cg EXPR: EXPR over the body the simulator stored for group web (`g`), secrets included.
stored_cg() {
	sim_state "(lambda g: $1)(next(c['stored'] for c in st['container_groups'] if c['name'] == 'web'))"
}

endpoint_weight() {
	sim_state "next(e['properties']['weight'] for p in st['traffic_manager_profiles'] for e in p['properties']['endpoints'] if e['name'] == '$1')"
}

test_container_group_and_traffic_manager_from_empty_then_nothing_to_do() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	cg_spec "$owner" "$dir"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_not_contains "$T_ERR" "not planned"
	assert_contains "$T_OUT" '# container group web will be created'
	assert_contains "$T_OUT" '+ containers.app.image: "nginx:1.25"'
	assert_contains "$T_OUT" '~ secure values: (sensitive value changed)'
	assert_contains "$T_OUT" "# traffic manager profile shop-$owner will be created"
	assert_contains "$T_OUT" "+ target: \"berth-web-$owner.westeurope.azurecontainer.io\""
	assert_contains "$T_OUT" '# endpoint shop-'"$owner"'/blue will be created'
	assert_contains "$T_OUT" "Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy."
	assert_not_contains "$T_OUT$T_ERR" "$WEB_TOKEN" "the secure value leaked into the plan"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 5 done, 0 failed, 0 skipped."
	assert_no_client_secret
	assert_not_contains "$T_OUT$T_ERR" "$WEB_TOKEN" "the secure value leaked into the apply output"
	assert_not_contains "$T_OUT$T_ERR" "S3y-Ac60unt-K3y==" "the storage account key leaked"
	# What was delivered: the secure value, the storage account key (fetched at apply time), the
	# owner tag; three containers.
	assert_eq "$WEB_TOKEN" "$(stored_cg "next(e['secureValue'] for e in g['properties']['containers'][0]['properties']['environmentVariables'] if e['name'] == 'API_TOKEN')")"
	assert_eq "S3y-Ac60unt-K3y==" "$(stored_cg "g['properties']['volumes'][0]['azureFile']['storageAccountKey']")"
	assert_eq "$owner 3" "$(stored_cg "g['tags']['berth-owner'] + ' ' + str(len(g['properties']['containers']))")"
	assert_eq "900 100" "$(endpoint_weight blue) $(endpoint_weight ext)"
	# The documented order: the share before the group, the group before its endpoint.
	sim_requests >"$T_DIR/requests"
	assert_eq "PUT 201 shares/content
PUT 201 containerGroups/web
PUT 201 externalEndpoints/blue" "$(grep -E '^PUT .*(shares/content|containerGroups/web|externalEndpoints/blue)$' "$T_DIR/requests")"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	assert_no_client_secret
	# Every request body berth sent validates against the OpenAPI specs.
	assert_requests_match_spec
}

# Every kind of body berth sends, checked against the OpenAPI specs: creates, updates in place
# (share quota PATCH, group image PUT, endpoint weight PUT), a scale set PATCH, a replacement
# (DELETE then PUT) and removals.
test_every_request_body_matches_the_openapi_specs() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	cg_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_no_client_secret
	cg_spec "$owner" "$dir" nginx:1.26 1 500 500
	sed -i 's/quota_gb: 10}/quota_gb: 20}/; s/^  file_shares:$/  scale_sets:\n    workers: {capacity: 3}\n  file_shares:/' "$dir/berth.yaml"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "Plan: 0 to add, 5 to change, 0 to replace, 0 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_no_client_secret
	assert_eq "3 20" "$(capacity workers) $(share_quota content)"
	# A CPU change replaces the group (the quota goes back to 10 too).
	cg_spec "$owner" "$dir" nginx:1.26 2 500 500
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "container group web will be replaced"
	assert_contains "$T_OUT" "Apply complete: 2 done"
	azure_spec "$owner" "$dir" "  file_shares:
    content: {storage_account: berthstore, quota_gb: 10}"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_no_client_secret
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_requests_match_spec
	assert_contains "$T_OUT" "ContainerGroups_CreateOrUpdate 3"
	assert_contains "$T_OUT" "VirtualMachineScaleSets_Update 1"
	assert_contains "$T_OUT" "FileShares_Update"
	assert_contains "$T_OUT" "Endpoints_CreateOrUpdate 4"
}

# --- transient faults end in convergence --------------------------------------------------------

test_container_group_put_retried_after_two_503s() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	sim_post /_sim/faults '{"rules":[{"method":"PUT","path_regex":"containerGroups/web$","action":"status","status":503,"times":2}]}'
	cg_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 5 done, 0 failed, 0 skipped."
	assert_no_client_secret
	assert_not_contains "$T_OUT$T_ERR" "$WEB_TOKEN" "the secure value leaked into the apply output"
	# Two answered 503, the third attempt went through, each attempt with its own client request id.
	assert_eq "503 503 201 3" "$(sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
puts = [r for r in json.load(sys.stdin) if r["method"] == "PUT" and r["path"].endswith("/containerGroups/web")]
print(" ".join(str(r["status"]) for r in puts), len({r["client_request_id"] for r in puts}))')"
	assert_eq "$WEB_TOKEN" "$(stored_cg "next(e['secureValue'] for e in g['properties']['containers'][0]['properties']['environmentVariables'] if e['name'] == 'API_TOKEN')")"
	assert_eq "900 100" "$(endpoint_weight blue) $(endpoint_weight ext)"
	assert_requests_match_spec
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
}

test_dropped_connection_on_share_put_is_retried() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	sim_post /_sim/faults '{"rules":[{"method":"PUT","path_regex":"shares/dropped$","action":"drop","times":1}]}'
	azure_spec "$owner" "$dir" "  file_shares:
    dropped: {storage_account: berthstore, quota_gb: 7}"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 1 done, 0 failed, 0 skipped."
	assert_no_client_secret
	assert_eq 7 "$(share_quota dropped)"
	# The dropped attempt (logged with status null) and the retry that went through.
	assert_eq "None 201" "$(sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(r["status"]) for r in json.load(sys.stdin) if r["method"] == "PUT" and r["path"].endswith("/shares/dropped")))')"
	assert_requests_match_spec
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

test_long_retry_after_on_scale_set_patch_is_honoured() {
	local owner dir start elapsed
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	sim_post /_sim/faults '{"rules":[{"method":"PATCH","path_regex":"virtualMachineScaleSets/workers$","action":"status","status":429,"retry_after":2,"times":1}]}'
	azure_spec "$owner" "$dir" "  scale_sets:
    workers: {capacity: 5}"
	start=$(t_now_ms)
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	elapsed=$(($(t_now_ms) - start))
	assert_contains "$T_OUT" "Apply complete: 1 done, 0 failed, 0 skipped."
	assert_no_client_secret
	assert_eq 5 "$(capacity workers)"
	[ "$elapsed" -ge 2000 ] || t_fail "apply took ${elapsed} ms: the 2 s Retry-After was not waited out"
	t_log "apply took ${elapsed} ms"
	# The retry came no sooner than the Retry-After asked.
	assert_eq "429 200" "$(sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(r["status"]) for r in json.load(sys.stdin) if r["method"] == "PATCH" and r["path"].endswith("/workers")))')"
	assert_requests_match_spec
}

test_container_group_change_in_place_vs_replace() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	cg_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	# An image change is an update in place.
	cg_spec "$owner" "$dir" nginx:1.26
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# container group web will be updated in place"
	assert_contains "$T_OUT" '~ containers.app.image: "nginx:1.25" -> "nginx:1.26"'
	assert_contains "$T_OUT" "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq nginx:1.26 "$(stored_cg "g['properties']['containers'][0]['properties']['image']")"
	assert_not_contains "$(sim_requests)" "DELETE" "an update in place deleted the group"
	# A CPU change replaces the group: the plan says which field forces it.
	cg_spec "$owner" "$dir" nginx:1.26 2
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# container group web will be replaced (containers.app.cpu forces replacement)"
	assert_contains "$T_OUT" '~ containers.app.cpu: "1" -> "2"'
	assert_contains "$T_OUT" "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 1 done"
	assert_eq True "$(stored_cg "g['properties']['containers'][0]['properties']['resources']['requests']['cpu'] == 2")"
	assert_eq "DELETE containerGroups/web
PUT containerGroups/web" "$(sim_requests | awk '$1 != "GET" && $3 == "containerGroups/web" { print $1, $3 }' | tail -n 2)"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

test_secure_environment_change_is_shown_but_never_printed() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	cg_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	export WEB_TOKEN=tok-second-Secret-value
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# container group web will be updated in place"
	assert_contains "$T_OUT" "~ secure values: (sensitive value changed)"
	assert_contains "$T_OUT" "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."
	assert_not_contains "$T_OUT$T_ERR" "tok-" "a secure value leaked into the plan"
	assert_exit 0 "$BERTH" plan --json "$dir"
	assert_contains "$T_OUT" '"sensitive": true'
	assert_not_contains "$T_OUT$T_ERR" "tok-" "a secure value leaked into the JSON plan"
	assert_not_contains "$T_OUT" "berth-secure-hash" "the JSON plan carries the hash"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_not_contains "$T_OUT$T_ERR" "tok-" "a secure value leaked into the apply output"
	assert_eq tok-second-Secret-value "$(stored_cg "next(e['secureValue'] for e in g['properties']['containers'][0]['properties']['environmentVariables'] if e['name'] == 'API_TOKEN')")"
	assert_not_contains "$(sim_get /_sim/log)" "tok-" "the simulator's log shows a secure value"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

test_endpoint_weights_change() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	cg_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	cg_spec "$owner" "$dir" nginx:1.25 1 500 500
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# endpoint shop-$owner/blue will be updated in place"
	assert_contains "$T_OUT" '~ weight: "900" -> "500"'
	assert_contains "$T_OUT" '~ weight: "100" -> "500"'
	assert_contains "$T_OUT" "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq "500 500" "$(endpoint_weight blue) $(endpoint_weight ext)"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}

test_failed_provisioning_stops_what_depends_on_the_group() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	sim_post /_sim/faults '{"rules":[{"method":"PUT","path_regex":"containerGroups/web$","action":"fail_provisioning","code":"InaccessibleImage","message":"The image nginx:1.25 in container group web is not accessible."}]}'
	cg_spec "$owner" "$dir"
	assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "create container group web: FAILED:"
	assert_contains "$T_OUT" "InaccessibleImage"
	assert_contains "$T_OUT" "The image nginx:1.25 in container group web is not accessible."
	assert_contains "$T_OUT" "create endpoint shop-$owner/blue: skipped"
	assert_contains "$T_OUT" "Apply failed: 3 done, 1 failed, 1 skipped."
	assert_not_contains "$(sim_requests)" "externalEndpoints/blue" "an endpoint was created on a failed group"
}

# The group provisions, but its containers keep exiting: the apply fails and says how they ended.
test_containers_that_exit_fail_the_apply_with_their_events() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	sim_post /_sim/faults '{"rules":[{"method":"PUT","path_regex":"containerGroups/web$","action":"container_exit","exit_code":137,"message":"Back-off restarting failed container app"}]}'
	cg_spec "$owner" "$dir"
	assert_exit 1 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "create container group web: FAILED: container group web did not start"
	assert_contains "$T_OUT" "exit code 137"
	assert_contains "$T_OUT" "Back-off restarting failed container app"
	assert_contains "$T_OUT" "create endpoint shop-$owner/blue: skipped"
	assert_not_contains "$T_OUT$T_ERR" "tok-first-Secret-value"
}

test_groups_removed_after_their_endpoints_and_foreign_groups_refused() {
	local owner other dir
	owner=$(unique_owner) other=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	export WEB_TOKEN=tok-first-Secret-value
	cg_spec "$owner" "$dir"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	# Another owner declaring a group of the same name: a plan error, nothing is touched.
	cg_spec "$other" "$dir/other"
	assert_exit 1 "$BERTH" plan --no-color "$dir/other"
	assert_contains "$T_ERR" "container group 'web' exists in resource group '$RG' and belongs to another berth owner"
	# The group and the endpoint on it leave the spec: the endpoint goes first.
	azure_spec "$owner" "$dir" "  file_shares:
    content: {storage_account: berthstore, quota_gb: 10}
  traffic_manager:
    shop-$owner:
      monitor: {protocol: HTTP, path: /healthz, interval: 10, timeout: 5}
      endpoints:
        ext: {target: www.example.com, weight: 100}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# endpoint shop-$owner/blue will be destroyed (not in the spec)"
	assert_contains "$T_OUT" "# container group web will be destroyed (not in the spec)"
	assert_contains "$T_OUT" "Plan: 0 to add, 0 to change, 0 to replace, 2 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_eq "DELETE externalEndpoints/blue
DELETE containerGroups/web" "$(sim_requests | awk '$1 == "DELETE" { print $1, $3 }')"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
}
