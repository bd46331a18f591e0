# shellcheck shell=bash
# berth plan/apply against the real swarm the harness runs: every case writes a spec with its own
# owner id, applies it, and checks the engine's state with the docker CLI.

IMG=berth-test/busybox:latest

# spec OWNER DIR BODY: writes DIR/berth.yaml with the owner and the swarm section BODY.
spec() {
	mkdir -p "$2"
	printf 'version: 1\nname: %s\nswarm:\n%s\n' "$1" "$3" >"$2/berth.yaml"
}

svc_field() { docker service inspect "$1" --format "$2"; }

test_create_from_empty_then_second_plan_is_empty() {
	local owner dir port
	owner=$(unique_owner) dir=$(mktemp -d) port=$(free_port)
	spec "$owner" "$dir" "  networks:
    ${owner}-net: {attachable: true}
  configs:
    ${owner}-page: {content: \"hello $owner\"}
  services:
    ${owner}-web:
      image: $IMG
      command: [httpd, -f, -p, '8080', -h, /www]
      ports: [{target: 8080, published: $port, mode: host}]
      configs: [{source: ${owner}-page, target: /www/index.html}]
      networks: [${owner}-net]
      environment: {GREETING: hi}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 3 done, 0 failed, 0 skipped."
	# The service really serves the config through a host-mode port.
	wait_until 30 "the service answers on port $port" http_body_is "http://127.0.0.1:$port/" "hello $owner"
	assert_eq "$owner" "$(svc_field "${owner}-web" '{{index .Spec.Labels "berth.owner"}}')" "owner label"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	# A no-op plan costs the version handshake and five list calls (services, networks, secrets,
	# configs, tasks), whatever the number of objects; a no-op apply writes nothing.
	BERTH_STATS=1 assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_contains "$T_ERR" "berth: 6 requests to the Docker engine, 0 writes"
}

test_changes_to_image_replicas_env_ports_update_config() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-app:
      image: $IMG
      command: [sleep, '3600']
      environment: {MODE: one}
      ports: ['$(free_port):80']
      deploy: {replicas: 1}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	docker tag "$IMG" "berth-test/busybox:v2"
	local port2
	port2=$(free_port)
	spec "$owner" "$dir" "  services:
    ${owner}-app:
      image: berth-test/busybox:v2
      command: [sleep, '3600']
      environment: {MODE: two, EXTRA: x}
      ports: ['$port2:80/udp']
      deploy:
        replicas: 2
        update_config: {parallelism: 2, delay: 1s, order: start-first, failure_action: rollback}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" '~ image: "berth-test/busybox:latest" -> "berth-test/busybox:v2"'
	assert_contains "$T_OUT" '~ env.MODE: "one" -> "two"'
	assert_contains "$T_OUT" '+ env.EXTRA: "x"'
	assert_contains "$T_OUT" '~ replicas: "1" -> "2"'
	assert_contains "$T_OUT" "+ port.$port2/udp: \"$port2:80/udp ingress\""
	assert_contains "$T_OUT" '~ update_config.order: "stop-first" -> "start-first"'
	assert_contains "$T_OUT" "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	# The engine's stored spec has every change (ingress publishing is checked there: no IPVS here).
	assert_eq "berth-test/busybox:v2" "$(svc_field "${owner}-app" '{{.Spec.TaskTemplate.ContainerSpec.Image}}' | sed 's/@.*//')"
	assert_eq 2 "$(svc_field "${owner}-app" '{{.Spec.Mode.Replicated.Replicas}}')"
	assert_contains "$(svc_field "${owner}-app" '{{json .Spec.TaskTemplate.ContainerSpec.Env}}')" '"MODE=two"'
	assert_eq "udp $port2 ingress" "$(svc_field "${owner}-app" '{{range .Spec.EndpointSpec.Ports}}{{.Protocol}} {{.PublishedPort}} {{.PublishMode}}{{end}}')"
	assert_eq "start-first rollback 2" "$(svc_field "${owner}-app" '{{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}} {{.Spec.UpdateConfig.Parallelism}}')"
	service_running "${owner}-app" 2
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
}

test_drift_is_shown_and_reverted() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-api:
      image: $IMG
      command: [sleep, '3600']
      deploy: {replicas: 1}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	docker service scale --detach "${owner}-api=3" >/dev/null
	docker service update --detach --env-add HAND=made "${owner}-api" >/dev/null
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" '~ replicas: "3" -> "1"'
	assert_contains "$T_OUT" '- env.HAND: "made" -> null'
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq 1 "$(svc_field "${owner}-api" '{{.Spec.Mode.Replicated.Replicas}}')"
	assert_not_contains "$(svc_field "${owner}-api" '{{json .Spec.TaskTemplate.ContainerSpec.Env}}')" "HAND"
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
}

test_secret_rotation_never_shows_the_value() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  secrets:
    ${owner}-db: {value: \"\${env:T_DB_PASSWORD}\"}
  services:
    ${owner}-db-client:
      image: $IMG
      command: [sleep, '3600']
      stop_grace_period: 1s
      secrets: [${owner}-db]"
	T_DB_PASSWORD=first-Pa55word assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	local first
	first=$(svc_field "${owner}-db-client" '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}')
	assert_contains "$first" "${owner}-db-"
	T_DB_PASSWORD=second-Pa55word assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "~ data: (sensitive value changed)"
	assert_not_contains "$T_OUT$T_ERR" "Pa55word" "the secret value leaked into the plan"
	T_DB_PASSWORD=second-Pa55word assert_exit 0 "$BERTH" plan --json "$dir"
	assert_not_contains "$T_OUT" "Pa55word" "the secret value leaked into the JSON plan"
	T_DB_PASSWORD=second-Pa55word assert_exit 0 "$BERTH" apply --auto-approve --no-color "$dir"
	assert_not_contains "$T_OUT$T_ERR" "Pa55word" "the secret value leaked into apply's output"
	local second
	second=$(svc_field "${owner}-db-client" '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}')
	[ "$second" != "$first" ] || t_fail "the service still uses $first"
	# The old version is gone once no service uses it; exactly one version remains.
	assert_eq "$second" "$(docker secret ls --filter "label=berth.owner=$owner" --format '{{.Name}}')"
	T_DB_PASSWORD=second-Pa55word assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
}

test_prune_leaves_unowned_and_other_owners_alone() {
	local owner other dir
	owner=$(unique_owner) other=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-keep: {image: $IMG, command: [sleep, '3600']}
    ${owner}-gone: {image: $IMG, command: [sleep, '3600']}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	# Someone's hand-made service, and another owner's service.
	docker service create --detach --name "${owner}-manual" "$IMG" sleep 3600 >/dev/null
	docker service create --detach --name "${other}-theirs" --label "berth.owner=$other" "$IMG" sleep 3600 >/dev/null
	spec "$owner" "$dir" "  services:
    ${owner}-keep: {image: $IMG, command: [sleep, '3600']}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# service ${owner}-gone will be destroyed (not in the spec)"
	assert_contains "$T_OUT" "Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy."
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_exit '!0' docker service inspect "${owner}-gone"
	assert_exit 0 docker service inspect "${owner}-manual"
	assert_exit 0 docker service inspect "${other}-theirs"
	docker service rm "${owner}-manual" >/dev/null
}

test_same_named_unowned_service_is_a_plan_error() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	docker service create --detach --name "${owner}-taken" "$IMG" sleep 3600 >/dev/null
	spec "$owner" "$dir" "  networks:
    ${owner}-n: {}
  services:
    ${owner}-taken: {image: $IMG, command: [sleep, '1']}"
	assert_exit 1 "$BERTH" apply --auto-approve "$dir"
	assert_contains "$T_ERR" "service '${owner}-taken' exists and was not created by berth (no berth.owner label); berth never adopts objects"
	# Nothing was half-applied: not even the network the plan would have created first.
	assert_exit '!0' docker network inspect "${owner}-n"
	assert_eq "sleep 3600" "$(svc_field "${owner}-taken" '{{join .Spec.TaskTemplate.ContainerSpec.Args " "}}')"
	docker service rm "${owner}-taken" >/dev/null
}

test_mass_delete_needs_a_flag() {
	local owner dir body=""
	owner=$(unique_owner) dir=$(mktemp -d)
	for i in 1 2 3 4 5 6; do
		body+="    ${owner}-s$i: {image: $IMG, command: [sleep, '3600'], deploy: {replicas: 0}}
"
	done
	spec "$owner" "$dir" "  services:
$body"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	spec "$owner" "$dir" "  services: {}"
	assert_exit 1 "$BERTH" apply --auto-approve "$dir"
	assert_contains "$T_ERR" "the plan would delete 6 of the 6 swarm objects berth owns as '$owner'"
	assert_exit 0 docker service inspect "${owner}-s3"
	assert_exit 0 "$BERTH" apply --auto-approve --allow-mass-delete "$dir"
	assert_contains "$T_OUT" "Apply complete: 6 done"
	assert_eq "" "$(docker service ls --filter "label=berth.owner=$owner" -q)"
}

test_saved_plan_applies_exactly_or_is_stale() {
	local owner dir plan
	owner=$(unique_owner) dir=$(mktemp -d)
	plan="$dir/plan.json"
	spec "$owner" "$dir/spec" "  services:
    ${owner}-p: {image: $IMG, command: [sleep, '3600']}"
	assert_exit 0 "$BERTH" plan --out "$plan" "$dir/spec"
	assert_exit 0 "$BERTH" apply "$plan"
	assert_contains "$T_OUT" "Apply complete: 1 done"
	# The live state changes after the plan is made: refused.
	spec "$owner" "$dir/spec" "  services:
    ${owner}-p: {image: $IMG, command: [sleep, '3600'], deploy: {replicas: 2}}"
	assert_exit 0 "$BERTH" plan --out "$plan" "$dir/spec"
	docker service update --detach --env-add X=1 "${owner}-p" >/dev/null
	assert_exit 1 "$BERTH" apply "$plan"
	assert_contains "$T_ERR" "plan is stale: the live state changed since the plan was made"
	assert_eq 1 "$(svc_field "${owner}-p" '{{.Spec.Mode.Replicated.Replicas}}')"
	# The spec changes after the plan is made: refused.
	assert_exit 0 "$BERTH" plan --out "$plan" "$dir/spec"
	echo "# edited" >>"$dir/spec/berth.yaml"
	assert_exit 1 "$BERTH" apply "$plan"
	assert_contains "$T_ERR" "plan is stale: the spec changed since the plan was made"
}

test_unreachable_engine_and_tls_errors_are_clear() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-x: {image: $IMG}"
	DOCKER_HOST=tcp://127.0.0.1:1 assert_exit 1 "$BERTH" plan "$dir"
	assert_eq "berth: cannot reach the Docker engine at tcp://127.0.0.1:1: Couldn't connect to server" "$T_ERR"
	DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/nonexistent/certs assert_exit 1 "$BERTH" plan "$dir"
	assert_contains "$T_ERR" "cannot read TLS certificate /nonexistent/certs/cert.pem: No such file or directory"
}

test_failing_service_fails_the_apply_with_the_task_error() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-crash:
      image: $IMG
      command: [sh, -c, 'exit 7']
      deploy: {restart_policy: {condition: on-failure, delay: 100ms}}"
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 60s --no-color "$dir"
	assert_contains "$T_OUT" "create service ${owner}-crash: FAILED: service ${owner}-crash: tasks keep failing"
	assert_contains "$T_OUT" "task: non-zero exit (7)"
	assert_contains "$T_OUT" "Apply failed: 0 done, 1 failed, 0 skipped."
}

test_swarm_rollback_is_a_failure() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-r:
      image: $IMG
      command: [sleep, '3600']
      deploy: {replicas: 1, update_config: {failure_action: rollback, monitor: 2s}}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	spec "$owner" "$dir" "  services:
    ${owner}-r:
      image: $IMG
      command: [sh, -c, 'sleep 1; exit 1']
      deploy: {replicas: 1, update_config: {failure_action: rollback, monitor: 2s}, restart_policy: {condition: none}}"
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 90s --no-color "$dir"
	assert_contains "$T_OUT" "FAILED: service ${owner}-r: the swarm rolled back the update"
	# The swarm restored the old spec.
	assert_eq "sleep 3600" "$(svc_field "${owner}-r" '{{join .Spec.TaskTemplate.ContainerSpec.Args " "}}')"
}

# Every example: apply, then a second plan changes nothing. The examples name public images that
# cannot be pulled here, so their tasks never start; the services, networks, secrets and configs
# still exist, and what the engine stores must read back as equal to the spec: the plan's only
# steps are those services, "not converged" with the task error. An example whose images are all
# here converges: its plan becomes empty.
test_every_example_plans_nothing_after_apply() {
	local ex name img local_images line
	for ex in examples/*/; do
		ex=${ex%/}
		grep -q '^swarm:' "$ex"/*.yaml || continue
		name=$(sed -n 's/^name: *//p' "$ex"/*.yaml | head -n 1)
		if [ -f "$ex/example.env" ]; then set -a; . "$ex/example.env"; set +a; fi
		if grep -q '^azure:' "$ex"/*.yaml; then
			# Examples with Azure resources are planned against the ARM simulator elsewhere; without
			# credentials berth says which it tried (and never falls back to doing the swarm half).
			assert_exit 1 env -u AZURE_TENANT_ID -u AZURE_CLIENT_ID -u AZURE_CLIENT_SECRET "$BERTH" plan "$ex"
			assert_contains "$T_ERR" "berth: no Azure credential works: service principal: AZURE_TENANT_ID"
			continue
		fi
		t_log "example $ex (owner $name)"
		echo "$name" >>"$T_DIR/owners" # removed at the file's end, even if this case fails
		cleanup_owner "$name"
		local out
		out=$("$BERTH" apply --auto-approve --timeout 3s --no-color "$ex" 2>&1) || true
		assert_contains "$out" "Apply " "example $ex was not applied"
		plan_has_no_spec_changes "$ex" >"$T_DIR/unconverged"
		t_log "not converged: $(cat "$T_DIR/unconverged")"
		local_images=1
		while read -r img; do
			docker image inspect "$img" >/dev/null 2>&1 || local_images=0
		done < <(sed -n 's/^ *image: *//p' "$ex"/*.yaml)
		if [ "$local_images" = 1 ]; then
			wait_until 60 "example $ex to converge" "$BERTH" plan --detailed-exitcode "$ex"
		else
			# Each service that cannot start says why (the engine's task error).
			[ -s "$T_DIR/unconverged" ] || t_fail "example $ex: its images cannot be pulled, yet it converged"
			while read -r line; do
				assert_contains "$line" " tasks running: " "example $ex: a service without its task error"
			done <"$T_DIR/unconverged"
		fi
		cleanup_owner "$name"
	done
}

# --resolve-image asks the engine for digests; here the registry cannot be reached, so the plan
# must go on with the tag, say so, and not stall.
test_resolve_image_never_stalls_a_plan() {
	local owner dir start
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-r: {image: $IMG, command: [sleep, '3600']}"
	start=$(t_now_ms)
	assert_exit 2 "$BERTH" plan --resolve-image --detailed-exitcode --no-color "$dir"
	assert_contains "$T_ERR" "berth: warning: cannot resolve $IMG to a digest"
	assert_contains "$T_OUT" "+ image: \"$IMG\""
	# Bounded by the 3 s resolve timeout, whatever the engine's registry look-up does.
	[ $(( $(t_now_ms) - start )) -lt 10000 ] || t_fail "plan --resolve-image took $(( $(t_now_ms) - start )) ms"
}

# On a terminal apply asks first; anything but "yes" applies nothing.
test_apply_asks_on_a_terminal() {
	local owner dir out
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-ask: {image: $IMG, command: [sleep, '3600']}"
	out=$(printf 'no\n' | script -qec "'$BERTH' apply --no-color '$dir'" /dev/null) || true
	assert_contains "$out" "Apply these changes? Only 'yes' will be accepted:"
	assert_contains "$out" "Apply cancelled."
	assert_exit '!0' docker service inspect "${owner}-ask"
	out=$(printf 'yes\n' | script -qec "'$BERTH' apply --no-color '$dir'" /dev/null)
	assert_contains "$out" "Apply complete: 1 done, 0 failed, 0 skipped."
	assert_exit 0 docker service inspect "${owner}-ask"
	# Without a terminal and without --auto-approve, nothing happens either.
	spec "$owner" "$dir" "  services:
    ${owner}-ask: {image: $IMG, command: [sleep, '3600'], deploy: {replicas: 2}}"
	assert_exit 1 "$BERTH" apply "$dir"
	assert_contains "$T_ERR" "not applying: confirm on a terminal, or pass --auto-approve"
	assert_eq 1 "$(svc_field "${owner}-ask" '{{.Spec.Mode.Replicated.Replicas}}')"
}

# Swarm cannot change a service between replicated and global in place: the plan says replace.
test_mode_change_is_a_replace() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-m: {image: $IMG, command: [sleep, '3600']}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	spec "$owner" "$dir" "  services:
    ${owner}-m: {image: $IMG, command: [sleep, '3600'], deploy: {mode: global}}"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# service ${owner}-m will be replaced (mode changed between replicated and global"
	assert_contains "$T_OUT" "-/+ service \"${owner}-m\""
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq "global" "$(svc_field "${owner}-m" '{{if .Spec.Mode.Global}}global{{else}}replicated{{end}}')"
	assert_exit 0 "$BERTH" plan --detailed-exitcode "$dir"
}

# update_config and rollback_config given in part: the engine would store Parallelism 0 (all at
# once) for a missing one, so berth sends its default 1; every field the engine fills in reads
# back as the spec, so the second plan is empty.
test_partial_update_config_plans_nothing_after_apply() {
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  services:
    ${owner}-u:
      image: $IMG
      command: [sleep, '3600']
      stop_grace_period: 1s
      deploy:
        replicas: 1
        update_config: {delay: 1s, order: start-first}
        rollback_config: {monitor: 2s, max_failure_ratio: 0.5}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	assert_eq "1 1s start-first pause 1 2s 0.5" "$(svc_field "${owner}-u" '{{.Spec.UpdateConfig.Parallelism}} {{.Spec.UpdateConfig.Delay}} {{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}} {{.Spec.RollbackConfig.Parallelism}} {{.Spec.RollbackConfig.Monitor}} {{.Spec.RollbackConfig.MaxFailureRatio}}')"
	assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "No changes."
	# Each other field alone, in turn: still nothing to change after the apply.
	local uc
	for uc in "{parallelism: 2}" "{failure_action: rollback}" "{monitor: 3s}" "{max_failure_ratio: 0.25}" "{order: stop-first}" "{delay: 0s}"; do
		spec "$owner" "$dir" "  services:
    ${owner}-u:
      image: $IMG
      command: [sleep, '3600']
      stop_grace_period: 1s
      deploy: {replicas: 1, update_config: $uc, rollback_config: $uc}"
		[ "$uc" != "{failure_action: rollback}" ] || spec "$owner" "$dir" "  services:
    ${owner}-u:
      image: $IMG
      command: [sleep, '3600']
      stop_grace_period: 1s
      deploy: {replicas: 1, update_config: $uc, rollback_config: {failure_action: continue}}"
		assert_exit 0 "$BERTH" apply --auto-approve "$dir"
		assert_exit 0 "$BERTH" plan --detailed-exitcode --no-color "$dir"
		assert_contains "$T_OUT" "No changes." "update_config $uc"
	done
}

# An update the engine paused (failure_action pause) with slots still on the old spec: the plan
# shows it, not converged; apply starts the rollout again (a new update, whose tasks fail again):
# apply fails with the pause.
test_paused_update_is_shown_and_resumed() {
	local owner dir svc before after started
	owner=$(unique_owner) dir=$(mktemp -d) svc="${owner}-p"
	local deploy="{replicas: 4, restart_policy: {delay: 100ms}, update_config: {parallelism: 1, delay: 3s, monitor: 10s}}"
	spec "$owner" "$dir" "  services:
    $svc: {image: $IMG, command: [sleep, '3600'], stop_grace_period: 1s, deploy: $deploy}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	spec "$owner" "$dir" "  services:
    $svc: {image: $IMG, command: [sh, -c, 'sleep 1; exit 3'], stop_grace_period: 1s, deploy: $deploy}"
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 60s --no-color "$dir"
	assert_contains "$T_OUT" "FAILED: service $svc: the swarm paused the update"
	wait_until 30 "the engine to pause the update" bash -c "[ \"\$(docker service inspect $svc --format '{{.UpdateStatus.State}}')\" = paused ]"
	before=$(new_spec_slots "$svc")
	[ "$before" -lt 4 ] || t_fail "the engine updated every slot before pausing: nothing left to resume"
	started=$(svc_field "$svc" '{{.UpdateStatus.StartedAt.UnixNano}}')
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# service $svc will be updated in place (not converged: update paused: update paused due to failure or early termination of task "
	assert_contains "$T_OUT" "; task error: task: non-zero exit (3))"
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 60s --no-color "$dir"
	assert_contains "$T_OUT" "FAILED: service $svc: "
	rollout_started_again "$svc" "$started"
	after=$(new_spec_slots "$svc")
	t_log "slots with the new spec: $before before the rerun, $after after"
}

# rollout_started_again SERVICE STARTED_NS: the engine started an update after STARTED_NS (the
# previous update's start, 0 if none), made tasks of the service's current spec (redeploy counter
# included) and paused it again.
rollout_started_again() {
	wait_until 30 "the engine to pause the update again" bash -c "[ \"\$(docker service inspect $1 --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')\" = paused ]"
	local now force
	now=$(svc_field "$1" '{{.UpdateStatus.StartedAt.UnixNano}}')
	[ "$now" -gt "$2" ] || t_fail "no new update started (the last one started at $now, before the rerun at $2)"
	force=$(svc_field "$1" '{{.Spec.TaskTemplate.ForceUpdate}}')
	service_tasks "$1" | awk -F'\t' -v f="$force" '$2 == f { found = 1 } END { exit !found }' ||
		t_fail "no task of the current spec (redeploy counter $force)"
}

# service_tasks SERVICE: one line per task of SERVICE, "SLOT<tab>FORCE_UPDATE<tab>ARGS_JSON", from one
# list call (listing, then inspecting, races with the engine pruning task history).
service_tasks() {
	local filters
	filters=$(python3 -c 'import json, sys, urllib.parse; print(urllib.parse.quote(json.dumps({"service": [sys.argv[1]]})))' "$1")
	curl -fsS --max-time 5 --unix-socket /var/run/docker.sock "http://engine/v1.41/tasks?filters=$filters" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    print(t.get("Slot", 0), t["Spec"].get("ForceUpdate", 0), json.dumps(t["Spec"]["ContainerSpec"].get("Args"), separators=(",", ":")), sep="\t")'
}

# new_spec_slots SERVICE: how many slots have a task (of any state) with the service's current command.
new_spec_slots() {
	local args
	args=$(svc_field "$1" '{{json .Spec.TaskTemplate.ContainerSpec.Args}}')
	service_tasks "$1" | awk -F'\t' -v a="$args" '$3 == a { s[$1] = 1 } END { print length(s) }'
}

# The engine drops a submission of the spec its paused update still works towards (here `docker
# service update` without changes, right after the pause), clears the update status all the
# same, and leaves the service half updated with nothing in progress. berth's plan still sees it
# (tasks of an older spec), and apply starts the rollout again.
test_stopped_rollout_is_shown_and_resumed() {
	local owner dir svc before after started
	owner=$(unique_owner) dir=$(mktemp -d) svc="${owner}-h"
	local deploy="{replicas: 4, restart_policy: {delay: 100ms}, update_config: {parallelism: 1, delay: 3s, monitor: 10s}}"
	spec "$owner" "$dir" "  services:
    $svc: {image: $IMG, command: [sleep, '3600'], stop_grace_period: 1s, deploy: $deploy}"
	assert_exit 0 "$BERTH" apply --auto-approve "$dir"
	spec "$owner" "$dir" "  services:
    $svc: {image: $IMG, command: [sh, -c, 'sleep 1; exit 3'], stop_grace_period: 1s, deploy: $deploy}"
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 60s --no-color "$dir"
	started=$(svc_field "$svc" '{{.UpdateStatus.StartedAt.UnixNano}}')
	docker service update --detach "$svc" >/dev/null
	assert_eq "" "$(svc_field "$svc" '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')" "the update status after the same spec"
	before=$(new_spec_slots "$svc")
	[ "$before" -lt 4 ] || t_fail "every slot has the new spec: the rollout did not stop"
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "# service $svc will be updated in place (not converged: 0/4 tasks running, $((4 - before)) of an older spec: task: non-zero exit (3))"
	assert_exit 1 "$BERTH" apply --auto-approve --timeout 60s --no-color "$dir"
	rollout_started_again "$svc" "$started"
	after=$(new_spec_slots "$svc")
	t_log "slots with the new spec: $before before the rerun, $after after"
}
