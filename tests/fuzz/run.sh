#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: fuzzes berth's input readers with libFuzzer, as `make fuzz` runs it
# (FUZZ_TIME, default 20 seconds). Each target is fuzzed for SECONDS, one after the other:
#
#   spec  tests/fuzz/spec_fuzz.c: the spec loader (spec/), YAML from the examples, tests/spec/
#         and tests/fuzz/seeds/spec/, dictionary tests/fuzz/spec.dict.
#   plan  tests/fuzz/plan_fuzz.c: the saved-plan reader (controller/render/plan_file.c), JSON
#         from tests/fuzz/seeds/plan/, dictionary tests/fuzz/plan.dict.
#   webhook  tests/fuzz/webhook_fuzz.c: the webhook verifier (controller/server/webhook.c),
#         deliveries from tests/fuzz/seeds/webhook/ (format in the target), tests/fuzz/webhook.dict.
#   rollout  tests/fuzz/rollout_fuzz.c: the rollout decision and its progress-tag parser
#         (controller/rollout/rollout.c), live states from tests/fuzz/seeds/rollout/ (format in
#         the target), tests/fuzz/rollout.dict.
#   metrics  tests/fuzz/metrics_fuzz.c: what autoscaling reads (Prometheus query answers, container
#         stats; controller/providers/swarm/swarm_prom.c, providers/common/engine_stats.c), seeds
#         tests/fuzz/seeds/metrics/.
#   cluster  tests/fuzz/cluster_fuzz.c: the cluster autoscaler on arbitrary nodes, tasks and scale
#         set (controller/providers/vmss/vmss_autoscale.c, controller/autoscale/cluster.c), seeds
#         tests/fuzz/seeds/cluster/, dictionary tests/fuzz/cluster.dict.
#
# FUZZ_TARGETS="plan" (space-separated) runs only some of them. For each target:
#  1. Builds build/fuzz/TARGET_fuzz with clang -fsanitize=fuzzer,address,undefined, when a source
#     changed. spec: straight from the sources in spec/. plan: the reader's source instrumented,
#     what it calls (plan.c's action names, util.c's allocation) from build/libberth.a (built by
#     make, without sanitizers), so that moving a helper between modules does not break this.
#  2. Replays every reproducer in tests/fuzz/regressions/TARGET/ once: each must now pass (no
#     crash, sanitizer report, leak, or run over the 10 s timeout). They are replayed rather than
#     fuzzed because some are deliberately slow inputs that would eat the fuzzing time.
#  3. Seeds the working corpus build/fuzz/TARGET/corpus (not in git) and fuzzes for SECONDS.
# The last line is "fuzz: N passed, N failed", one count per target: a target fails on any
# crash, sanitizer report, leak, timeout or out-of-memory, with the failing input's path and the
# stack printed above the last line. Full logs: build/fuzz/TARGET/{regressions,fuzz}.log.
# A new finding: copy the reproducer from build/fuzz/TARGET/artifacts/ to
# tests/fuzz/regressions/TARGET/ under a name that says what it is.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
case $secs in '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
cc=${FUZZ_CC:-clang}
targets=${FUZZ_TARGETS:-spec plan}
flags=(-timeout=10 -rss_limit_mb=2048 -max_len=65536)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
shopt -s globstar nullglob

# Prints the sanitizer's (or libFuzzer's timeout/OOM) report and the first stack from LOG.
report() {
	local log=$1 input=$2 bin=$3
	grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ALARM|out-of-memory|^SUMMARY:' "$log" | head -n 4
	awk '/ERROR: |runtime error:|ALARM/ { on = 1 }
	     on && /^ +#[0-9]+ / { print; n++; if (/LLVMFuzzerTestOneInput/) exit; next }
	     n { exit }' "$log" | head -n 30
	echo "fuzz: failing input: $input"
	echo "fuzz: replay with: $bin ${flags[*]} $input"
	echo "fuzz: full log: $log"
}

# What each target is made of. Sets srcs (compiled with clang), deps (a change rebuilds),
# pkgs, libs (linked as they are), seeds, dict.
target_def() {
	case $1 in
	spec)
		srcs=(tests/fuzz/spec_fuzz.c spec/*.c)
		deps=(spec/*.h)
		pkgs=yaml-0.1 libs=()
		seeds=(examples/**/*.yaml tests/spec/**/*.yaml tests/fuzz/seeds/spec/*)
		dict=tests/fuzz/spec.dict ;;
	plan)
		srcs=(tests/fuzz/plan_fuzz.c controller/render/plan_file.c)
		deps=(controller/render/plan_file.h build/libberth.a)
		pkgs="jansson libcrypto" libs=(build/libberth.a -lpthread)
		seeds=(tests/fuzz/seeds/plan/*)
		dict=tests/fuzz/plan.dict ;;
	webhook)
		srcs=(tests/fuzz/webhook_fuzz.c controller/server/webhook.c)
		deps=(controller/server/webhook.h build/libberth.a)
		pkgs="jansson libcrypto" libs=(build/libberth.a -lpthread)
		seeds=(tests/fuzz/seeds/webhook/*)
		dict=tests/fuzz/webhook.dict ;;
	rollout)
		srcs=(tests/fuzz/rollout_fuzz.c controller/rollout/rollout.c)
		deps=(controller/rollout/rollout.h build/libberth.a)
		pkgs="jansson libcrypto" libs=(build/libberth.a -lpthread)
		seeds=(tests/fuzz/seeds/rollout/*)
		dict=tests/fuzz/rollout.dict ;;
	metrics)
		srcs=(tests/fuzz/metrics_fuzz.c controller/providers/swarm/swarm_prom.c controller/providers/swarm/swarm_usage.c
		      controller/providers/common/engine_stats.c controller/autoscale/autoscale.c)
		deps=(controller/providers/swarm/swarm_prom.h controller/providers/swarm/swarm.h controller/autoscale/autoscale.h
		      controller/providers/common/engine_stats.h build/libberth.a)
		pkgs="jansson libcurl libcrypto yaml-0.1" libs=(build/libberth.a -lpthread)
		seeds=(tests/fuzz/seeds/metrics/*)
		dict=tests/fuzz/metrics.dict ;;
	cluster)
		srcs=(tests/fuzz/cluster_fuzz.c controller/providers/vmss/vmss_autoscale.c controller/autoscale/cluster.c)
		deps=(controller/providers/vmss/vmss_autoscale.h controller/autoscale/cluster.h build/libberth.a)
		pkgs="jansson libcurl libcrypto yaml-0.1" libs=(build/libberth.a -lpthread)
		seeds=(tests/fuzz/seeds/cluster/*)
		dict=tests/fuzz/cluster.dict ;;
	*) return 1 ;;
	esac
}

# run_target NAME: build, replay, fuzz. Prints its lines; returns 0 when the target passes.
run_target() {
	local t=$1 srcs deps pkgs libs seeds dict
	if ! target_def "$t"; then
		echo "fuzz: $t: no such target (targets: spec plan webhook rollout metrics cluster)"
		return 1
	fi
	local out=build/fuzz/$t bin=build/fuzz/${t}_fuzz
	local corpus=$out/corpus artifacts=$out/artifacts
	mkdir -p "$corpus" "$artifacts" || { echo "fuzz: $t: cannot create $out"; return 1; }

	# ---- 1. build ----
	if [ ${#libs[@]} -gt 0 ] && ! ${MAKE:-make} -s --no-print-directory build/libberth.a; then
		echo "fuzz: $t: cannot build build/libberth.a"
		return 1
	fi
	local rebuild=0 f
	[ -x "$bin" ] || rebuild=1
	for f in "${srcs[@]}" "${deps[@]}" tests/fuzz/run.sh; do
		[ "$f" -nt "$bin" ] && rebuild=1
	done
	if [ "$rebuild" = 1 ]; then
		command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (make deps installs clang and libclang-rt-14-dev)"; return 1; }
		local pcflags plibs
		pcflags=$(pkg-config --cflags $pkgs 2>/dev/null)
		plibs=$(pkg-config --libs $pkgs 2>/dev/null || echo "-l${pkgs%-*}")
		echo "fuzz: building $bin"
		# shellcheck disable=SC2086
		if ! "$cc" -g -O1 -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE \
			-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
			-I. -Icontroller $pcflags -o "$bin" "${srcs[@]}" "${libs[@]}" $plibs -lm; then
			echo "fuzz: $t: cannot build $bin (is libclang-rt-14-dev installed? make deps)"
			return 1
		fi
	fi

	# ---- 2. known reproducers ----
	local regressions=(tests/fuzz/regressions/"$t"/*)
	if [ ${#regressions[@]} -gt 0 ]; then
		local rlog=$out/regressions.log start
		: >"$rlog"
		for f in "${regressions[@]}"; do
			[ -f "$f" ] || continue
			start=$(date +%s.%N)
			if ! "$bin" "${flags[@]}" "$f" >>"$rlog" 2>&1; then
				echo "fuzz: $t: regression input fails again: $f"
				report "$rlog" "$f" "$bin"
				return 1
			fi
			awk -v s="$start" -v e="$(date +%s.%N)" -v f="$f" \
				'BEGIN { if (e - s > 5) printf "fuzz: warning: %s takes %.1f s (timeout 10 s)\n", f, e - s }'
		done
		echo "fuzz: $t: ${#regressions[@]} regression inputs replayed, all pass"
	fi

	# ---- 3. fuzz ----
	local h n=0
	for f in "${seeds[@]}"; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		h=$(sha1sum "$f" | cut -d' ' -f1)
		[ -e "$corpus/$h" ] || cp "$f" "$corpus/$h"
	done
	local log=$out/fuzz.log
	echo "fuzz: $t: ${secs}s on $bin, corpus $corpus ($(ls "$corpus" | wc -l) inputs, $n seeds)"
	"$bin" -max_total_time="$secs" "${flags[@]}" -dict="$dict" \
		-artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" >"$log" 2>&1
	local rc=$?

	# ---- report (all on stdout, so that the summary line is last whatever the buffering) ----
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -n 2
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | head -n 3
	local crash
	crash=$(grep -oE '(Test unit|Crash|artifact) written to [^ ]+' "$log" | sed -E 's/.* written to //' | tail -n 1)
	if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
		report "$log" "${crash:-none written (see the log)}" "$bin"
		return 1
	fi
	echo "fuzz: $t: passed"
}

passed=0 failed=0
for t in $targets; do
	if run_target "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
