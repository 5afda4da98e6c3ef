#!/bin/bash
# The performance report's measurements, all in one boot: on identical pools (8 GiB data, 64 MiB
# metadata, 64 KiB blocks, 1 GB ext4 base devices, loop files) the library against the raw
# libdevmapper floor (bench-fair, interleaved, quiet and under a background writer; bench-snap
# for the library's other operations), and then every comparison between contenders in
# interleaved rounds, the contenders' order rotating each round (bench/lib.sh): thinsnapd
# directly and through containerd, containerd's devmapper and overlayfs through containerd's API
# from one client (ctrbench); one process per call (`thinsnap` on a second pool of the same
# shape, `ctr snapshots` on the three); `thinsnap ls` vs `dmsetup ls`, `ctr run --rm` of a small
# image, its snapshot steps one by one, and 16-layer runs on thinsnap, overlayfs and devmapper
# (bench/start-bench.sh's parts); the image unpack (`thinsnap unpack`, `ctr images import` onto
# each); then bench/scale/run.sh when it is there. Every sample goes to $OUT/samples.tsv
# ("system<TAB>via<TAB>op<TAB>ms") and every interleaved one also to $OUT/rounds.tsv
# ("part<TAB>contender<TAB>round<TAB>ms"); bench/report.sh makes the report, each ratio from the
# rounds. Run as root where dm-thin works (`make bench-report` does all of it):
#   scripts/dmrun --timeout 2400 -- bench/run-all.sh
# Settings (environment): OUT (build/bench), BENCH_FAIR_ROUNDS (40: library/floor rounds, each
# quiet and loaded), BENCH_ROUNDS (30: bench-snap's library rounds), BENCH_API_ROUNDS (10: one
# client; each round one ctrbench process per contender with 2 cycles, 1 with a parentless
# prepare), BENCH_CALL_ROUNDS (8: process-per-call rounds), BENCH_START_ROUNDS (30: `ls`),
# BENCH_RUN_ROUNDS (10: `ctr run --rm`, and the steps), BENCH_LAYER_ROUNDS (4: 16-layer runs),
# BENCH_UNPACK_ROUNDS (3), BENCH_IMAGE (the unpack image; default $OUT/image.tar, made by
# bench/unpack-bench.sh), BENCH_SCALE (1; 0 leaves the scale part out). Exits non-zero naming
# the parts that failed; what the others measured is still written.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$top/build/bench}
case $OUT in /*) ;; *) OUT=$top/$OUT ;; esac
FAIR_ROUNDS=${BENCH_FAIR_ROUNDS:-40}
ROUNDS=${BENCH_ROUNDS:-30}
API_ROUNDS=${BENCH_API_ROUNDS:-10}
CALL_ROUNDS=${BENCH_CALL_ROUNDS:-8}
START_ROUNDS=${BENCH_START_ROUNDS:-30}
RUN_ROUNDS=${BENCH_RUN_ROUNDS:-10}
LAYER_ROUNDS=${BENCH_LAYER_ROUNDS:-4}
UNPACK_ROUNDS=${BENCH_UNPACK_ROUNDS:-3}
IMAGE=${BENCH_IMAGE:-$OUT/image.tar}
R=$top/build/release
THINSNAP=$R/thinsnap
export THINSNAP_BASE_IMAGE_SIZE=1GB

mkdir -p "$OUT/logs"
samples=$OUT/samples.tsv
rounds=$OUT/rounds.tsv
parts=$OUT/parts.tsv
: > "$samples"
: > "$rounds"
printf 'part\tstatus\tseconds\tvm_load\n' > "$parts"
T=$(mktemp -d /tmp/bench-all.XXXXXX)
TSPOOL=benchts$$
TCPOOL=benchtc$$
# shellcheck disable=SC2034 # DMPOOL, loops: bench/ctrbench/contenders.sh
DMPOOL=benchdm$$ loops=()
pids=()
failed=()
round=

# the start-up parts (part_command, part_ctr_run, part_steps, part_layer16), bench/lib.sh and
# bench/ctrbench/contenders.sh
. "$top/bench/start-bench.sh"
TS_CMD_STATE=$T/tc TS_CMD_POOL=$TCPOOL
cleanup() {
	stop_daemons
	[ -n "${cgroup_mounted:-}" ] && umount /sys/fs/cgroup 2> /dev/null
	ctrbench_teardown
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# part NAME CMD...: runs one part, logs to $OUT/logs/NAME.log, records its status, time and the
# VM's load average at its start
part() {
	local name=$1 s e rc load
	shift
	echo "bench: $name ..."
	load=$(cut -d' ' -f1 /proc/loadavg)
	s=$EPOCHREALTIME
	"$@" > "$OUT/logs/$name.log" 2>&1
	rc=$?
	e=$EPOCHREALTIME
	local secs
	secs=$(echo "${e} - ${s}" | bc)
	if [ "$rc" = 0 ]; then
		printf '%s\tok\t%.1f\t%s\n' "$name" "$secs" "$load" >> "$parts"
	else
		printf '%s\tFAILED (exit %s)\t%.1f\t%s\n' "$name" "$rc" "$secs" "$load" >> "$parts"
		failed+=("$name")
		echo "bench: $name FAILED (exit $rc); the end of $OUT/logs/$name.log:" >&2
		tail -n 15 "$OUT/logs/$name.log" >&2
	fi
}

# timed SYSTEM VIA OP CMD...: runs CMD once and appends its wall time (ms) as a sample, and
# inside interleaved rounds (round set) as the round's sample of part "op:OP", contender
# "SYSTEM VIA"; the time in microseconds is left in $last_us
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
	[ -z "$round" ] || round_sample "op:$3" "$1 $2" "$round" "$4"
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
		printf 'rounds\t%s library/floor rounds (quiet and loaded), %s library (bench-snap); interleaved: %s one-client (%s cycles each), %s per call, %s of `ls`, %s of `ctr run` and of its steps, %s 16-layer, %s unpack\n' \
			"$FAIR_ROUNDS" "$ROUNDS" "$API_ROUNDS" 2 "$CALL_ROUNDS" "$START_ROUNDS" "$RUN_ROUNDS" \
			"$LAYER_ROUNDS" "$UNPACK_ROUNDS"
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

start_daemons() { ctrbench_daemons "$OUT/logs"; }

stop_daemons() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[$i]}" 2> /dev/null && wait "${pids[$i]}" 2> /dev/null
	done
	pids=()
}

# the second thinsnap pool (the command's: thinsnapd holds the first) and the snapshotters
# through `ctr snapshots`, one process per call
ts_cmd() { "$THINSNAP" --state-dir "$T/tc" --pool "$TCPOOL" "$@"; }
ctr_sn() { # SNAPSHOTTER ARGS...
	local sn=$1
	shift
	ctr -a "$T/ctrd.sock" -n "ctr-$sn" snapshots --snapshotter "$sn" "$@"
}

# One client through containerd's snapshots API (and thinsnapd direct): per round one ctrbench
# process per contender, 2 cycles (the first with a parentless prepare and its remove)
api_rounds() {
	local i c
	for i in $(seq 1 "$API_ROUNDS"); do
		for c in $(rotate "$i" direct thinsnap devmapper overlayfs); do
			rm -f "$T/api.tsv"
			if [ "$c" = direct ]; then
				"$R/bench/ctrbench" -thinsnap "$T/thinsnapd.sock" -n 2 -n0 1 -tsv "$T/api.tsv"
			else
				"$R/bench/ctrbench" -containerd "$T/ctrd.sock" -snapshotter "$c" -n 2 -n0 1 \
					-tsv "$T/api.tsv"
			fi > "$T/last.out" 2>&1 || { cat "$T/last.out"; return 1; }
			cat "$T/api.tsv" >> "$samples"
			awk -F'\t' -v r="$i" 'BEGIN { OFS = "\t" } { print "op:" $3, $1 " " $2, r, $4 }' \
				"$T/api.tsv" >> "$rounds"
		done
	done
}

# call_round SYSTEM VIA ROUND CMD...: one round with CMD as the snapshot command, as ctrbench's
# rounds: parentless prepare and its remove, child prepare on the committed base, commit, view,
# removes; "cycle" is the child prepare + commit + remove of the commit
call_round() {
	local sys=$1 via=$2 i=$3 cyc
	shift 3
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
}

# One process per call: `thinsnap` (on the second pool) and `ctr snapshots` on the three
call_rounds() {
	local i c rc=0
	for c in process thinsnap devmapper overlayfs; do
		if [ "$c" = process ]; then set -- ts_cmd; else set -- ctr_sn "$c"; fi
		"$@" prepare cl-base-a > /dev/null && "$@" commit cl-base cl-base-a > /dev/null || return 1
	done
	for i in $(seq 1 "$CALL_ROUNDS"); do
		round=$i
		for c in $(rotate "$i" process thinsnap devmapper overlayfs); do
			if [ "$c" = process ]; then
				call_round thinsnap process "$i" ts_cmd
			else
				call_round "$c" ctr "$i" ctr_sn "$c"
			fi || { rc=1; break 2; }
		done
	done
	round=
	ts_cmd remove cl-base > /dev/null
	for c in thinsnap devmapper overlayfs; do ctr_sn "$c" remove cl-base > /dev/null; done
	return $rc
}

# thinsnap_unpack: `thinsnap unpack` of the image on the second pool, timed, then removes what
# it unpacked (untimed)
thinsnap_unpack() {
	local keys k
	timed thinsnap process unpack ts_cmd unpack -q "$IMAGE" || return 1
	for _ in 1 2 3 4 5 6; do
		keys=$(ts_cmd list -q) || return 1
		[ -z "$keys" ] && break
		# children first: whatever can go in this pass
		for k in $keys; do ts_cmd remove "$k" > /dev/null 2>&1; done
	done
	[ -z "$(ts_cmd list -q)" ] || { echo "bench: unpacked snapshots left"; return 1; }
}

# The image unpack: `thinsnap unpack` and `ctr images import` onto each snapshotter, a fresh
# namespace per import; the blobs are in the content store already (an import without
# unpacking first), so the imports time the unpack
unpack_rounds() {
	local i c rc=0
	ctr -a "$T/ctrd.sock" -n warm images import --no-unpack "$IMAGE" > /dev/null || return 1
	for i in $(seq 1 "$UNPACK_ROUNDS"); do
		round=$i
		for c in $(rotate "$i" unpack thinsnap devmapper overlayfs); do
			sync
			if [ "$c" = unpack ]; then
				thinsnap_unpack
			else
				timed "$c" ctr unpack ctr -a "$T/ctrd.sock" -n "unpack-$c-$i" images import \
					--snapshotter "$c" "$IMAGE"
			fi || { rc=1; break 2; }
		done
	done
	round=
	return $rc
}

image() {
	[ -f "$IMAGE" ] && return 0
	"$top/bench/unpack-bench.sh" --make-image "$IMAGE"
}

machine
part setup setup || { echo "bench: setup failed; see $OUT/logs/setup.log" >&2; exit 1; }
part fair fair
part library library
part image image
part daemons start_daemons || { echo "bench: the daemons did not start" >&2; exit 1; }
part command part_command
part api api_rounds
part calls call_rounds
part ctr-run part_ctr_run
part steps part_steps
part layer16 part_layer16
[ -f "$IMAGE" ] && part unpack unpack_rounds
stop_daemons
if [ "${BENCH_SCALE:-1}" != 0 ] && [ -x "$top/bench/scale/run.sh" ]; then
	part scale env OUT="$OUT" "$top/bench/scale/run.sh"
fi
printf 'vm_loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.tsv"
echo "bench: samples in $samples and $rounds, parts in $parts"
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: FAILED parts: ${failed[*]} (logs in $OUT/logs)" >&2
	exit 1
fi
