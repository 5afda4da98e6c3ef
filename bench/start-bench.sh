#!/bin/bash
# Start-up figures, every contender interleaved round by round in one boot (the order rotates
# each round, so a change of host load hits all of them alike):
#   command  the process time of `thinsnap ls` vs `dmsetup ls` (fork to exit, wall clock)
#   ctr-run  `ctr run --rm` of a small busybox image on thinsnap (thinsnapd behind containerd),
#            overlayfs and containerd's devmapper (its own loop-file pool of the same shape)
#   steps    the ctr-run snapshot steps one by one (in one ctrbench process per snapshotter and
#            round): prepare, mount, read every file, unmount, remove
#   layer16  one 16-layer run of bench/ctrbench (prepare, mount, write 10 MiB, unmount, commit
#            per layer) on the same three, through containerd, and its three parts
# For each contender: median and p10-p90 in ms; for each ratio: the median of the per-round
# ratios and their p10-p90. The load (VM load average, and HOST_LOAD if the caller gives the
# host's) is printed before and after. Run as root where dm-thin works (`make bench-start`):
#   scripts/dmrun --timeout 2400 -- bench/start-bench.sh
# Settings (environment): START_ROUNDS (40), RUN_ROUNDS (10), LAYER_ROUNDS (4),
# START_PARTS ("command ctr-run steps layer16"), OUT (build/bench: start-samples.tsv goes there),
# THINSNAP_BEFORE (another build of the command, timed as a third contender "before").
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
. "$top/bench/ctrbench/contenders.sh"

# The parts use R, THINSNAP, T, TSPOOL, the arrays pids and loops (bench/ctrbench/contenders.sh),
# START_ROUNDS, RUN_ROUNDS, LAYER_ROUNDS, and append their samples to $rounds. The command's
# part times `thinsnap ls` on the pool TS_CMD_POOL in TS_CMD_STATE (default: TSPOOL in $T/ts,
# before thinsnapd, which holds that pool's writer lock, starts). bench/run-all.sh sources this
# file for the parts alone.

# The small image: busybox-static and its links in one uncompressed layer (an OCI layout tar).
small_image() {
	local d=$T/img h
	mkdir -p "$d/root/bin" "$d/root/etc" "$d/root/proc" "$d/root/sys" "$d/root/dev" \
		"$d/root/tmp" "$d/oci/blobs/sha256"
	cp /bin/busybox "$d/root/bin/busybox" || return 1
	for h in sh true cat; do ln -s busybox "$d/root/bin/$h"; done
	echo start-bench > "$d/root/etc/hostname"
	tar -C "$d/root" --numeric-owner --owner=0 --group=0 -cf "$d/layer.tar" .
	blob() { # FILE -> "sha256:<hex>" and size, the file moved into the layout
		h=$(sha256sum "$1" | cut -d' ' -f1)
		echo "sha256:$h $(stat -c %s "$1")"
		mv "$1" "$d/oci/blobs/sha256/$h"
	}
	local l c m
	read -ra l <<< "$(blob "$d/layer.tar")"
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
		"${l[0]}" > "$d/config.json"
	read -ra c <<< "$(blob "$d/config.json")"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
		"${c[0]}" "${c[1]}" "${l[0]}" "${l[1]}" > "$d/manifest.json"
	read -ra m <<< "$(blob "$d/manifest.json")"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"docker.io/library/start-bench:1","org.opencontainers.image.ref.name":"1"}}]}' \
		"${m[0]}" "${m[1]}" > "$d/oci/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' > "$d/oci/oci-layout"
	tar -C "$d/oci" -cf "$T/image.tar" oci-layout index.json blobs
}

part_command() {
	local i who
	ts() { "$THINSNAP" --state-dir "${TS_CMD_STATE:-$T/ts}" --pool "${TS_CMD_POOL:-$TSPOOL}" "$@"; }
	ts prepare start-a > /dev/null && ts commit start-c start-a > /dev/null || return 1
	ts ls > /dev/null && dmsetup ls > /dev/null # both warm in the page cache
	local who_all=(thinsnap dmsetup)
	[ -n "${THINSNAP_BEFORE:-}" ] && who_all+=(before)
	for i in $(seq 1 "$START_ROUNDS"); do
		for who in $(rotate "$i" "${who_all[@]}"); do
			case $who in
			thinsnap) round_timed command thinsnap "$i" ts ls ;;
			dmsetup) round_timed command dmsetup "$i" dmsetup ls ;;
			before) round_timed command before "$i" "$THINSNAP_BEFORE" \
				--state-dir "${TS_CMD_STATE:-$T/ts}" --pool "${TS_CMD_POOL:-$TSPOOL}" ls ;;
			esac || return 1
		done
	done
	ts remove start-c > /dev/null
	round_summary "$rounds" command dmsetup
}

part_ctr_run() {
	local i sn
	command -v runc > /dev/null || { echo "ctr-run: no runc"; return 1; }
	if ! grep -q ' - cgroup2\? ' /proc/self/mountinfo; then
		mkdir -p /sys/fs/cgroup
		mount -t cgroup2 cgroup2 /sys/fs/cgroup || { echo "ctr-run: no cgroup"; return 1; }
		cgroup_mounted=1
	fi
	small_image || return 1
	for sn in thinsnap overlayfs devmapper; do
		ctr -a "$T/ctrd.sock" -n "run-$sn" images import --snapshotter "$sn" "$T/image.tar" \
			> /dev/null || return 1
		# one untimed run each: the first container of a snapshotter pays one-off costs
		ctr -a "$T/ctrd.sock" -n "run-$sn" run --rm --snapshotter "$sn" \
			docker.io/library/start-bench:1 "warm-$sn" /bin/true || return 1
	done
	for i in $(seq 1 "$RUN_ROUNDS"); do
		sync
		for sn in $(rotate "$i" thinsnap overlayfs devmapper); do
			round_timed ctr-run "$sn" "$i" ctr -a "$T/ctrd.sock" -n "run-$sn" run --rm \
				--snapshotter "$sn" docker.io/library/start-bench:1 "c$i-$sn" /bin/true || return 1
		done
	done
	round_summary "$rounds" ctr-run overlayfs
}

# Where a container start goes: its snapshot steps one by one, through containerd's API from one
# ctrbench process per snapshotter and round (no process start in the figures): prepare on the
# image's layer, mount, read every file once, unmount, remove; 3 of each per round
part_steps() {
	local i sn top
	for i in $(seq 1 "$RUN_ROUNDS"); do
		sync
		for sn in $(rotate "$i" thinsnap overlayfs devmapper); do
			top=$(ctr -a "$T/ctrd.sock" -n "run-$sn" snapshots --snapshotter "$sn" ls |
				awk '$NF == "Committed" { print $1; exit }')
			[ -n "$top" ] || { echo "steps: no committed layer on $sn"; return 1; }
			rm -f "$T/steps.tsv"
			"$R/bench/ctrbench" -containerd "$T/ctrd.sock" -snapshotter "$sn" -namespace "run-$sn" \
				-n 0 -steps 3 -parent "$top" -mountdir "$T/mnt" -tsv "$T/steps.tsv" \
				> "$T/last.out" 2>&1 || { cat "$T/last.out"; return 1; }
			awk -F'\t' -v sn="$sn" -v i="$i" 'BEGIN { OFS = "\t" }
				$3 ~ /^steps-/ { st = substr($3, 7); if (st == "unmount") st = "umount"
					print "steps", sn "-" st, i, $4 }' "$T/steps.tsv" >> "$rounds"
		done
	done
	round_summary "$rounds" steps overlayfs-prepare | grep -v 'x overlayfs-prepare'
}

# ctrbench's own figure of each run (the 16 layers, not its process start nor the removal
# of the layers afterwards), and its parts: prepare, mount + write + unmount, commit
part_layer16() {
	local i sn op
	for i in $(seq 1 "$LAYER_ROUNDS"); do
		sync
		for sn in $(rotate "$i" thinsnap overlayfs devmapper); do
			rm -f "$T/layer16.tsv"
			"$R/bench/ctrbench" -containerd "$T/ctrd.sock" -snapshotter "$sn" -n 0 -layers 1 \
				-mountdir "$T/mnt" -tsv "$T/layer16.tsv" > "$T/last.out" 2>&1 ||
				{ cat "$T/last.out"; return 1; }
			for op in layer16 layer16-prepare layer16-write layer16-commit layer16-mount \
				layer16-unmount; do
				awk -F'\t' -v op="$op" -v sn="$sn" -v i="$i" \
					'$3 == op { printf "%s\t%s\t%s\t%s\n", op, sn, i, $4 }' \
					"$T/layer16.tsv" >> "$rounds"
			done
		done
	done
	# where the time goes: the whole run and its parts
	for op in layer16 layer16-prepare layer16-write layer16-mount layer16-unmount layer16-commit; do
		round_summary "$rounds" "$op" overlayfs
	done
}

load() {
	echo "load ($1): vm $(cut -d' ' -f1-3 /proc/loadavg)${HOST_LOAD:+, host before the boot $HOST_LOAD}"
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

R=$top/build/release
THINSNAP=${THINSNAP:-$R/thinsnap}
OUT=${OUT:-$top/build/bench}
START_ROUNDS=${START_ROUNDS:-40}
RUN_ROUNDS=${RUN_ROUNDS:-10}
LAYER_ROUNDS=${LAYER_ROUNDS:-4}
PARTS=${START_PARTS:-command ctr-run steps layer16}
export THINSNAP_BASE_IMAGE_SIZE=1GB
mkdir -p "$OUT"
rounds=$OUT/start-samples.tsv # part<TAB>contender<TAB>round<TAB>ms
: > "$rounds"
T=$(mktemp -d /tmp/start-bench.XXXXXX)
TSPOOL=startts$$
# shellcheck disable=SC2034 # DMPOOL, loops: bench/ctrbench/contenders.sh
DMPOOL=startdm$$ loops=()
pids=()
cleanup() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[$i]}" 2> /dev/null && wait "${pids[$i]}" 2> /dev/null
	done
	[ -n "${cgroup_mounted:-}" ] && umount /sys/fs/cgroup 2> /dev/null
	ctrbench_teardown
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "start-bench: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (scripts/dmrun)"
[ -x "$THINSNAP" ] && [ -x "$R/thinsnapd" ] && [ -x "$R/bench/ctrbench" ] ||
	die "build first: make all bench ($THINSNAP, $R/thinsnapd, $R/bench/ctrbench)"
echo "start-bench: thinsnap loads $(ldd "$THINSNAP" | grep -c '=>') shared libraries," \
	"dmsetup $(ldd "$(command -v dmsetup)" | grep -c '=>')"
load start
ctrbench_setup > "$T/setup.log" 2>&1 || { cat "$T/setup.log"; die "setup failed"; }
rc=0
for p in $PARTS; do
	# the command's part runs before thinsnapd (which holds the pool's writer lock) starts
	if [ "$p" != command ] && [ ${#pids[@]} = 0 ]; then
		# the collector waits an hour after its first run: the images stay, each run
		# removes its own
		ctrbench_daemons "$T" > "$T/daemons.log" 2>&1 ||
			{ cat "$T/daemons.log"; die "the daemons did not start"; }
	fi
	"part_${p//-/_}" || { echo "start-bench: $p FAILED"; rc=1; }
done
load end
echo "start-bench: samples in $rounds"
exit "$rc"
