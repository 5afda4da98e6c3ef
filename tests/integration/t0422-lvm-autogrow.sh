#!/bin/bash
# Auto-grow of a pool on two LVs: `pool autogrow` extends data and metadata with lvextend from
# the volume group's free space (data up to autogrow_max_size, metadata up to
# autogrow_metadata_max_size, which then holds with room left in the VG), then thinsnapd's
# monitor finds nothing left, warns once per part, takes the room the operator gives it while
# it runs, and its metrics show what auto-grow added.
. "$(dirname "$0")/lib.sh"
require_thin
[ -x "$TOP/build/release/thinsnapd" ] || skip "no build/release/thinsnapd"
. "$(dirname "$0")/lvm-lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=128M
log="$T/thinsnapd.log"
dfail() { echo "--- thinsnapd log"; cat "$log" 2> /dev/null; fail "$*"; }
# a 1% threshold: the data and metadata a small pool uses are past it at once
printf '[thinsnap]\nautogrow_threshold_percent = 1\nautogrow_percent = 50\n%s\n%s\n%s\n' \
	'autogrow_max_size = "128M"' 'autogrow_metadata_max_size = "8M"' 'monitor_interval = 1' \
	> "$T/config.toml"
setup_vg 256M
lvm_pool 64M 4M $((6 * MiB))
mkdir -p "$T/run"

# the one-shot verb: data to the 128M cap, metadata in 50% steps to its 8M cap, from the VG
free0=$(vg_free)
ok ts pool autogrow > "$T/out"
cat "$T/out"
assert_contains "$T/out" "^pool '$pool' data grown from 64.0 MiB to 128.0 MiB"
assert_contains "$T/out" "^pool '$pool' metadata grown from 4.0 MiB to "
assert_eq "$(lv_bytes tsdata)" $((128 * MiB)) "data LV after autogrow"
assert_eq "$(pool_data_bytes)" $((128 * MiB)) "pool data after autogrow"
meta=$(lv_bytes tsmeta)
assert_eq "$meta" $((8 * MiB)) "metadata LV at its cap"
assert_eq "$(pool_meta_bytes)" "$meta" "pool metadata = its LV"
# both caps reached with room left in the VG: no lvextend, nothing changes
free1=$(vg_free)
[ "$free1" -ge $((64 * MiB)) ] || fail "VG free space $free1: no room to test the caps with"
ok ts pool autogrow > "$T/out"
cat "$T/out"
assert_contains "$T/out" "nothing left to grow into"
assert_eq "$(lv_bytes tsmeta)" $((8 * MiB)) "metadata LV past its cap"
assert_eq "$(lv_bytes tsdata)" $((128 * MiB)) "data LV past its cap"
assert_eq "$(vg_free)" "$free1" "VG free space after a capped autogrow"
ok ts pool status --json > "$T/status.json"
assert_eq "$(jq -r .capacity.autogrow_data_bytes "$T/status.json")" $((64 * MiB)) "auto-grown data"
assert_eq "$(jq -r .capacity.autogrow_metadata_bytes "$T/status.json")" $((meta - 4 * MiB)) \
	"auto-grown metadata"
assert_eq "$(jq -r .capacity.data_room_bytes "$T/status.json")" "$(vg_free)" "room left"
[ "$(vg_free)" -lt "$free0" ] || fail "VG free space unchanged"

# fill the VG: the monitor can grow nothing and says so once
lv filler "$(vg_free)b"
sed -i 's/"128M"/"1G"/' "$T/config.toml"
"$TOP/build/release/thinsnapd" --config "$T/config.toml" --state-dir "$st" --pool "$pool" \
	--address "$T/run/d.sock" --metrics-address "unix:$T/run/m.sock" --log-level debug \
	2>> "$log" &
dpid=$!
at_exit "kill -KILL $dpid"
poll 30 '[ -S "$T/run/d.sock" ]' || dfail "thinsnapd did not start"
poll 30 'grep -q "cannot grow further" "$log"' || dfail "no warning at the VG's end"
poll 30 'grep -q "metadata is at its limit" "$log"' || dfail "no warning at the metadata cap"
data1=$(pool_data_bytes)
sleep 3 # three more monitor intervals
assert_eq "$(grep -c "cannot grow further" "$log")" 1 "warning once per crossing"
assert_eq "$(grep -c "metadata is at its limit" "$log")" 1 "metadata warning once"

# the operator gives room while thinsnapd runs: it extends the data LV into it
ok lvremove -q -y "$vg/filler"
poll 30 '[ "$(pool_data_bytes)" -gt "$data1" ]' || dfail "pool did not grow into the VG"
poll 30 'grep -q "data grown from" "$log"' || dfail "no grow message" # logged after the reload
grep "grown from" "$log"
poll 30 '[ "$(grep -c "cannot grow further" "$log")" = 2 ]' || dfail "no warning at the end"
assert_eq "$(pool_data_bytes)" "$(lv_bytes tsdata)" "pool data = its LV in thinsnapd"
assert_eq "$(vg_free)" 0 "VG free space after auto-grow"
assert_eq "$(lv_bytes tsmeta)" $((8 * MiB)) "metadata LV after the daemon's auto-grow"
assert_eq "$(grep -c "metadata is at its limit" "$log")" 1 "metadata warning once, data grown"

# its metrics: what auto-grow added (re-read after the monitor's grow) and the room, as the
# command reports them
scrape() {
	curl -sS --unix-socket "$T/run/m.sock" http://localhost/metrics -o "$T/metrics" ||
		dfail "scrape"
}
metric() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics"; }
ok ts pool status --json > "$T/status.json"
jdata=$(jq -r .capacity.autogrow_data_bytes "$T/status.json")
[ "$jdata" -gt $((64 * MiB)) ] || fail "auto-grown data $jdata after the daemon's grow"
poll 5 'scrape; [ "$(metric "thinsnap_pool_autogrow_added_bytes_total{part=\"data\"}")" = "$jdata" ]' ||
	dfail "added data bytes: metric $(metric 'thinsnap_pool_autogrow_added_bytes_total{part="data"}'), JSON $jdata"
assert_eq "$(metric 'thinsnap_pool_autogrow_added_bytes_total{part="metadata"}')" \
	"$(jq -r .capacity.autogrow_metadata_bytes "$T/status.json")" "added metadata bytes"
assert_eq "$(metric 'thinsnap_pool_room_bytes{part="data"}')" \
	"$(jq -r .capacity.data_room_bytes "$T/status.json")" "data room metric"
assert_eq "$(metric 'thinsnap_pool_room_bytes{part="metadata"}')" \
	"$(jq -r .capacity.metadata_room_bytes "$T/status.json")" "metadata room metric"
kill -TERM "$dpid"
wait "$dpid" || dfail "thinsnapd exited with an error"
grep -q "thinsnapd\[error\]" "$log" && dfail "errors logged"
ok ts pool autogrow > "$T/out"
assert_contains "$T/out" "nothing left to grow into"
assert_base_intact "after auto-grow"
echo "ok: auto-grew data 64 -> $(($(pool_data_bytes) / MiB)) MiB, metadata 4 -> $((meta / MiB)) MiB"
