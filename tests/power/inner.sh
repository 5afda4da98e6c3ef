#!/bin/bash
# One boot of tests/power/run.sh, inside the VM, over the pool files in WORK (a host
# directory). Modes:
#   setup WORK           create the pool and the committed snapshot "golden"
#   verify WORK          open (recovery), check clean, every committed snapshot's sha256 as
#                        recorded before its commit
#   run WORK BOOT        verify, then random prepare/write/commit/remove until the host kills
#                        the VM (the power cut); WORK/progress.BOOT counts finished cycles
set -u
mode=$1 W=$2 boot=${3:-0}
top=$(cd "$(dirname "$0")/../.." && pwd)
THINSNAP=${THINSNAP:-$top/build/release/thinsnap}
M=$W/mnt
ts() { "$THINSNAP" --state-dir "$W/state" --pool tspower "$@"; }
die() { echo "power($mode, boot $boot): $*" >&2; exit 1; }
tree_sum() {
	(cd "$1" && find . -type f ! -path './lost+found/*' -print0 | sort -z |
		xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}
# durable_write FILE TEXT: the record survives a power cut once this returns
durable_write() { printf '%s\n' "$2" > "$1.tmp" && sync "$1.tmp" && mv "$1.tmp" "$1" && sync "$W/sums"; }
mkdir -p "$M" "$W/sums"

# what the pool and the kernel say, for a failure's log
diagnose() {
	local mm dev
	dmsetup table
	dmsetup status
	mm=$(dmsetup table tspower | awk '{print $4}')
	dev=/dev/$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$mm/uevent")
	dmsetup message tspower 0 reserve_metadata_snap &&
		thin_dump -m "$dev" | grep -E '<superblock|<device'
	dmsetup message tspower 0 release_metadata_snap
	ts --json ls
	dmesg | grep -i 'thin\|device-mapper\|loop\|I/O error' | tail -n 30
}

verify() {
	# before recovery, a read-only check counts the operations the cut interrupted
	local cut_ops
	cut_ops=$(ts check 2> /dev/null | sed -n 's/^unfinished intents: //p')
	ts -q cleanup || die "open (recovery) failed"
	ts check > "$W/check.out" 2>&1 || { cat "$W/check.out"; die "check not clean"; }
	local n=0 c want got
	for c in $(ts ls -q 'kind==committed'); do
		[ -f "$W/sums/$c" ] || die "committed '$c' has no recorded checksum"
		want=$(cat "$W/sums/$c")
		ts view --target "$M" power-view "$c" > /dev/null || { diagnose; die "view of '$c'"; }
		got=$(tree_sum "$M")
		umount "$M"
		ts remove power-view > /dev/null || die "remove view"
		[ "$got" = "$want" ] || die "committed '$c': sha256 $got, recorded $want"
		n=$((n + 1))
	done
	ts ls -q 'kind==committed' | grep -qx golden || die "golden is gone"
	echo "power: boot $boot: recovery ok (${cut_ops:-?} interrupted operations resolved)," \
		"check clean, $n committed snapshots sha256-verified"
}

case $mode in
setup)
	ts -q pool create --data-size 1G --metadata-size 16M || die "pool create"
	ts -q prepare --target "$M" golden-a || die "prepare"
	head -c 4194304 /dev/urandom > "$M/big"
	echo golden > "$M/small"
	sum=$(tree_sum "$M")
	umount "$M"
	durable_write "$W/sums/golden" "$sum"
	ts -q commit golden golden-a || die "commit"
	;;
verify) verify ;;
run)
	verify
	j=0
	while :; do
		j=$((j + 1))
		g=b$boot-$j
		parent=$(ts ls -q 'kind==committed' | shuf -n 1)
		m=$M/$g
		mkdir -p "$m"
		ts -q prepare --target "$m" "a-$g" "$parent" || die "prepare a-$g"
		head -c $(((RANDOM % 4 + 1) * 524288)) /dev/urandom > "$m/data-$g"
		echo "$g" > "$m/small"
		if ((RANDOM % 4 == 0)); then
			# an active snapshot left mounted with unsynced writes: lost at the cut
			dd if=/dev/urandom of="$m/unsynced" bs=1M count=2 status=none
			continue
		fi
		sum=$(tree_sum "$m")
		umount "$m"
		durable_write "$W/sums/c-$g" "$sum"
		ts -q commit "c-$g" "a-$g" || die "commit c-$g"
		# keep the pool small: remove a committed leaf now and then (refusals are fine)
		if ((RANDOM % 2 == 0)); then
			victim=$(ts ls -q 'kind==committed' | grep -v '^golden$' | shuf -n 1)
			[ -n "$victim" ] && ts -q remove "$victim" 2> /dev/null
		fi
		echo "$j" > "$W/progress.$boot"
	done
	;;
*) die "unknown mode" ;;
esac
