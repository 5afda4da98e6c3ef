#!/bin/bash
# The scale benchmark: one pool grown to 10, 1 000 and 10 000 snapshots (a forest of image
# layer chains that branch, with containers and views on top; bench/bench-scale.c). At each
# size: thinsnap_open() time, thinsnapd's exec-to-ready time and memory (VmRSS, VmHWM), and
# per-call latency through the snapshots API from one client (bench/scale/main.go): stat, list,
# prepare, commit, remove, with a daemon on a 10-snapshot reference pool taking turns in the
# same rounds; plus the same operations through the library and the bare pool calls under them,
# and the library's prepare/remove interleaved with a third, 10-snapshot pool (scale-pair.tsv).
# Self-contained: both pools' loop files live on a private tmpfs, torn down on every exit.
# Writes $OUT/scale.tsv and $OUT/scale.md (OUT=build/bench); about 9 minutes in user-mode-linux.
#   scripts/dmrun --timeout 1500 -- bench/scale/run.sh      (or: make bench-scale)
# THINSNAP_SCALE_LEVELS="10 1000 10000" picks the sizes (dmrun passes THINSNAP_* variables in).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
R=$top/build/release
OUT=${OUT:-$top/build/bench}
LEVELS=${THINSNAP_SCALE_LEVELS:-10 1000 10000}
for b in "$R/bench/bench-scale" "$R/bench/scalebench" "$R/thinsnapd" "$R/thinsnap"; do
	[ -x "$b" ] || { echo "scale: $b is missing: run 'make bench' first" >&2; exit 2; }
done
mkdir -p "$OUT"
T=$(mktemp -d /tmp/thinsnap-scale.XXXXXX)
pool=tsscale$$ # grown to each level
state=$T/state
sock=$T/thinsnapd.sock
rpool=tsscaleref$$ # the reference: 10 snapshots, its daemon takes turns with the other
rstate=$T/ref
rsock=$T/ref.sock
dpid=
rpid=
stop_pid() { # PID: SIGTERM, then wait until it is gone
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2> /dev/null || true
	for _ in $(seq 1 600); do [ -d "/proc/$1" ] || break; sleep 0.05; done
}
stop_daemon() {
	stop_pid "$dpid"
	dpid=
}
destroy_pool() { # STATE POOL
	[ -f "$1/pool/identity" ] || return 0
	"$R/bench/bench-scale" destroy "$1" "$2" || true
	# whatever is left (a failure midway): the pool's devices, children first
	for d in $(dmsetup ls 2> /dev/null | awk '{print $1}' | grep "^$2" | sort -r); do
		dmsetup remove "$d" 2> /dev/null || true
	done
}
cleanup() {
	stop_daemon
	stop_pid "$rpid"
	destroy_pool "$state" "$pool"
	destroy_pool "$rstate" "$rpool"
	destroy_pool "$lstate" "$lpool"
	umount "$T" 2> /dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# tmpfs: fsyncs cost nothing, so the figures show the code's scaling, not the host's disk
mount -t tmpfs -o mode=0700 tmpfs "$T"
export THINSNAP_BASE_IMAGE_SIZE=1GB # bench-scale's base size: the daemon uses the same base
for p in "$state:$pool" "$rstate:$rpool"; do
	mkdir -p "${p%%:*}"
	"$R/thinsnap" --state-dir "${p%%:*}" --pool "${p#*:}" pool create --data-size 16G \
		--metadata-size 128M --block-size 64K > /dev/null
done
"$R/bench/bench-scale" populate "$rstate" "$rpool" 10 2> /dev/null
# the library's reference: a third pool of 10 snapshots (the daemon's holds its own lock)
lpool=tsscalelib$$
lstate=$T/libref
mkdir -p "$lstate"
"$R/thinsnap" --state-dir "$lstate" --pool "$lpool" pool create --data-size 16G \
	--metadata-size 128M --block-size 64K > /dev/null
"$R/bench/bench-scale" populate "$lstate" "$lpool" 10 2> /dev/null
pair=$T/pair.tsv
: > "$pair"
"$R/bench/bench-scale" ready "$rsock" "$T/rpid" "$R/thinsnapd" --state-dir "$rstate" \
	--pool "$rpool" --address "$rsock" --log-level warning > /dev/null 2>> "$T/thinsnapd.log"
rpid=$(cat "$T/rpid")

tsv=$T/scale.tsv
printf '# metric\tsnapshots\tmedian_us\tp90_us\t(memory rows: KiB in median_us; counts rows: number)\n' > "$tsv"
row() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$tsv"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
median_p90() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)]}'; }

for n in $LEVELS; do
	"$R/bench/bench-scale" populate "$state" "$pool" "$n" 2>> "$T/populate.log" ||
		{ cat "$T/populate.log" >&2; exit 1; }
	tail -n 1 "$T/populate.log" >&2
	reps=5
	[ "$n" -ge 5000 ] && reps=3
	read -r med p90 <<< "$("$R/bench/bench-scale" open "$state" "$pool" "$reps")"
	row open_library "$n" "$med" "$p90"
	"$R/bench/bench-scale" ops "$state" "$pool" 30 >> "$tsv"
	# the library on this pool and on the 10-snapshot one, round by round
	"$R/bench/bench-scale" pair "$state" "$pool" "$lstate" "$lpool" 30 |
		awk -v n="$n" -F '\t' '{ print $1 "\t" n "\t" $2 "\t" $3 }' >> "$pair"
	# three daemon starts: exec to the first accepted connection; the last one keeps serving
	: > "$T/ready"
	for k in 1 2 3; do
		"$R/bench/bench-scale" ready "$sock" "$T/pid" "$R/thinsnapd" --state-dir "$state" \
			--pool "$pool" --address "$sock" --log-level warning \
			>> "$T/ready" 2>> "$T/thinsnapd.log"
		dpid=$(cat "$T/pid")
		[ "$k" = 3 ] || stop_daemon
	done
	read -r med p90 <<< "$(median_p90 < "$T/ready")"
	row daemon_ready "$n" "$med" "$p90"
	sleep 0.2
	row daemon_rss_ready_kib "$n" "$(status_kib "$dpid" VmRSS)" -
	row daemon_hwm_ready_kib "$n" "$(status_kib "$dpid" VmHWM)" -
	rounds=60 lists=10
	[ "$n" -ge 5000 ] && lists=6
	"$R/bench/scalebench" -thinsnap "$sock" -ref "$rsock" -rounds "$rounds" -lists "$lists" \
		>> "$tsv"
	row daemon_rss_kib "$n" "$(status_kib "$dpid" VmRSS)" -
	row daemon_hwm_kib "$n" "$(status_kib "$dpid" VmHWM)" -
	stop_daemon
	sed -n 's/.*snapshots in .*: \([0-9]*\) committed, \([0-9]*\) active, \([0-9]*\) views$/\1 \2 \3/p' \
		"$T/populate.log" | tail -n 1 | {
		read -r c a v
		row count_committed "$n" "$c" -
		row count_active "$n" "$a" -
		row count_views "$n" "$v" -
	}
done
cp "$tsv" "$OUT/scale.tsv"
"$top/bench/scale/report.sh" "$OUT/scale.tsv" > "$OUT/scale.md"
cp "$pair" "$OUT/scale-pair.tsv"
{
	echo
	echo "The library's prepare and remove of an active snapshot on the grown pool against a"
	echo "pool of 10 snapshots, interleaved round by round (the order flipped each round): the"
	echo "median and p10–p90 of the per-round ratio (goal ≤ 1.2×)."
	echo
	echo "| operation | snapshots | grown pool µs | 10-snapshot pool µs | ratio median | p10–p90 |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for op in prepare remove_active; do
		for n in $LEVELS; do
			awk -F '\t' -v o="$op" -v n="$n" '$1 == o && $2 == n { print $3, $4, $3 / $4 }' \
				"$pair" > "$T/pair.one"
			[ -s "$T/pair.one" ] || continue
			q() { sort -g -k"$1","$1" "$T/pair.one" | awk -v c="$1" -v p="$2" \
				'{ v[NR] = $c } END { printf "%.*f", (c == 3 ? 2 : 0), v[int(p * (NR - 1) + 0.5) + 1] }'; }
			echo "| $op | $n | $(q 1 0.5) | $(q 2 0.5) | $(q 3 0.5)× | $(q 3 0.1)–$(q 3 0.9)× |"
		done
	done
} >> "$OUT/scale.md"
cat "$OUT/scale.md"
