# shellcheck shell=bash
# The multi-node harness: real swarm workers (dockerd in their own network and UTS namespaces,
# started by worker_hook.sh) behind the ARM simulator's scale-set instances.
#
#   workers_up          the bridge, the state directory, the join token, the image tar; exports
#                       what worker_hook.sh reads, and registers workers_down for the file's exit
#   workers_sim NAME N  sim_boot with the hook, then seeds scale set NAME (tagged for $OWNER) with N
#                       instances, each a joined worker (extra seed JSON: WORKERS_SEED_EXTRA)
#   workers_down        every worker stopped, their nodes removed from the swarm, the bridge and the
#                       namespaces deleted: the swarm is the single node it was
#
# The network: a host bridge with 10.231.X.1/24 (X from the process id, so two runs do not share
# one), a veth per worker; workers reach the manager at the bridge address (it listens on every
# address, port 2377). See worker_hook.sh for why 127.0.0.1:2377 is rewritten inside each worker.

WORKERS_HOOK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/worker_hook.sh

workers_up() {
	WORKERS_DIR=$(mktemp -d /tmp/berthw.XXXX)
	local x=$((($$ % 200) + 20))
	WORKERS_NET=10.231.$x
	WORKERS_BRIDGE=bb$(basename "$WORKERS_DIR" | tail -c 5)
	WORKERS_TOKEN=$(docker swarm join-token -q worker)
	export WORKERS_DIR WORKERS_NET WORKERS_BRIDGE WORKERS_TOKEN
	ip link add "$WORKERS_BRIDGE" type bridge
	ip addr add "$WORKERS_NET.1/24" dev "$WORKERS_BRIDGE"
	ip link set "$WORKERS_BRIDGE" up
	docker save berth-test/busybox:latest >"$WORKERS_DIR/images.tar"
	WORKERS_MANAGER=$(docker info --format '{{.Swarm.NodeID}}')
	trap 'workers_down; sim_stop' EXIT
}

workers_sim() {
	local name=$1 n=$2
	sim_boot_hook
	sim_post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"$SUB\",\"name\":\"$RG\",\"location\":\"westeurope\"}],
		\"scale_sets\":[{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"$name\",\"location\":\"westeurope\",
		\"capacity\":$n,\"tags\":{\"berth-owner\":\"$OWNER\"}${WORKERS_SEED_EXTRA:-}}]}"
}

# sim_boot with the worker hook (sim_boot's own trap is replaced: workers_down also stops the sim).
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

workers_down() {
	set +e
	sim_stop
	local w cn id
	for w in "$WORKERS_DIR"/w-*; do
		[ -d "$w" ] || continue
		cn=${w##*/w-}
		"$WORKERS_HOOK" delete x "$cn"
	done
	# the nodes of every worker this run started (stopped now, so down or going down)
	docker node ls --format '{{.ID}} {{.Hostname}}' | while read -r id cn; do
		grep -qxF "$cn" "$WORKERS_DIR/names" 2>/dev/null && docker node rm -f "$id" >/dev/null
	done
	ip link del "$WORKERS_BRIDGE" 2>/dev/null
	rm -rf "$WORKERS_DIR"
	set -e
}
