# shellcheck shell=bash
# A private sshd on a loopback port for the DOCKER_HOST=ssh:// tests (sourced by a test file,
# after lib.sh). Everything lives in a temporary directory: the server's host key and config, a
# client key authorised for root, a known_hosts file with the host key, and a client config for
# berth's BERTH_SSH_CONFIG (`ssh -F`). Neither the system's sshd nor ~/.ssh is touched; there is
# no systemd: sshd runs in the foreground (-D) as a child of the case and is stopped with it.
#
#   sshd_start   starts it; sets SSHD_DIR, SSHD_PORT, SSHD_PID and SSH_CONFIG (the client config:
#                the key, $SSHD_DIR/known_hosts, strict host key checking). Stops it when the
#                case's subshell exits.
#   sshd_stop    stops it (idempotent) and removes SSHD_DIR
#   sshd_sessions  prints the pids of sshd's session processes (one per live ssh connection)
#   ssh_clients    prints the pids of ssh clients that use SSH_CONFIG (berth's, or leftovers)
#   ssh_config_with KNOWN_HOSTS [IDENTITY]  writes a variant of the client config, prints its path

SSHD=/usr/sbin/sshd

sshd_start() {
	[ -x "$SSHD" ] || t_fail "sshd_start: $SSHD is missing (scripts/install-deps.sh installs openssh-server)"
	command -v ssh-keygen >/dev/null || t_fail "sshd_start: ssh-keygen is missing (openssh-client)"
	SSHD_DIR=$(mktemp -d)
	# sshd's privilege separation directory is compiled in; the Debian package's init script or
	# systemd unit creates it, and neither runs here.
	[ -d /run/sshd ] || mkdir -m 0755 -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C berth-test-host -f "$SSHD_DIR/host_key"
	ssh-keygen -q -t ed25519 -N '' -C berth-test-client -f "$SSHD_DIR/id"
	cp "$SSHD_DIR/id.pub" "$SSHD_DIR/authorized_keys"
	local tries
	for ((tries = 0; tries < 5; tries++)); do
		SSHD_PORT=$(free_port)
		# StrictModes is off because the files sit under /tmp (world-writable); the login is
		# by key only, without PAM.
		cat >"$SSHD_DIR/sshd_config" <<-EOF
			ListenAddress 127.0.0.1:$SSHD_PORT
			HostKey $SSHD_DIR/host_key
			AuthorizedKeysFile $SSHD_DIR/authorized_keys
			PidFile $SSHD_DIR/sshd.pid
			StrictModes no
			UsePAM no
			PermitRootLogin prohibit-password
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			PrintMotd no
			MaxStartups 100
			MaxSessions 100
		EOF
		"$SSHD" -D -e -f "$SSHD_DIR/sshd_config" 2>"$SSHD_DIR/sshd.log" &
		SSHD_PID=$!
		trap 'sshd_stop' EXIT
		wait_until 10 "sshd to listen on 127.0.0.1:$SSHD_PORT" t__sshd_ready
		kill -0 "$SSHD_PID" 2>/dev/null && break
		# Another process took the port between free_port and the bind: try another one.
		wait "$SSHD_PID" 2>/dev/null || true
		grep -q 'Address already in use' "$SSHD_DIR/sshd.log" ||
			t_fail "sshd exited: $(tr '\n' ' ' <"$SSHD_DIR/sshd.log")"
	done
	kill -0 "$SSHD_PID" 2>/dev/null || t_fail "sshd_start: no free port after $tries tries"
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >"$SSHD_DIR/known_hosts"
	SSH_CONFIG=$(ssh_config_with "$SSHD_DIR/known_hosts")
	export SSHD_DIR SSHD_PORT SSHD_PID SSH_CONFIG
	t_log "sshd $SSHD_PID on 127.0.0.1:$SSHD_PORT, client config $SSH_CONFIG"
}

# Succeeds once sshd listens, or once it has died (sshd_start looks at why).
t__sshd_ready() {
	kill -0 "$SSHD_PID" 2>/dev/null || return 0
	grep -q "Server listening on 127.0.0.1 port $SSHD_PORT" "$SSHD_DIR/sshd.log"
}

ssh_config_with() {
	local known=$1 id=${2:-$SSHD_DIR/id} f
	f=$(mktemp "$SSHD_DIR/ssh_config.XXXXXX")
	cat >"$f" <<-EOF
		Host *
		  IdentityFile $id
		  IdentitiesOnly yes
		  IdentityAgent none
		  UserKnownHostsFile $known
		  GlobalKnownHostsFile /dev/null
		  StrictHostKeyChecking yes
		  UpdateHostKeys no
		  ControlMaster no
	EOF
	echo "$f"
}

sshd_sessions() {
	[ -n "${SSHD_PID:-}" ] || return 0
	pgrep -P "$SSHD_PID" || true
}

ssh_clients() {
	[ -n "${SSHD_DIR:-}" ] || return 0
	# Matching the command line is how one finds them: each one names a config in SSHD_DIR.
	pgrep -f -- "^ssh -F $SSHD_DIR/" || true
}

sshd_stop() {
	if [ -n "${SSHD_PID:-}" ]; then
		kill "$SSHD_PID" 2>/dev/null || true
		wait "$SSHD_PID" 2>/dev/null || true
		SSHD_PID=
	fi
	if [ -n "${SSHD_DIR:-}" ]; then
		rm -rf "$SSHD_DIR"
		SSHD_DIR=
	fi
}
