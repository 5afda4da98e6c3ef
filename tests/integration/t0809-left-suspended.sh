#!/bin/bash
# A thin device left suspended, as by a writer killed between a suspend and its resume (a
# snapshot of an active device, a resize): every read of it would wait in the kernel forever.
# The next writer's open resumes it when the lock's last holder died holding it (a pid left in
# the lock file without the release mark); `commit` and `resize` resume a device they find
# suspended; `usage` does not read a suspended device. Nothing hangs, contents are intact,
# check is clean.
. "$(dirname "$0")/lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=64M
require_thin
command -v jq > /dev/null || skip "no jq"
st="$T/state"
pool=tsls$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
# a verb that must finish: bounded, so that a hang fails the test instead of stalling the run
ts_bounded() { timeout -s KILL 60 "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
dev_of() { # KEY: its dm name
	ts mounts --json "$T/mnt" "$1" | jq -r '.[0].source' | sed 's|^/dev/mapper/||'
}
state_of() { dmsetup info "$1" | sed -n 's/^State: *//p'; }
suspend_key() { # KEY: suspends its device as a killed writer would leave it
	local d
	d=$(dev_of "$1")
	dmsetup suspend "$d"
	assert_eq "$(state_of "$d")" SUSPENDED "$1's device before the test"
}

pool_with_base 256M 8M payload 1048576

# commit of a suspended active key: resumed, then committed; the contents are the key's
ok ts prepare --target "$T/mnt" a1 base
echo "a1 wrote this" > "$T/mnt/note"
sum_a1=$(tree_sum "$T/mnt")
umount "$T/mnt"
suspend_key a1
# usage reads no suspended device: it answers (from the journal) instead of waiting
ok ts_bounded usage a1 > /dev/null
ok ts_bounded commit c1 a1
ok ts view --target "$T/mnt" v1 c1
assert_eq "$(tree_sum "$T/mnt")" "$sum_a1" "c1 holds what a1 wrote"
umount "$T/mnt"
ok ts rm v1

# resize of a suspended key (the device kept the table a killed resize loaded): resumed, grown
ok ts prepare a2 c1
d2=$(dev_of a2)
suspend_key a2
ok ts_bounded resize a2 96M
assert_eq "$(state_of "$d2")" ACTIVE "a2's device after resize"
assert_eq "$(blockdev --getsize64 "/dev/mapper/$d2")" $((96 * 1024 * 1024)) "a2's device size"
mount "/dev/mapper/$d2" "$T/mnt"
assert_eq "$(tree_sum "$T/mnt")" "$sum_a1" "a2 after resize"
umount "$T/mnt"

# a writer that died holding the lock: the next writer's open resumes what it left suspended,
# whatever the verb
ok ts prepare a3 c1
d3=$(dev_of a3)
suspend_key a3
echo 4194303 > "$st/lock" # a pid, as a writer killed mid-operation leaves it
ok ts_bounded cleanup # a verb that touches no snapshot
assert_eq "$(state_of "$d3")" ACTIVE "a3's device after the next writer's open"
assert_contains "$st/lock" "^[0-9]* released$"
# a clean exit marks the pid released: the next open sweeps nothing, and a suspended device stays so
# until a verb that uses it (the cost of the sweep is paid only after a kill)
suspend_key a3
ok ts_bounded label c1 k=v > /dev/null
assert_eq "$(state_of "$d3")" SUSPENDED "a3's device after a clean writer's open"
dmsetup resume "$d3"

ts check > "$T/check" || { cat "$T/check"; fail "check"; }
assert_contains "$T/check" "journal and pool agree"
for k in a2 a3; do ok ts rm "$k"; done
ok ts rm c1
echo "ok: suspended devices resumed by commit, resize and a writer's open after a kill"
