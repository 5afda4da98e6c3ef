#!/bin/bash
# The scale benchmark: one pool grown to 10, 1 000 and 10 000 snapshots (a forest of image
# layer chains that branch, with containers and views on top; bench/bench-scale.c). At each
# size: thinsnap_open() time, thinsnapd's exec-to-ready time and memory (VmRSS, VmHWM), and
# per-call latency through the snapshots API from one client (bench/scale/main.go): stat, list,
# prepare, commit, remove, with a daemon on a 10-snapshot reference pool taking turns in the
# same rounds; plus the same operations through the library and the bare pool calls under them,
# and the pair rounds: prepare/remove of an active snapshot, through the library and as the bare
# floor, on the grown pool and on a third, 10-snapshot pool, all four interleaved round by round
# (scale-pair.tsv, with each operation's thread CPU time and its dm calls and syncs timed).
# Self-contained: both pools' loop files live on a private tmpfs, torn down on every exit.
# Writes $OUT/scale.tsv and $OUT/scale.md (OUT=build/bench); about 9 minutes in user-mode-linux.
#   scripts/dmrun --timeout 1500 -- bench/scale/run.sh      (or: make bench-scale)
# THINSNAP_SCALE_LEVELS="10 1000 10000" picks the sizes (dmrun passes THINSNAP_* variables in);
# THINSNAP_SCALE_PARTS=pair runs only the pair rounds (a few minutes: the populate dominates),
# THINSNAP_SCALE_PAIR_ROUNDS (600, ~30 s at 10 000) their rounds per size,
# THINSNAP_SCALE_DAEMON_ROUNDS (300) the rounds through the two daemons (60 left ratios
# that flipped from run to run: 1.08x and 1.66x for the same remove).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
R=$top/build/release
OUT=${OUT:-$top/build/bench}
LEVELS=${THINSNAP_SCALE_LEVELS:-10 1000 10000}
PARTS=${THINSNAP_SCALE_PARTS:-all}
PAIR_ROUNDS=${THINSNAP_SCALE_PAIR_ROUNDS:-600}
DAEMON_ROUNDS=${THINSNAP_SCALE_DAEMON_ROUNDS:-300}
case "$PARTS" in all | pair) ;; *) echo "scale: THINSNAP_SCALE_PARTS is 'all' or 'pair'" >&2; exit 2 ;; esac
full() { [ "$PARTS" = all ]; }
need="$R/bench/bench-scale $R/thinsnap"
full && need="$need $R/bench/scalebench $R/thinsnapd"
for b in $need; do
	[ -x "$b" ] || { echo "scale: $b is missing: run 'make bench' first" >&2; exit 2; }
done
mkdir -p "$OUT"
T=$(mktemp -d /tmp/thinsnap-scale.XXXXXX)
pool=tsscale$$ # grown to each level
state=$T/state
sock=$T/thinsnapd.sock
rpool=tsscaleref$$ # the reference: 10 snapshots, its daemon takes turns with the other
rstate=$T/ref
lpool=tsscalelib$$ # the library's reference: 10 snapshots (the daemon's holds its own lock)
lstate=$T/libref
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
pools="$state:$pool"
full && pools="$pools $rstate:$rpool"
for p in $pools; do
	mkdir -p "${p%%:*}"
	"$R/thinsnap" --state-dir "${p%%:*}" --pool "${p#*:}" pool create --data-size 16G \
		--metadata-size 128M --block-size 64K > /dev/null
done
full && "$R/bench/bench-scale" populate "$rstate" "$rpool" 10 2> /dev/null
mkdir -p "$lstate"
"$R/thinsnap" --state-dir "$lstate" --pool "$lpool" pool create --data-size 16G \
	--metadata-size 128M --block-size 64K > /dev/null
"$R/bench/bench-scale" populate "$lstate" "$lpool" 10 2> /dev/null
pair=$T/pair.tsv
: > "$pair"
if full; then
	"$R/bench/bench-scale" ready "$rsock" "$T/rpid" "$R/thinsnapd" --state-dir "$rstate" \
		--pool "$rpool" --address "$rsock" --log-level warning > /dev/null 2>> "$T/thinsnapd.log"
	rpid=$(cat "$T/rpid")
fi

tsv=$T/scale.tsv
printf '# metric\tsnapshots\tmedian_us\tp90_us\t(memory rows: KiB in median_us; counts rows: number)\n' > "$tsv"
row() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$tsv"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
median_p90() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)]}'; }

# the full set at one size: open, the library and floor per call, thinsnapd's start, memory
# and per-call latency through gRPC against the reference daemon
measure_level() {
	local n=$1 reps=5 rounds=$DAEMON_ROUNDS lists=10 med p90 k
	[ "$n" -ge 5000 ] && reps=3
	read -r med p90 <<< "$("$R/bench/bench-scale" open "$state" "$pool" "$reps")"
	row open_library "$n" "$med" "$p90"
	"$R/bench/bench-scale" ops "$state" "$pool" 30 >> "$tsv"
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
	[ "$n" -ge 5000 ] && lists=6
	"$R/bench/scalebench" -thinsnap "$sock" -ref "$rsock" -rounds "$rounds" -lists "$lists" \
		>> "$tsv"
	row daemon_rss_kib "$n" "$(status_kib "$dpid" VmRSS)" -
	row daemon_hwm_kib "$n" "$(status_kib "$dpid" VmHWM)" -
	stop_daemon
}

for n in $LEVELS; do
	"$R/bench/bench-scale" populate "$state" "$pool" "$n" 2>> "$T/populate.log" ||
		{ cat "$T/populate.log" >&2; exit 1; }
	tail -n 1 "$T/populate.log" >&2
	# the library and the floor on this pool and on the 10-snapshot one, round by round
	"$R/bench/bench-scale" pair "$state" "$pool" "$lstate" "$lpool" "$PAIR_ROUNDS" |
		awk -v n="$n" -F '\t' '{ print $1 "\t" n "\t" $2 "\t" $3 }' >> "$pair"
	full && measure_level "$n"
	sed -n 's/.*snapshots in .*: \([0-9]*\) committed, \([0-9]*\) active, \([0-9]*\) views$/\1 \2 \3/p' \
		"$T/populate.log" | tail -n 1 | {
		read -r c a v
		row count_committed "$n" "$c" -
		row count_active "$n" "$a" -
		row count_views "$n" "$v" -
	}
done
cp "$tsv" "$OUT/scale.tsv"
cp "$pair" "$OUT/scale-pair.tsv"
"$top/bench/scale/report.sh" "$OUT/scale.tsv" "$OUT/scale-pair.tsv" > "$OUT/scale.md"
cat "$OUT/scale.md"
