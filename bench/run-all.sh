#!/bin/bash
# The performance report's measurements, all in one boot: on identical pools (8 GiB
# data, 64 MiB metadata, 64 KiB blocks, 1 GB ext4 base devices, loop files) the raw
# libdevmapper floor and thinsnap's library (bench-snap), the `thinsnap` command (a process per
# call), thinsnapd directly and through containerd (one client: ctrbench; a process per call:
# `ctr snapshots`), containerd's devmapper and overlayfs snapshotters the same two ways (the
# overlayfs root on ext4 on a loop file), 16-layer runs and an image unpack for thinsnap,
# devmapper and overlayfs; then bench/scale/run.sh when it is there. Every sample goes to
# $OUT/samples.tsv ("system<TAB>via<TAB>op<TAB>ms"); bench/report.sh makes the report.
# Run as root where dm-thin works (`make bench-report` does all of it):
#   scripts/dmrun --timeout 1500 -- bench/run-all.sh
# Settings (environment): OUT (build/bench), BENCH_ROUNDS (30: library rounds), BENCH_API_ROUNDS
# (20: one-client rounds, 10 of them with a parentless prepare), BENCH_CALL_ROUNDS (8:
# process-per-call rounds), BENCH_LAYER_RUNS (3), BENCH_UNPACK_ROUNDS (3),
# BENCH_FAIR_ROUNDS (40: interleaved library/floor rounds, each quiet and loaded),
# BENCH_IMAGE (the unpack image; default $OUT/image.tar, made by bench/unpack-bench.sh).
# Exits non-zero naming the parts that failed; what the others measured is still written.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$top/build/bench}
case $OUT in /*) ;; *) OUT=$top/$OUT ;; esac
ROUNDS=${BENCH_ROUNDS:-30}
API_ROUNDS=${BENCH_API_ROUNDS:-20}
CALL_ROUNDS=${BENCH_CALL_ROUNDS:-8}
LAYER_RUNS=${BENCH_LAYER_RUNS:-3}
UNPACK_ROUNDS=${BENCH_UNPACK_ROUNDS:-3}
FAIR_ROUNDS=${BENCH_FAIR_ROUNDS:-40}
IMAGE=${BENCH_IMAGE:-$OUT/image.tar}
R=$top/build/release
THINSNAP=$R/thinsnap
export THINSNAP_BASE_IMAGE_SIZE=1GB

mkdir -p "$OUT/logs"
samples=$OUT/samples.tsv
parts=$OUT/parts.tsv
: > "$samples"
printf 'part\tstatus\tseconds\n' > "$parts"
T=$(mktemp -d /tmp/bench-all.XXXXXX)
TSPOOL=benchts$$
DMPOOL=benchdm$$
pids=()
loops=()
failed=()

. "$top/bench/ctrbench/contenders.sh"
cleanup() {
	stop_daemons
	ctrbench_teardown
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# part NAME CMD...: runs one part, logs to $OUT/logs/NAME.log, records its status and time
part() {
	local name=$1 s e rc
	shift
	echo "bench: $name ..."
	s=$EPOCHREALTIME
	"$@" > "$OUT/logs/$name.log" 2>&1
	rc=$?
	e=$EPOCHREALTIME
	local secs
	secs=$(echo "${e} - ${s}" | bc)
	if [ "$rc" = 0 ]; then
		printf '%s\tok\t%.1f\n' "$name" "$secs" >> "$parts"
	else
		printf '%s\tFAILED (exit %s)\t%.1f\n' "$name" "$rc" "$secs" >> "$parts"
		failed+=("$name")
		echo "bench: $name FAILED (exit $rc); the end of $OUT/logs/$name.log:" >&2
		tail -n 15 "$OUT/logs/$name.log" >&2
	fi
}

# timed SYSTEM VIA OP CMD...: runs CMD once and appends its wall time (ms) as a sample; the
# time in microseconds is left in $last_us
last_us=0
timed() {
	local sys=$1 via=$2 op=$3 s e
	shift 3
	s=$EPOCHREALTIME
	"$@" > /dev/null || { echo "bench: $sys $via $op: '$*' failed" >&2; return 1; }
	e=$EPOCHREALTIME
	last_us=$((10#${e/./} - 10#${s/./}))
	sample "$sys" "$via" "$op" "$last_us"
}
sample() { # SYSTEM VIA OP MICROSECONDS
	printf '%s\t%s\t%s\t%d.%03d\n' "$1" "$2" "$3" $(($4 / 1000)) $(($4 % 1000)) >> "$samples"
}

# calls SYSTEM VIA CMD...: the per-call rounds with CMD as the snapshot command, as ctrbench's
# rounds: parentless prepare and its remove, child prepare on a committed base, commit, view,
# removes; "cycle" is the child prepare + commit + remove of the commit
calls() {
	local sys=$1 via=$2 i cyc
	shift 2
	"$@" prepare cl-base-a > /dev/null && "$@" commit cl-base cl-base-a > /dev/null || return 1
	for i in $(seq 1 "$CALL_ROUNDS"); do
		timed "$sys" "$via" prepare0 "$@" prepare "cl-p$i" || return 1
		timed "$sys" "$via" remove "$@" remove "cl-p$i" || return 1
		timed "$sys" "$via" prepare "$@" prepare "cl-a$i" cl-base || return 1
		cyc=$last_us
		timed "$sys" "$via" commit "$@" commit "cl-c$i" "cl-a$i" || return 1
		cyc=$((cyc + last_us))
		timed "$sys" "$via" view "$@" view "cl-v$i" "cl-c$i" || return 1
		timed "$sys" "$via" remove "$@" remove "cl-v$i" || return 1
		timed "$sys" "$via" remove "$@" remove "cl-c$i" || return 1
		sample "$sys" "$via" cycle $((cyc + last_us))
	done
	"$@" remove cl-base > /dev/null
}

machine() {
	{
		printf 'harness\t%s\n' "${THINSNAP_HARNESS:-native}"
		printf 'kernel\t%s\n' "$(uname -srm)"
		printf 'cpu_seen\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
		printf 'cpus_seen\t%s\n' "$(nproc)"
		printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
		printf 'containerd\t%s\n' "$(containerd --version 2> /dev/null | awk '{ print $3 }')"
		printf 'vm_loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
		printf 'rounds\t%s interleaved library/floor rounds (quiet and loaded), %s library, %s one-client (%s parentless), %s per call, %s 16-layer runs, %s unpacks\n' \
			"$FAIR_ROUNDS" "$ROUNDS" "$API_ROUNDS" "$((API_ROUNDS < 10 ? API_ROUNDS : 10))" "$CALL_ROUNDS" \
			"$LAYER_RUNS" "$UNPACK_ROUNDS"
	} > "$OUT/machine.tsv"
}

# ---- the pools and filesystems ----
setup() { ctrbench_setup; }

library() {
	"$R/bench/bench-snap" "$ROUNDS" "$samples"
}

# the library against the bare libdevmapper floor, interleaved round by round, quiet and
# under a background writer (bench-fair starts it): the goals' ratios
fair() {
	: > "$OUT/fair.tsv"
	"$R/bench/bench-fair" "$FAIR_ROUNDS" "$OUT/fair.tsv"
}

cli() {
	calls thinsnap process "$THINSNAP" --state-dir "$T/ts" --pool "$TSPOOL"
}

# thinsnap unpack (the command) of the image, BENCH_UNPACK_ROUNDS times; each round then
# removes what it unpacked
cli_unpack() {
	local i pass keys
	ts() { "$THINSNAP" --state-dir "$T/ts" --pool "$TSPOOL" "$@"; }
	for i in $(seq 1 "$UNPACK_ROUNDS"); do
		sync
		timed thinsnap process unpack ts unpack -q "$IMAGE" || return 1
		for _ in 1 2 3 4 5 6; do
			keys=$(ts list -q) || return 1
			[ -z "$keys" ] && break
			# children first: whatever can go in this pass
			for k in $keys; do ts remove "$k" > /dev/null 2>&1; done
		done
		[ -z "$(ts list -q)" ] || { echo "bench: unpacked snapshots left"; return 1; }
	done
}

start_daemons() { ctrbench_daemons "$OUT/logs"; }

stop_daemons() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[$i]}" 2> /dev/null && wait "${pids[$i]}" 2> /dev/null
	done
	pids=()
}

ctrbench() { # SNAPSHOTTER
	"$R/bench/ctrbench" -containerd "$T/ctrd.sock" -snapshotter "$1" -n "$API_ROUNDS" \
		-layers "$LAYER_RUNS" -mountdir "$T/mnt" -tsv "$samples"
}
ctrbench_direct() {
	"$R/bench/ctrbench" -thinsnap "$T/thinsnapd.sock" -n "$API_ROUNDS" -tsv "$samples"
}
ctr_calls() { # SNAPSHOTTER
	calls "$1" ctr ctr -a "$T/ctrd.sock" -n "ctr-$1" snapshots --snapshotter "$1"
}

# `ctr images import` onto SNAPSHOTTER, a fresh namespace per round; the blobs are in the
# content store already (an import without unpacking first), so the rounds time the unpack
ctr_unpack() { # SNAPSHOTTER
	local i
	for i in $(seq 1 "$UNPACK_ROUNDS"); do
		sync
		timed "$1" ctr unpack ctr -a "$T/ctrd.sock" -n "unpack-$1-$i" images import \
			--snapshotter "$1" "$IMAGE" || return 1
	done
}

image() {
	[ -f "$IMAGE" ] && return 0
	"$top/bench/unpack-bench.sh" --make-image "$IMAGE"
}

machine
part setup setup || { echo "bench: setup failed; see $OUT/logs/setup.log" >&2; exit 1; }
part fair fair
part library library
part cli cli
part image image
[ -f "$IMAGE" ] && part cli-unpack cli_unpack
part daemons start_daemons || { echo "bench: the daemons did not start" >&2; exit 1; }
part ctrbench-direct ctrbench_direct
for sn in thinsnap devmapper overlayfs; do
	part "ctrbench-$sn" ctrbench "$sn"
	part "ctr-calls-$sn" ctr_calls "$sn"
done
if [ -f "$IMAGE" ]; then
	part ctr-warm ctr -a "$T/ctrd.sock" -n warm images import --no-unpack "$IMAGE"
	for sn in thinsnap devmapper overlayfs; do part "ctr-unpack-$sn" ctr_unpack "$sn"; done
fi
stop_daemons
if [ -x "$top/bench/scale/run.sh" ]; then
	part scale env OUT="$OUT" "$top/bench/scale/run.sh"
fi
echo "bench: samples in $samples, parts in $parts"
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: FAILED parts: ${failed[*]} (logs in $OUT/logs)" >&2
	exit 1
fi
