#!/usr/bin/env bash
# bench/azure_bench.sh BUILD_DIR: the Azure benchmark, run by bench/run.sh (`make bench`).
#
# Against the ARM simulator (tests/azure-sim/armsim.py, started here on a free port with
# --lro-polls 1 --retry-after 0; nothing reaches Azure, IMDS is pointed at 127.0.0.1:1), with a
# generated spec of G container groups (one container each: mcr.microsoft.com/azuredocs/aci-helloworld,
# cpu 0.1, memory_gb 0.1, port 80, ip public + dns_label), S file shares spread over A seeded
# storage accounts, and one Traffic Manager profile with one endpoint per group, it measures:
#   - berth apply --auto-approve from empty at --parallelism 8 (the default) and at 1: wall time,
#     ARM requests (by method), berth's CPU time and the simulator's CPU time; their ratio;
#   - then, with everything applied, a no-op `berth plan` (BENCH_AZURE_PLAN_REPS times, median
#     wall time) and its ARM requests;
# at the full size (default 500 groups / 50 shares / 500 endpoints) and at half of it (250 / 25 /
# 250, the same storage accounts; apply -p 8 and the no-op plan only), to show how the no-op plan's requests grow (target: with the
# number of resource groups, storage accounts and list pages, not with the number of resources).
# berth paces itself to ARM's documented per-subscription request budget (controller/arm.c: writes
# 200 at once, then 10/s; reads 250, then 25/s), so the full-size apply cannot take less than
# (writes - 200) / 10 s at any parallelism; the report prints that floor. A third, "burst" round
# (BENCH_AZURE_BURST_GROUPS groups, default 60, with a tenth as many shares and one endpoint per
# group: ~130 writes and ~190 reads, inside both bursts) compares -p 1 with -p 8 where the budget
# does not decide.
# Requests are counted from the simulator's GET /_sim/log (the token request left out); berth's
# BERTH_STATS only counts Docker requests.
#
# The simulator runs unchanged, but by default with TCP_NODELAY on its sockets (Python's
# StreamRequestHandler.disable_nagle_algorithm, set by a small wrapper below): http.server writes a
# response's headers and body in two send()s, so on a reused keep-alive connection Nagle's
# algorithm holds the body until the client's delayed ACK, ~40 ms per request on Linux loopback.
# That is a property of the simulator, not of berth or of ARM; BENCH_AZURE_NODELAY=0 measures it.
# The wrapper also raises the listen backlog from socketserver's 5 to 64 (with 5, berth's 8
# connections opened at once occasionally lost a SYN: a 1 s stall).
#
# A benchmark reports; it is not a test: the exit status is 0 even when something is slow, and 0
# with a "skipped" line when /usr/bin/python3 or curl is missing; non-zero only when the benchmark
# itself cannot run (berth missing, the simulator does not start, an apply fails).
#
# Environment: BENCH_AZURE_GROUPS (500; endpoints = groups), BENCH_AZURE_SHARES (50),
# BENCH_AZURE_ACCOUNTS (5), BENCH_AZURE_BURST_GROUPS (60; 0 skips that round), BENCH_AZURE_PLAN_REPS (3), BENCH_AZURE_HALF=0 skips the half-size
# round, BENCH_AZURE_P1=0 skips the --parallelism 1 apply, BENCH_AZURE_PAGE_SIZE (the simulator's
# list page size, 100), BENCH_AZURE_NODELAY (1: the simulator's sockets get TCP_NODELAY, see
# below; 0: the simulator as the tests run it), BENCH_AZURE=0 skips the benchmark, BENCH_KEEP=1 keeps the generated files
# and the simulator's log.
# shellcheck disable=SC2317 # cleanup is called from the trap
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
groups=${BENCH_AZURE_GROUPS:-500}
shares=${BENCH_AZURE_SHARES:-50}
accounts=${BENCH_AZURE_ACCOUNTS:-5}
plan_reps=${BENCH_AZURE_PLAN_REPS:-3}
page_size=${BENCH_AZURE_PAGE_SIZE:-100}
nodelay=${BENCH_AZURE_NODELAY:-1}
burst_groups=${BENCH_AZURE_BURST_GROUPS:-60}
py=/usr/bin/python3

skip() {
	echo "bench: azure benchmark skipped: $*"
	exit 0
}
[ "${BENCH_AZURE:-1}" = 0 ] && skip "BENCH_AZURE=0"
[ -x "$build/berth" ] || { echo "bench: $build/berth is missing; run 'make bench'" >&2; exit 2; }
[ -x "$py" ] || skip "no $py"
command -v curl >/dev/null || skip "no curl on PATH"
berth=$(cd "$(dirname "$build/berth")" && pwd)/berth

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-azure-bench.XXXXXX")
SIM_PID=
cleanup() {
	if [ -n "$SIM_PID" ]; then
		kill "$SIM_PID" 2>/dev/null || true
		wait "$SIM_PID" 2>/dev/null || true
		SIM_PID=
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: azure: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SUB=00000000-0000-0000-0000-0000000000be
RG=rg-berth-bench
OWNER=bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')

now_us() { echo "${EPOCHREALTIME/./}"; }
s_since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# --- the simulator -------------------------------------------------------------------------------
sim_post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$SIM$1" >/dev/null; }
# CPU seconds (user + system) the simulator process has used so far.
sim_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SIM_PID/stat"; }

# sim_fresh: a new simulator process (so that its state, log and CPU count start from zero),
# with credentials and the resource group and storage accounts seeded.
sim_fresh() {
	local portfile=$tmp/port i seed
	if [ -n "$SIM_PID" ]; then
		kill "$SIM_PID" 2>/dev/null || true
		wait "$SIM_PID" 2>/dev/null || true
	fi
	rm -f "$portfile"
	"$py" - tests/azure-sim/armsim.py "$nodelay" --port 0 --port-file "$portfile" --lro-polls 1 --retry-after 0 \
		--page-size "$page_size" >"$tmp/sim.log" 2>&1 <<'PY' &
# armsim.py, optionally with TCP_NODELAY on its sockets (see BENCH_AZURE_NODELAY above).
import importlib.util, sys
spec = importlib.util.spec_from_file_location("armsim", sys.argv[1])
armsim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(armsim)
armsim.Handler.disable_nagle_algorithm = sys.argv[2] == "1"
# socketserver's listen backlog is 5: 8 connections opened at once can lose a SYN (1 s retransmit).
armsim.ThreadingHTTPServer.request_queue_size = 64
sys.argv = [sys.argv[1]] + sys.argv[3:]
armsim.main()
PY
	SIM_PID=$!
	for i in $(seq 100); do
		[ -s "$portfile" ] && break
		sleep 0.1
	done
	[ -s "$portfile" ] || { echo "bench: azure: the simulator did not start (see $tmp/sim.log)" >&2; exit 1; }
	SIM=http://127.0.0.1:$(cat "$portfile")
	sim_post /_sim/credentials '{"tenant":"t-bench","client_id":"berth-bench","client_secret":"b3nch-Secret"}'
	seed="{\"resource_groups\":[{\"subscription\":\"$SUB\",\"name\":\"$RG\",\"location\":\"westeurope\"}],\"storage_accounts\":["
	for i in $(seq "$accounts"); do
		[ "$i" = 1 ] || seed+=,
		seed+="{\"subscription\":\"$SUB\",\"resource_group\":\"$RG\",\"name\":\"benchsa$i\",\"location\":\"westeurope\"}"
	done
	sim_post /_sim/seed "$seed]}"
	export AZURE_TENANT_ID=t-bench AZURE_CLIENT_ID=berth-bench AZURE_CLIENT_SECRET=b3nch-Secret
	export AZURE_RESOURCE_MANAGER_ENDPOINT=$SIM AZURE_AUTHORITY_HOST=$SIM/ AZURE_IMDS_ENDPOINT=http://127.0.0.1:1
}

# sim_log_len: entries in the simulator's request log so far.
sim_log_len() { curl -fsS "$SIM/_sim/log" | "$py" -c 'import json, sys; print(len(json.load(sys.stdin)))'; }

# sim_count FROM: "KEY VALUE" lines about the requests logged since entry FROM, the token
# requests left out: total, by method, reads/writes/deletes (berth's budget kinds), non-2xx.
sim_count() {
	curl -fsS "$SIM/_sim/log" | "$py" -c '
import collections, json, sys
log = json.load(sys.stdin)[int(sys.argv[1]):]
arm = [r for r in log if "/oauth2/" not in r["path"]]
c = collections.Counter(r["method"] for r in arm)
print("total", len(arm))
print("tokens", len(log) - len(arm))
for m in ("GET", "PUT", "PATCH", "POST", "DELETE"):
    print(m, c.get(m, 0))
print("reads", c.get("GET", 0) + c.get("HEAD", 0))
print("deletes", c.get("DELETE", 0))
print("writes", len(arm) - c.get("GET", 0) - c.get("HEAD", 0) - c.get("DELETE", 0))
print("errors", sum(1 for r in arm if not r["status"] or r["status"] >= 300))
# what the requests were, by kind: "GET list containerGroups" etc.
kinds = collections.Counter()
for r in arm:
    parts = [p for p in r["path"].split("/") if p]
    low = [p.lower() for p in parts]
    if "operations" in low or "operationresults" in low:
        what = "lro-status"
    else:
        what = parts[-1] if len(parts) % 2 == 1 or parts[-1] == "listKeys" else parts[-2] + "/NAME"
        if "skiptoken" in {k.lower().lstrip("$") for k in (r.get("query") or {})}:
            what += "(next page)"
    kinds["%s %s" % (r["method"], what)] += 1
print("kinds", "; ".join("%s x%d" % kv for kv in sorted(kinds.items(), key=lambda kv: -kv[1])))
' "$1"
}

# --- the spec ------------------------------------------------------------------------------------
# gen_spec GROUPS SHARES DIR: DIR/berth.yaml.
gen_spec() {
	mkdir -p "$3"
	awk -v g="$1" -v s="$2" -v a="$accounts" -v owner="$OWNER" -v subs="$SUB" -v rg="$RG" 'BEGIN {
		printf "version: 1\nname: %s\nazure:\n  subscription: %s\n  resource_group: %s\n  location: westeurope\n", owner, subs, rg
		if (s > 0) print "  file_shares:"
		for (i = 1; i <= s; i++)
			printf "    share-%04d: {storage_account: benchsa%d, quota_gb: %d}\n", i, (i - 1) % a + 1, 10 + i % 5
		print "  container_groups:"
		for (i = 1; i <= g; i++) {
			printf "    cg-%04d:\n      ip: public\n      dns_label: %s-cg-%04d\n", i, owner, i
			printf "      containers:\n        web: {image: mcr.microsoft.com/azuredocs/aci-helloworld, cpu: 0.1, memory_gb: 0.1, ports: [80]}\n"
		}
		printf "  traffic_manager:\n    %s-tm:\n      monitor: {protocol: HTTP, path: /, interval: 30}\n      endpoints:\n", owner
		for (i = 1; i <= g; i++)
			printf "        ep-%04d: {container_group: cg-%04d, weight: %d}\n", i, i, 1 + i % 10
	}' >"$3/berth.yaml"
	"$berth" validate -q "$3" || { echo "bench: azure: the generated spec does not validate" >&2; exit 1; }
}

# --- measurements --------------------------------------------------------------------------------
declare -A r # results: r[<label>.<key>]

# timed LABEL CMD...: runs CMD (berth), records wall time, berth CPU, simulator CPU, ARM requests.
timed() {
	local label=$1 from t0 c0 rc=0
	shift
	from=$(sim_log_len)
	c0=$(sim_cpu)
	t0=$(now_us)
	/usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >"$tmp/$label.out" 2>"$tmp/$label.err" || rc=$?
	r[$label.wall]=$(s_since "$t0")
	r[$label.rc]=$rc
	r[$label.berth_cpu]=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/time")
	r[$label.sim_cpu]=$(awk -v a="$c0" -v b="$(sim_cpu)" 'BEGIN { printf "%.2f", b - a }')
	local k v
	while read -r k v; do r[$label.$k]=$v; done < <(sim_count "$from")
}

apply_from_empty() { # LABEL PARALLELISM DIR EXPECTED_STEPS
	sim_fresh
	timed "$1" "$berth" apply --auto-approve --no-color --parallelism "$2" "$3"
	if [ "${r[$1.rc]}" != 0 ] || ! grep -q "Apply complete: $4 done, 0 failed" "$tmp/$1.out"; then
		echo "bench: azure: berth apply -p $2 failed (exit ${r[$1.rc]}):" >&2
		tail -n 20 "$tmp/$1.out" "$tmp/$1.err" >&2
		exit 1
	fi
}

noop_plan() { # LABEL DIR
	local i walls=""
	for i in $(seq "$plan_reps"); do
		timed "$1" "$berth" plan --detailed-exitcode --no-color "$2"
		if [ "${r[$1.rc]}" != 0 ]; then
			echo "bench: azure: the plan after apply is not empty (exit ${r[$1.rc]}):" >&2
			tail -n 20 "$tmp/$1.out" "$tmp/$1.err" >&2
			exit 1
		fi
		walls+=" ${r[$1.wall]}"
	done
	r[$1.walls]=${walls# }
	r[$1.wall]=$(median <<<"$walls")
}

# round TAG GROUPS SHARES [P1]: apply -p 8 from empty, no-op plans, and (P1) apply -p 1 from empty.
round() {
	local tag=$1 g=$2 s=$3 dir=$tmp/spec-$1
	local steps=$((g + s + 1 + g))
	r[$tag.groups]=$g r[$tag.shares]=$s r[$tag.steps]=$steps
	gen_spec "$g" "$s" "$dir"
	echo "bench: azure: $tag: apply of $steps steps at --parallelism 8 ..." >&2
	apply_from_empty "$tag.p8" 8 "$dir" "$steps"
	echo "bench: azure: $tag: no-op plan x $plan_reps ..." >&2
	noop_plan "$tag.plan" "$dir"
	if [ "${4:-0}" = 1 ]; then
		echo "bench: azure: $tag: apply at --parallelism 1 ..." >&2
		apply_from_empty "$tag.p1" 1 "$dir" "$steps"
	fi
}

t_start=$(now_us)
round full "$groups" "$shares" "${BENCH_AZURE_P1:-1}"
half=0
if [ "${BENCH_AZURE_HALF:-1}" != 0 ]; then
	half=1
	round half $((groups / 2)) $((shares / 2)) 0
fi
burst=0
if [ "$burst_groups" -gt 0 ]; then
	burst=1
	round burst "$burst_groups" "$((burst_groups / 10))" 1
fi

# --- report --------------------------------------------------------------------------------------
# floor L: the least time berth's own request budget allows for L's requests (ARM's documented
# per-subscription token buckets, controller/arm.c arm_open: reads 250 + 25/s, writes and deletes
# 200 + 10/s each).
floor() { awk -v r="${r[$1.reads]}" -v w="${r[$1.writes]}" -v d="${r[$1.deletes]}" 'function f(n, b, s) { return n > b ? (n - b) / s : 0 }
	BEGIN { x = f(r, 250, 25); y = f(w, 200, 10); z = f(d, 200, 10); m = x; if (y > m) m = y; if (z > m) m = z; printf "%.1f", m }'; }
apply_line() { # LABEL
	local l=$1
	printf '%-22s %8s s  %5s requests (GET %s, PUT %s, POST %s); berth CPU %s s, simulator CPU %s s; budget floor %s s\n' \
		"$2" "${r[$l.wall]}" "${r[$l.total]}" "${r[$l.GET]}" "${r[$l.PUT]}" "${r[$l.POST]}" "${r[$l.berth_cpu]}" \
		"${r[$l.sim_cpu]}" "$(floor "$l")"
}
plan_line() { # TAG
	printf '%-22s %8s s  %5s requests (median of %s: %s s); berth CPU %s s, simulator CPU %s s\n' \
		"no-op plan, $1" "${r[$1.plan.wall]}" "${r[$1.plan.total]}" "$plan_reps" "${r[$1.plan.walls]}" \
		"${r[$1.plan.berth_cpu]}" "${r[$1.plan.sim_cpu]}"
}

cat <<REPORT
== berth Azure benchmark (ARM simulator, --lro-polls 1, Retry-After 0, list page size $page_size, TCP_NODELAY $nodelay)
machine:    $(uname -sm), $(nproc) CPU(s); simulator: /usr/bin/python3 $("$py" -c 'import platform; print(platform.python_version())')
full:       ${r[full.groups]} container groups (1 container each, public IP + DNS label), ${r[full.shares]} file shares in $accounts storage accounts, 1 Traffic Manager profile with ${r[full.groups]} endpoints: ${r[full.steps]} steps
REPORT
apply_line full.p8 "apply -p 8, full"
echo "  requests: ${r[full.p8.kinds]}"
if [ -n "${r[full.p1.wall]:-}" ]; then
	apply_line full.p1 "apply -p 1, full"
	echo "apply -p 1 / -p 8:      $(ratio "${r[full.p1.wall]}" "${r[full.p8.wall]}")"
fi
plan_line full
echo "  requests: ${r[full.plan.kinds]}"
if [ "$half" = 1 ]; then
	echo "half:       ${r[half.groups]} groups, ${r[half.shares]} shares in $accounts storage accounts, ${r[half.groups]} endpoints: ${r[half.steps]} steps"
	apply_line half.p8 "apply -p 8, half"
	plan_line half
	echo "  requests: ${r[half.plan.kinds]}"
	d_req=$((${r[full.plan.total]} - ${r[half.plan.total]}))
	echo "no-op plan requests:    ${r[half.plan.total]} (half) -> ${r[full.plan.total]} (full): +$d_req for +$((${r[full.groups]} - ${r[half.groups]})) groups, +$((${r[full.shares]} - ${r[half.shares]})) shares, +$((${r[full.groups]} - ${r[half.groups]})) endpoints"
	pages=$(((${r[full.groups]} + page_size - 1) / page_size - (${r[half.groups]} + page_size - 1) / page_size))
	if [ "$d_req" -le "$pages" ]; then
		echo "  verdict: the no-op plan's requests grow only with list pages (expected +$pages at page size $page_size): met"
	else
		echo "  verdict: the no-op plan's requests grow faster than list pages (expected at most +$pages): MISSED"
	fi
fi
if [ "$burst" = 1 ]; then
	echo "burst:      ${r[burst.groups]} groups, ${r[burst.shares]} shares, ${r[burst.groups]} endpoints: ${r[burst.steps]} steps, inside the request budget's bursts"
	apply_line burst.p8 "apply -p 8, burst"
	apply_line burst.p1 "apply -p 1, burst"
	echo "apply -p 1 / -p 8:      $(ratio "${r[burst.p1.wall]}" "${r[burst.p8.wall]}") (burst)"
	echo "per request, -p 1:      $(awk -v w="${r[burst.p1.wall]}" -v n="${r[burst.p1.total]}" 'BEGIN { printf "%.2f ms", 1000 * w / n }') wall (burst; berth + simulator + loopback)"
fi
echo "apply writes per step:  $(ratio "${r[full.p8.writes]}" "${r[full.steps]}") (full, -p 8); reads per container group: $(ratio "${r[full.p8.GET]}" "${r[full.groups]}")"
echo "total benchmark time:   $(s_since "$t_start") s"
if [ "${BENCH_KEEP:-0}" = 1 ]; then
	curl -fsS "$SIM/_sim/log" >"$tmp/sim-requests.json" || true
fi
exit 0
