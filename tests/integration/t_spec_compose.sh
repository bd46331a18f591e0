# shellcheck shell=bash
# Compose forms the spec accepts, checked against the real engine: what berth sends is what the
# engine keeps, and a second plan is empty. Each case has its own owner id.

IMG=berth-test/busybox:latest

# Three consecutive ports that nothing listens on or publishes.
free_port_range3() {
	local p tries used
	used=$(docker service ls --format '{{.Ports}}' 2>/dev/null || true)
	for ((tries = 0; tries < 50; tries++)); do
		p=$(free_port)
		[[ $used == *":$((p + 1))->"* || $used == *":$((p + 2))->"* ]] && continue
		t__listening $((p + 1)) || t__listening $((p + 2)) || { echo "$p"; return 0; }
	done
	t_fail "no three free consecutive ports"
}

# "P-P+2:80" publishes three ports to one target, as docker stack deploy does.
test_published_range_to_one_target() {
	local owner dir p
	owner=$(unique_owner) dir=$(mktemp -d) p=$(free_port_range3)
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-web:\n      image: %s\n      command: [sleep, "3600"]\n      ports: ["%s-%s:80"]\n' \
		"$owner" "$owner" "$IMG" "$p" "$((p + 2))" >"$dir/berth.yaml"
	assert_exit 0 "$BERTH" apply --auto-approve --timeout 30s --no-color "$dir"
	assert_exit 0 docker service inspect --format '{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}}>{{.TargetPort}} {{end}}' "$owner-web"
	assert_eq "$p>80 $((p + 1))>80 $((p + 2))>80 " "$T_OUT" "the published ports"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
}

# "KEY" alone takes berth's environment at load time; unset, the key is left out.
test_environment_inherited_from_berth() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-env:\n      image: %s\n      command: [sleep, "3600"]\n      environment: [MODE=fixed, BERTH_IT_REGION, BERTH_IT_UNSET]\n' \
		"$owner" "$owner" "$IMG" >"$dir/berth.yaml"
	assert_exit 0 env -u BERTH_IT_UNSET BERTH_IT_REGION=eu-west "$BERTH" apply --auto-approve --timeout 30s --no-color "$dir"
	assert_exit 0 docker service inspect --format '{{join .Spec.TaskTemplate.ContainerSpec.Env " "}}' "$owner-env"
	assert_eq "MODE=fixed BERTH_IT_REGION=eu-west" "$T_OUT" "the service's environment"
	# The same environment: the same (empty) plan; another value: a change.
	assert_exit 0 env -u BERTH_IT_UNSET BERTH_IT_REGION=eu-west "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	assert_exit 2 env -u BERTH_IT_UNSET BERTH_IT_REGION=us-east "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" '~ env.BERTH_IT_REGION: "eu-west" -> "us-east"'
	# A plan saved with one value is stale when applied with another: the spec files alone do
	# not make the desired state.
	assert_exit 0 env -u BERTH_IT_UNSET BERTH_IT_REGION=us-east "$BERTH" plan --no-color --out "$dir/plan.json" "$dir"
	assert_exit 1 env -u BERTH_IT_UNSET BERTH_IT_REGION=eu-west "$BERTH" apply --no-color "$dir/plan.json"
	assert_contains "$T_ERR" "berth apply: plan is stale: the plan made now differs from the saved one"
	assert_exit 0 env -u BERTH_IT_UNSET BERTH_IT_REGION=us-east "$BERTH" apply --no-color --timeout 30s "$dir/plan.json"
	assert_exit 0 docker service inspect --format '{{join .Spec.TaskTemplate.ContainerSpec.Env " "}}' "$owner-env"
	assert_eq "MODE=fixed BERTH_IT_REGION=us-east" "$T_OUT" "the service's environment after the saved plan"
}
