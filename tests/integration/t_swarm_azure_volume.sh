# shellcheck shell=bash
# A swarm volume on an Azure File share: one plan creates the share (in the ARM simulator) before
# the service that mounts it; the mount's CIFS options carry the storage key, which berth fetches
# at apply time and never shows.
# shellcheck source=tests/integration/azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh"

test_file_share_volume_is_mounted_with_a_key_never_shown() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	printf 'version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n  file_shares:\n    %s-logs: {storage_account: berthstore, quota_gb: 5}\nswarm:\n  volumes:\n    %s-logs: {file_share: %s-logs}\n  services:\n    %s-writer:\n      image: berth-test/busybox:latest\n      command: [sleep, "3600"]\n      volumes: ["%s-logs:/logs"]\n      deploy: {replicas: 0}\n' \
		"$owner" "$SUB" "$RG" "$owner" "$owner" "$owner" "$owner" "$owner" >"$dir/berth.yaml"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# file share ${owner}-logs will be created"
	assert_contains "$T_OUT" "password=(sensitive)"
	assert_exit 0 "$BERTH" plan --json "$dir"
	# The service waits for the share.
	assert_eq True "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)
ids = {(s["kind"], s["name"]): s for s in p["steps"]}
share = [s for s in p["steps"] if s["kind"] == "file share"][0]
svc = [s for s in p["steps"] if s["kind"] == "service"][0]
print(share["id"] in svc["depends_on"])')"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_not_contains "$T_OUT$T_ERR" "S3y-Ac60unt-K3y" "the storage key leaked"
	assert_eq 5 "$(sim_state "next(s['properties']['shareQuota'] for s in st['file_shares'] if s['name'] == '${owner}-logs')")"
	local opts
	opts=$(docker service inspect "${owner}-writer" --format '{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{json .VolumeOptions.DriverConfig.Options}}{{end}}')
	assert_contains "$opts" '"type":"cifs"'
	assert_contains "$opts" "\"device\":\"//berthstore.file.core.windows.net/${owner}-logs\""
	assert_contains "$opts" "password=S3y-Ac60unt-K3y==,"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	assert_not_contains "$T_OUT$T_ERR" "S3y-Ac60unt-K3y"
}

# The vmss-swarm example end to end: its scale set (seeded, tagged for the example's owner) and
# file share in the simulator, its services on the real swarm. Its public images cannot be pulled
# here, so the services' tasks never run; a second plan must still find nothing to change: its
# only steps are the services, not converged, each with the reason its tasks do not run.
test_vmss_swarm_example_plans_nothing_after_apply() {
	local ex=examples/vmss-swarm out
	[ -d "$ex" ] || ex="$(dirname "$T_FILE")/../../examples/vmss-swarm"
	sim_boot
	sim_post /_sim/seed '{"resource_groups":[{"subscription":"00000000-0000-0000-0000-000000000000","name":"rg-vmss-swarm","location":"westeurope"}],
		"storage_accounts":[{"subscription":"00000000-0000-0000-0000-000000000000","resource_group":"rg-vmss-swarm","name":"vmssswarmcontentweu","location":"westeurope","keys":["ZXhhbXBsZS1rZXk="]}],
		"scale_sets":[{"subscription":"00000000-0000-0000-0000-000000000000","resource_group":"rg-vmss-swarm","name":"swarm-workers","location":"westeurope","capacity":2,"tags":{"berth-owner":"vmss-swarm"}}]}'
	echo vmss-swarm >>"$T_DIR/owners" # removed at the file's end, even if this case fails
	cleanup_owner vmss-swarm
	# The plan shows the scale set's instances: platform ids against the guests' host names.
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$ex"
	assert_contains "$T_OUT" '~ capacity: "2" -> "4"'
	assert_contains "$T_OUT" '~ instances: "0=swarm-workers000000, 1=swarm-workers000001" -> "(kept; Azure adds the new ones)"'
	out=$("$BERTH" apply --auto-approve --timeout 3s --no-color "$ex" 2>&1) || true
	assert_contains "$out" "update scale set swarm-workers: done"
	assert_contains "$out" "create file share swarm-content: done"
	# The documented order: capacity grows before any service starts; the share exists before the
	# service that mounts it (web); services that do not mount it need not wait for it.
	local grown shared first_service web
	grown=$(grep -n "update scale set swarm-workers: done" <<<"$out" | cut -d: -f1)
	shared=$(grep -n "create file share swarm-content: done" <<<"$out" | cut -d: -f1)
	first_service=$(grep -n "^create service " <<<"$out" | head -n 1 | cut -d: -f1)
	web=$(grep -n "^create service web\.\.\.$" <<<"$out" | cut -d: -f1)
	[ -n "$first_service" ] && [ "$grown" -lt "$first_service" ] ||
		t_fail "a service started before the scale set grew: $out"
	[ -n "$web" ] && [ "$shared" -lt "$web" ] || t_fail "web started before its file share existed: $out"
	assert_eq "PATCH PUT" "$(sim_get /_sim/log | /usr/bin/python3 -c '
import json, sys
print(" ".join(sorted(r["method"] for r in json.load(sys.stdin) if r["method"] in ("PUT", "PATCH"))))')" "ARM writes" 
	assert_eq 4 "$(sim_state "next(s['sku']['capacity'] for s in st['scale_sets'] if s['name'] == 'swarm-workers')")"
	local unconverged
	unconverged=$(plan_has_no_spec_changes "$ex")
	assert_contains "$unconverged" "node-exporter: not converged: 0/1 tasks running: No such image: prom/node-exporter:v1.8.2"
	assert_contains "$unconverged" "visualizer: not converged: 0/1 tasks running: No such image: dockersamples/visualizer:stable"
	cleanup_owner vmss-swarm
}

# The Azure-only examples against the simulator: apply from empty, then a second plan is empty.
test_aci_examples_plan_nothing_after_apply() {
	local ex rg
	for ex in aci-three-containers:rg-aci-jobs aci-weighted-rollout:rg-contoso-web; do
		rg=${ex#*:} ex=examples/${ex%%:*}
		sim_boot
		sim_post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"00000000-0000-0000-0000-000000000000\",\"name\":\"$rg\",\"location\":\"westeurope\"}],
			\"storage_accounts\":[{\"subscription\":\"00000000-0000-0000-0000-000000000000\",\"resource_group\":\"$rg\",\"name\":\"acijobslogsweu\",\"location\":\"westeurope\",\"keys\":[\"ZXhhbXBsZS1rZXk=\"]}]}"
		if [ -f "$ex/example.env" ]; then set -a; . "$ex/example.env"; set +a; fi
		assert_exit 0 "$BERTH" apply --auto-approve --no-color "$ex"
		assert_contains "$T_OUT" "Apply complete:" "$ex"
		assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$ex"
		assert_contains "$T_OUT" "No changes." "$ex"
		sim_stop
	done
}

# A share (protect: false) and the service that mounts it leave the spec together: the share is
# deleted only after the service that still mounts it.
test_share_deleted_after_the_service_that_mounts_it() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	sim_start "$owner"
	printf 'version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n  file_shares:\n    %s-keep: {storage_account: berthstore}\n    %s-tmp: {storage_account: berthstore, protect: false}\nswarm:\n  volumes:\n    %s-tmp: {file_share: %s-tmp}\n  services:\n    %s-writer:\n      image: berth-test/busybox:latest\n      command: [sleep, "3600"]\n      volumes: ["%s-tmp:/tmp/x"]\n      deploy: {replicas: 0}\n' \
		"$owner" "$SUB" "$RG" "$owner" "$owner" "$owner" "$owner" "$owner" "$owner" >"$dir/berth.yaml"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	printf 'version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n  file_shares:\n    %s-keep: {storage_account: berthstore}\nswarm:\n  services: {}\n' \
		"$owner" "$SUB" "$RG" "$owner" >"$dir/berth.yaml"
	assert_exit 0 "$BERTH" plan --json "$dir"
	assert_eq True "$(printf '%s' "$T_OUT" | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)
share = [s for s in p["steps"] if s["kind"] == "file share" and s["action"] == "delete"][0]
svc = [s for s in p["steps"] if s["kind"] == "service" and s["action"] == "delete"][0]
print(svc["id"] in share["depends_on"])')"
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	local gone shared
	gone=$(grep -n "delete service ${owner}-writer: done" <<<"$T_OUT" | cut -d: -f1)
	shared=$(grep -n "^delete file share ${owner}-tmp\.\.\.$" <<<"$T_OUT" | cut -d: -f1)
	[ -n "$gone" ] && [ -n "$shared" ] && [ "$gone" -lt "$shared" ] || t_fail "the share went first: $T_OUT"
}
