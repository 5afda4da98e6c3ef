#!/bin/bash
# The thinsnap command under valgrind over a short lifecycle on
# a real pool (ASan does not work in the VM): no invalid access, no definite or indirect
# leak, in any verb.
. "$(dirname "$0")/lib.sh"
require_thin
command -v valgrind > /dev/null || skip "no valgrind"
st="$T/state"
pool=tsvg$$
runs=0
# vg ARG...: the command under valgrind; fails the test on any valgrind error
vg() {
	runs=$((runs + 1))
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --log-file="$T/vg.$runs" \
		"$THINSNAP" --state-dir "$st" --pool "$pool" "$@"
	local rc=$?
	# (its warnings about loop ioctls it does not know are not errors)
	if [ "$rc" = 99 ] || grep -q 'Invalid\|uninitialised\|lost in\|Mismatched' "$T/vg.$runs"; then
		cat "$T/vg.$runs" >&2
		fail "valgrind: errors in 'thinsnap $*'"
	fi
	return "$rc"
}
ok vg -q pool create --data-size 256M --metadata-size 8M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir "$T/mnt"
ok vg prepare --target "$T/mnt" --label a=1 base-a
at_exit "umount -l $T/mnt"
echo hello > "$T/mnt/f"
umount "$T/mnt"
ok vg commit base base-a
ok vg prepare --mounts work base > /dev/null
ok vg commit --keep-active base2 work
ok vg view look base2 > /dev/null
ok vg ls > /dev/null
ok vg --json ls > /dev/null
ok vg ls 'kind==committed' 'labels."a"==1' > /dev/null
ok vg info base > /dev/null
ok vg tree > /dev/null
ok vg label base x=y > /dev/null
ok vg usage > /dev/null
ok vg mounts /mnt work > /dev/null
ok vg pool status > /dev/null
ok vg --json pool status > /dev/null
nok vg remove base # has children: an error path
ok vg remove look work base2
ok vg cleanup
ok vg check > /dev/null
ok vg repair > /dev/null
ok vg remove base
nok vg info nosuch
nok vg prepare # usage error
echo "valgrind-cli: $runs thinsnap runs under valgrind, 0 errors, 0 leaks"
