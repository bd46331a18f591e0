#!/usr/bin/env bash
# The whole test suite, as `make check` runs it. Each stage prints "STAGE: N passed, N failed";
# the last line adds them up. Exit status 1 if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
jobs=$(nproc 2>/dev/null || echo 2)

total_pass=0 total_fail=0 failed_stages=()
stage() {
	local name=$1; shift
	echo "== $name" >&2
	local log; log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line; line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	local p=0 f=0
	if [ -n "$line" ]; then
		p=$(sed -E 's/^[a-z-]+: ([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/^[a-z-]+: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
	[ "$rc" -eq 0 ] || failed_stages+=("$name")
	rm -f "$log"
}

# A real engine in swarm mode for the unit tests of the Docker client and the integration tests.
scripts/swarm-up.sh
export BERTH_TEST_DOCKER_HOST=unix:///var/run/docker.sock
# No test may reach the real instance metadata service (169.254.169.254): a dead loopback port.
export AZURE_IMDS_ENDPOINT=http://127.0.0.1:1

stage build $MAKE -j"$jobs" all
# Include arrows and symbol uses point down the layers only, and no module cycle exists.
stage layers python3 tests/layers/check_layers.py . build
stage unit $MAKE -j"$jobs" unit
# Every block of the docs marked as a berth command's output is what the binary prints.
stage docs tests/docs/check_docs.sh
stage integration tests/integration/run.sh
stage asan $MAKE -j"$jobs" asan-check
# The same integration tests with berth built with AddressSanitizer and UBSan.
# The image builds its own berth: the ASan stage has nothing new to test in it.
stage integration-asan env T_EXCLUDE=t_image BERTH="$PWD/build/asan/berth" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/integration/run.sh
stage schema tests/schema/run.sh
stage azure-sim tests/azure-sim/run.sh
stage fuzz $MAKE fuzz

if [ ${#failed_stages[@]} -ne 0 ]; then
	echo "check: failed stages: ${failed_stages[*]}" >&2
fi
echo "check: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ ${#failed_stages[@]} -eq 0 ]
