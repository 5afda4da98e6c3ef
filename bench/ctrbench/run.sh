#!/bin/bash
# Runs ctrbench on two identical loop-file thin pools (8 GiB data, 64 MiB metadata, 64 KiB
# blocks) in one boot: thinsnapd (the real build/release/thinsnapd on a pool made by
# `thinsnap pool create`, else the in-memory fake, which only shows the gRPC floor) on one,
# containerd's devmapper snapshotter (base_image_size 1GB, as thinsnapd's) on the other. Call through scripts/dmrun:
#   scripts/dmrun -- bench/ctrbench/run.sh [-n ROUNDS]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bench=$top/build/release/bench/ctrbench
[ -x "$bench" ] || "$top/bench/ctrbench/build.sh" "$bench"
daemon=$top/build/release/thinsnapd
[ -x "$daemon" ] || { echo "ctrbench: no $daemon (make daemon builds it)" >&2; exit 2; }
T=$(mktemp -d /tmp/ctrbench.XXXXXX)
loops=()
pools=()
cleanup() {
	[ -n "${dpid:-}" ] && kill -TERM "$dpid" 2> /dev/null && wait "$dpid" 2> /dev/null
	[ -n "${destroy_ts:-}" ] && "$top/build/release/thinsnap" --state-dir "$T/state" \
		--pool benchts pool destroy --force > /dev/null 2>&1
	for p in "${pools[@]}"; do
		for d in $(dmsetup ls 2> /dev/null | awk '{print $1}' | grep "^$p" | sort -r); do
			dmsetup remove "$d" 2> /dev/null || true
		done
	done
	for l in "${loops[@]}"; do losetup -d "$l" 2> /dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
mkpool() { # NAME
	truncate -s 64M "$T/$1.meta"
	truncate -s 8G "$T/$1.data"
	local m d
	m=$(losetup --find --show "$T/$1.meta")
	d=$(losetup --find --show "$T/$1.data")
	loops+=("$m" "$d")
	dmsetup create "$1" --table "0 $(blockdev --getsz "$d") thin-pool $m $d 128 0"
	pools+=("$1")
}
mkpool benchdm
mkdir -p "$T/state"
export THINSNAP_BASE_IMAGE_SIZE=1GB
case $daemon in
*-fake) ;;
*) # The core opens only pools the command made; same size and block size as benchdm's.
	"$top/build/release/thinsnap" --state-dir "$T/state" --pool benchts pool create \
		--data-size 8G --metadata-size 64M --block-size 64K
	pools+=(benchts)
	destroy_ts=1
	;;
esac
"$daemon" --state-dir "$T/state" --pool benchts \
	--address "$T/thinsnapd.sock" --log-level warning 2> "$T/thinsnapd.log" &
dpid=$!
for _ in $(seq 1 200); do [ -S "$T/thinsnapd.sock" ] && break; sleep 0.05; done
echo "thinsnapd: $daemon"
"$bench" -thinsnap "$T/thinsnapd.sock" -devmapper-pool benchdm -devmapper-root "$T/devmapper" \
	-base-size 1GB "$@"
