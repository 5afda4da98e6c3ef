#!/bin/bash
# thinsnap_mkfs_format() output mounts with the kernel's ext4: empty root (no lost+found),
# mode 755, a file written and read back, e2fsck clean after umount. First on a loop device,
# then on a 1 GiB thin device, where the format must provision only a few pool blocks.
. "$(dirname "$0")/lib.sh"
TOOL=${MKFS_TOOL:-$TOP/build/release/tests/thinsnap-mkfs-tool}
[ -x "$TOOL" ] || fail "no $TOOL (make all)"
grep -qw ext4 /proc/filesystems || modprobe ext4 2> /dev/null || true
grep -qw ext4 /proc/filesystems || skip "no ext4 in this kernel"

check_fs() { # DEV NAME
	local dev=$1 mnt=$T/mnt-$2
	mkdir "$mnt"
	mount -t ext4 "$dev" "$mnt"
	at_exit "umount $mnt"
	assert_eq "$(ls -A "$mnt")" "" "root of a fresh filesystem"
	assert_eq "$(stat -c %a "$mnt")" "755" "root mode"
	assert_eq "$(stat -c %u:%g "$mnt")" "0:0" "root owner"
	# A mounted device is refused (O_EXCL), and left alone.
	nok "$TOOL" "$dev" ext4
	assert_contains "$T/last.err" "busy"
	echo "hello from $2" > "$mnt/file"
	mkdir "$mnt/dir"
	sync -f "$mnt"
	umount "$mnt"
	mount -t ext4 -o ro "$dev" "$mnt"
	assert_eq "$(cat "$mnt/file")" "hello from $2" "file read back after remount"
	umount "$mnt"
	e2fsck -fn "$dev" || fail "e2fsck -fn $dev after use"
}

make_loop loop 256M || skip "no loop devices"
ok "$TOOL" "$loop" ext4
check_fs "$loop" loop

# Options reach the filesystem, on a device too.
ok "$TOOL" "$loop" ext4 "-L base -b 4096 -E nodiscard"
assert_eq "$(blkid -o value -s LABEL "$loop")" "base" "label"
check_fs "$loop" loop-opts

if ! { [ -e /dev/mapper/control ] && dmsetup targets 2> /dev/null | grep -q '^thin-pool'; }; then
	echo "t0010: no thin-pool target, loop device only"
	exit 0
fi
make_loop meta 16M
make_loop data 1G
pool=tsmkfs$$
sectors=$((1024 * 1024 * 1024 / 512))
dmsetup create "$pool" --table "0 $sectors thin-pool $meta $data 128 0"
at_exit "dmsetup remove $pool"
pdev=$(dmsetup info -c --noheadings -o major,minor "$pool" | tr -d ' ')
dmsetup message "$pool" 0 "create_thin 1"
dmsetup create "${pool}-1" --table "0 $sectors thin $pdev 1"
at_exit "dmsetup remove ${pool}-1"
ok "$TOOL" "/dev/mapper/${pool}-1" ext4
# status: <transaction id> <used meta>/<total meta> <used data>/<total data> ...
used=$(dmsetup status "$pool" | awk '{ split($6, a, "/"); print a[1] }')
echo "t0010: 1 GiB thin device formatted; pool data blocks used: $used of $((sectors / 128)) (64 KiB each)"
[ "$used" -lt 256 ] || fail "format provisioned $used pool blocks (16 MiB+)"
check_fs "/dev/mapper/${pool}-1" thin
