#!/bin/bash
# Snapshot stream benchmark on the real pool (run as root where dm-thin works):
#   scripts/dmrun --timeout 1800 -- bench/stream-bench.sh [REPS]     (SIZES="16" for one size row)
# 1. Size: a 1 GiB ext4 snapshot whose child changes N MiB (N = 16, 64, 256): the incremental
#    stream against the limit 1.05 x N MiB + 1 MiB, the whole stream of the child, and a tar of
#    the changed files (zstd-less, as the filesystem change would travel).
# 2. Speed: send of ~512 MiB of mapped data to /dev/null against dd reading the same bytes from
#    the same pool; receive of that stream from a file against dd writing the same bytes into a
#    thin device of the same pool (O_DIRECT, then fsync). Runs interleave (A B B A ...) in one
#    boot, page cache dropped before each; median and spread of REPS (default 3) per side.
set -eu
reps=${1:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
THINSNAP=${THINSNAP:-$top/build/release/thinsnap}
. "$top/bench/lib.sh"
bench_scratch stream-bench
unset THINSNAP_STATE_DIR THINSNAP_POOL THINSNAP_CONFIG THINSNAP_FS_TYPE
export THINSNAP_BASE_IMAGE_SIZE=1G
ta() { "$THINSNAP" --state-dir "$B/a" --pool "sba$$" "$@"; }
tb() { "$THINSNAP" --state-dir "$B/b" --pool "sbb$$" "$@"; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2> /dev/null || true; }
mib() { echo "scale=2; $1 / 1048576" | bc; }
# median and spread (max - min) of the numbers on stdin
stats() { sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.3f s (spread %.3f)", m, v[NR]-v[1]}'; }
median() { sort -g | awk '{v[NR]=$1} END {print NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

ta pool create --data-size 6G --metadata-size 64M > /dev/null
cleanups+=("$THINSNAP --state-dir $B/a --pool sba$$ pool destroy --force")
tb pool create --data-size 6G --metadata-size 64M > /dev/null
cleanups+=("$THINSNAP --state-dir $B/b --pool sbb$$ pool destroy --force")
mkdir "$B/mnt"
cleanups+=("umount -l $B/mnt")

ta prepare --target "$B/mnt" base-w > /dev/null
dd if=/dev/urandom of="$B/mnt/data" bs=1M count=512 status=none conv=fsync
umount "$B/mnt"
ta commit base base-w

echo "== size: the incremental stream of a child changing N MiB of a 1 GiB snapshot"
printf "%8s %12s %12s %6s %12s %12s %12s\n" "N MiB" "incr MiB" "limit MiB" "ok" "whole MiB" \
	"tar MiB" "tar s"
for n in ${SIZES:-16 64 256}; do
	ta prepare --target "$B/mnt" "c$n-w" base > /dev/null
	# half the change inside the existing 512 MiB file, half as a new file
	dd if=/dev/urandom of="$B/mnt/data" bs=1M count=$((n / 2)) seek=100 conv=notrunc,fsync status=none
	dd if=/dev/urandom of="$B/mnt/new" bs=1M count=$((n / 2)) conv=fsync status=none
	t0=$(now)
	tar -C "$B/mnt" -cf "$B/c$n.tar" new data # the files the change touched, as tar ships them
	tar_s=$(echo "$(now) - $t0" | bc)
	umount "$B/mnt"
	ta commit "c$n" "c$n-w"
	ta send -i base "c$n" > "$B/c$n.s"
	ta send "c$n" > "$B/c$n.whole"
	incr=$(stat -c %s "$B/c$n.s")
	limit=$(( (n * 105 / 100 + 1) * 1048576 ))
	printf "%8d %12s %12s %6s %12s %12s %12.2f\n" "$n" "$(mib "$incr")" "$(mib "$limit")" \
		"$([ "$incr" -le "$limit" ] && echo yes || echo NO)" \
		"$(mib "$(stat -c %s "$B/c$n.whole")")" "$(mib "$(stat -c %s "$B/c$n.tar")")" "$tar_s"
	rm -f "$B/c$n.whole" "$B/c$n.tar"
done
echo "(whole: the child sent whole; tar: a tar of the two files the change touched)"

echo "== speed: send vs dd read, receive vs dd write (same bytes, same pool, $reps runs each)"
ta send base > "$B/base.s"
bytes=$(stat -c %s "$B/base.s")
ta view look base > /dev/null
src=$(ta mounts /x look | awk '{print $4}')
blocks=$(( bytes / 1048576 ))
tb pool status > /dev/null
: > "$B/t.send"; : > "$B/t.ddr"; : > "$B/t.recv"; : > "$B/t.ddw"; : > "$B/t.tiny"
secs() { echo "$(now) - $1" | bc; }
run_send() { drop; local t0; t0=$(now); ta send base > /dev/null; secs "$t0" >> "$B/t.send"; }
run_ddr() { drop; local t0; t0=$(now); dd if="$src" of=/dev/null bs=1M count="$blocks" status=none; secs "$t0" >> "$B/t.ddr"; }
run_recv() { tb rm r > /dev/null 2>&1 || true; drop; local t0; t0=$(now); tb receive r < "$B/base.s"; secs "$t0" >> "$B/t.recv"; }
# dd writes into a fresh thin device each time, as receive does (its blocks get provisioned)
run_ddw() {
	tb rm sink > /dev/null 2>&1 || true
	tb prepare sink > /dev/null
	local dst; dst=$(tb mounts /x sink | awk '{print $4}')
	drop; local t0; t0=$(now)
	dd if="$B/base.s" of="$dst" bs=1M count="$blocks" oflag=direct conv=fsync status=none
	secs "$t0" >> "$B/t.ddw"
}
# the fixed cost of a send: a snapshot with nothing mapped beyond its parent
run_tiny() { local t0; t0=$(now); ta send -i base c16 > /dev/null; secs "$t0" >> "$B/t.tiny"; }
for ((i = 0; i < reps; i++)); do
	if ((i % 2)); then run_ddr; run_send; run_ddw; run_recv; else run_send; run_ddr; run_recv; run_ddw; fi
	run_tiny
done
ms=$(median < "$B/t.send"); mr=$(median < "$B/t.ddr"); mv=$(median < "$B/t.recv"); mw=$(median < "$B/t.ddw")
echo "stream $(mib "$bytes") MiB, dd $blocks MiB"
echo "send         $(stats < "$B/t.send")  $(echo "scale=1; $bytes / 1048576 / $ms" | bc) MiB/s"
echo "dd read      $(stats < "$B/t.ddr")  $(echo "scale=1; $blocks / $mr" | bc) MiB/s"
echo "receive      $(stats < "$B/t.recv")  $(echo "scale=1; $bytes / 1048576 / $mv" | bc) MiB/s"
echo "dd write     $(stats < "$B/t.ddw")  $(echo "scale=1; $blocks / $mw" | bc) MiB/s"
echo "send -i of c16 (16 MiB, the fixed cost included) $(stats < "$B/t.tiny")"
echo "send / dd read:     $(echo "scale=2; ($bytes / 1048576 / $ms) / ($blocks / $mr)" | bc) (target >= 0.80)"
echo "receive / dd write: $(echo "scale=2; ($bytes / 1048576 / $mv) / ($blocks / $mw)" | bc) (target >= 0.80)"
ta rm look > /dev/null
