#!/bin/bash
# Thin activation rules: idempotent re-activation, a dev_id active under two names refused,
# a taken name with another table refused, snapshots of an origin named by dm name, thin info
# (mapped sectors), deactivating a device that is not ours refused, an absent one a no-op.
. "$(dirname "$0")/lib.sh"
require_thin

ts() { "$THINSNAP" "$@"; }
P=tsa$$
S=$T/state
A=(--state-dir "$S" --name "$P")

ok ts pool create "${A[@]}" --data-size 128M
at_exit "$THINSNAP pool destroy --state-dir $S --name $P"
ok ts thin create "${A[@]}" --id 1
ok ts thin activate "${A[@]}" --id 1 --dm-name "$P-a" --size 32M
at_exit "$THINSNAP thin deactivate --state-dir $S --name $P --dm-name $P-a"
dmsetup info "$P-a" | grep -q "UUID: THINSNAP-.*-1$" || fail "thin dm uuid"

# same name, same table: no-op; other size or read-only flag: refused
ok ts thin activate "${A[@]}" --id 1 --dm-name "$P-a" --size 32M
nok ts thin activate "${A[@]}" --id 1 --dm-name "$P-a" --size 16M
assert_contains "$T/last.err" "dm device '$P-a' already exists with another table"
nok ts thin activate "${A[@]}" --id 1 --dm-name "$P-a" --size 32M --read-only
assert_contains "$T/last.err" "already exists with another table"
# the same dev_id under a second name
nok ts thin activate "${A[@]}" --id 1 --dm-name "$P-b" --size 32M
assert_contains "$T/last.err" "dev_id 1 is already active as '$P-a'"
dmsetup info "$P-b" > /dev/null 2>&1 && fail "second activation left a device"

# thin info: mapped sectors grow with writes
dd if=/dev/urandom of="/dev/mapper/$P-a" bs=64K count=16 oflag=direct status=none
ts thin info "${A[@]}" --dm-name "$P-a" > "$T/info"
assert_contains "$T/info" "mapped_sectors: 2048"
assert_contains "$T/info" "size_bytes: 33554432"
assert_contains "$T/info" "dev_id: 1"
sum=$(head -c 1M "/dev/mapper/$P-a" | md5sum)

# snapshot with the origin named by its dm name; the origin is resumed
ok ts thin snap "${A[@]}" --id 2 --origin 1 --origin-dm-name "$P-a"
dmsetup info "$P-a" | grep -q 'State: *ACTIVE' || fail "origin left suspended"
# a wrong origin dm name is refused before anything is suspended
nok ts thin snap "${A[@]}" --id 3 --origin 2 --origin-dm-name "$P-a"
assert_contains "$T/last.err" "'$P-a' is not dev_id 2 of this pool"
# a snapshot of a snapshot, origin found by uuid (inactive here)
ok ts thin snap "${A[@]}" --id 3 --origin 2
ok ts thin activate "${A[@]}" --id 3 --dm-name "$P-c" --size 32M --read-only
at_exit "$THINSNAP thin deactivate --state-dir $S --name $P --dm-name $P-c"
assert_eq "$(head -c 1M "/dev/mapper/$P-c" | md5sum)" "$sum" "content of the snapshot's snapshot"

# deactivation: not ours refused, absent a no-op
make_loop lin 1M
dmsetup create "$P-z" --table "0 8 linear $lin 0"
at_exit "dmsetup remove $P-z"
nok ts thin deactivate "${A[@]}" --dm-name "$P-z"
assert_contains "$T/last.err" "'$P-z' is not a thin device of pool '$P'"
ok ts thin deactivate "${A[@]}" --dm-name "$P-nothing"
ts thin info "${A[@]}" --dm-name "$P-nothing" | grep -q 'exists: no' || fail "info of absent"
# an open device is busy after the bounded retry
exec 7< "/dev/mapper/$P-c"
nok ts thin deactivate "${A[@]}" --dm-name "$P-c"
assert_contains "$T/last.err" "in use"
exec 7<&-
ok ts thin deactivate "${A[@]}" --dm-name "$P-c"
ok ts thin deactivate "${A[@]}" --dm-name "$P-a"
for id in 3 2 1; do ok ts thin delete "${A[@]}" --id "$id"; done
assert_eq "$(ts pool list-ids "${A[@]}" | wc -l)" 0 "ids after deleting all"
echo "activation ok"
