# shellcheck shell=bash
# The harness and the engine themselves: swarm mode is on, the locally built busybox image runs as
# a swarm service, and a host-mode published port carries traffic (this kernel has no IPVS, so the
# ingress routing mesh and VIPs carry nothing: tests that need traffic publish in host mode).
# Services are created with --no-resolve-image: nothing may ask a registry for a digest.

IMAGE=berth-test/busybox:latest

test_swarm_active() {
	t_begin "swarm mode is active on a manager, the test image is present"
	assert_eq active "$(docker info --format '{{.Swarm.LocalNodeState}}')" "swarm state"
	assert_eq true "$(docker info --format '{{.Swarm.ControlAvailable}}')" "this node is a manager"
	assert_exit 0 docker image inspect --format '{{.Id}}' "$IMAGE"
	assert_contains "$T_OUT" sha256: "image id"
	assert_exit 0 "$BERTH" --version
	assert_contains "$T_OUT" "berth " "berth --version"
}

test_service_runs() {
	t_begin "the busybox image runs as a swarm service and cleanup_owner removes it"
	local owner name id
	owner=$(unique_owner)
	name=$owner-sleep
	assert_exit 0 docker service create --name "$name" --label berth.owner="$owner" \
		--mode replicated --replicas 1 --detach --no-resolve-image --stop-grace-period 1s \
		"$IMAGE" sleep 3600
	wait_until 60 "a running task of service $name" service_running "$name" 1
	assert_exit 0 docker service inspect --format '{{index .Spec.Labels "berth.owner"}}' "$name"
	assert_eq "$owner" "$T_OUT" "the service's owner label"
	id=$(docker service inspect --format '{{.ID}}' "$name")
	assert_exit 0 docker ps -q --filter label=com.docker.swarm.service.id="$id"
	[ -n "$T_OUT" ] || t_fail "no container for the running task"
	cleanup_owner "$owner"
	assert_exit '!0' docker service inspect "$name"
	assert_eq "" "$(docker service ls -q --filter label=berth.owner="$owner")" "the service is gone"
	assert_eq "" "$(docker ps -aq --filter label=com.docker.swarm.service.id="$id")" "its containers are gone"
}

test_host_port_traffic() {
	t_begin "a host-mode published port carries traffic (content from a swarm config)"
	local owner name port
	owner=$(unique_owner)
	name=$owner-web
	assert_exit 0 docker config create --label berth.owner="$owner" "$owner-index" - <<<"hi"
	port=$(free_port)
	assert_exit 0 docker service create --name "$name" --label berth.owner="$owner" \
		--mode replicated --replicas 1 --detach --no-resolve-image --stop-grace-period 1s \
		--config source="$owner-index",target=/www/index.html \
		--publish mode=host,target=8080,published="$port" \
		"$IMAGE" httpd -f -p 8080 -h /www
	wait_until 60 "http://127.0.0.1:$port/ to answer 'hi'" http_body_is "http://127.0.0.1:$port/" hi
	cleanup_owner "$owner"
	assert_eq "" "$(docker config ls -q --filter label=berth.owner="$owner")" "the config is gone"
	assert_exit 7 curl -sS --max-time 2 "http://127.0.0.1:$port/"
}
