#!/bin/bash
# What containerd's CRI asks of thinsnapd every stats period: Usage for every snapshot. With
# 100 active snapshots of one committed layer (10 of them mounted, one file written in each),
# a container's usage counts its own inodes (1 for one new file; 0 for an untouched one, as
# overlayfs counts only its upper dir), and the test prints what a round of Usage for all of
# them costs the daemon (its CPU time, thin_ls included) and how long Usage takes in the daemon
# (its metrics' latency histogram) alone and while Prepares run (reads never wait
# behind a pool operation). Figures only: speed is not asserted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

command -v curl > /dev/null || skip "no curl"
THINSNAPD_ARGS="--metrics-address unix:$T/run/metrics.sock" start_thinsnapd
start_containerd
mkdir "$T/m"
at_exit "grep -o ' $T/m/[^ ]*' /proc/mounts | sort -r | xargs -r -n 1 umount -l"
# mount_snap KEY: mounts the active snapshot KEY on $T/m/KEY the way ctr prints it
mount_snap() {
	mkdir -p "$T/m/$1"
	s mounts "$T/m/$1" "$1" | sed 's/ -o *$//' | sh || fail "mount of $1"
}
s prepare base-w > /dev/null
mount_snap base-w
for i in $(seq 1 20); do mkdir -p "$T/m/base-w/d$i" && echo "$i" > "$T/m/base-w/d$i/f"; done
umount "$T/m/base-w"
ok s commit base base-w
n=100
for i in $(seq 1 $n); do s prepare "c$i" base > /dev/null; done
for i in $(seq 1 10); do
	mount_snap "c$i"
	echo "mine" > "$T/m/c$i/new-file"
done

# A container's own inodes: one new file, or nothing.
s usage c1 > "$T/u1"
s usage c50 > "$T/u50"
cat "$T/u1" "$T/u50"
assert_eq "$(awk 'NR == 2 {print $NF}' "$T/u1")" 1 "inodes of a snapshot with one new file"
assert_eq "$(awk 'NR == 2 {print $NF}' "$T/u50")" 0 "inodes of an untouched snapshot"

# CPU time of the daemon and its children (thin_ls), in clock ticks.
cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$dpid/stat"; }
hz=$(getconf CLK_TCK)
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rounds=3
c0=$(cpu)
w0=$(now_ms)
for _ in $(seq 1 $rounds); do s usage > "$T/usage-all"; done
w1=$(now_ms)
c1=$(cpu)
assert_eq "$(awk 'NR > 1' "$T/usage-all" | wc -l)" $((n + 1)) "snapshots in a usage round"
echo "usage: $((n + 1)) snapshots a round: daemon CPU $(((c1 - c0) * 1000 / hz / rounds)) ms a round" \
	"(ctr's wall time $(((w1 - w0) / rounds)) ms a round, $rounds rounds)"

# Usage's time in the daemon, from its latency histogram: a round alone, then a round beside
# Prepares (ctr's removes only drop containerd's records).
scrape() { curl -fsS --unix-socket "$T/run/metrics.sock" http://localhost/metrics > "$T/metrics.$1"; }
# phase BEFORE AFTER METHOD -> "N calls, mean X ms, all within Y s" (Y: the histogram bucket)
phase() {
	awk -v m="method=\"$3\"" '
	FNR == 1 { f++ }
	index($0, m) && /_bucket\{/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); b[f, le] = $2; if (f == 1) order[++n] = le }
	index($0, m) && /_sum\{/ { sum[f] = $2 }
	index($0, m) && /_count\{/ { cnt[f] = $2 }
	END {
		c = cnt[2] - cnt[1]
		if (c <= 0) { print "no calls"; exit }
		for (i = 1; i <= n; i++) if (b[2, order[i]] - b[1, order[i]] == c) { top = order[i]; break }
		printf "%d calls, mean %.2f ms, all within %s s\n", c, (sum[2] - sum[1]) * 1000 / c, top
	}' "$T/metrics.$1" "$T/metrics.$2"
}
scrape 0
s usage > /dev/null
scrape 1
(for i in $(seq 1 12); do s prepare "busy$i" base > /dev/null && s rm "busy$i"; done) &
busy=$!
# (a round that lists a snapshot removed before its Usage gets NotFound for it, as from any
# snapshotter)
while kill -0 "$busy" 2> /dev/null; do s usage > /dev/null 2>&1 || true; done
wait "$busy" || fail "prepares beside Usage"
scrape 2
echo "Usage in the daemon, alone: $(phase 0 1 Usage)"
echo "Usage in the daemon, beside prepares: $(phase 1 2 Usage)"
# (containerd removes from the pool at its next collection, an hour away here: no Remove)
echo "Prepare in the daemon meanwhile: $(phase 1 2 Prepare)"
echo "t0621: usage for $((n + 1)) snapshots ok (containerd $ctrd_version)"
