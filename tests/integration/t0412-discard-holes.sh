#!/bin/bash
# Giving space back on a loop-file pool: with discard_blocks, removing a written snapshot
# (at once, or later by cleanup after an async remove) discards its blocks first; the pool passes the discards down to its loop device, which
# punches holes in the data file, so the file's allocated size shrinks. Without it, the
# blocks are free in the pool but stay allocated in the file. The state directory is on a
# tmpfs: it punches holes (the VM's hostfs root does not).
. "$(dirname "$0")/lib.sh"
require_thin
mkdir "$T/shm" "$T/mnt"
mount -t tmpfs -o size=700M tmpfs "$T/shm" || skip "no tmpfs"
at_exit "umount -l $T/shm"
st="$T/shm/state"
pool=tsdisc$$
export THINSNAP_BASE_IMAGE_SIZE=256M
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
alloc_mib() { echo $(($(stat -c '%b * %B' "$st/pool/data") >> 20)); }
# KEY: prepare, write 96 MiB, unmount
written() {
	ok ts prepare --target "$T/mnt" "$1"
	dd if=/dev/zero of="$T/mnt/blob" bs=1M count=96 conv=fsync status=none ||
		fail "writing to $1"
	umount "$T/mnt"
}

ok ts pool create --data-size 512M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
at_exit "umount $T/mnt"

# without discard_blocks: the pool frees the blocks, the file keeps them
written keep
a0=$(alloc_mib)
ok ts rm keep
a1=$(alloc_mib)
echo "without discard_blocks: $a0 MiB allocated, then $a1 MiB"
[ "$a1" -ge $((a0 - 8)) ] || fail "the data file shrank without discard_blocks"

# with it: the holes are punched
export THINSNAP_DISCARD_BLOCKS=true
written gone
b0=$(alloc_mib)
ok ts rm gone
b1=$(alloc_mib)
echo "with discard_blocks: $b0 MiB allocated, then $b1 MiB"
[ "$b1" -le $((b0 - 80)) ] || fail "the data file did not shrink: $b0 -> $b1 MiB"

# async_remove: the device is deleted (and discarded) by cleanup, its size long forgotten
written later
d0=$(alloc_mib)
THINSNAP_ASYNC_REMOVE=true ok ts rm later
[ "$(alloc_mib)" -ge $((d0 - 8)) ] || fail "async remove deleted at once"
ok ts cleanup
d1=$(alloc_mib)
echo "async remove, then cleanup: $d0 MiB allocated, then $d1 MiB"
[ "$d1" -le $((d0 - 80)) ] || fail "cleanup did not give the blocks back: $d0 -> $d1 MiB"

# blocks a committed parent still uses are not given back: only the child's own
written parent
ok ts commit parent-v1 parent
written child parent-v1
c0=$(alloc_mib)
ok ts rm child
c1=$(alloc_mib)
echo "child of a written parent: $c0 MiB allocated, then $c1 MiB"
[ "$c1" -le $((c0 - 80)) ] || fail "the child's blocks were not given back"
[ "$c1" -ge 96 ] || fail "the parent's blocks were given back: $c1 MiB left"
ok ts rm parent-v1
