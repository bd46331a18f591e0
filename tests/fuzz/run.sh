#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: fuzzes berth's spec loader with libFuzzer, as `make fuzz` runs it
# (FUZZ_TIME, default 20 seconds).
#
#  1. Builds build/fuzz/spec_fuzz with clang -fsanitize=fuzzer,address,undefined straight from the
#     sources in spec/ (libberth.a is built by gcc without sanitizers), when a source changed.
#  2. Replays every reproducer in tests/fuzz/regressions/ once: each must now pass (no crash,
#     sanitizer report, leak, or run over the 10 s timeout). They are replayed rather than
#     fuzzed because some are deliberately slow inputs that would eat the fuzzing time.
#  3. Seeds the working corpus build/fuzz/corpus (not in git) from examples/**/*.yaml,
#     tests/spec/**/*.yaml and tests/fuzz/seeds/, and fuzzes for SECONDS with the dictionary
#     tests/fuzz/spec.dict.
# The last line is "fuzz: 1 passed, 0 failed", or "fuzz: 0 passed, 1 failed" on any crash,
# sanitizer report, leak, timeout or out-of-memory, with the failing input's path and the stack
# printed above it. Full logs: build/fuzz/regressions.log and build/fuzz/fuzz.log.
# A new finding: copy the reproducer from build/fuzz/artifacts/ to tests/fuzz/regressions/
# under a name that says what it is.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
case $secs in '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
cc=${FUZZ_CC:-clang}
out=build/fuzz
bin=$out/spec_fuzz
corpus=$out/corpus
artifacts=$out/artifacts
flags=(-timeout=10 -rss_limit_mb=2048 -max_len=65536)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fail() {
	echo "fuzz: $*"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
}

# Prints the sanitizer's (or libFuzzer's timeout/OOM) report and the first stack from LOG.
report() {
	local log=$1 input=$2
	grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ALARM|out-of-memory|^SUMMARY:' "$log" | head -n 4
	awk '/ERROR: |runtime error:|ALARM/ { on = 1 }
	     on && /^ +#[0-9]+ / { print; n++; if (/LLVMFuzzerTestOneInput/) exit; next }
	     n { exit }' "$log" | head -n 30
	echo "fuzz: failing input: $input"
	echo "fuzz: replay with: $bin ${flags[*]} $input"
	echo "fuzz: full log: $log"
}

mkdir -p "$corpus" "$artifacts" || fail "cannot create $out"

# ---- 1. build ----
srcs=(tests/fuzz/spec_fuzz.c spec/*.c)
rebuild=0
[ -x "$bin" ] || rebuild=1
for f in "${srcs[@]}" spec/*.h tests/fuzz/run.sh; do
	[ "$f" -nt "$bin" ] && rebuild=1
done
if [ "$rebuild" = 1 ]; then
	command -v "$cc" >/dev/null || fail "$cc not found (make deps installs clang and libclang-rt-14-dev)"
	yaml_cflags=$(pkg-config --cflags yaml-0.1 2>/dev/null)
	yaml_libs=$(pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)
	echo "fuzz: building $bin"
	# shellcheck disable=SC2086
	if ! "$cc" -g -O1 -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I. $yaml_cflags -o "$bin" "${srcs[@]}" $yaml_libs -lm; then
		fail "cannot build $bin (is libclang-rt-14-dev installed? make deps)"
	fi
fi

# ---- 2. known reproducers ----
shopt -s globstar nullglob
regressions=(tests/fuzz/regressions/*)
if [ ${#regressions[@]} -gt 0 ]; then
	rlog=$out/regressions.log
	: >"$rlog"
	for f in "${regressions[@]}"; do
		[ -f "$f" ] || continue
		start=$(date +%s.%N)
		if ! "$bin" "${flags[@]}" "$f" >>"$rlog" 2>&1; then
			echo "fuzz: regression input fails again: $f"
			report "$rlog" "$f"
			echo "fuzz: 0 passed, 1 failed"
			exit 1
		fi
		awk -v s="$start" -v e="$(date +%s.%N)" -v f="$f" \
			'BEGIN { if (e - s > 5) printf "fuzz: warning: %s takes %.1f s (timeout 10 s)\n", f, e - s }'
	done
	echo "fuzz: ${#regressions[@]} regression inputs replayed, all pass"
fi

# ---- 3. fuzz ----
seeds=(examples/**/*.yaml tests/spec/**/*.yaml tests/fuzz/seeds/*)
for f in "${seeds[@]}"; do
	[ -f "$f" ] || continue
	h=$(sha1sum "$f" | cut -d' ' -f1)
	[ -e "$corpus/$h" ] || cp "$f" "$corpus/$h"
done
log=$out/fuzz.log
echo "fuzz: ${secs}s on $bin, corpus $corpus ($(ls "$corpus" | wc -l) inputs, ${#seeds[@]} seeds)"
"$bin" -max_total_time="$secs" "${flags[@]}" -dict=tests/fuzz/spec.dict \
	-artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" >"$log" 2>&1
rc=$?

# ---- report (all on stdout, so that the summary line is last whatever the buffering) ----
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -n 2
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | head -n 3
crash=$(grep -oE '(Test unit|Crash|artifact) written to [^ ]+' "$log" | sed -E 's/.* written to //' | tail -n 1)
if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
	report "$log" "${crash:-none written (see the log)}"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
echo "fuzz: 1 passed, 0 failed"
