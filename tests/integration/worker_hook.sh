#!/usr/bin/env bash
# The ARM simulator's instance hook for the multi-node tests (armsim.py --instance-hook): a
# scale-set instance is a real swarm worker, a dockerd in its own network and UTS namespace.
#
#   worker_hook.sh create SCALESET COMPUTERNAME   start a worker whose hostname is COMPUTERNAME and
#                                                 join it to the test swarm (returns once joined)
#   worker_hook.sh delete SCALESET COMPUTERNAME   stop it as a deleted VM stops: its dockerd and
#                                                 containers die, it does not leave the swarm (the
#                                                 manager sees the node go down)
#
#   worker_hook.sh manager - COMPUTERNAME         (workers_up) the same, initialising the swarm
#                                                 the workers join: its token and address go to
#                                                 $WORKERS_DIR/token and $WORKERS_DIR/manager
#
# The environment comes from workers_up (workers_lib.sh): WORKERS_DIR (state: one directory per
# node, the busybox image tar, the address counter), WORKERS_BRIDGE and WORKERS_NET (the host
# bridge and its /24 prefix, the host being .1); WORKERS_JOIN_DELAY (seconds, default 0: a new
# worker joins in the background that long after its instance is created, as a booting VM would).
# With WORKERS_TLS=1 (workers_up made the test CA in $WORKERS_DIR/tls) each node's dockerd also
# listens on tcp://ITS_IP:2376 with --tlsverify and a server certificate of its own signed by that
# CA (subjectAltName IP:ITS_IP, DNS:COMPUTERNAME); the endpoint goes to $w/tcp. The host, the
# bridge's .1, reaches it over the bridge.
#
# Why a swarm of its own: the shared test swarm's manager advertises 127.0.0.1, which a worker in
# another network namespace reaches only through a DNAT to the host (tried: it joins and stays
# Ready); but the shared swarm also runs the other tests' services, whose tasks the scheduler
# would spread onto these empty workers (and lose when they go). The manager here runs in a
# namespace on the same bridge and advertises its bridge address.
set -euo pipefail
action=$1 scaleset=$2 cn=$3
: "${WORKERS_DIR:?} ${WORKERS_BRIDGE:?} ${WORKERS_NET:?}"
w=$WORKERS_DIR/w-$cn
host_ip=$WORKERS_NET.1
say() { echo "worker_hook: $action $scaleset $cn: $*" >&2; }

stop_worker() {
	local pid
	pid=$(cat "$w/pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	# containerd and its shims run in the worker's network namespace: nothing may outlive it
	local ns_pids
	ns_pids=$(ip netns pids "$(cat "$w/netns")" 2>/dev/null || true)
	[ -z "$ns_pids" ] || kill -9 $ns_pids 2>/dev/null || true
	grep " $w/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip netns del "$(cat "$w/netns")" 2>/dev/null || true
	ip link del "$(cat "$w/veth")" 2>/dev/null || true
	rm -rf "$w"
}

case $action in
create | manager)
	[ ! -e "$w" ] || { say "already exists"; exit 1; }
	mkdir -p "$w"
	echo "$cn" >>"$WORKERS_DIR/names" # workers_down removes exactly these nodes
	idx=$(flock "$WORKERS_DIR/counter.lock" sh -c 'n=10; [ ! -s "$1" ] || n=$(cat "$1"); echo $((n + 1)) >"$1"; echo "$n"' \
		_ "$WORKERS_DIR/counter")
	# the run's suffix in the names the host shares: two runs at once (each with its "berthmgr")
	# must not meet on one namespace or interface
	run=$(basename "$WORKERS_DIR" | tail -c 5)
	ns=berth-$run-$cn veth=bw$run$idx ip_addr=$WORKERS_NET.$idx
	echo "$ns" >"$w/netns"
	echo "$veth" >"$w/veth"
	echo "$ip_addr" >"$w/addr"
	ip netns add "$ns"
	ip link add "$veth" type veth peer name eth0 netns "$ns"
	ip link set "$veth" master "$WORKERS_BRIDGE" up
	ip netns exec "$ns" sh -e -c "
		ip link set lo up
		ip addr add $ip_addr/24 dev eth0
		ip link set eth0 up
		ip route add default via $host_ip"
	tcp_args=
	if [ "${WORKERS_TLS:-0}" = 1 ]; then
		"$(dirname "$0")/tls_certs.sh" server "$WORKERS_DIR/tls" "$w/tls" "$ip_addr" "$cn"
		tcp_args="-H 'tcp://$ip_addr:2376' --tlsverify --tlscacert '$WORKERS_DIR/tls/ca.pem' \
			--tlscert '$w/tls/server-cert.pem' --tlskey '$w/tls/server-key.pem'"
		echo "tcp://$ip_addr:2376" >"$w/tcp"
	fi
	# A new UTS namespace whose hostname is the computer name: the swarm node's hostname.
	DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid nsenter --net="/run/netns/$ns" unshare --uts sh -c \
		"hostname '$cn' && exec dockerd --data-root '$w/data' --exec-root '$w/exec' --pidfile '$w/pid' \
			-H 'unix://$w/sock' $tcp_args --bridge=none" </dev/null >"$w/dockerd.log" 2>&1 &
	export DOCKER_HOST=unix://$w/sock
	for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; sleep 0.1; done
	docker info >/dev/null 2>&1 || { say "dockerd did not answer"; tail -n 20 "$w/dockerd.log" >&2; exit 1; }
	docker load -q -i "$WORKERS_DIR/images.tar" >/dev/null
	if [ "$action" = manager ]; then
		docker swarm init --advertise-addr "$ip_addr" >/dev/null
		docker swarm join-token -q worker >"$WORKERS_DIR/token"
		echo "$ip_addr:2377" >"$WORKERS_DIR/manager"
	elif [ "${WORKERS_JOIN_DELAY:-0}" = 0 ]; then
		docker swarm join --token "$(cat "$WORKERS_DIR/token")" --advertise-addr "$ip_addr" "$(cat "$WORKERS_DIR/manager")" >/dev/null
	else
		# as a VM whose provisioning succeeded but whose boot script joins the swarm later
		setsid sh -c "sleep $WORKERS_JOIN_DELAY; docker swarm join --token '$(cat "$WORKERS_DIR/token")' \
			--advertise-addr '$ip_addr' '$(cat "$WORKERS_DIR/manager")'" </dev/null >"$w/join.log" 2>&1 &
	fi
	;;
delete)
	[ -e "$w" ] || { say "no such worker"; exit 1; }
	stop_worker
	;;
*)
	say "unknown action"
	exit 2
	;;
esac
