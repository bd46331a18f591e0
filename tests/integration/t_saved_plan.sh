# shellcheck shell=bash
# Saved plans as a new user makes them: recognised by content whatever their name, made from a
# relative spec path and applied from elsewhere, and refused with a precise message when broken.

IMG=berth-test/busybox:latest

spec() {
	mkdir -p "$2"
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-svc:\n      image: %s\n      command: [sleep, "3600"]\n      deploy: {replicas: 0}\n' \
		"$1" "$1" "$IMG" >"$2/berth.yaml"
}

test_plan_named_anything_from_a_relative_path_applies() {
	local owner work
	owner=$(unique_owner) work=$(mktemp -d)
	spec "$owner" "$work/deploy"
	(cd "$work" && assert_exit 0 "$BERTH" plan --no-color --out saved.plan deploy &&
		assert_contains "$T_OUT" "Saved the plan to saved.plan")
	# applied from another directory, by a path that is not the one typed at plan time
	(cd / && assert_exit 0 "$BERTH" apply --no-color "$work/saved.plan" &&
		assert_contains "$T_OUT" "Apply complete: 1 done, 0 failed, 0 skipped.")
	docker service inspect "${owner}-svc" >/dev/null
}

test_a_plan_without_its_digest_is_a_precise_error() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir/spec"
	assert_exit 0 "$BERTH" plan --out "$dir/p.json" "$dir/spec"
	/usr/bin/python3 -c "import json,sys; p=json.load(open(sys.argv[1])); del p['spec']['digest']; json.dump(p, open(sys.argv[1],'w'))" "$dir/p.json"
	assert_exit 1 "$BERTH" apply "$dir/p.json"
	assert_eq "berth apply: $dir/p.json: not a usable berth plan: spec.digest is missing" "$T_ERR"
	assert_exit '!0' docker service inspect "${owner}-svc"
}

test_a_truncated_plan_is_a_precise_error() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir/spec"
	assert_exit 0 "$BERTH" plan --out "$dir/plan.out" "$dir/spec"
	head -c 200 "$dir/plan.out" >"$dir/cut.plan"
	assert_exit 1 "$BERTH" apply "$dir/cut.plan"
	assert_contains "$T_ERR" "berth apply: $dir/cut.plan: not a usable berth plan"
	assert_not_contains "$T_ERR" "unknown key"
}
