#!/usr/bin/env bash
# bench/leader_bench.sh BUILD_DIR: leader failover time (docs/controller.md "High availability"),
# run by bench/run.sh. Three berth run replicas elect a leader on a blob lease in Azurite
# (build/tools, scripts/install-deps.sh); BENCH_LEADER_KILLS times (default 20) the leader is
# killed -9 and the time until another replica's /status says it leads is measured (polled every
# 100 ms), then the killed one is started again. Reports p50, p99 and the maximum against the bound
# lease + one renew period (BENCH_LEADER_LEASE seconds, default 15: renewed every 5 s).
# A benchmark reports; it is not a test: exit status 0 even when the bound is missed; non-zero only
# when it cannot run. BENCH_LEADER=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
kills=${BENCH_LEADER_KILLS:-20}
lease=${BENCH_LEADER_LEASE:-15}
py=/usr/bin/python3
azurite=build/tools/node_modules/.bin/azurite-blob
[ "${BENCH_LEADER:-1}" = 0 ] && { echo "bench: leader benchmark skipped: BENCH_LEADER=0"; exit 0; }
[ -x "$azurite" ] || { echo "bench: leader benchmark skipped: azurite is not installed (scripts/install-deps.sh)"; exit 0; }
berth=$(cd "$build" && pwd)/berth

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-leader-bench.XXXXXX")
declare -A pid port
az_pid=
cleanup() {
	local n
	for n in "${!pid[@]}"; do kill -9 "${pid[$n]}" 2>/dev/null || true; done
	[ -n "$az_pid" ] && kill -9 "$az_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# A loopback port nobody listens on (the kernel picks it).
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { printf '%s\n' "$EPOCHREALTIME"; }

az_port=$(free_port)
"$azurite" --blobHost 127.0.0.1 --blobPort "$az_port" --location "$tmp/azurite" --silent >"$tmp/azurite.log" 2>&1 &
az_pid=$!
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$az_port/" && break; sleep 0.1; done
echo 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$tmp/key"
mkdir -p "$tmp/spec"
printf 'version: 1\nname: leader-bench\nswarm:\n  services: {}\n' >"$tmp/spec/berth.yaml"
url=http://127.0.0.1:$az_port/devstoreaccount1/berth-leader/bench

start() {
	local n=$1
	port[$n]=$(free_port)
	"$berth" run "$tmp/spec" --interval 1s --listen "127.0.0.1:${port[$n]}" --leader-lease "$url" \
		--leader-lease-duration "${lease}s" --leader-lease-key-file "$tmp/key" --instance-id "$n" >>"$tmp/$n.log" 2>&1 &
	pid[$n]=$!
	for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:${port[$n]}/healthz" 2>/dev/null && return 0; sleep 0.1; done
	echo "bench: replica $n did not start" >&2
	exit 1
}

# The replica that says it leads, or nothing.
leader() {
	local n
	for n in "${!pid[@]}"; do
		curl -fsS "http://127.0.0.1:${port[$n]}/status" 2>/dev/null | grep -q '"is_leader": true' && { echo "$n"; return 0; }
	done
	return 0
}

for n in r1 r2 r3; do start "$n"; done
times=()
for ((i = 1; i <= kills; i++)); do
	l=
	for _ in $(seq 600); do l=$(leader); [ -n "$l" ] && break; sleep 0.1; done
	[ -n "$l" ] || { echo "bench: no leader" >&2; exit 1; }
	t0=$(now)
	kill -9 "${pid[$l]}"
	wait "${pid[$l]}" 2>/dev/null || true
	unset "pid[$l]"
	n=
	for _ in $(seq 1200); do n=$(leader); [ -n "$n" ] && break; sleep 0.1; done
	[ -n "$n" ] || { echo "bench: nobody took over after kill $i" >&2; exit 1; }
	t1=$(now)
	times+=("$($py -c "print('%.2f' % ($t1 - $t0))")")
	start "$l"
done

bound=$($py -c "print($lease + $lease / 3)")
printf '%s\n' "${times[@]}" | $py -c "
import sys
t = sorted(float(x) for x in sys.stdin)
def pct(p):
    k = (len(t) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(t) - 1)
    return t[lo] + (t[hi] - t[lo]) * (k - lo)
print('== leader failover benchmark (kill -9 of the leader, three replicas)')
print('lease:            $lease s, renewed every %.0f s; bound lease + renew period = %.0f s' % ($lease / 3, $bound))
print('kills:            %d' % len(t))
print('failover:         p50 %.1f s, p99 %.1f s, min %.1f s, max %.1f s' % (pct(50), pct(99), t[0], t[-1]))
print('bound:            %s' % ('met' if t[-1] <= $bound else 'MISSED'))
"
