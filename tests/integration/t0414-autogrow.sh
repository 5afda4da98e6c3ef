#!/bin/bash
# Auto-grow on the real pool: thinsnapd's monitor grows a loop pool's data file when filling
# crosses the threshold (woken by the pool's low-water dm event: the timer is an hour in the
# first phase), stops at autogrow_max_size, then logs the space warnings once per crossing.
. "$(dirname "$0")/lib.sh"
require_thin
[ -x "$TOP/build/release/thinsnapd" ] || skip "no build/release/thinsnapd"
st="$T/state"
pool=tsag$$
MiB=1048576
export THINSNAP_BASE_IMAGE_SIZE=256M
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
log="$T/thinsnapd.log"
dfail() { echo "--- thinsnapd log"; cat "$log" 2> /dev/null; fail "$*"; }

# data used and total in bytes, from the kernel's status line
pool_data() { # VAR_USED VAR_TOTAL
	local s
	s=$(dmsetup status "$pool")
	printf -v "$1" '%s' $(($(echo "$s" | awk '{split($6, a, "/"); print a[1]}') * 65536))
	printf -v "$2" '%s' $(($(echo "$s" | awk '{split($6, a, "/"); print a[2]}') * 65536))
}
low_water() { dmsetup table "$pool" | awk '{print $7}'; }
file_size() { stat -c %s "$st/pool/data"; }

start_daemon() { # INTERVAL
	cat > "$T/config.toml" <<- EOF
	[thinsnap]
	min_free_data_percent = 10
	autogrow_threshold_percent = 50
	autogrow_percent = 50
	autogrow_max_size = "160M"
	monitor_interval = $1
	space_warning_margin_percent = 10
	EOF
	"$TOP/build/release/thinsnapd" --config "$T/config.toml" --state-dir "$st" --pool "$pool" \
		--address "$T/run/d.sock" --log-level debug 2>> "$log" &
	dpid=$!
	at_exit "kill -KILL $dpid"
	poll 30 '[ -S "$T/run/d.sock" ]' || dfail "thinsnapd did not start"
}
stop_daemon() {
	local t0=$SECONDS
	kill -TERM "$dpid"
	wait "$dpid" || dfail "thinsnapd exited with an error"
	[ $((SECONDS - t0)) -le 5 ] || dfail "thinsnapd took $((SECONDS - t0)) s to stop"
}
# direct 1 MiB writes: the monitor runs between them (one CPU in the VM), as it would
# between the bursts of a real workload; the pool errors when full (error_if_no_space)
fill() { # MiB NAME
	dd if=/dev/zero of="$T/mnt/$2" bs=1M count="$1" oflag=direct conv=fsync status=none ||
		dfail "writing $1 MiB"
}

ok ts pool create --data-size 64M --metadata-size 8M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir -p "$T/mnt" "$T/run"
ok ts prepare --target "$T/mnt" fill
at_exit "umount $T/mnt"
assert_eq "$(file_size)" $((64 * MiB)) "data file before"

# phase 1: the monitor's timer is an hour, so only the low-water event can make it grow
start_daemon 3600
# the low-water mark comes to match the 50% threshold: 512 of 1024 blocks
poll 30 '[ "$(low_water)" = 512 ]' ||
	dfail "low-water mark: $(dmsetup table "$pool")"
pool_data used total
assert_eq "$total" $((64 * MiB)) "pool data before"
fill 36 a
poll 30 '[ "$(file_size)" -gt $((64 * MiB)) ]' || dfail "data file did not grow on the event"
pool_data used total
[ "$total" -gt $((64 * MiB)) ] || dfail "pool data did not grow: $total"
assert_eq "$total" "$(file_size)" "pool data = file size"
[ $((used * 100)) -lt $((total * 50)) ] || dfail "still above the threshold: $used / $total"
grep -q "data grown from 64.0 to" "$log" || dfail "no grow message"
echo "grown on the event to $((total / MiB)) MiB ($((used / MiB)) MiB used)"
stop_daemon

# phase 2: a 1 s timer; fill past the cap: 160 MiB, never more
start_daemon 1
fill 60 b
poll 30 '[ "$(file_size)" -eq $((160 * MiB)) ]' || dfail "did not grow to the cap: $(file_size)"
poll 30 'grep -q "cannot grow further" "$log"' || dfail "no cap warning"
pool_data used total
assert_eq "$total" $((160 * MiB)) "pool data at the cap"
# into the warning band: free between 10% and 20% of 160 MiB (aim at 24 MiB)
fill $(((total - used) / MiB - 24)) c
poll 30 'grep -q "within 10% of the 10% floor" "$log"' || dfail "no near-floor warning"
# below the floor (aim at 10 MiB free of 160)
pool_data used total
fill $(((total - used) / MiB - 10)) d
poll 30 'grep -q "below the 10% floor" "$log"' || dfail "no floor warning"
sleep 2
assert_eq "$(file_size)" $((160 * MiB)) "data file past the cap"
assert_eq "$(grep -c "below the 10% floor" "$log")" 1 "floor warning once per crossing"
assert_eq "$(grep -c "cannot grow further" "$log")" 1 "cap warning once per crossing"
stop_daemon
grep -q "thinsnapd\[error\]" "$log" && dfail "errors logged"

# the one-shot verb, the daemon stopped: a higher cap from the environment (over the file)
export THINSNAP_AUTOGROW_MAX_SIZE=200M
ok ts --config "$T/config.toml" pool autogrow > "$T/out"
assert_contains "$T/out" "^pool '$pool' data grown from "
assert_eq "$(file_size)" $((200 * MiB)) "data file after pool autogrow"
pool_data used total
assert_eq "$total" $((200 * MiB)) "pool data after pool autogrow"
assert_eq "$(low_water)" 1600 "low-water mark after pool autogrow" # 50% of 3200 blocks
ok ts --config "$T/config.toml" pool autogrow > "$T/out"
assert_contains "$T/out" "at the auto-grow cap: not grown$"
assert_eq "$(file_size)" $((200 * MiB)) "data file at the new cap"
unset THINSNAP_AUTOGROW_MAX_SIZE
ok umount "$T/mnt"
ok ts rm fill
grep -E "grown|warning" "$log"
echo "ok: grew 64 -> 160 MiB (cap) in thinsnapd, warnings logged; 160 -> 200 MiB by the verb"
