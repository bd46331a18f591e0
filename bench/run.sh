#!/usr/bin/env bash
# bench/run.sh BUILD_DIR: the spec-parsing benchmark, as `make bench` runs it.
#
# Generates a 10,000-service spec (bench/gen_spec) in a temporary directory, checks that
# BUILD_DIR/berth accepts it, then reports:
#   - berth's parse+validate time against libyaml's bare event parse of the same bytes, measured
#     interleaved in one process (BUILD_DIR/bench/spec_bench), and their ratio (target <= 2.0);
#   - the peak RSS of `berth validate --skip-secret-refs -q FILE`, in MiB and as a multiple of
#     the file size (target <= 10x).
# Then it runs the swarm apply benchmark, bench/swarm_bench.sh BUILD_DIR (which skips itself when
# no engine in swarm mode is reachable; BENCH_SWARM=0 skips it too), the Azure one
# (bench/azure_bench.sh), berth run's (bench/run_bench.sh; BENCH_RUN=0 skips it) and the rollout's
# (bench/rollout_bench.sh; BENCH_ROLLOUT=0 skips it), the leader failover's (bench/leader_bench.sh;
# BENCH_LEADER=0 skips it), the autoscale evaluation's (bench/autoscale_bench.sh;
# BENCH_AUTOSCALE=0 skips it) and the drained scale-in's (bench/capacity_bench.sh;
# BENCH_CAPACITY=0 skips it).
# A benchmark reports; it is not a test: the exit status is 0 even when a target is MISSED
# (non-zero only when a benchmark itself cannot run: the first such one's status).
# Environment: BENCH_SERVICES (default 10000), BENCH_REPS (default 11), BENCH_KEEP=1 keeps the
# generated file.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
services=${BENCH_SERVICES:-10000}
reps=${BENCH_REPS:-11}
ratio_target=2.0
rss_target=10

for f in "$build/berth" "$build/bench/spec_bench"; do
	[ -x "$f" ] || { echo "bench: $f is missing; run 'make bench'" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
if [ "${BENCH_KEEP:-0}" = 1 ]; then
	trap 'echo "bench: kept $tmp" >&2' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi
spec=$tmp/services-$services.yaml

bench/gen_spec "$services" >"$spec"
if ! "$build/berth" validate --skip-secret-refs -q "$spec"; then
	echo "bench: the generated spec does not validate; fix bench/gen_spec or the parser" >&2
	exit 1
fi

# "KEY VALUE" lines into an associative array.
declare -A r
read_kv() {
	local k v
	while read -r k v; do r[$k]=$v; done
}
read_kv < <("$build/bench/spec_bench" --rss "$build/berth" "$spec")
read_kv < <("$build/bench/spec_bench" -n "$reps" "$spec")

verdict() { # VALUE TARGET -> "met" or "MISSED"
	awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "met" : "MISSED" }'
}
ratio_ok=$(verdict "${r[ratio]}" "$ratio_target")
rss_ok=$(verdict "${r[rss_multiple]}" "$rss_target")
mib=$(awk -v b="${r[file_bytes]}" 'BEGIN { printf "%.1f", b / 1048576 }')

cat <<REPORT
== berth spec parsing benchmark
machine:          $(uname -sm), $(nproc) CPU(s), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
input:            $services swarm services, ${r[file_bytes]} bytes ($mib MiB), ${r[events]} libyaml events
repetitions:      ${r[reps]}, libyaml and berth interleaved in one process
libyaml events:   median ${r[libyaml_median_ms]} ms (min ${r[libyaml_min_ms]} ms)
berth load:       median ${r[berth_median_ms]} ms (min ${r[berth_min_ms]} ms), ${r[berth_mib_per_s]} MiB/s
ratio:            ${r[ratio]} berth/libyaml (target <= $ratio_target): $ratio_ok
peak RSS:         ${r[rss_peak_mib]} MiB for berth validate (berth --version: $((r[rss_base_kib] / 1024)) MiB)
RSS / file size:  ${r[rss_multiple]}x (target <= ${rss_target}x): $rss_ok
REPORT
if [ "$ratio_ok" = met ] && [ "$rss_ok" = met ]; then
	echo "bench: all targets met"
else
	echo "bench: target MISSED (see above)"
fi

# The other benchmarks, each after a blank line; each skips itself when what it needs is not here.
# All of them run even when one cannot; the first that could not gives the exit status.
rc=0
for b in swarm azure run rollout leader autoscale capacity; do
	echo
	b_rc=0
	"bench/${b}_bench.sh" "$build" || b_rc=$?
	[ "$rc" != 0 ] || rc=$b_rc
done
exit "$rc"
