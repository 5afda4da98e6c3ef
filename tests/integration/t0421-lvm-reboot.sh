#!/bin/bash
# A pool on two LVs across a simulated reboot: every dm device removed, a filler device and
# activation in the other order so the kernel names and numbers differ, then `vgchange -ay`:
# thinsnap finds its devices by dm uuid, activates the pool and the committed data reads
# back identical. A foreign LV put at the recorded path is refused with a clear message.
. "$(dirname "$0")/lib.sh"
require_thin
. "$(dirname "$0")/lvm-lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=128M
setup_vg 400M
lvm_pool 96M 8M $((4 * MiB))
ok ts prepare c1 base > /dev/null
dev_before=$(stat -L -c %t:%T "/dev/$vg/tsdata")

# "reboot": every dm device goes (thin devices, the pool, the LVs)
reboot() {
	dmsetup remove_all || fail "dmsetup remove_all"
	[ -z "$(dmsetup ls | grep -v '^No devices')" ] || fail "dm devices left: $(dmsetup ls)"
	dmsetup create tsfill$$ --table "0 8 error" || fail "filler device"
	at_exit "dmsetup remove tsfill$$"
	ok lvchange -q -ay "$vg/tsmeta" # the metadata LV first: numbers swap
	ok vgchange -q -ay "$vg"
	dmsetup remove tsfill$$
}
reboot
[ "$(stat -L -c %t:%T "/dev/$vg/tsdata")" != "$dev_before" ] || fail "device numbers unchanged"
dmsetup info -c "$pool" > /dev/null 2>&1 && fail "pool active before thinsnap ran"
assert_base_intact "after the reboot"
ok ts pool status > "$T/status"
assert_contains "$T/status" "^mode: *rw"

# a foreign LV at the recorded path, the real one renamed and inactive: refused
dmsetup remove_all || fail "dmsetup remove_all"
ok lvrename -q "$vg" tsdata tsreal
ok lvchange -q -an "$vg/tsreal"
lv tsdata 96M
nok ts pool status
cat "$T/last.err"
assert_contains "$T/last.err" "is not the recorded data device"
assert_contains "$T/last.err" "refusing a swapped or foreign device"
dmsetup info "$pool" > /dev/null 2>&1 && fail "pool activated on a foreign device"
# the real one is back, under another name: found by its uuid
ok lvremove -q -y "$vg/tsdata"
ok vgchange -q -ay "$vg"
assert_base_intact "on the renamed LV"
# the recorded LV inactive: a clear message, not a guess
dmsetup remove_all || fail "dmsetup remove_all"
nok ts pool status
cat "$T/last.err"
assert_contains "$T/last.err" "vgchange -ay"
ok vgchange -q -ay "$vg"
ok ts rm c1
echo "ok: found by dm uuid after a reboot with other device numbers; foreign LV refused"
