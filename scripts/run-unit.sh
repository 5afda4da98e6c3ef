#!/bin/bash
# Runs the cmocka unit test binaries, then the fuzz corpus replays given after "--".
# Counts test cases from cmocka's summary; writes "PASSED FAILED" to build/unit-summary.
set -u
passed=0
failed=0
mkdir -p build/test-logs
replay=0
for t in "$@"; do
	if [ "$t" = "--" ]; then replay=1; continue; fi
	name=$(basename "$t")
	log=build/test-logs/$name.log
	if [ "$replay" = 1 ]; then
		corpus=tests/fuzz/corpus/${name#fuzz-}
		corpus=${corpus%-replay}
		if "$t" "$corpus" > "$log" 2>&1; then
			passed=$((passed + 1)); echo "ok   $name ($(grep -c . "$log" || true) inputs)"
		else
			failed=$((failed + 1)); echo "FAIL $name"; tail -n 40 "$log"
		fi
		continue
	fi
	"$t" > "$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1 # crashed or sanitizer report
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" = 0 ]; then
		echo "ok   $name ($p cases)"
	else
		echo "FAIL $name ($f of $((p + f)) failed)"
		grep -E '^\[  (FAILED|ERROR) \]|ERROR: |runtime error|Assertion|failure' "$log" | head -n 20
		tail -n 30 "$log"
	fi
done
echo "$passed $failed" > build/unit-summary
echo "unit: $passed passed, $failed failed"
[ "$failed" = 0 ]
