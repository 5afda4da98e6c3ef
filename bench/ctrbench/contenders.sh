# shellcheck shell=bash
# The contenders of the snapshotter benchmarks (bench/run-all.sh, bench/start-bench.sh) on
# identical loop-file pools: thinsnap's (`thinsnap pool create`), containerd's devmapper pool,
# and containerd's root (overlayfs, devmapper's metadata, content) on ext4; thinsnapd, and a
# containerd with it as a proxy plugin beside its devmapper and overlayfs snapshotters.
# Source it. The functions use R (build/release), THINSNAP, T (the scratch directory: thinsnap's
# state in $T/ts, containerd's root filesystem on $T/ctrd), TSPOOL and DMPOOL (the two pools'
# names) and, if set, TCPOOL: a second thinsnap pool of the same shape (state in $T/tc) for the
# command while thinsnapd holds TSPOOL; they append loop devices to the array loops and daemons'
# pids to the array pids.
#   ctrbench_setup        the pools and containerd's filesystem
#   ctrbench_daemons DIR  thinsnapd and containerd (their logs in DIR)
#   ctrbench_teardown     unmounts under $T, removes the pools and loop devices, then $T
#                         (the caller stops the daemons first)
ctrbench_loopfile() { # FILE SIZE -> the loop device
	truncate -s "$2" "$1" && losetup --find --show "$1"
}
ctrbench_setup() {
	local m d e
	# containerd's devmapper pool, the same shape as thinsnap's (`thinsnap pool create` below)
	m=$(ctrbench_loopfile "$T/dm.meta" 64M) && loops+=("$m") || return 1
	d=$(ctrbench_loopfile "$T/dm.data" 8G) && loops+=("$d") || return 1
	dd if=/dev/zero of="$m" bs=4096 count=1 status=none
	dmsetup create "$DMPOOL" --table "0 $(blockdev --getsz "$d") thin-pool $m $d 128 0" || return 1
	"$THINSNAP" --state-dir "$T/ts" --pool "$TSPOOL" pool create --data-size 8G \
		--metadata-size 64M --block-size 64K || return 1
	if [ -n "${TCPOOL:-}" ]; then
		"$THINSNAP" --state-dir "$T/tc" --pool "$TCPOOL" pool create --data-size 8G \
			--metadata-size 64M --block-size 64K || return 1
	fi
	# containerd's root (overlayfs snapshots, devmapper's metadata, content) on ext4
	e=$(ctrbench_loopfile "$T/ctrd.ext4" 8G) && loops+=("$e") || return 1
	mkfs.ext4 -q -E nodiscard "$e" || return 1
	mkdir -p "$T/ctrd" && mount -t ext4 "$e" "$T/ctrd" || return 1
	grep -qw overlay /proc/filesystems || modprobe overlay 2> /dev/null ||
		echo "no overlay filesystem (scripts/dmrun loads overlay.ko in the VM)" >&2
}

ctrbench_daemons() {
	local logs=$1
	"$R/thinsnapd" --state-dir "$T/ts" --pool "$TSPOOL" --address "$T/thinsnapd.sock" \
		--log-level warning 2> "$logs/thinsnapd.log" &
	pids+=($!)
	# thinsnapd as a proxy plugin beside the built-in devmapper and overlayfs (ttrpc's
	# socket defaults to the gRPC one's name + .ttrpc). The garbage collector is held off
	# after its startup run: `ctr snapshots` holds no lease, so a collection between two
	# calls would take the snapshot the next call needs. Removes through containerd drop
	# the metadata (the collector would remove the snapshot), the same for all three.
	cat > "$T/containerd.toml" <<- EOF
		version = 2
		root = "$T/ctrd/root"
		state = "$T/ctrd/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs"]
		grpc.address = "$T/ctrd.sock"
		proxy_plugins.thinsnap = { type = "snapshot", address = "$T/thinsnapd.sock" }
		[plugins."io.containerd.snapshotter.v1.devmapper"]
		  pool_name = "$DMPOOL"
		  root_path = "$T/ctrd/devmapper"
		  base_image_size = "1GB"
		  async_remove = false
		[plugins."io.containerd.snapshotter.v1.overlayfs"]
		  root_path = "$T/ctrd/overlayfs"
		[plugins."io.containerd.gc.v1.scheduler"]
		  schedule_delay = "1h"
	EOF
	containerd --config "$T/containerd.toml" > "$logs/containerd.log" 2>&1 &
	pids+=($!)
	local sn
	for _ in $(seq 1 300); do
		[ -S "$T/thinsnapd.sock" ] && [ -S "$T/ctrd.sock" ] && break
		sleep 0.1
	done
	ctr -a "$T/ctrd.sock" plugins ls > "$T/plugins" 2>&1
	for sn in devmapper overlayfs; do
		grep -Eq "snapshotter\.v1 +$sn +.* ok" "$T/plugins" ||
			{ echo "containerd's $sn snapshotter is not ok"; cat "$T/plugins"; return 1; }
	done
	[ -S "$T/thinsnapd.sock" ] || { echo "thinsnapd did not start"; return 1; }
}

ctrbench_teardown() {
	local i m
	# everything mounted under the scratch directory, deepest first
	for m in $(awk -v t="$T" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2> /dev/null
	done
	"$THINSNAP" --state-dir "$T/ts" --pool "$TSPOOL" pool destroy --force > /dev/null 2>&1
	[ -n "${TCPOOL:-}" ] &&
		"$THINSNAP" --state-dir "$T/tc" --pool "$TCPOOL" pool destroy --force > /dev/null 2>&1
	for m in $(dmsetup ls 2> /dev/null | awk '{ print $1 }' | grep "^$DMPOOL" | sort -r); do
		dmsetup remove "$m" 2> /dev/null || dmsetup remove --force "$m" 2> /dev/null
	done
	for ((i = ${#loops[@]} - 1; i >= 0; i--)); do losetup -d "${loops[$i]}" 2> /dev/null; done
	# nothing may be mounted below $T now: refuse to delete through a mount
	if awk -v t="$T" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		echo "mounts left under $T; not removing it" >&2
	else
		rm -rf "$T"
	fi
}
