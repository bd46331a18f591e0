# shellcheck shell=bash
# The multi-node harness: a swarm of its own (a manager and real workers, each a dockerd in its
# own network and UTS namespace, started by worker_hook.sh), the workers behind the ARM
# simulator's scale-set instances. It leaves the shared test swarm alone (see worker_hook.sh).
#
#   workers_up          the bridge, the state directory, the image tar, the manager ("berthmgr"),
#                       whose engine DOCKER_HOST then points at (berth and the docker CLI); exports
#                       what worker_hook.sh reads
#   workers_sim NAME N  sim_boot with the hook, then seeds scale set NAME (tagged for $OWNER) with N
#                       instances, each a joined worker (extra seed JSON: WORKERS_SEED_EXTRA)
#   workers_ready N     N nodes besides the manager are Ready (for wait_until)
#   workers_down        every node stopped, the bridge, namespaces and directories deleted; DOCKER_HOST
#                       back to the shared engine
#
# WORKERS_TLS=1 (set before workers_up): workers_up also makes a test CA and a client certificate
# in $WORKERS_DIR/tls (ca.pem, cert.pem, key.pem: what swarm.tls names; tls_certs.sh), and every
# node's dockerd listens on tcp://ITS_IP:2376 with --tlsverify too, its endpoint in
# $WORKERS_DIR/w-NAME/tcp (worker_hook.sh).
#
# The network: a host bridge with 10.231.X.1/24 (X from the process id, so two runs do not share
# one), a veth per node; the workers reach the manager at its bridge address.

WORKERS_HOOK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/worker_hook.sh

workers_up() {
	WORKERS_DIR=$(mktemp -d /tmp/berthw.XXXX)
	local x=$((($$ % 200) + 20))
	WORKERS_NET=10.231.$x
	WORKERS_BRIDGE=bb$(basename "$WORKERS_DIR" | tail -c 5)
	export WORKERS_DIR WORKERS_NET WORKERS_BRIDGE
	ip link add "$WORKERS_BRIDGE" type bridge
	ip addr add "$WORKERS_NET.1/24" dev "$WORKERS_BRIDGE"
	ip link set "$WORKERS_BRIDGE" up
	# dockerd's FORWARD policy is DROP and bridged frames pass through iptables (br_netfilter)
	iptables -I FORWARD -i "$WORKERS_BRIDGE" -o "$WORKERS_BRIDGE" -j ACCEPT
	docker save berth-test/busybox:latest >"$WORKERS_DIR/images.tar"
	if [ "${WORKERS_TLS:-0}" = 1 ]; then
		export WORKERS_TLS
		"$(dirname "$WORKERS_HOOK")/tls_certs.sh" ca "$WORKERS_DIR/tls"
	fi
	WORKERS_SHARED_DOCKER_HOST=$DOCKER_HOST
	"$WORKERS_HOOK" manager - berthmgr
	export DOCKER_HOST=unix://$WORKERS_DIR/w-berthmgr/sock
	WORKERS_MANAGER=$(docker info --format '{{.Swarm.NodeID}}')
}

workers_sim() {
	local name=$1 n=$2
	sim_boot_hook
	sim_post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"$SUB\",\"name\":\"$RG\",\"location\":\"westeurope\"}],
		\"scale_sets\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"$name\",\"location\":\"westeurope\",
		\"capacity\":$n,\"tags\":{\"berth-owner\":\"$OWNER\"}${WORKERS_SEED_EXTRA:-}}]}"
}

# sim_boot with the worker hook (no trap of its own: workers_down stops the sim).
sim_boot_hook() {
	local portfile
	portfile=$(mktemp)
	/usr/bin/python3 "$(dirname "$T_FILE")/../azure-sim/armsim.py" --port 0 --port-file "$portfile" --lro-polls 1 \
		--instance-hook "$WORKERS_HOOK" >"$T_DIR/sim.log" 2>&1 &
	SIM_PID=$!
	wait_until 20 "the simulator listens" test -s "$portfile"
	SIM=http://127.0.0.1:$(cat "$portfile")
	sim_post /_sim/credentials '{"tenant":"t1","client_id":"berth-ci","client_secret":"s3cret-Sp"}'
	export AZURE_TENANT_ID=t1 AZURE_CLIENT_ID=berth-ci AZURE_CLIENT_SECRET=s3cret-Sp
	export AZURE_RESOURCE_MANAGER_ENDPOINT=$SIM AZURE_AUTHORITY_HOST=$SIM/
}

# The hostnames of the swarm's nodes other than the test manager, with STATE (ready, down) given.
worker_nodes() {
	docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}' | awk -v me="$WORKERS_MANAGER" -v st="${1:-}" \
		'substr(me, 1, length($1)) != $1 && (st == "" || tolower($3) == st) {print $2}' | sort
}

# Succeeds when exactly N nodes other than the test manager are Ready.
workers_ready() { [ "$(worker_nodes ready | wc -l)" -eq "$1" ]; }

workers_down() {
	set +e
	sim_stop
	local w cn
	for w in "$WORKERS_DIR"/w-*; do
		[ -d "$w" ] || continue
		cn=${w##*/w-}
		[ "$cn" = berthmgr ] || "$WORKERS_HOOK" delete x "$cn"
	done
	[ ! -d "$WORKERS_DIR/w-berthmgr" ] || "$WORKERS_HOOK" delete x berthmgr
	export DOCKER_HOST=$WORKERS_SHARED_DOCKER_HOST
	iptables -D FORWARD -i "$WORKERS_BRIDGE" -o "$WORKERS_BRIDGE" -j ACCEPT 2>/dev/null
	ip link del "$WORKERS_BRIDGE" 2>/dev/null
	rm -rf "$WORKERS_DIR"
	set -e
}
