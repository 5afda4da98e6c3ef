#!/bin/bash
# pool/ end to end through the thinsnap CLI: a loop-file pool, a thin device with ext4,
# files written, a snapshot of the mounted origin, the snapshot read-only, delete frees
# blocks, transaction-id CAS, grow, list-ids, destroy. dmsetup is only the test's witness.
. "$(dirname "$0")/lib.sh"
require_thin

S=$T/state
P=tsp$$
ts() { "$THINSNAP" "$@"; }
field() { ts pool status --state-dir "$S" --name "$P" | sed -n "s/^$1: //p"; }

ok ts pool create --state-dir "$S" --name "$P" --data-size 256M
at_exit "$THINSNAP pool destroy --state-dir $S --name $P"
dmsetup status "$P" | grep -q ' thin-pool ' || fail "pool '$P' is not a thin-pool"
dmsetup table "$P" | grep -q ' 128 0 0 *$' || { dmsetup table "$P"; fail "block size / features"; }
[ -f "$S/identity" ] && [ -f "$S/data" ] && [ -f "$S/metadata" ] || fail "state files"
assert_eq "$(field mode)" rw "pool mode"
assert_eq "$(field data_total_bytes)" $((256 * 1024 * 1024)) "pool data size"

ok ts thin create --state-dir "$S" --name "$P" --id 1
ok ts thin activate --state-dir "$S" --name "$P" --id 1 --dm-name "$P-1" --size 64M
at_exit "$THINSNAP thin deactivate --state-dir $S --name $P --dm-name $P-1"
[ -b "/dev/mapper/$P-1" ] || fail "no /dev/mapper/$P-1"
# activating again with the same table is a no-op
ok ts thin activate --state-dir "$S" --name "$P" --id 1 --dm-name "$P-1" --size 64M
mkfs.ext4 -q "/dev/mapper/$P-1"
mkdir "$T/mnt" "$T/snap"
mount "/dev/mapper/$P-1" "$T/mnt"
at_exit "umount $T/mnt"
echo "hello from the origin" > "$T/mnt/a"
dd if=/dev/urandom of="$T/mnt/big" bs=1M count=8 status=none
sync -f "$T/mnt" # this filesystem only: a global sync waits on every device of the VM
sum=$(md5sum < "$T/mnt/big")

# snapshot of the mounted, active origin: thinsnap suspends it around the message
ok ts thin snap --state-dir "$S" --name "$P" --id 2 --origin 1
dmsetup info "$P-1" | grep -q 'State: *ACTIVE' || fail "origin left suspended"
echo "written after the snapshot" > "$T/mnt/b"
ok ts thin activate --state-dir "$S" --name "$P" --id 2 --dm-name "$P-2" --size 64M --read-only
at_exit "$THINSNAP thin deactivate --state-dir $S --name $P --dm-name $P-2"
dmsetup info "$P-2" | grep -q 'READ-ONLY' || fail "snapshot not read-only in dm"
mount -o ro,noload "/dev/mapper/$P-2" "$T/snap"
at_exit "umount $T/snap"
assert_eq "$(cat "$T/snap/a")" "hello from the origin" "file through the snapshot"
assert_eq "$(md5sum < "$T/snap/big")" "$sum" "big file through the snapshot"
[ ! -e "$T/snap/b" ] || fail "the snapshot sees a later write"
if dd if=/dev/zero of="/dev/mapper/$P-2" bs=4096 count=1 oflag=direct status=none 2> /dev/null
then fail "a write to the read-only snapshot succeeded"; fi
ts thin info --state-dir "$S" --name "$P" --dm-name "$P-2" | grep -q 'read_only: yes' ||
	fail "thin info read_only"

# busy: deleting an active device, deactivating a mounted one
nok ts thin delete --state-dir "$S" --name "$P" --id 2
assert_contains "$T/last.err" "is active as '$P-2'"
nok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-2"
assert_contains "$T/last.err" "in use"
umount "$T/snap"

# list ids from the pool's own metadata
assert_eq "$(ts pool list-ids --state-dir "$S" --name "$P" | tr '\n' ' ')" "1 2 " "list-ids"
# a metadata snapshot left held (as by a crash between reserve and release) is dropped
dmsetup message "$P" 0 reserve_metadata_snap
dmsetup status "$P" | awk '{print $7}' | grep -qx -- - && fail "no held root after reserve"
assert_eq "$(ts pool list-ids --state-dir "$S" --name "$P" | tr '\n' ' ')" "1 2 " "list-ids, stale snap"
dmsetup status "$P" | awk '{print $7}' | grep -qx -- - || fail "metadata snapshot left held"

# delete frees blocks: write to the snapshot's own blocks first
ok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-2"
ok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-2" # absent: no-op
ok ts thin activate --state-dir "$S" --name "$P" --id 2 --dm-name "$P-2" --size 64M
dd if=/dev/urandom of="/dev/mapper/$P-2" bs=1M count=16 oflag=direct status=none
ok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-2"
before=$(field data_used_blocks)
ok ts thin delete --state-dir "$S" --name "$P" --id 2
after=$(field data_used_blocks)
echo "data blocks used: before delete $before, after $after"
[ "$after" -lt "$before" ] || fail "delete did not free blocks ($before -> $after)"
dmsetup status "$P" > /dev/null

# transaction id compare-and-swap
assert_eq "$(ts pool transaction-id --state-dir "$S" --name "$P")" 0 "initial tid"
ok ts pool transaction-id --state-dir "$S" --name "$P" --old 0 --set 5
nok ts pool transaction-id --state-dir "$S" --name "$P" --old 4 --set 9
assert_contains "$T/last.err" "transaction id is 5, not 4"
assert_eq "$(ts pool transaction-id --state-dir "$S" --name "$P")" 5 "tid after a refused CAS"
dmsetup status "$P" | awk '{print $4}' | grep -qx 5 || fail "kernel tid is not 5"

# grow the loop-backed pool
ok ts pool grow --state-dir "$S" --name "$P" --data-size 512M
assert_eq "$(field data_total_bytes)" $((512 * 1024 * 1024)) "data size after grow"
assert_eq "$(dmsetup table "$P" | awk '{print $2}')" $((512 * 2048)) "pool table length"

# destroy refuses while a thin device is active, then works
nok ts pool destroy --state-dir "$S" --name "$P"
assert_contains "$T/last.err" "active thin devices"
umount "$T/mnt"
ok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-1"
ok ts pool destroy --state-dir "$S" --name "$P"
dmsetup info "$P" > /dev/null 2>&1 && fail "pool still exists after destroy"
[ ! -e "$S/identity" ] && [ ! -e "$S/data" ] || fail "state files left after destroy"
losetup -a | grep -q "$S/" && fail "loop devices left after destroy"
echo "pool lifecycle ok"
