#!/bin/bash
# pool/ refusals and recovery: a device holding ext4 is refused (unless --force), dev_id >= 2^24,
# unknown pool and unknown dev_id give clear errors and change nothing, create_thin on a taken
# id, a pool re-activated after a "reboot" (thin_check runs), a swapped pool refused, and
# corrupt metadata refused by thin_check.
. "$(dirname "$0")/lib.sh"
require_thin

ts() { "$THINSNAP" "$@"; }
P=tse$$
S=$T/state

# --- a device holding ext4 is refused; nothing is created ---
make_loop data 128M
make_loop meta 8M
mkfs.ext4 -q "$data"
nok ts pool create --state-dir "$T/dev" --name "$P" --data-dev "$data" --metadata-dev "$meta"
assert_contains "$T/last.err" "thinsnap: pool create: '$data' holds ext4; refusing to overwrite it"
dmsetup info "$P" > /dev/null 2>&1 && fail "a pool was created on an ext4 device"
[ ! -e "$T/dev/identity" ] || fail "identity written for a refused pool"
# a partition table (an MBR with one partition) on the data device is refused too
make_loop pt 64M
printf '\000\000\000\000\203\000\000\000\000\010\000\000\000\020\000\000' |
	dd of="$pt" bs=1 seek=446 conv=notrunc status=none
printf '\125\252' | dd of="$pt" bs=1 seek=510 conv=notrunc status=none
nok ts pool create --state-dir "$T/pt" --name "$P" --data-dev "$pt" --metadata-dev "$meta"
assert_contains "$T/last.err" "'$pt' holds partition table (dos)"
dmsetup info "$P" > /dev/null 2>&1 && fail "a pool was created on a partitioned device"
# with --force it is taken, then destroyed (the devices stay)
ok ts pool create --state-dir "$T/dev" --name "$P" --data-dev "$data" --metadata-dev "$meta" --force
at_exit "dmsetup remove $P"
# a second pool on devices held by the first is refused, and the first is untouched
nok ts pool create --state-dir "$T/dev2" --name "$P-2" --data-dev "$data" --metadata-dev "$meta" --force
assert_contains "$T/last.err" "'$data' is in use"
dmsetup info "$P-2" > /dev/null 2>&1 && fail "a second pool was created on busy devices"
dmsetup status "$P" | grep -q ' rw ' || fail "the first pool was disturbed"
dmsetup table "$P" | grep -q "thin-pool $(stat -c '%t:%T' "$meta" | xargs -I{} sh -c 'printf "%d:%d" 0x$(echo {} | cut -d: -f1) 0x$(echo {} | cut -d: -f2)')" ||
	{ dmsetup table "$P"; fail "pool table does not use the metadata device"; }
ok ts pool destroy --state-dir "$T/dev" --name "$P"
dmsetup info "$P" > /dev/null 2>&1 && fail "device pool not destroyed"
[ -b "$data" ] || fail "destroy removed a device-backed pool's device"

# --- a loop-file pool for the rest ---
ok ts pool create --state-dir "$S" --name "$P" --data-size 128M --block-size 128K
at_exit "$THINSNAP pool destroy --state-dir $S --name $P"
assert_eq "$(dmsetup table "$P" | awk '{print $6}')" 256 "block sectors"
ok ts thin create --state-dir "$S" --name "$P" --id 1
tid0=$(dmsetup status "$P")

# dev_id >= 2^24
nok ts thin create --state-dir "$S" --name "$P" --id 16777216
assert_contains "$T/last.err" "thinsnap: thin create: pool '$P': dev_id 16777216 is out of range (max 16777215)"
nok ts thin snap --state-dir "$S" --name "$P" --id 2 --origin 16777216
assert_contains "$T/last.err" "origin dev_id 16777216 is out of range"
ok ts thin create --state-dir "$S" --name "$P" --id 16777215 # the largest id is fine
ok ts thin delete --state-dir "$S" --name "$P" --id 16777215

# create_thin on a taken id
nok ts thin create --state-dir "$S" --name "$P" --id 1
assert_contains "$T/last.err" "pool '$P': dev_id 1 already exists"

# unknown dev_id
nok ts thin delete --state-dir "$S" --name "$P" --id 42
assert_contains "$T/last.err" "pool '$P': dev_id 42 does not exist"
nok ts thin snap --state-dir "$S" --name "$P" --id 43 --origin 42
assert_contains "$T/last.err" "pool '$P': origin dev_id 42 does not exist"
nok ts thin activate --state-dir "$S" --name "$P" --id 42 --dm-name "$P-42" --size 16M
assert_contains "$T/last.err" "pool '$P': dev_id 42 does not exist"
dmsetup info "$P-42" > /dev/null 2>&1 && fail "a device was left for an unknown id"

# unknown pool
nok ts pool status --state-dir "$S" --name nosuchpool
assert_contains "$T/last.err" "thinsnap: pool status: pool 'nosuchpool' not found"
nok ts pool status --state-dir "$T/nowhere" --name "$P"
assert_contains "$T/last.err" "pool '$P' not found in '$T/nowhere'"
# usage errors exit 2
set +e; ts thin create --state-dir "$S" --name "$P" > /dev/null 2>&1; rc=$?; set -e
assert_eq "$rc" 2 "exit status of a usage error"

# nothing changed by the refusals
assert_eq "$(dmsetup status "$P")" "$tid0" "pool status after refused operations"
assert_eq "$(ts pool list-ids --state-dir "$S" --name "$P" | tr '\n' ' ')" "1 " "ids"

# --- "reboot": the pool goes away with its loops; open re-attaches and thin_checks ---
ok ts thin activate --state-dir "$S" --name "$P" --id 1 --dm-name "$P-1" --size 32M
echo "survives a reboot" | dd of="/dev/mapper/$P-1" bs=4096 conv=sync oflag=direct status=none
ok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-1"
dmsetup remove "$P"
losetup -a | grep -q "$S/" && fail "autoclear loops still attached"
ok ts pool status --state-dir "$S" --name "$P" > "$T/st"
assert_contains "$T/st" "mode: rw"
ok ts thin activate --state-dir "$S" --name "$P" --id 1 --dm-name "$P-1" --size 32M
at_exit "$THINSNAP thin deactivate --state-dir $S --name $P --dm-name $P-1"
assert_eq "$(head -c 17 "/dev/mapper/$P-1")" "survives a reboot" "data after re-activation"
ok ts thin deactivate --state-dir "$S" --name "$P" --dm-name "$P-1"

# --- a swapped pool: same name, other devices ---
dmsetup remove "$P"
make_loop o_meta 8M
make_loop o_data 64M
dmsetup create "$P" --table "0 131072 thin-pool $o_meta $o_data 128 0"
nok ts pool status --state-dir "$S" --name "$P"
assert_contains "$T/last.err" "is not the pool recorded in '$S'"
nok ts pool destroy --state-dir "$S" --name "$P"
dmsetup info "$P" > /dev/null || fail "the foreign pool was touched"
dmsetup remove "$P"

# --- corrupt metadata: thin_check refuses, nothing is activated ---
cp "$S/metadata" "$T/metadata.good"
dd if=/dev/zero of="$S/metadata" bs=4096 count=1 conv=notrunc status=none
nok ts pool status --state-dir "$S" --name "$P"
assert_contains "$T/last.err" "thin_check found errors in metadata"
dmsetup info "$P" > /dev/null 2>&1 && fail "a pool with corrupt metadata was activated"
cp "$T/metadata.good" "$S/metadata"
ok ts pool status --state-dir "$S" --name "$P" > /dev/null
echo "pool errors ok"
