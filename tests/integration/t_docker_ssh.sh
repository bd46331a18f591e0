# shellcheck shell=bash
# DOCKER_HOST=ssh://... against a real sshd on a loopback port (ssh_lib.sh), whose
# `docker system dial-stdio` talks to this machine's engine: berth over ssh sees and changes the
# same state as over the unix socket, ssh's failures are berth's error messages, and no ssh
# process outlives berth.

# shellcheck source=ssh_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/ssh_lib.sh"

IMG=berth-test/busybox:latest

spec() {
	mkdir -p "$2"
	printf 'version: 1\nname: %s\nswarm:\n%s\n' "$1" "$3" >"$2/berth.yaml"
}

# berth over ssh, as root on the private sshd, with its client config; its private directory
# for ssh's sockets goes in $SSHD_DIR/tmp, to be checked.
over_ssh() {
	mkdir -p "$SSHD_DIR/tmp"
	DOCKER_HOST="ssh://root@127.0.0.1:$SSHD_PORT${SSH_SOCKET:-}" BERTH_SSH_CONFIG="$SSH_CONFIG" TMPDIR="$SSHD_DIR/tmp" \
		"$BERTH" "$@"
}

no_ssh_clients() { [ -z "$(ssh_clients)" ]; }
no_sshd_sessions() { [ -z "$(sshd_sessions)" ]; }

# Neither berth's ssh clients nor their sessions on the server are left.
assert_no_ssh_left() {
	# berth reaps its ssh processes before it exits: none may be left at all, not even for a moment
	local left
	left=$(ssh_clients)
	[ -z "$left" ] || t_fail "ssh processes left after berth exited: $(ps -o pid=,args= -p "${left//$'\n'/,}")"
	# the server side ends its sessions once the clients are gone (asynchronously)
	wait_until 10 "the sshd sessions to end" no_sshd_sessions
	# and berth removed its private directory
	[ ! -d "$SSHD_DIR/tmp" ] || [ -z "$(ls -A "$SSHD_DIR/tmp")" ] ||
		t_fail "berth left $(ls -A "$SSHD_DIR/tmp") in its TMPDIR"
}

# Succeeds when a no-op plan reads the same over the unix socket and over ssh (kept in DIR/plan.json).
plans_agree() {
	local dir=$1 unix_json ssh_json
	unix_json=$("$BERTH" plan --json --detailed-exitcode "$dir") || return 1
	ssh_json=$(over_ssh plan --json --detailed-exitcode "$dir") || return 1
	printf '%s\n' "$ssh_json" >"$dir/plan.json"
	[ "$unix_json" = "$ssh_json" ] || { diff <(echo "$unix_json") <(echo "$ssh_json"); return 1; }
}

accepted_logins() { grep -c 'Accepted publickey for root' "$SSHD_DIR/sshd.log" || true; }

test_plan_and_apply_over_ssh_see_the_unix_socket_state() {
	local owner dir unix_plan
	sshd_start
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  networks:
    ${owner}-net: {attachable: true}
  configs:
    ${owner}-conf: {content: \"over ssh\"}
  services:
    ${owner}-app:
      image: $IMG
      command: [sleep, '3600']
      configs: [{source: ${owner}-conf, target: /conf}]
      networks: [${owner}-net]
      deploy: {replicas: 1}"
	# the same plan as over the unix socket
	assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$dir"
	unix_plan=$T_OUT
	assert_exit 2 over_ssh plan --detailed-exitcode --no-color "$dir"
	assert_eq "$unix_plan" "$T_OUT" "plan over ssh"
	assert_contains "$T_OUT" "Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy."
	assert_no_ssh_left

	assert_exit 0 over_ssh apply --auto-approve --no-color "$dir"
	assert_contains "$T_OUT" "Apply complete: 3 done, 0 failed, 0 skipped."
	assert_no_ssh_left
	# the engine has it, as the docker CLI sees it over the unix socket
	assert_eq "$owner" "$(docker service inspect "${owner}-app" --format '{{index .Spec.Labels "berth.owner"}}')" \
		"service owner label"
	assert_eq 1 "$(docker service inspect "${owner}-app" --format '{{.Spec.Mode.Replicated.Replicas}}')"
	assert_eq 1 "$(docker config ls -q --filter "label=berth.owner=$owner" | wc -l)" "configs owned"

	# both ways see the same state: the JSON plans match, the observed fingerprint (every object's
	# id and version) included. The swarm may still bump a version just after the apply, so this
	# is polled for; a difference that lasts fails.
	wait_until 30 "the JSON plans over ssh and over the unix socket to agree" plans_agree "$dir"
	assert_contains "$(cat "$dir/plan.json")" '"fingerprint"'
	assert_exit 0 over_ssh plan --no-color "$dir"
	assert_contains "$T_OUT" "No changes."

	# the same requests as over the unix socket, kept alive: fewer ssh logins than requests
	local before
	before=$(accepted_logins)
	BERTH_STATS=1 assert_exit 0 over_ssh plan "$dir"
	assert_contains "$T_ERR" "berth: 6 requests to the Docker engine, 0 writes"
	local logins=$(($(accepted_logins) - before))
	[ "$logins" -ge 1 ] && [ "$logins" -lt 5 ] ||
		t_fail "a no-op plan made $logins ssh logins for 6 requests: connections are not kept alive"
	assert_no_ssh_left
}

test_remote_socket_path() {
	local owner dir
	sshd_start
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  networks:
    ${owner}-net: {attachable: true}"
	SSH_SOCKET=/var/run/docker.sock assert_exit 2 over_ssh plan --detailed-exitcode --no-color "$dir"
	assert_contains "$T_OUT" "Plan: 1 to add"
	# the spec's swarm.endpoint, instead of DOCKER_HOST
	local in_spec
	in_spec=$(mktemp -d)
	spec "$owner" "$in_spec" "  endpoint: ssh://root@127.0.0.1:$SSHD_PORT/var/run/docker.sock
  networks:
    ${owner}-net: {attachable: true}"
	local before
	before=$(accepted_logins)
	mkdir -p "$SSHD_DIR/tmp"
	BERTH_SSH_CONFIG=$SSH_CONFIG TMPDIR="$SSHD_DIR/tmp" assert_exit 2 "$BERTH" plan --detailed-exitcode --no-color "$in_spec"
	assert_contains "$T_OUT" "Plan: 1 to add"
	[ "$(accepted_logins)" -gt "$before" ] || t_fail "the plan with swarm.endpoint ssh://... did not log in"
	SSH_SOCKET=/nonexistent/docker.sock assert_exit 1 over_ssh plan --no-color "$dir"
	assert_contains "$T_ERR" "berth: cannot reach the Docker engine at ssh://root@127.0.0.1:$SSHD_PORT/nonexistent/docker.sock: ssh exited with status 1: "
	assert_contains "$T_ERR" "/nonexistent/docker.sock"
	assert_no_ssh_left
}

test_wrong_host_key_is_named() {
	local owner dir
	sshd_start
	owner=$(unique_owner) dir=$(mktemp -d)
	spec "$owner" "$dir" "  networks:
    ${owner}-net: {attachable: true}"
	local prefix="berth: cannot reach the Docker engine at ssh://root@127.0.0.1:$SSHD_PORT: ssh exited with status 255: "

	# another key for this host in known_hosts: a possible man in the middle
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/impostor"
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_DIR/impostor.pub")" >"$SSHD_DIR/known_hosts.wrong"
	SSH_CONFIG=$(ssh_config_with "$SSHD_DIR/known_hosts.wrong") assert_exit 1 over_ssh apply --auto-approve "$dir"
	assert_eq "${prefix}Host key for [127.0.0.1]:$SSHD_PORT has changed and you have requested strict checking. Host key verification failed." \
		"$T_ERR" "changed host key"
	assert_no_ssh_left

	# no key known for the host: BatchMode refuses rather than asks
	: >"$SSHD_DIR/known_hosts.empty"
	SSH_CONFIG=$(ssh_config_with "$SSHD_DIR/known_hosts.empty") assert_exit 1 over_ssh plan "$dir"
	assert_eq "${prefix}No ED25519 host key is known for [127.0.0.1]:$SSHD_PORT and you have requested strict checking. Host key verification failed." \
		"$T_ERR" "unknown host key"
	assert_no_ssh_left

	# nothing was done, and nobody logged in
	assert_eq "" "$(docker network ls -q --filter "label=berth.owner=$owner")" "networks created"
	assert_eq 0 "$(accepted_logins)" "logins"
}

test_refused_login_is_named() {
	local dir
	sshd_start
	dir=$(mktemp -d)
	spec "$(unique_owner)" "$dir" "  networks:
    unused-net: {attachable: true}"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/stranger"
	SSH_CONFIG=$(ssh_config_with "$SSHD_DIR/known_hosts" "$SSHD_DIR/stranger") assert_exit 1 over_ssh plan "$dir"
	assert_eq "berth: cannot reach the Docker engine at ssh://root@127.0.0.1:$SSHD_PORT: ssh exited with status 255: root@127.0.0.1: Permission denied (publickey)." \
		"$T_ERR"
	assert_no_ssh_left
}

test_unreachable_port_is_named() {
	local dir port
	sshd_start # for its client config; the port below is another one, where nothing listens
	dir=$(mktemp -d) port=$(free_port)
	spec "$(unique_owner)" "$dir" "  networks:
    unused-net: {attachable: true}"
	mkdir -p "$SSHD_DIR/tmp"
	DOCKER_HOST="ssh://root@127.0.0.1:$port" BERTH_SSH_CONFIG=$SSH_CONFIG TMPDIR="$SSHD_DIR/tmp" assert_exit 1 "$BERTH" plan "$dir"
	assert_eq "berth: cannot reach the Docker engine at ssh://root@127.0.0.1:$port: ssh exited with status 255: ssh: connect to host 127.0.0.1 port $port: Connection refused" \
		"$T_ERR"
	assert_no_ssh_left
}

test_bad_urls_are_refused_before_ssh_runs() {
	local dir
	dir=$(mktemp -d)
	spec "$(unique_owner)" "$dir" "  networks:
    unused-net: {attachable: true}"
	DOCKER_HOST="ssh://root:s3cret-pw@127.0.0.1:22" assert_exit 1 "$BERTH" plan "$dir"
	assert_eq "berth: invalid Docker host ssh://root:xxxxx@127.0.0.1:22: a password in the URL is not supported (use a key, or ssh-agent)" \
		"$T_ERR"
	assert_not_contains "$T_ERR$T_OUT" "s3cret-pw"
	DOCKER_HOST="ssh://fe80::1" assert_exit 1 "$BERTH" plan "$dir"
	assert_eq "berth: invalid Docker host ssh://fe80::1: an IPv6 address must be in brackets, e.g. ssh://[::1]:22" "$T_ERR"
	# no ssh on PATH (berth itself needs nothing from PATH)
	assert_exit 1 env DOCKER_HOST="ssh://root@127.0.0.1:22" PATH=/nonexistent "$BERTH" plan "$dir"
	assert_eq "berth: cannot reach the Docker engine at ssh://root@127.0.0.1:22: cannot run ssh: it is not on PATH (install an OpenSSH client)" \
		"$T_ERR"
}

# berth stopped while it waits for a service to converge, its ssh connections open: SIGTERM stops
# the apply cleanly (exit 1) and berth closes its connections and removes its private directory;
# after SIGKILL its ssh connections still end with it (their stdin closes), on both sides.
test_killed_berth_leaves_no_ssh() {
	local owner dir pid sig
	sshd_start
	for sig in TERM KILL; do
		owner=$(unique_owner) dir=$(mktemp -d)
		# no node has this label: the task stays pending and apply keeps polling
		spec "$owner" "$dir" "  services:
    ${owner}-pending:
      image: $IMG
      command: [sleep, '3600']
      deploy:
        replicas: 1
        placement: {constraints: [\"node.labels.berth-test-nowhere==yes\"]}"
		# berth itself in the background (not a function: $! must be berth's pid)
		mkdir "$dir/tmp"
		DOCKER_HOST="ssh://root@127.0.0.1:$SSHD_PORT" BERTH_SSH_CONFIG="$SSH_CONFIG" TMPDIR="$dir/tmp" \
			"$BERTH" apply --auto-approve --timeout 90s "$dir" >"$dir/out" 2>&1 &
		pid=$!
		wait_until 30 "the service to be created over ssh" docker service inspect "${owner}-pending"
		[ -n "$(ssh_clients)" ] || t_fail "no ssh client while berth waits"
		kill -"$sig" "$pid"
		local rc=0
		wait "$pid" || rc=$?
		local want_rc=137 left=1
		[ "$sig" = TERM ] && want_rc=1 left=0
		assert_eq "$want_rc" "$rc" "berth's exit status after SIG$sig ($(cat "$dir/out"))"
		wait_until 15 "berth's ssh clients to exit after SIG$sig" no_ssh_clients
		wait_until 15 "the sshd sessions to end after SIG$sig" no_sshd_sessions
		# killed, berth cannot remove its private directory: one, with the listener's socket
		assert_eq "$left" "$(find "$dir/tmp" -mindepth 1 -maxdepth 1 -name 'berth-ssh-*' -type d | wc -l)" "private directories"
		rm -rf "$dir/tmp"
	done
}
