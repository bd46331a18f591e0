#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: fuzzes berth's spec loader with libFuzzer, as `make fuzz` runs it
# (FUZZ_TIME, default 20 seconds).
#
# Builds build/fuzz/spec_fuzz with clang -fsanitize=fuzzer,address,undefined straight from
# spec/*.c (libberth.a is built by gcc without sanitizers), seeds the working corpus
# build/fuzz/corpus (not in git) from examples/**/*.yaml, tests/spec/**/*.yaml and
# tests/fuzz/seeds/, adds the known reproducers in tests/fuzz/regressions/ as a read-only
# corpus, and runs for SECONDS. The last line is "fuzz: 1 passed, 0 failed", or
# "fuzz: 0 passed, 1 failed" on any crash, sanitizer report, leak, timeout or out-of-memory,
# with the reproducer's path printed above it. The full log is build/fuzz/fuzz.log.
# Environment: FUZZ_CC (default clang), FUZZ_JOBS (parallel workers, default 1).
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
case $secs in '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
cc=${FUZZ_CC:-clang}
out=build/fuzz
bin=$out/spec_fuzz
corpus=$out/corpus
artifacts=$out/artifacts
log=$out/fuzz.log

fail() {
	echo "fuzz: $*"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
}

mkdir -p "$corpus" "$artifacts" || fail "cannot create $out"

# ---- build (only when a source is newer than the binary) ----
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
		$yaml_cflags -o "$bin" "${srcs[@]}" $yaml_libs -lm; then
		fail "cannot build $bin (is libclang-rt-14-dev installed? make deps)"
	fi
fi

# ---- seed the working corpus (content-addressed names, so reseeding is idempotent) ----
shopt -s globstar nullglob
seeds=(examples/**/*.yaml tests/spec/**/*.yaml tests/fuzz/seeds/*)
for f in "${seeds[@]}"; do
	[ -f "$f" ] || continue
	h=$(sha1sum "$f" | cut -d' ' -f1)
	[ -e "$corpus/$h" ] || cp "$f" "$corpus/$h"
done
extra=()
[ -d tests/fuzz/regressions ] && [ -n "$(ls -A tests/fuzz/regressions 2>/dev/null)" ] && extra+=(tests/fuzz/regressions)

# ---- fuzz ----
echo "fuzz: ${secs}s on $bin, corpus $corpus ($(ls "$corpus" | wc -l) inputs, ${#seeds[@]} seeds)"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-dict=tests/fuzz/spec.dict -artifact_prefix="$artifacts/" -print_final_stats=1 \
	${FUZZ_JOBS:+-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"} \
	"$corpus" "${extra[@]}" >"$log" 2>&1
rc=$?

# ---- report (all on stdout, so that the summary line is last whatever the buffering) ----
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -n 2
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | head -n 3
crash=$(grep -oE '(Test unit|Crash|artifact) written to [^ ]+' "$log" | sed -E 's/.* written to //' | tail -n 1)
if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
	# The sanitizer's (or libFuzzer's timeout/OOM) report and the first stack trace.
	grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ALARM|out-of-memory|^SUMMARY:' "$log" | head -n 4
	awk '/ERROR: |runtime error:|ALARM/ { on = 1 } on && /^ +#[0-9]+ / { print; n++; if (/LLVMFuzzerTestOneInput/) exit; next } n { exit }' "$log" | head -n 30
	echo "fuzz: reproducer: ${crash:-none written (see $log)}"
	echo "fuzz: replay with: $bin ${crash:-FILE}"
	echo "fuzz: full log: $log"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
echo "fuzz: 1 passed, 0 failed"
