# A volume group on a loop device for tests/integration/t042x-lvm*.sh, with a private lvm.conf
# (no udev in the VM: lvm makes its own nodes; no dmeventd). Source it after lib.sh:
#   . "$(dirname "$0")/lvm-lib.sh"; setup_vg 512M
# Sets $vg and $pv, and LVM_SYSTEM_DIR for lvm's tools and for thinsnap's lvs/lvextend.
command -v lvcreate > /dev/null 2>&1 || skip "no lvm2"

setup_vg() { # SIZE
	mkdir -p "$T/lvm"
	cat > "$T/lvm/lvm.conf" <<- EOF
	devices {
		obtain_device_list_from_udev = 0
		filter = [ "a|^/dev/loop[0-9]+\$|", "r|.*|" ]
	}
	activation {
		udev_sync = 0
		udev_rules = 0
		monitoring = 0
	}
	EOF
	export LVM_SYSTEM_DIR="$T/lvm" LVM_SUPPRESS_FD_WARNINGS=1
	make_loop pv "$1"
	vg=tsvg$$
	pvcreate -q "$pv" > /dev/null || fail "pvcreate $pv"
	vgcreate -q "$vg" "$pv" > /dev/null || fail "vgcreate $vg"
	# runs before the loop device is detached (cleanups run last first)
	at_exit "vgremove -f $vg"
}

lv() { lvcreate -q -y -W y -L "$2" -n "$1" "$vg" > /dev/null || fail "lvcreate $1"; }
lv_bytes() { lvs --noheadings --nosuffix --units b -o lv_size "$vg/$1" | tr -d ' '; }
vg_free() { vgs --noheadings --nosuffix --units b -o vg_free "$vg" | tr -d ' '; }
# the pool's data length and metadata size in bytes, from the kernel (64 KiB blocks)
pool_data_bytes() { echo $(($(dmsetup table "$pool" | awk '{print $2}') * 512)); }
pool_meta_bytes() {
	dmsetup status "$pool" | awk '{split($5, a, "/"); print a[2] * 4096}'
}

st="$T/state"
pool=tslvm$$
MiB=1048576
: > "$T/config.toml"
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" --config "$T/config.toml" "$@"; }

# LVs tsdata and tsmeta of DATA and META bytes and the pool on them; $T/mnt for mounts; a
# committed snapshot 'base' holding BYTES of random data ($want: its tree_sum).
#   lvm_pool DATA META BYTES
lvm_pool() {
	lv tsdata "$1"
	lv tsmeta "$2"
	ok ts -q pool create --data "/dev/$vg/tsdata" --metadata "/dev/$vg/tsmeta"
	at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
	mkdir -p "$T/mnt"
	at_exit "umount -l $T/mnt"
	ok ts prepare --target "$T/mnt" base-a
	head -c "$3" /dev/urandom > "$T/mnt/blob"
	want=$(tree_sum "$T/mnt")
	umount "$T/mnt"
	ok ts commit base base-a
}

