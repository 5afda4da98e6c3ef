#!/bin/bash
# The harness gives a working dm-thin target: a pool on loop files, a thin device with ext4,
# a file written and read back through a thin snapshot. Uses dmsetup (test tooling only) so
# that it checks the environment independently of thinsnap's own code.
. "$(dirname "$0")/lib.sh"
require_thin

make_loop meta 16M
make_loop data 256M
pool=tshar$$
sectors=$((256 * 1024 * 1024 / 512))
dmsetup create "$pool" --table "0 $sectors thin-pool $meta $data 128 0"
at_exit "dmsetup remove $pool"
pdev=$(dmsetup info -c --noheadings -o major,minor "$pool" | tr -d ' ')
dmsetup message "$pool" 0 "create_thin 1"
dmsetup create "${pool}-1" --table "0 204800 thin $pdev 1"
at_exit "dmsetup remove ${pool}-1"
[ -b "/dev/mapper/${pool}-1" ] || fail "no /dev/mapper node for the thin device"
mkfs.ext4 -q "/dev/mapper/${pool}-1"
mkdir "$T/mnt"
mount "/dev/mapper/${pool}-1" "$T/mnt"
at_exit "umount $T/mnt"
echo "through a thin device" > "$T/mnt/file"
umount "$T/mnt"
dmsetup suspend "${pool}-1"
dmsetup message "$pool" 0 "create_snap 2 1"
dmsetup resume "${pool}-1"
dmsetup create "${pool}-2" --readonly --table "0 204800 thin $pdev 2"
at_exit "dmsetup remove ${pool}-2"
mkdir "$T/snap"
mount -o ro "/dev/mapper/${pool}-2" "$T/snap"
at_exit "umount $T/snap"
assert_eq "$(cat "$T/snap/file")" "through a thin device" "content through the snapshot"
if touch "$T/snap/new" 2> /dev/null; then fail "write to a read-only snapshot succeeded"; fi
echo "harness: dm-thin works ($THINSNAP_HARNESS)"
