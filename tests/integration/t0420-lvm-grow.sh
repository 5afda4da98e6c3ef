#!/bin/bash
# A pool on two LVM logical volumes: create, refusals (LVM's own thin pool, a physical volume,
# a filesystem), use, then lvextend and `pool grow` without and with a size, data and
# metadata, while a writer keeps I/O in flight to an active snapshot; the capacity picture.
. "$(dirname "$0")/lib.sh"
require_thin
. "$(dirname "$0")/lvm-lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=256M
setup_vg 600M

# refusals: nothing is recorded, LVM's pool still activates
lvcreate -q -y --type thin-pool -L 32M -n tp "$vg" > /dev/null || fail "lvcreate thin-pool"
lv meta0 8M
nok ts pool create --data "/dev/$vg/tp" --metadata "/dev/$vg/meta0" --force
assert_contains "$T/last.err" "is a thin pool device"
assert_contains "$T/last.err" "two plain logical volumes"
[ ! -e "$st/pool/identity" ] || fail "identity recorded by a refused create"
ok lvchange -q -an "$vg/tp"
ok lvchange -q -ay "$vg/tp"
ok lvremove -q -y "$vg/tp"
make_loop pv2 64M
ok pvcreate -q "$pv2"
nok ts pool create --data "$pv2" --metadata "/dev/$vg/meta0"
assert_contains "$T/last.err" "is an LVM physical volume"
lv fslv 16M
mkfs.ext4 -q "/dev/$vg/fslv"
nok ts pool create --data "/dev/$vg/meta0" --metadata "/dev/$vg/fslv"
assert_contains "$T/last.err" "holds ext4"
[ ! -e "$st/pool/identity" ] || fail "identity recorded by a refused create"

lvm_pool 128M 8M $((8 * MiB))
ok ts prepare --target "$T/mnt" work base
assert_eq "$(pool_data_bytes)" $((128 * MiB)) "pool data at create"

# a size the device does not hold: refused, nothing changes
nok ts pool grow 192M
assert_contains "$T/last.err" "lvextend"
assert_eq "$(pool_data_bytes)" $((128 * MiB)) "pool data after a refused grow"

# lvextend, then grow with no size while a writer has I/O in flight
ok lvextend -q -L +64M "$vg/tsdata"
head -c $((24 * MiB)) /dev/urandom > "$T/payload"
dd if="$T/payload" of="$T/mnt/payload" bs=64k oflag=direct status=none &
writer=$!
ok ts pool grow > "$T/grow.out"
wait "$writer" || fail "the writer failed across the reload"
cat "$T/grow.out"
assert_contains "$T/grow.out" "data is 192.0 MiB"
assert_eq "$(pool_data_bytes)" $((192 * MiB)) "pool data after grow"
sync -f "$T/mnt" # this filesystem only: a global sync waits on every device of the VM
assert_eq "$(sha256sum < "$T/mnt/payload")" "$(sha256sum < "$T/payload")" "written across grow"
# with a size the device holds (idempotent)
ok ts pool grow 192M > /dev/null
nok ts pool grow 128M
assert_contains "$T/last.err" "cannot shrink"

# metadata
meta0=$(pool_meta_bytes)
ok lvextend -q -L +8M "$vg/tsmeta"
ok ts pool grow --metadata > "$T/grow.out"
cat "$T/grow.out"
assert_eq "$(pool_meta_bytes)" $((16 * MiB)) "pool metadata after grow (was $meta0)"

# five more grows: the time each took and how long I/O was paused (median, min..max)
for i in 1 2 3 4 5; do
	ok lvextend -q -L +4M "$vg/tsdata" > /dev/null
	ok ts pool grow
done | tee "$T/times"
figures() { # FIELD: the number before " ms" after FIELD
	sed -n "s/.*$1 \([0-9.]*\) ms.*/\1/p" "$T/times" | sort -g |
		awk '{v[NR] = $1} END {printf "median %s ms (%s..%s)", v[int((NR + 1) / 2)], v[1], v[NR]}'
}
echo "grow time: $(figures took); I/O paused: $(figures paused)"

# the capacity picture
ok ts pool status > "$T/status"
cat "$T/status"
assert_contains "$T/status" "volume group '$vg' free space"
assert_contains "$T/status" "^overcommit: "
ok ts pool status --json > "$T/status.json"
assert_eq "$(jq -r .capacity.backing "$T/status.json")" lvm "backing"
assert_eq "$(jq -r .capacity.volume_group "$T/status.json")" "$vg" "volume group"
assert_eq "$(jq -r .capacity.data_room_bytes "$T/status.json")" "$(vg_free)" "room to grow"
assert_eq "$(jq -r .capacity.data_device_bytes "$T/status.json")" "$(lv_bytes tsdata)" "data LV"
jq -e '.capacity.overcommit_ratio > 1' "$T/status.json" > /dev/null || fail "overcommit ratio"

# the LV grown while thinsnapd runs: `pool grow` works alongside it (no writer lock), and
# the daemon's monitor, reloading the pool for its low-water mark, keeps the new size
umount "$T/mnt"
echo 'monitor_interval = 1' > "$T/config.toml"
"$TOP/build/release/thinsnapd" --config "$T/config.toml" --state-dir "$st" --pool "$pool" \
	--address "$T/d.sock" 2>> "$T/d.log" &
dpid=$!
at_exit "kill -KILL $dpid"
poll 30 '[ -S "$T/d.sock" ]' || { cat "$T/d.log"; fail "thinsnapd did not start"; }
ok lvextend -q -L +16M "$vg/tsdata" > /dev/null
ok ts pool grow
sleep 2.5 # two monitor rounds
assert_eq "$(pool_data_bytes)" "$(lv_bytes tsdata)" "pool data after growing beside thinsnapd"
kill -TERM "$dpid"
wait "$dpid" || { cat "$T/d.log"; fail "thinsnapd exited with an error"; }
grep "error" "$T/d.log" && fail "thinsnapd logged errors"
grep -q "^data_size_bytes=$(lv_bytes tsdata)$" "$st/pool/identity" || fail "identity size"
assert_base_intact "after the grows"
ok ts rm work
echo "ok: LVM pool grown 128 -> $(($(pool_data_bytes) / MiB)) MiB data, 8 -> 16 MiB metadata"
