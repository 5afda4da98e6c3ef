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

dm_names() { dmsetup ls 2> /dev/null | awk '$1 != "No" {print $1}' | sort; }
# The dm devices made since BEFORE (a file of names) that are suspended: resumed, and named.
# A device left so makes every read of it, and every global sync (the VM's shutdown),
# wait forever.
resume_left_suspended() {
	local n
	for n in $(dm_names | comm -13 "$1" -); do
		if dmsetup info "$n" 2> /dev/null | grep -q '^State: *SUSPENDED'; then
			echo "$n"
			dmsetup resume "$n" 2> /dev/null
		fi
	done
}
# What a test that ran out of time was waiting on: its processes in D state, the dm devices.
timeout_report() {
	echo "-- processes waiting in the kernel (D state):"
	ps -eo pid,stat,wchan:32,args 2> /dev/null | awk 'NR == 1 || $2 ~ /^D/'
	echo "-- dm devices:"
	dmsetup info -c 2> /dev/null
}
# Unmounts what a test left mounted under its scratch directory (innermost first).
umount_under() {
	local m
	for m in $(awk -v d="$1" 'index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
		umount -l "$m" 2> /dev/null
	done
}
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
	dm_names > "$scratch.dm-before"
	start=$(date +%s.%N)
	TMPDIR="$scratch" timeout -k 5 "${TEST_TIMEOUT:-900}" bash "$t" > "$log" 2>&1
	rc=$?
	secs=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?')
	[ "$rc" = 124 ] || [ "$rc" = 137 ] && timeout_report >> "$log"
	left=$(resume_left_suspended "$scratch.dm-before")
	if [ -n "$left" ]; then
		echo "FAIL: the test left dm devices suspended (resumed now): $left" >> "$log"
		[ "$rc" = 0 ] && rc=1
	fi
	umount_under "$scratch"
	rm -rf --one-file-system "$scratch" "$scratch.dm-before"
	case $rc in
	0) passed=$((passed + 1)); printf 'ok   %s (%.1fs)\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); echo "skip $name: $(tail -n 1 "$log")" ;;
	*) failed=$((failed + 1)); echo "FAIL $name (exit $rc)"; tail -n 40 "$log" ;;
	esac
done
echo "$passed $failed $skipped" > "$summary"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
