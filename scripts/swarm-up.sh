#!/usr/bin/env bash
# Makes sure a Docker engine in swarm mode answers on /var/run/docker.sock and that the local test
# images exist; idempotent, and quick when everything is already there. Used by the integration
# tests (tests/integration/run.sh); usable by hand before `berth plan`/`apply` experiments.
#
#  1. engine: reuse the one that answers `docker info`; else start dockerd in the background
#     (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: never pull an image that is present locally) with
#     its log in /var/log/berth-dockerd.log (or /tmp) and wait, bounded, until it answers.
#  2. swarm: `docker swarm init --advertise-addr 127.0.0.1` when the node is not in a swarm.
#  3. images: berth-test/busybox:latest, imported from the static busybox (no registry needed),
#     also tagged berth-demo/busybox:latest for examples/quickstart.
#
# Reports on stderr, prints nothing on stdout; exits 1 with a reason when the engine can't start.
# It never stops or restarts an engine. Environment: SWARM_UP_TIMEOUT (seconds, default 60).
set -euo pipefail

SOCK=/var/run/docker.sock
export DOCKER_HOST=unix://$SOCK
PIDFILE=/var/run/docker.pid
TIMEOUT=${SWARM_UP_TIMEOUT:-60}
IMAGE=berth-test/busybox:latest
DEMO_IMAGE=berth-demo/busybox:latest

say() { echo "swarm-up: $*" >&2; }
die() { echo "swarm-up: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "no docker CLI on PATH (install docker.io: make deps)"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# Two runs of this script at once (two test runs, a developer and CI) take turns.
exec 9>"${TMPDIR:-/tmp}/berth-swarm-up.lock"
flock -w "$TIMEOUT" 9 || die "another swarm-up.sh held the lock for ${TIMEOUT}s"

engine_up() { docker info >/dev/null 2>&1; }
# Alive and not a zombie (a dockerd we started and that died stays our unreaped child).
alive() { [ -r "/proc/$1/stat" ] && ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
start_ms=$(now_ms)

# --- 1. the engine ------------------------------------------------------------------------------
LOG='' log_from=1
log_tail() { tail -c "+$log_from" "$LOG" | tail -n 25 | sed 's/^/  | /' >&2; }
if engine_up; then
	say "engine answers on $SOCK: reusing it"
	# An engine someone started otherwise (an init script) may try registries for swarm tasks.
	pid=$(cat "$PIDFILE" 2>/dev/null || true)
	if [ -n "$pid" ] && [ -r "/proc/$pid/environ" ] &&
		! tr '\0' '\n' <"/proc/$pid/environ" | grep -qx 'DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1'; then
		say "warning: dockerd (pid $pid) runs without DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1:" \
			"swarm tasks will try a registry before using local images"
	fi
else
	# A dockerd that is still starting (someone else's, or ours from a moment ago) owns the
	# pidfile; then wait for it instead of starting a second one, which would fail on the pidfile.
	pid=
	[ -r "$PIDFILE" ] && pid=$(cat "$PIDFILE" 2>/dev/null || true)
	if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -qs dockerd "/proc/$pid/comm"; then
		say "dockerd (pid $pid) is running but not answering yet: waiting for it"
	else
		command -v dockerd >/dev/null || die "no dockerd on PATH (install docker.io: make deps)"
		LOG=/var/log/berth-dockerd.log
		{ : >>"$LOG"; } 2>/dev/null || LOG=${TMPDIR:-/tmp}/berth-dockerd.log
		say "starting dockerd (log: $LOG)"
		echo "=== swarm-up.sh $(date -u +%FT%TZ): starting dockerd" >>"$LOG"
		log_from=$(($(stat -c %s "$LOG") + 1))
		# setsid + all standard descriptors redirected + inherited descriptors closed: the daemon
		# must not keep a caller's pipe open (`make check` tees every stage's output).
		(
			for fd in /proc/self/fd/*; do
				fd=${fd##*/}
				if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
			done
			exec $SUDO env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid dockerd \
				--host "unix://$SOCK" --pidfile "$PIDFILE" </dev/null >>"$LOG" 2>&1
		) &
		pid=$!
	fi
	deadline=$(($(now_ms) + TIMEOUT * 1000))
	until engine_up; do
		if ! alive "$pid" && ! engine_up; then
			[ -n "$LOG" ] && { say "dockerd exited; last lines of $LOG:"; log_tail; }
			die "dockerd exited before answering on $SOCK"
		fi
		if [ "$(now_ms)" -ge "$deadline" ]; then
			[ -n "$LOG" ] && { say "last lines of $LOG:"; log_tail; }
			die "the engine did not answer on $SOCK within ${TIMEOUT}s"
		fi
		sleep 0.2
	done
	say "engine up after $(($(now_ms) - start_ms)) ms"
fi

# --- 2. swarm mode ------------------------------------------------------------------------------
swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }
state=$(swarm_state)
if [ "$state" = inactive ]; then
	say "initialising swarm mode (advertise 127.0.0.1)"
	if ! out=$(docker swarm init --advertise-addr 127.0.0.1 2>&1); then
		# Lost a race with someone else's init? Then the state below is active anyway.
		case $out in
		*"already part of a swarm"*) ;;
		*) echo "$out" >&2; die "docker swarm init failed" ;;
		esac
	fi
fi
deadline=$(($(now_ms) + TIMEOUT * 1000))
while state=$(swarm_state); [ "$state" != active ]; do
	case $state in
	pending | inactive | unknown) ;;
	*) die "swarm state is '$state' (locked or error: 'docker swarm unlock' or leave and re-init by hand)" ;;
	esac
	[ "$(now_ms)" -lt "$deadline" ] || die "swarm did not become active within ${TIMEOUT}s (state: $state)"
	sleep 0.2
done
[ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] ||
	die "this node is in a swarm but is not a manager: berth's tests need a manager"

# --- 3. the test images -------------------------------------------------------------------------
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
	BUSYBOX=
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && "$b" --list >/dev/null 2>&1; then
			BUSYBOX=$b
			break
		fi
	done
	[ -n "$BUSYBOX" ] || die "no /bin/busybox (install busybox-static: make deps)"
	if command -v ldd >/dev/null && ldd "$BUSYBOX" 2>&1 | grep -q '=>'; then
		die "$BUSYBOX is dynamically linked; the image needs busybox-static"
	fi
	say "building $IMAGE from $BUSYBOX"
	root=$(mktemp -d)
	trap 'rm -rf "$root" "$root.tar"' EXIT
	mkdir -p "$root"/{bin,etc,tmp,www,root,home,usr,var/run,proc,sys,dev}
	chmod 1777 "$root/tmp"
	ln -s bin "$root/sbin"
	ln -s ../bin "$root/usr/bin"
	ln -s ../bin "$root/usr/sbin"
	cp "$BUSYBOX" "$root/bin/busybox"
	# `busybox --install -s` style: one symlink per applet, all of them in /bin.
	"$BUSYBOX" --list | while read -r applet; do
		[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/home:/bin/false' \
		>"$root/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
	printf 'berth test image\n' >"$root/www/index.html"
	tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$root.tar" .
	id=$(docker import --change 'CMD ["sh"]' \
		--message "berth test image (busybox-static)" "$root.tar" "$IMAGE")
	say "imported $IMAGE (${id#sha256:})"
	docker tag "$IMAGE" "$DEMO_IMAGE"
	say "tagged $DEMO_IMAGE"
elif ! docker image inspect "$DEMO_IMAGE" >/dev/null 2>&1; then
	docker tag "$IMAGE" "$DEMO_IMAGE"
	say "tagged $DEMO_IMAGE"
fi

say "ready in $(($(now_ms) - start_ms)) ms (swarm active, $IMAGE present)"
