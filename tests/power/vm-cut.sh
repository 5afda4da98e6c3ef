#!/bin/bash
# The power cut itself (tests/power/run.sh relies on it): kill -9 of the process group that
# `scripts/dmrun --pidfile` names stops the whole VM, and dmrun returns only once it is gone.
# A VM writes a counter to a host file every 50 ms; after the cut the file must not change.
# (linux.uml makes itself a session leader; killing timeout's group left the VM running on
# the pool files while the next boot used them, the cause of the power test's failures.)
#   tests/power/vm-cut.sh        (as root; run by make check-power)
set -u
cd "$(dirname "$0")/../.."
W=$(mktemp -d /tmp/thinsnap-vmcut.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "vm-cut: FAILED: $*"; exit 1; }

scripts/dmrun --vm --timeout 120 --pidfile "$W/vm.pid" -- \
	bash -c 'i=0; while :; do i=$((i + 1)); echo $i > "$1/tick"; sleep 0.05; done' _ "$W" \
	> "$W/log" 2>&1 &
dmrun_pid=$!
for ((t = 0; t < 600; t++)); do
	[ -s "$W/tick" ] && [ "$(cat "$W/tick")" -ge 5 ] 2> /dev/null && break
	sleep 0.1
done
[ -s "$W/tick" ] && [ -s "$W/vm.pid" ] || fail "the VM never started ($(cat "$W/log"))"
pg=$(cat "$W/vm.pid")
kill -KILL -- "-$pg"
wait "$dmrun_pid"
if kill -0 -- "-$pg" 2> /dev/null; then
	ps -o pid,pgid,sid,stat,args -g "$pg" 2> /dev/null
	fail "processes of the VM (group $pg) outlive the cut"
fi
before=$(cat "$W/tick")
sleep 1
after=$(cat "$W/tick")
[ "$before" = "$after" ] || fail "the VM still writes after the cut (tick $before, then $after)"
if pgrep -f "init=$W" > /dev/null 2>&1; then
	fail "a linux.uml process of the cut VM is still running"
fi
echo "vm-cut: the VM stopped at the cut (tick $after) and dmrun returned after it was gone"
