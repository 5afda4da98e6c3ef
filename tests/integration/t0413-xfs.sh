#!/bin/bash
# xfs as fs_type on the real pool: the base is formatted once by mkfs.xfs, mounts carry
# nouuid (every snapshot has the base's uuid), views ro,nouuid,norecovery; prepare, write,
# commit, view, two snapshots of one base mounted at once, --size and resize grow xfs.
. "$(dirname "$0")/lib.sh"
require_thin
command -v mkfs.xfs > /dev/null || skip "no mkfs.xfs (xfsprogs)"
grep -qw xfs /proc/filesystems || modprobe -q xfs 2>/dev/null || true
grep -qw xfs /proc/filesystems || skip "no xfs in this kernel"
st="$T/state"
pool=tsxfs$$
export THINSNAP_FS_TYPE=xfs THINSNAP_BASE_IMAGE_SIZE=320M
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
dev_of() { ts mounts /t "$1" | awk '{print $4}'; }

ok ts pool create --data-size 1G
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir "$T/a" "$T/b" "$T/v"
at_exit "umount $T/a"
at_exit "umount $T/b"
at_exit "umount $T/v"

ok ts prepare --target "$T/a" one
assert_eq "$(findmnt -n -o FSTYPE "$T/a")" xfs "fs type"
ts mounts /t one > "$T/m"
assert_contains "$T/m" "^mount -t xfs /dev/mapper/[^ ]* /t -o nouuid$"
echo "hello xfs" > "$T/a/file"
mkdir "$T/a/d1" "$T/a/d2"
umount "$T/a"
ok ts commit one-v1 one
# inodes from the xfs superblock: at least the root, the file and two directories
[ "$(ts usage --json one-v1 | jq -r '.inodes')" -ge 4 ] || fail "xfs inodes: $(ts usage one-v1)"
# a second snapshot of the same base, mounted beside a child of the first: same uuid
ok ts prepare --target "$T/a" two
ok ts prepare --target "$T/b" kid one-v1
assert_eq "$(cat "$T/b/file")" "hello xfs" "child content"
assert_eq "$(blkid -s UUID -o value "$(dev_of two)")" \
	"$(blkid -s UUID -o value "$(dev_of kid)")" "snapshots share the base's uuid"
umount "$T/a" "$T/b"
# a read-only view
ok ts view --target "$T/v" look one-v1
assert_eq "$(cat "$T/v/file")" "hello xfs" "view content"
ts mounts /t look > "$T/m"
assert_contains "$T/m" " -o ro,nouuid,norecovery$"
if touch "$T/v/new" 2> /dev/null; then fail "the view is writable"; fi
umount "$T/v"
# one base device for xfs
assert_eq "$(ts pool status --json | jq -r '.snapshots.committed')" 1 "committed count"

# larger than its parent, and resize while mounted: xfs_growfs
ok ts prepare --size 512M --target "$T/a" big one-v1
assert_eq "$(blockdev --getsize64 "$(dev_of big)")" 536870912 "prepare --size"
assert_eq "$(cat "$T/a/file")" "hello xfs" "grown child content"
size_of() { echo $(($(stat -f -c '%b * %S' "$1") >> 20)); }
[ "$(size_of "$T/a")" -gt 400 ] || fail "xfs not grown at prepare: $(size_of "$T/a") MiB"
ok ts resize big 768M
[ "$(size_of "$T/a")" -gt 650 ] || fail "xfs not grown by resize: $(size_of "$T/a") MiB"
dd if=/dev/zero of="$T/a/beyond" bs=1M count=400 conv=fsync status=none ||
	fail "cannot write beyond the parent's size"
umount "$T/a"
ok ts rm big look kid two one-v1
