#!/usr/bin/env bash
# bench/rollout_bench.sh BUILD_DIR: what a rollout (docs/rollouts.md) costs, run by bench/run.sh.
#
# Against the ARM simulator (its monitor and berth's clock both run SCALE times faster:
# time_scale / BERTH_TIME_SCALE, default 100), one container group rolled out through a weighted
# profile, steps [10, 50, 100], a probe every 10 s (simulated), it measures side by side in one run:
#   - ARM requests per step, split into reads and writes, for a pause of 1m and of 10m: a step's
#     writes must not depend on the pause, and its reads must grow with the pause only by one round
#     (3 reads) per health interval, never per second (the "requests per pause minute" column);
#   - time from "step due" (health first held + the pause, from the profile's berth-rollout tag) to
#     the step's first weight write reaching the simulator, for `berth apply` (which sleeps until the
#     pause ends) and for `berth run` (whose loop is requeued for it), in real milliseconds.
# A benchmark reports; it is not a test: exit status 0 even when a target is missed; non-zero only
# when it cannot run. Environment: BENCH_ROLLOUT=0 skips it, BENCH_ROLLOUT_SCALE (100).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scale=${BENCH_ROLLOUT_SCALE:-100}
py=/usr/bin/python3
[ "${BENCH_ROLLOUT:-1}" = 0 ] && { echo "bench: rollout benchmark skipped: BENCH_ROLLOUT=0"; exit 0; }
[ -x "$py" ] && command -v curl >/dev/null || { echo "bench: rollout benchmark skipped: needs /usr/bin/python3 and curl"; exit 0; }
berth=$(cd "$build" && pwd)/berth

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-rollout-bench.XXXXXX")
sim_pid=
run_pid=
cleanup() {
	[ -n "$run_pid" ] && kill "$run_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

$py tests/azure-sim/armsim.py --port 0 --port-file "$tmp/port" --lro-polls 1 >"$tmp/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { echo "bench: the simulator did not start" >&2; exit 1; }
sim=http://127.0.0.1:$(cat "$tmp/port")
post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$sim$1" >/dev/null; }
sub=00000000-0000-0000-0000-0000000000bb rg=rg-rollout-bench
post /_sim/credentials '{"tenant":"t1","client_id":"bench","client_secret":"bench-secret"}'
post /_sim/config "{\"time_scale\": $scale}"
post /_sim/seed "{\"resource_groups\":[{\"subscription\":\"$sub\",\"name\":\"$rg\",\"location\":\"westeurope\"}]}"
probe_port=$(curl -fsS "$sim/_sim/state" | $py -c 'import json,sys; print(json.load(sys.stdin)["probe_port"])')
export AZURE_TENANT_ID=t1 AZURE_CLIENT_ID=bench AZURE_CLIENT_SECRET=bench-secret
export AZURE_RESOURCE_MANAGER_ENDPOINT=$sim AZURE_AUTHORITY_HOST=$sim/ AZURE_IMDS_ENDPOINT=http://127.0.0.1:1
export BERTH_TIME_SCALE=$scale BERTH_PROBE_CONNECT_TO="::127.0.0.1:$probe_port"

spec() { # IMAGE PAUSE
	mkdir -p "$tmp/spec"
	cat >"$tmp/spec/berth.yaml" <<EOF
version: 1
name: rollout-bench
azure:
  subscription: $sub
  resource_group: $rg
  location: westeurope
  container_groups:
    web:
      ip: public
      dns_label: bench-web
      ports: [80]
      containers: {web: {image: $1, cpu: 1, memory_gb: 1, ports: [80]}}
      rollout:
        traffic_manager: shop
        steps: [10, 50, 100]
        pause: $2
        health:
          monitor: Online
          probe: {path: /, port: 80, expect: 200, interval: 10s}
  traffic_manager:
    shop:
      routing: weighted
      ttl: 10
      monitor: {protocol: HTTP, port: 80, path: /, interval: 10, timeout: 5, tolerated_failures: 2}
EOF
}

# analyse FROM LABEL PAUSE_S: the requests of the rollout logged after entry FROM, per step.
analyse() {
	curl -fsS "$sim/_sim/log" | $py -c '
import json, sys
log = json.load(sys.stdin)[int(sys.argv[1]):]
label, pause, scale = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
# A step runs from the tag write that begins it to the one that begins the next.
steps, cur, due, lat = [], None, None, []
for r in log:
    if "oauth2" in r["path"]:
        continue
    b = r.get("body") or {}
    tag = (b.get("tags") or {}).get("berth-rollout") if r["method"] == "PATCH" else None
    if tag:
        t = dict(kv.split("=", 1) for kv in tag.split(";") if "=" in kv)
        step = int(t["step"])
        if cur is None or step != cur["step"] or t["phase"] != "progressing":
            cur = {"step": step, "reads": 0, "writes": 0}
            steps.append(cur)
            if due is not None:
                lat.append((r["time"] - due) * 1000)
            due = None
        if t["phase"] == "progressing" and int(t["healthy"]) >= 0 and step < 2:
            due = (int(t["healthy"]) + pause) / scale   # berth time back to real seconds
    if cur is None:
        continue
    if r["method"] == "GET":
        cur["reads"] += 1
    else:
        cur["writes"] += 1
body = [s for s in steps if 0 <= s["step"] < 2]
for s in body:
    print("bench: rollout %s: step %d: %d reads, %d writes (%.1f requests per pause minute)" % (
        label, s["step"] + 1, s["reads"], s["writes"], (s["reads"] + s["writes"]) / (pause / 60)))
if lat:
    lat.sort()
    print("bench: rollout %s: step due -> next step recorded: %s ms" % (label, ", ".join("%.0f" % x for x in lat)))
print("RESULT %s %.1f %.1f" % (label, sum(s["reads"] for s in body) / max(len(body), 1),
                                sum(s["writes"] for s in body) / max(len(body), 1)))
' "$1" "$2" "$3" "$scale"
}

logn() { curl -fsS "$sim/_sim/log" | $py -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

spec busybox:1.36 1m
"$berth" apply --auto-approve --no-color "$tmp/spec" >/dev/null 2>&1 || { echo "bench: first apply failed" >&2; exit 1; }
spec busybox:1.37 1m
n=$(logn)
"$berth" apply --auto-approve --no-color "$tmp/spec" >"$tmp/a1.out" 2>&1 || { cat "$tmp/a1.out" >&2; exit 1; }
r1=$(analyse "$n" "apply, pause 1m" 60)
spec busybox:1.38 10m
n=$(logn)
"$berth" apply --auto-approve --no-color "$tmp/spec" >"$tmp/a2.out" 2>&1 || { cat "$tmp/a2.out" >&2; exit 1; }
r2=$(analyse "$n" "apply, pause 10m" 600)
grep -v '^RESULT' <<<"$r1"
grep -v '^RESULT' <<<"$r2"
read -r _ _ _ _ reads1 writes1 <<<"$(grep '^RESULT' <<<"$r1")"
read -r _ _ _ _ reads2 writes2 <<<"$(grep '^RESULT' <<<"$r2")"
$py - "$reads1" "$writes1" "$reads2" "$writes2" <<'EOF'
import sys
r1, w1, r2, w2 = map(float, sys.argv[1:])
print("bench: rollout writes per step: %.1f (pause 1m) vs %.1f (pause 10m): ratio %.2f (target 1.00: writes do not depend on the pause)" % (w1, w2, w2 / w1))
# One health round (list, profile, revision: 3 reads) per 10 s interval of the pause.
print("bench: rollout reads per step: %.1f vs %.1f for 10x the pause: ratio %.2f (one round of 3 reads per 10 s health interval predicts %.2f; per-second polling would be 10x with ~3 reads/s)" % (
    r1, r2, r2 / r1, (3 * 60 + r1) / r1 if r1 else 0))
EOF

# berth run: the same rollout advanced by the loop's requeues (interval 1 h: nothing else wakes it).
spec busybox:1.39 1m
n=$(logn)
port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$berth" run --interval 1h --listen "127.0.0.1:$port" "$tmp/spec" >"$tmp/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 600); do
	curl -fsS "http://127.0.0.1:$port/status" 2>/dev/null | grep -q '"phase": "succeeded"' &&
		curl -fsS "http://127.0.0.1:$port/status" | grep -q '"revision": "'"$("$berth" rollout status --json "$tmp/spec" | $py -c 'import json,sys; print(json.load(sys.stdin)[0]["desired"])')"'"' && break
	sleep 0.1
done
kill "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null || true
run_pid=
analyse "$n" "run, pause 1m" 60 | grep -v '^RESULT'
