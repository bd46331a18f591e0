#!/usr/bin/env bash
# bench/autoscale_bench.sh BUILD_DIR: what an autoscale evaluation costs (docs/autoscaling.md), run
# by bench/run.sh.
#
# On the real swarm, for S autoscaled services of T running tasks each (S x T = 1x1, 5x1, 10x2,
# 20x1), it measures the Docker engine requests of one `berth plan` (BERTH_STATS=1) against the
# same spec without autoscale (replicas: T): the difference is the evaluation's. Target: exactly
# one stats call per running task plus a constant (one GET /info), whatever S. Also the plan's
# wall time (the stats calls run side by side; the engine answers one once it has a second
# reading, about a second later). And the Prometheus queries of S sources: one each.
# A benchmark reports; it is not a test: exit status 0 even when a target is missed; non-zero only
# when it cannot run. Environment: BENCH_AUTOSCALE=0 skips it; BENCH_AUTOSCALE_CASES (SxT words).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
py=/usr/bin/python3
[ "${BENCH_AUTOSCALE:-1}" = 0 ] && { echo "bench: autoscale benchmark skipped: BENCH_AUTOSCALE=0"; exit 0; }
docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null | grep -qx active ||
	{ echo "bench: autoscale benchmark skipped: no engine in swarm mode"; exit 0; }
berth=$(cd "$build" && pwd)/berth
img=berth-test/busybox:latest
docker image inspect "$img" >/dev/null 2>&1 || img=berth-demo/busybox:latest

owner=bench-as-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-autoscale-bench.XXXXXX")
prom_pid=
cleanup() {
	[ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null
	docker service ls -q --filter "label=berth.owner=$owner" | xargs -r docker service rm >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

spec() { # SERVICES TASKS autoscale|fixed|prometheus URL
	{
		printf 'version: 1\nname: %s\nswarm:\n  services:\n' "$owner"
		for ((i = 0; i < $1; i++)); do
			printf '    %s-s%d:\n      image: %s\n      command: [sleep, "3600"]\n      deploy:\n' "$owner" "$i" "$img"
			printf '        resources: {limits: {cpus: "0.01"}}\n'
			case $3 in
			autoscale) printf '        autoscale: {min: %d, max: %d, cpu_percent: 50}\n' "$2" "$2" ;;
			prometheus) printf '        autoscale: {min: %d, max: %d, source: {prometheus: "%s", query: "q%d", target: 1}}\n' "$2" "$2" "$4" "$i" ;;
			*) printf '        replicas: %d\n' "$2" ;;
			esac
		done
	} >"$tmp/berth.yaml"
}

requests() { # the Docker requests of one plan
	BERTH_STATS=1 "$berth" plan "$tmp/berth.yaml" 2>&1 >/dev/null | sed -n 's/^berth: \([0-9]*\) requests to the Docker engine.*/\1/p'
}

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo '{}' >"$tmp/answers.json"
$py tests/integration/prom_fake.py "$port" "$tmp/answers.json" "$tmp/queries.log" &
prom_pid=$!

echo "autoscale evaluation (requests of one berth plan; extra = with autoscale - without)"
printf '%-10s %6s %9s %7s %6s %8s %12s %7s\n' services tasks "no-auto" autosc extra target "plan ms" queries
for st in ${BENCH_AUTOSCALE_CASES:-1x1 5x1 10x2 20x1}; do
	s=${st%x*} t=${st#*x}
	spec "$s" "$t" fixed
	"$berth" apply --auto-approve "$tmp/berth.yaml" >/dev/null
	base=$(requests)
	spec "$s" "$t" autoscale
	"$berth" apply --auto-approve "$tmp/berth.yaml" >/dev/null 2>&1 || true
	sleep 1 # the tasks' first stats reading
	with=$(requests)
	t0=$(date +%s%N)
	"$berth" plan "$tmp/berth.yaml" >/dev/null
	ms=$((($(date +%s%N) - t0) / 1000000))
	spec "$s" "$t" prometheus "http://127.0.0.1:$port"
	: >"$tmp/queries.log"
	"$berth" plan "$tmp/berth.yaml" >/dev/null
	q=$(wc -l <"$tmp/queries.log")
	extra=$((with - base)) want=$((s * t + 1))
	verdict=$([ "$extra" -le "$want" ] && echo met || echo MISSED)
	printf '%-10s %6s %9s %7s %6s %8s %12s %7s\n' "$s" "$((s * t))" "$base" "$with" "$extra" "<=$want $verdict" "$ms" "$q"
	docker service ls -q --filter "label=berth.owner=$owner" | xargs -r docker service rm >/dev/null
	for _ in $(seq 50); do [ -z "$(docker ps -q --filter "label=com.docker.swarm.service.name=$owner-s0")" ] && break; sleep 0.2; done
done
