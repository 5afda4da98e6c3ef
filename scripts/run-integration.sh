#!/bin/bash
# Runs tests/integration/tNNNN-*.sh (or those given) one after another inside one dm-thin
# environment (call it through scripts/dmrun). Exit 77 from a test means skipped.
# Writes "PASSED FAILED SKIPPED" to $INTEGRATION_SUMMARY (default build/integration-summary).
#
#   scripts/run-integration.sh [TEST...]
#   scripts/run-integration.sh --queue DIR
#
# --queue: DIR/list names the tests in order; several environments (VM boots) share it, each
# taking the next test nobody has taken: taking is mkdir DIR/taken/NAME, atomic on the host's
# filesystem, which every user-mode-linux kernel reaches through hostfs.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p build/test-logs
export TOP="$top"
export THINSNAP="$top/build/release/thinsnap"
export PATH="$top/build/release:$PATH"
summary=${INTEGRATION_SUMMARY:-build/integration-summary}
queue=
if [ "${1:-}" = --queue ]; then
	queue=$2
	shift 2
	mkdir -p "$queue/taken"
fi
passed=0
failed=0
skipped=0
tests=("$@")
if [ -n "$queue" ]; then
	mapfile -t tests < "$queue/list"
elif [ ${#tests[@]} -eq 0 ]; then
	tests=(tests/integration/t[0-9]*.sh)
fi
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	if [ -n "$queue" ] && ! mkdir "$queue/taken/$name" 2> /dev/null; then
		continue # another environment has it
	fi
	log=build/test-logs/$name.log
	scratch=$(mktemp -d /tmp/thinsnap-it.XXXXXX)
	start=$(date +%s.%N)
	TMPDIR="$scratch" timeout -k 5 "${TEST_TIMEOUT:-900}" bash "$t" > "$log" 2>&1
	rc=$?
	secs=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?')
	rm -rf "$scratch"
	case $rc in
	0) passed=$((passed + 1)); printf 'ok   %s (%.1fs)\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); echo "skip $name: $(tail -n 1 "$log")" ;;
	*) failed=$((failed + 1)); echo "FAIL $name (exit $rc)"; tail -n 40 "$log" ;;
	esac
done
echo "$passed $failed $skipped" > "$summary"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
