# shellcheck shell=bash
# The container image (Dockerfile, scripts/build-image.sh, docs/image.md): `make image` builds it
# (quick when it is up to date: every step comes from docker's cache; the first build on a machine
# makes the Debian bases too, a minute or two), then every case runs the image that build made —
# by its ID, so that another build retagging berth:latest meanwhile changes nothing here. A build
# that fails fails the first case, and every later case fails saying so: nothing is skipped.

ROOT=$(cd "$(dirname "$T_FILE")/../.." && pwd)
VERSION=$(sed -n 's/^#define BERTH_VERSION "\([^"]*\)".*/\1/p' "$ROOT/controller/core/version.h")
SOCK=${BERTH_TEST_DOCKER_HOST#unix://}
HEALTHCHECK=/usr/local/libexec/berth/healthcheck

# The ID of the image test_make_image_builds made (shared through the file's T_DIR).
image() {
	[ -s "$T_DIR/image_id" ] || t_fail "the image was not built in this run (see test_make_image_builds)"
	cat "$T_DIR/image_id"
}

inspect() { docker image inspect --format "$2" "$1"; }

health_is() { [ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" = "$2" ]; }

test_make_image_builds() {
	local id
	BERTH_IMAGE_IIDFILE=$T_DIR/image_id assert_exit 0 make -s -C "$ROOT" image
	t_log "$T_ERR"
	id=$(cat "$T_DIR/image_id")
	[[ $id == sha256:* ]] || t_fail "make image wrote no image ID (got '$id')"
	assert_contains "$T_ERR" "berth:$VERSION and berth:latest" "make image's report"
	# Both tags name what was built (unless another build ran in between: the script's lock makes
	# that a narrow window).
	assert_eq "$id" "$(inspect "berth:$VERSION" '{{.Id}}')" "berth:$VERSION"
	assert_eq "$id" "$(inspect berth:latest '{{.Id}}')" "berth:latest"
	# Up to date now: a second build changes nothing, every step from the cache.
	assert_exit 0 make -s -C "$ROOT" image
	assert_eq "$id" "$(inspect berth:latest '{{.Id}}')" "a second make image made another image"
	assert_contains "$T_ERR" "debian:bookworm and debian:bookworm-slim are present: reusing them"
	[[ $T_ERR =~ \(([0-9]+)\ of\ ([0-9]+)\ steps\ from\ the\ cache\) ]] || t_fail "no cache report in: $T_ERR"
	assert_eq "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" "steps from the cache in an up-to-date build"
}

test_runs_and_prints_the_version() {
	local img
	img=$(image)
	assert_exit 0 docker run --rm "$img" --version
	assert_eq "berth $VERSION" "$T_OUT" "berth --version in the image"
	assert_eq "$VERSION" "$(inspect "$img" '{{index .Config.Labels "org.opencontainers.image.version"}}')" "version label"
	assert_contains "$(inspect "$img" '{{index .Config.Labels "org.opencontainers.image.revision"}}')" \
		"$(git -C "$ROOT" rev-parse HEAD)" "revision label"
	assert_eq berth "$(inspect "$img" '{{index .Config.Labels "org.opencontainers.image.title"}}')" "title label"
}

test_runs_as_an_unprivileged_user_with_only_runtime_packages() {
	local img
	img=$(image)
	assert_eq "10001:10001" "$(inspect "$img" '{{.Config.User}}')" "the image's USER"
	assert_exit 0 docker run --rm --entrypoint id "$img"
	assert_eq "uid=10001(berth) gid=10001(berth) groups=10001(berth)" "$T_OUT"
	# Every library berth links resolves; no compiler or -dev package came along from the build.
	assert_exit 0 docker run --rm --entrypoint ldd "$img" /usr/local/bin/berth
	assert_not_contains "$T_OUT" "not found" "a library berth needs is missing"
	assert_exit 0 docker run --rm --entrypoint dpkg-query "$img" -W -f '${Package}\n'
	assert_contains "$T_OUT" $'\nlibgit2-1.5\n' "the installed packages"
	assert_not_contains "$T_OUT"$'\n' $'-dev\n' "a -dev package in the runtime image"
	assert_exit 0 docker run --rm --entrypoint bash "$img" -c 'command -v cc gcc make || true'
	assert_eq "" "$T_OUT" "build tools in the runtime image"
	# What berth runs besides itself: ssh (DOCKER_HOST=ssh://, ssh-keygen -Y verify) and gpgv.
	assert_exit 0 docker run --rm --entrypoint bash "$img" -c 'command -v ssh ssh-keygen gpgv'
	# The cache volume is the user's; the default cache directory is in it.
	assert_exit 0 docker run --rm --entrypoint bash "$img" -c \
		'stat -c "%u:%g" /var/lib/berth; echo "${XDG_CACHE_HOME}/berth"; touch /var/lib/berth/x'
	assert_eq $'10001:10001\n/var/lib/berth' "$T_OUT" "the cache directory"
}

test_entrypoint_cmd_healthcheck_volume() {
	local img
	img=$(image)
	assert_eq '["berth"]' "$(inspect "$img" '{{json .Config.Entrypoint}}')" "ENTRYPOINT"
	assert_eq '["run"]' "$(inspect "$img" '{{json .Config.Cmd}}')" "CMD"
	assert_eq "[\"CMD\",\"$HEALTHCHECK\"]" "$(inspect "$img" '{{json .Config.Healthcheck.Test}}')" "HEALTHCHECK"
	assert_eq '{"/var/lib/berth":{}}' "$(inspect "$img" '{{json .Config.Volumes}}')" "VOLUME"
	assert_eq '{"8080/tcp":{}}' "$(inspect "$img" '{{json .Config.ExposedPorts}}')" "EXPOSE"
	assert_eq /work "$(inspect "$img" '{{.Config.WorkingDir}}')" "WORKDIR"
}

# The HEALTHCHECK as docker runs it, against busybox httpd standing in for berth run's listener:
# healthy while GET /healthz answers 200 on the port of the container's `berth run --listen`,
# unhealthy once nothing listens; a 404 is unhealthy; without a `berth run` there is nothing to
# check. The `berth run` here is a stand-in too (bash named berth running a script named run):
# the check only reads that process's command line.
test_healthcheck_asks_the_listener_of_berth_run() {
	local img port port404 www www404
	img=$(image)
	port=$(free_port) port404=$(free_port)
	www=$(mktemp -d) www404=$(mktemp -d)
	echo ok >"$www/healthz"
	chmod 755 "$www" "$www404" && chmod 644 "$www/healthz"
	# Not local: the case's subshell removes them when it ends, however it ends.
	srv='' srv404='' c=''
	trap 'docker rm -f -v ${srv:-} ${srv404:-} ${c:-} >/dev/null 2>&1 || true' EXIT
	srv=$(docker run -d --network host -v "$www:/www:ro" berth-test/busybox:latest \
		httpd -f -p "127.0.0.1:$port" -h /www)
	srv404=$(docker run -d --network host -v "$www404:/www:ro" berth-test/busybox:latest \
		httpd -f -p "127.0.0.1:$port404" -h /www)
	c=$(docker run -d --network host --health-interval=1s --health-retries=2 --health-timeout=3s \
		--health-start-period=1s --entrypoint bash "$img" -c \
		"cd /tmp && echo 'while sleep 1; do :; done' >run && exec -a berth bash run --listen 0.0.0.0:$port")
	wait_until 30 "the container to be healthy" health_is "$c" healthy
	assert_contains "$(docker inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$c")" \
		"healthy: GET http://127.0.0.1:$port/healthz: HTTP/1.1 200 OK"
	docker rm -f "$srv" >/dev/null
	wait_until 30 "the container to be unhealthy once nothing listens" health_is "$c" unhealthy
	assert_contains "$(docker inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$c")" \
		"unhealthy: nothing listens on 127.0.0.1:$port"
	assert_exit 1 docker exec -e "BERTH_HEALTHCHECK_ADDR=127.0.0.1:$port404" "$c" "$HEALTHCHECK"
	assert_eq "unhealthy: GET http://127.0.0.1:$port404/healthz: HTTP/1.1 404 Not Found" "$T_OUT"
	assert_exit 0 docker run --rm --entrypoint "$HEALTHCHECK" "$img"
	assert_eq "no berth run in this container: nothing to check" "$T_OUT"
}

# The image against the real swarm through the mounted socket, with the socket's group added.
test_plan_and_apply_through_the_mounted_socket() {
	local img owner dir gid
	img=$(image)
	owner=$(unique_owner) dir=$(mktemp -d)
	printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-idle:\n      image: berth-test/busybox:latest\n      command: [sleep, "3600"]\n      deploy: {replicas: 0}\n' \
		"$owner" "$owner" >"$dir/berth.yaml"
	chmod 755 "$dir" && chmod 644 "$dir/berth.yaml"
	gid=$(stat -c %g "$SOCK")
	in_image() {
		docker run --rm -v "$SOCK:/var/run/docker.sock" --group-add "$gid" -v "$dir:/spec:ro" "$img" "$@"
	}
	# Without the socket's group the user cannot open it.
	assert_exit 1 docker run --rm -v "$SOCK:/var/run/docker.sock" -v "$dir:/spec:ro" "$img" plan /spec
	assert_contains "$T_ERR" "cannot reach the Docker engine at unix:///var/run/docker.sock" "berth without --group-add"
	assert_exit 2 in_image plan --detailed-exitcode --no-color /spec
	assert_contains "$T_OUT" "${owner}-idle"
	assert_contains "$T_OUT" "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy."
	assert_exit 0 in_image apply --auto-approve --no-color /spec
	assert_contains "$T_OUT" "Apply complete: 1 done, 0 failed, 0 skipped."
	assert_eq "$owner" "$(docker service inspect --format '{{index .Spec.Labels "berth.owner"}}' "${owner}-idle")" "owner label"
	assert_eq 0 "$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "${owner}-idle")" "replicas"
	assert_eq berth-test/busybox:latest \
		"$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "${owner}-idle" | sed 's/@.*//')" "image"
	assert_exit 0 in_image plan --detailed-exitcode --no-color /spec
	assert_contains "$T_OUT" "No changes."
}

# berth run in the image, as a controller would be deployed: the Docker socket mounted, the spec in
# a git repository over smart HTTP with basic auth, configured by environment variables only. It
# creates the spec's service, applies a push announced by a signed webhook, and heals drift.
test_berth_run_in_the_image_follows_git_over_http() {
	local img owner gid port name secret
	img=$(image)
	# shellcheck source=tests/integration/git_lib.sh
	source "$(dirname "$T_FILE")/git_lib.sh"
	git_http_start
	git_repo_new spec
	owner=$(unique_owner) gid=$(stat -c %g "$SOCK") port=$(free_port) name=berth-run-$owner
	spec_text() {
		printf 'version: 1\nname: %s\nswarm:\n  services:\n    %s-web:\n      image: berth-test/busybox:latest\n      command: [sleep, "3600"]\n      environment: {MODE: %s}\n      deploy: {replicas: 0}\n' \
			"$owner" "$owner" "$1"
	}
	git_commit spec deploy/berth.yaml "$(spec_text one)" >/dev/null
	secret=$T_DIR/hook-secret
	printf 'hook-S3cret\n' >"$secret"
	chmod 644 "$secret"
	docker run -d --name "$name" --network host -v "$SOCK:/var/run/docker.sock" --group-add "$gid" \
		-v "$secret:/run/secrets/webhook:ro" \
		-e BERTH_REPO="http://127.0.0.1:$GIT_HTTP_PORT/git/spec.git" -e BERTH_PATH=deploy \
		-e BERTH_GIT_USERNAME="$GIT_USER" -e BERTH_GIT_PASSWORD="$GIT_PASSWORD" -e BERTH_INTERVAL=3s \
		-e BERTH_LISTEN="127.0.0.1:$port" -e BERTH_WEBHOOK_SECRET_FILE=/run/secrets/webhook "$img" >/dev/null
	git__on_exit "docker rm -f $name >/dev/null 2>&1 || true"
	wait_until 60 "the controller in the image created the service" docker service inspect "${owner}-web"
	wait_until 20 "its /readyz answers" curl -fsS "http://127.0.0.1:$port/readyz"
	# a push, announced by a signed (Gitea) webhook
	git_commit spec deploy/berth.yaml "$(spec_text two)" >/dev/null
	local body sig
	body='{"ref":"refs/heads/main"}'
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac hook-S3cret -r | cut -d' ' -f1)
	assert_eq 202 "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'X-Gitea-Event: push' \
		-H "X-Gitea-Delivery: $owner-1" -H "X-Gitea-Signature: $sig" --data-binary "$body" \
		"http://127.0.0.1:$port/hooks/gitea")" "the webhook"
	wait_until 30 "the push is applied" bash -c "docker service inspect ${owner}-web --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}' | grep -q MODE=two"
	# drift, healed within an interval
	docker service update -q --detach --env-add MODE=drifted "${owner}-web" >/dev/null
	wait_until 30 "drift is healed" bash -c "curl -fsS http://127.0.0.1:$port/metrics | grep -q '^berth_drift_corrections_total [1-9]'"
	assert_contains "$(docker service inspect "${owner}-web" --format '{{.Spec.TaskTemplate.ContainerSpec.Env}}')" "MODE=two"
	local logs
	logs=$(docker logs "$name" 2>&1)
	t_log "$logs"
	assert_not_contains "$logs" "$GIT_PASSWORD" "the git password in the controller's log"
	assert_not_contains "$logs" "hook-S3cret" "the webhook secret in the controller's log"
	# docker stop sends SIGTERM: berth exits 0 in time
	docker stop -t 15 "$name" >/dev/null
	assert_eq 0 "$(docker inspect --format '{{.State.ExitCode}}' "$name")" "exit code after docker stop"
}
