#!/bin/bash
# The test command: installs what is missing, builds, runs the unit tests (ASan + UBSan) on
# the host and the integration tests on a real dm-thin pool (natively, or in user-mode-linux),
# and ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

fail_static=0
pass_static=0
step() { # name, command...
	local name=$1; shift
	if "$@" > "build/test-logs/$name.log" 2>&1; then
		pass_static=$((pass_static + 1)); echo "ok   $name"
	else
		fail_static=$((fail_static + 1)); echo "FAIL $name"; tail -n 40 "build/test-logs/$name.log"
	fi
}
mkdir -p build/test-logs
rm -f build/unit-summary build/integration-summary

jobs=$(nproc 2>/dev/null || echo 2)
if ! make -j"$jobs" all > build/test-logs/build.log 2>&1; then
	tail -n 60 build/test-logs/build.log
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "ok   build"
step check-deps scripts/check-deps.sh
step check-format make check-format
# the quick gate first: unit tests, headers, fuzz corpus replays (no dm-thin needed)
make -j"$jobs" check
make_unit=$?
# every libFuzzer target for a few seconds from its corpus (longer: make fuzz)
step fuzz-smoke make fuzz-smoke
scripts/dmrun --timeout "${TEST_VM_TIMEOUT:-4200}" -- scripts/run-integration.sh
int_rc=$?
# power cuts kill the VM from the host (tests/power/run.sh): only where the tests run in one
if [ "$(scripts/dmrun --which)" = vm ]; then
	step power-cuts env TEST_POWER_CUTS="${TEST_POWER_CUTS:-3}" tests/power/run.sh
else
	echo "skip power-cuts: dm-thin is native here, and a native host can't be power-cut"
fi

read -r up uf < build/unit-summary 2>/dev/null || { up=0; uf=1; }
read -r ip if is < build/integration-summary 2>/dev/null || { ip=0; if=1; is=0; }
[ "$make_unit" != 0 ] && [ "$uf" = 0 ] && uf=1
[ "$int_rc" != 0 ] && [ "$if" = 0 ] && if=1
passed=$((up + ip + pass_static))
failed=$((uf + if + fail_static))
echo "took $(( $(date +%s) - start ))s; integration skipped: ${is:-0}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
