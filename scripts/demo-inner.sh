#!/bin/bash
# The main job on a loop-file-backed pool, with the thinsnap command: create a pool under a
# temporary state dir, a thin volume with ext4 and a file, a snapshot of it taken while it is
# mounted, the snapshot activated read-only and read back, the pool's status; then clean up.
# Runs where dm-thin works (scripts/demo.sh boots the VM when needed).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
ts=$top/build/release/thinsnap
state=$(mktemp -d /tmp/thinsnap-demo.XXXXXX)
pool=demo$$
mnt=$state/mnt
snap=$state/snap
mkdir -p "$mnt" "$snap"

cleanup() {
	set +e
	mountpoint -q "$snap" && umount "$snap"
	mountpoint -q "$mnt" && umount "$mnt"
	"$ts" thin deactivate --state-dir "$state/pool" --name "$pool" --dm-name "$pool-snap" 2> /dev/null
	"$ts" thin deactivate --state-dir "$state/pool" --name "$pool" --dm-name "$pool-vol" 2> /dev/null
	"$ts" pool destroy --state-dir "$state/pool" --name "$pool" 2> /dev/null
	rm -rf "$state"
}
trap cleanup EXIT

step() { printf '\n$ %s\n' "$*"; "$@"; }

step "$ts" pool create --state-dir "$state/pool" --name "$pool" --data-size 1G
step "$ts" thin create --state-dir "$state/pool" --name "$pool" --id 1
step "$ts" thin activate --state-dir "$state/pool" --name "$pool" --id 1 --dm-name "$pool-vol" --size 256M
step mkfs.ext4 -q "/dev/mapper/$pool-vol"
step mount "/dev/mapper/$pool-vol" "$mnt"
echo "hello from a thin volume, $(date -u +%FT%TZ)" > "$mnt/hello.txt"
step cat "$mnt/hello.txt"
step "$ts" thin snap --state-dir "$state/pool" --name "$pool" --id 2 --origin 1
echo "written after the snapshot" > "$mnt/later.txt"
step "$ts" thin activate --state-dir "$state/pool" --name "$pool" --id 2 --dm-name "$pool-snap" --size 256M --read-only
step mount -o ro,noload "/dev/mapper/$pool-snap" "$snap"
step ls "$snap"
step cat "$snap/hello.txt"
if touch "$snap/new.txt" 2> /dev/null; then
	echo "unexpected: the read-only snapshot took a write" >&2
	exit 1
fi
echo "(a write to the read-only snapshot fails, as it should)"
step "$ts" pool status --state-dir "$state/pool" --name "$pool"
echo
echo "demo: ok"
