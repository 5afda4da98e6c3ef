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
# the quick gate first (no dm-thin needed): unit tests, headers, fuzz corpus replays, check-pc
make -j"$jobs" check
make_unit=$?
# every libFuzzer target for a few seconds from its corpus (longer: make fuzz)
step fuzz-smoke make fuzz-smoke
# The integration tests: in user-mode-linux, TEST_VM_BOOTS boots (default 2, one per core)
# share one queue of tests, the slowest first so that no boot is left with a long one at the
# end; natively, one run (the tests share the host's kernel and devices).
slow_first=(t0801-crash-matrix t0621-usage-cost t0602-conformance t0804-valgrind-cli
	t0615-conformance2-files t0802-random-kills t0701-unpack t0806-valgrind-daemon t0805-concurrency
	t0612-conformance2
	t0620-cri t0420-lvm-grow)
where=$(scripts/dmrun --which)
boots=${TEST_VM_BOOTS:-2}
[ "$where" = vm ] || boots=1
queue=build/it-queue
rm -rf "$queue" build/integration-summary.*
mkdir -p "$queue"
{
	for n in "${slow_first[@]}"; do [ -f "tests/integration/$n.sh" ] && echo "tests/integration/$n.sh"; done
	for t in tests/integration/t[0-9]*.sh; do
		case " ${slow_first[*]} " in *" $(basename "$t" .sh) "*) ;; *) echo "$t" ;; esac
	done
} > "$queue/list"
int_rc=0
pids=()
for i in $(seq 1 "$boots"); do
	scripts/dmrun --timeout "${TEST_VM_TIMEOUT:-4200}" -- env INTEGRATION_SUMMARY=build/integration-summary.$i \
		scripts/run-integration.sh --queue "$queue" > "build/test-logs/integration-$i.log" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || int_rc=1
	echo "-- integration, boot $((i + 1)) of $boots:"
	cat "build/test-logs/integration-$((i + 1)).log"
done
sum_p=0 sum_f=0 sum_s=0
for i in $(seq 1 "$boots"); do
	if read -r p f s 2> /dev/null < "build/integration-summary.$i"; then
		sum_p=$((sum_p + p)) sum_f=$((sum_f + f)) sum_s=$((sum_s + s))
	else
		sum_f=$((sum_f + 1))
		echo "FAIL integration boot $i wrote no summary"
	fi
done
echo "$sum_p $sum_f $sum_s" > build/integration-summary
# power cuts kill the VM from the host (tests/power/run.sh): only where the tests run in one
if [ "$where" = vm ]; then
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
