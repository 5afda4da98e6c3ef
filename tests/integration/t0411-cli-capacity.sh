#!/bin/bash
# Capacity through the command: prepare --size grows a child beyond its parent, resize grows
# an active snapshot (mounted), smaller sizes and bad ones are refused with one line.
. "$(dirname "$0")/lib.sh"
require_thin
st="$T/state"
pool=tscap$$
export THINSNAP_BASE_IMAGE_SIZE=128M
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
dev_of() { ts mounts /t "$1" | awk '{print $4}'; }

ok ts pool create --data-size 512M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir "$T/mnt"

ok ts prepare base
assert_eq "$(blockdev --getsize64 "$(dev_of base)")" 134217728 "base size"
ok ts commit base-v1 base
ok ts prepare --size 256M --target "$T/mnt" big base-v1
at_exit "umount $T/mnt"
assert_eq "$(blockdev --getsize64 "$(dev_of big)")" 268435456 "prepare --size"
# write more than the 128 MiB parent could hold
dd if=/dev/zero of="$T/mnt/beyond" bs=1M count=160 conv=fsync status=none ||
	fail "cannot write beyond the parent's size"
ok ts info big > "$T/info"
assert_contains "$T/info" '"containerd.io/snapshot/max-size": "268435456"'

# resize while mounted
ok ts resize big 320M
assert_eq "$(blockdev --getsize64 "$(dev_of big)")" 335544320 "resize"
blocks=$(stat -f -c '%b' "$T/mnt")
bsize=$(stat -f -c '%S' "$T/mnt")
[ $((blocks * bsize)) -gt $((280 << 20)) ] || fail "filesystem not grown: $((blocks * bsize))"
umount "$T/mnt"

# refusals: smaller, bad sizes, committed
rc ts resize big 200M
assert_eq "$rc" 1 "shrink"
assert_contains "$T/err" "^thinsnap: resize big: snapshot 'big' is 335544320 bytes: it cannot shrink to 209715200$"
rc ts prepare --size 64M small base-v1
assert_eq "$rc" 1 "smaller than parent"
assert_contains "$T/err" "^thinsnap: prepare small: snapshot 'small' cannot be smaller"
rc ts prepare --size lots small base-v1
assert_eq "$rc" 2 "bad size"
rc ts resize base-v1 1G
assert_eq "$rc" 1 "committed"
assert_contains "$T/err" "only active snapshots can be resized"
ok ts rm big base-v1
