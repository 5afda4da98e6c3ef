#!/bin/bash
# thinsnapd under valgrind on a real pool (ASan does not work in
# the VM), driven by tests/snapdrive -all through every gRPC method, the failing requests
# (unknown keys, taken names, children, bad filters, malformed protobuf, unknown method,
# oversize message) and a graceful SIGTERM: no invalid access, no definite or indirect leak.
. "$(dirname "$0")/lib.sh"
command -v valgrind > /dev/null || skip "no valgrind"
. "$(dirname "$0")/stress-lib.sh"

make_stress_pool 512M
vglog=$T/vg.log
start_daemon valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--log-file="$vglog"
"$SNAPDRIVE" -sock "$sock" -all -mnt "$T/mnt" -call-timeout 120s > "$T/drive" 2>&1 ||
	{ cat "$T/drive" "$T/thinsnapd.log"; fail "snapdrive -all"; }
cat "$T/drive"
# a second connection that goes away mid-way, then the shutdown with calls done
"$SNAPDRIVE" -sock "$sock" -all -mnt "$T/mnt" -call-timeout 120s > /dev/null 2>&1 ||
	fail "snapdrive -all, second run"
stop_daemon 90
if [ "$daemon_rc" = 99 ] || grep -q 'Invalid\|uninitialised\|lost in\|Mismatched' "$vglog"; then
	cat "$vglog" >&2
	fail "valgrind: errors in thinsnapd"
fi
assert_eq "$daemon_rc" 0 "thinsnapd's exit status under valgrind"
ok ts check > /dev/null
calls=$(sed -n 's/^snapdrive: \([0-9]*\) calls.*/\1/p' "$T/drive")
echo "valgrind-daemon: thinsnapd served 2 x $calls calls (every method, failing ones too) and" \
	"SIGTERM under valgrind: 0 errors, 0 leaks"
