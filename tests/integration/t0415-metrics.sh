#!/bin/bash
# thinsnapd on a real pool with metrics on a unix socket: known calls through gRPC (curl as
# an HTTP/2 client), then a scrape whose call counts, NotFound error and latency histograms
# match what was done, whose pool gauges match `thinsnap pool status --json` and whose
# snapshots by kind match `thinsnap ls`, whose capacity picture (overcommit, room to grow,
# auto-grown bytes) matches the command's and is not re-read on every scrape. Usage returns exclusive bytes: a child that wrote
# 8 MiB on a parent holding 24 MiB reports about 8 MiB; a fresh view about nothing; 4 MiB
# more show at once (an active snapshot's new blocks are counted from its own device).
. "$(dirname "$0")/lib.sh"
require_thin
command -v curl > /dev/null || skip "no curl"
command -v jq > /dev/null || skip "no jq"
daemon=${THINSNAPD:-$TOP/build/release/thinsnapd}
[ -x "$daemon" ] || fail "no daemon binary '$daemon'"
st="$T/state"
pool=tmet$$
export THINSNAP_BASE_IMAGE_SIZE=128M
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
MIB=1048576

ok ts pool create --data-size 1G
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir -p "$T/mnt" "$T/run"
"$daemon" --state-dir "$st" --pool "$pool" --address "$T/run/d.sock" \
	--metrics-address "unix:$T/run/m/metrics.sock" --log-level debug 2> "$T/d.log" &
dpid=$!
at_exit "kill -KILL $dpid"
at_exit "umount $T/mnt"
for _ in $(seq 1 600); do
	[ -S "$T/run/d.sock" ] && [ -S "$T/run/m/metrics.sock" ] && break
	kill -0 "$dpid" 2> /dev/null || break
	sleep 0.05
done
[ -S "$T/run/m/metrics.sock" ] || { cat "$T/d.log"; fail "thinsnapd did not start"; }
assert_eq "$(stat -c %a "$T/run/m/metrics.sock")" 660 "metrics socket mode"

# call METHOD [FIELD=STRING]...: one unary gRPC call; the reply's message is in $T/body
# (without its 5-byte prefix) and its grpc-status in $code. Strings under 128 bytes.
call() {
	local method=$1 f n v len
	shift
	: > "$T/msg"
	for f in "$@"; do
		n=${f%%=*} v=${f#*=}
		printf "\\x$(printf %02x $((n << 3 | 2)))\\x$(printf %02x ${#v})%s" "$v" >> "$T/msg"
	done
	len=$(stat -c %s "$T/msg")
	{ printf '\x00\x00\x00'; printf "\\x$(printf %02x $((len >> 8)))\\x$(printf %02x $((len & 255)))"; cat "$T/msg"; } > "$T/req"
	curl -sS --unix-socket "$T/run/d.sock" --http2-prior-knowledge \
		-H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$T/req" \
		-D "$T/hdr" -o "$T/resp" \
		"http://localhost/containerd.services.snapshots.v1.Snapshots/$method" ||
		fail "curl $method"
	code=$(tr -d '\r' < "$T/hdr" | sed -n 's/^grpc-status: //p' | tail -n 1)
	tail -c +6 "$T/resp" > "$T/body"
}
# expect CODE METHOD [FIELD=STRING]...
expect() {
	local want=$1
	shift
	call "$@"
	[ "$code" = "$want" ] || { cat "$T/hdr"; fail "$*: grpc-status '$code', want $want"; }
}
# The device of a Prepare/View/Mounts reply.
device() { grep -a -o '/dev/mapper/[A-Za-z0-9_.+-]*' "$T/body" | head -n 1; }
# varint FIELD: a varint field of the reply (UsageResponse: size = 1, inodes = 2).
varint() {
	od -An -v -tu1 "$T/body" | tr -s ' ' '\n' | sed '/^$/d' | awk -v want="$1" '
		BEGIN { state = "tag" }
		state == "tag" { field = int($1 / 8); v = 0; mul = 1; state = "val"; next }
		state == "val" { v += ($1 % 128) * mul; mul *= 128
			if ($1 < 128) { if (field == want) { printf "%d\n", v; exit } state = "tag" } }'
}
write_mib() { # DEVICE MIB FILE
	mount "$1" "$T/mnt"
	dd if=/dev/urandom of="$T/mnt/$3" bs=1M count="$2" conv=fsync status=none
	umount "$T/mnt"
}

# Known calls: Prepare 2, Mounts 3, Commit 1, View 1, Usage 6, Stat 2 (one NotFound), Remove 1.
expect 0 Prepare 2=base
expect 0 Mounts 2=base
write_mib "$(device)" 24 parent-data
expect 0 Commit 2=base-v1 3=base
expect 0 Prepare 2=child 3=base-v1
expect 0 Mounts 2=child
write_mib "$(device)" 8 child-data
expect 0 View 2=look 3=base-v1

expect 0 Usage 2=child
child=$(varint 1) inodes=$(varint 2)
echo "usage child: $child bytes exclusive, $inodes inodes"
[ "$child" -ge $((8 * MIB)) ] || fail "child's exclusive bytes $child < 8 MiB written"
[ "$child" -le $((12 * MIB)) ] || fail "child's exclusive bytes $child: not about 8 MiB"
[ "$inodes" = 1 ] || fail "child's inodes $inodes: want 1, its one new file (its parent's are not its own)"
expect 0 Usage 2=look
look=$(varint 1)
echo "usage look: ${look:-0} bytes exclusive"
[ "${look:-0}" -le $((256 * 1024)) ] || fail "an untouched view holds $look exclusive bytes"
expect 0 Usage 2=base-v1
parent=$(varint 1)
echo "usage base-v1: ${parent:-0} bytes exclusive"
[ "${parent:-0}" -lt $((24 * MIB)) ] || fail "the parent's blocks are shared with its child"

# One thin_ls walk serves Usage for up to 5 s; an active snapshot's new writes show at once,
# from what its device mapped since the walk, and calls within the 5 s take no walk.
expect 0 Mounts 2=child
write_mib "$(device)" 4 more-data
sleep 1.1
expect 0 Usage 2=child
child2=$(varint 1)
echo "usage child after 4 MiB more: $child2 bytes exclusive"
# Twice more at once (curl starts slowly in the VM): one call walks the pool, the other
# waits for it and reuses the walk (the daemon's debug log has their times).
for i in 1 2; do
	curl -sS --unix-socket "$T/run/d.sock" --http2-prior-knowledge \
		-H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$T/req" \
		-D "$T/hdr$i" -o "$T/resp$i" \
		http://localhost/containerd.services.snapshots.v1.Snapshots/Usage &
	pids[i]=$!
done
wait "${pids[1]}" "${pids[2]}"
assert_eq "$(cat "$T/hdr1" "$T/hdr2" | tr -d '\r' | grep -c '^grpc-status: 0$')" 2 "two Usage replies"
cmp "$T/resp1" "$T/resp2" || fail "two Usage calls at once differ"
grep -F 'Usage: ok' "$T/d.log" | tail -n 2
[ "$child2" -ge $((12 * MIB)) ] || fail "child's exclusive bytes $child2 after 12 MiB written"
[ "$child2" -le $((16 * MIB)) ] || fail "child's exclusive bytes $child2: not about 12 MiB"

expect 5 Stat 2=nosuch
expect 0 Stat 2=child
expect 0 Remove 2=look

# The scrape.
curl -sS -D "$T/mhdr" --unix-socket "$T/run/m/metrics.sock" http://localhost/metrics \
	-o "$T/metrics" || fail "scrape"
assert_contains "$T/mhdr" "^HTTP/1.1 200 OK"
assert_contains "$T/mhdr" "^Content-Type: text/plain; version=0.0.4"
# metric NAME{LABELS}: the value of one series (which must appear exactly once)
metric() {
	awk -v k="$1" '$1 == k { n++; v = $2 } END { if (n != 1) exit 1; print v }' \
		"$T/metrics" || echo "series '$1' missing or repeated"
}
for pair in Prepare=2 Mounts=3 Commit=1 View=1 Usage=6 Stat=2 Remove=1 Update=0 List=0 Cleanup=0; do
	m=${pair%=*} want=${pair#*=}
	assert_eq "$(metric "thinsnapd_grpc_requests_total{method=\"$m\"}")" "$want" "$m calls"
	assert_eq "$(metric "thinsnapd_grpc_request_duration_seconds_count{method=\"$m\"}")" \
		"$want" "$m histogram count"
	assert_eq "$(metric "thinsnapd_grpc_request_duration_seconds_bucket{method=\"$m\",le=\"+Inf\"}")" \
		"$want" "$m +Inf bucket"
	# cumulative buckets never decrease
	grep -F "thinsnapd_grpc_request_duration_seconds_bucket{method=\"$m\"," "$T/metrics" |
		awk '{ if ($NF < prev) exit 1; prev = $NF }' || fail "$m buckets not cumulative"
done
assert_eq "$(metric 'thinsnapd_grpc_errors_total{method="Stat",code="NotFound"}')" 1 "NotFound"
assert_eq "$(grep -c '^thinsnapd_grpc_errors_total{' "$T/metrics")" 1 "error series"
sum=$(metric 'thinsnapd_grpc_request_duration_seconds_sum{method="Prepare"}')
awk -v s="$sum" 'BEGIN { exit !(s > 0 && s < 120) }' || fail "Prepare latency sum '$sum'"

# Figures (not asserted): mean latency per method in this run, and one scrape's time.
for m in Prepare Mounts Commit View Usage Stat Remove; do
	awk -v m="$m" -v s="$(metric "thinsnapd_grpc_request_duration_seconds_sum{method=\"$m\"}")" \
		-v n="$(metric "thinsnapd_grpc_request_duration_seconds_count{method=\"$m\"}")" \
		'BEGIN { printf "latency %s: %.1f ms mean of %d\n", m, 1000 * s / n, n }'
done
curl -sS -o /dev/null -w 'scrape: %{size_download} bytes in %{time_total} s\n' \
	--unix-socket "$T/run/m/metrics.sock" http://localhost/metrics

# Pool gauges against the command's view of the same pool (nothing changes in between).
ok ts pool status --json > "$T/status.json"
for pair in data_used_bytes=.data.used_bytes data_total_bytes=.data.total_bytes \
	metadata_used_bytes=.metadata.used_bytes metadata_total_bytes=.metadata.total_bytes \
	transaction_id=.transaction_id; do
	assert_eq "$(metric "thinsnap_pool_${pair%%=*}")" "$(jq -r "${pair#*=}" "$T/status.json")" \
		"thinsnap_pool_${pair%%=*}"
done
assert_eq "$(metric thinsnap_pool_up)" 1 "pool up"
assert_eq "$(metric thinsnap_pool_needs_check)" \
	"$(jq -r 'if .needs_check then 1 else 0 end' "$T/status.json")" "needs_check"
assert_eq "$(metric "thinsnap_pool_mode{mode=\"$(jq -r .mode "$T/status.json")\"}")" 1 "mode"
[ "$(metric thinsnap_pool_data_used_bytes)" -ge $((32 * MIB)) ] || fail "data used too small"
# `pool status --json` is complete
for k in .name .uuid .mode .needs_check .transaction_id .data_block_bytes .data.used_bytes \
	.data.total_bytes .data.used_percent .metadata.used_bytes .metadata.total_bytes \
	.metadata.used_percent .snapshots.active .snapshots.view .snapshots.committed \
	.snapshots.pending_deletes .floors.data_free_percent .floors.metadata_free_percent; do
	[ "$(jq -r "$k" "$T/status.json")" != null ] || fail "pool status --json lacks $k"
done

# The capacity picture against the command's: the overcommit ratio from the same counts and
# size; the room (the loop file's filesystem's free space, which other writers move) within
# 10%; nothing auto-grown on this 1G pool.
jq . "$T/status.json" | sed -n '/"capacity"/,/}/p'
assert_eq "$(metric thinsnap_snapshots_virtual_bytes)" \
	"$(jq -r .capacity.virtual_bytes "$T/status.json")" "virtual bytes"
ratio=$(metric thinsnap_pool_overcommit_ratio)
awk -v m="$ratio" -v j="$(jq -r .capacity.overcommit_ratio "$T/status.json")" \
	-v v="$(metric thinsnap_snapshots_virtual_bytes)" \
	-v d="$(metric thinsnap_pool_data_total_bytes)" \
	'BEGIN { exit !(m > 0 && m - j < 1e-6 && j - m < 1e-6 && (m * d - v) ^ 2 < (v / 1e6) ^ 2) }' ||
	fail "overcommit ratio '$ratio' (JSON $(jq -r .capacity.overcommit_ratio "$T/status.json"))"
# three snapshots of 128M (base, committed, active) on 1G
awk -v m="$ratio" 'BEGIN { exit !(m > 0.3 && m < 0.5) }' || fail "overcommit ratio '$ratio'"
for part in data metadata; do
	room=$(metric "thinsnap_pool_room_bytes{part=\"$part\"}")
	jroom=$(jq -r ".capacity.${part}_room_bytes" "$T/status.json")
	echo "room to grow, $part: metric $room, pool status $jroom"
	[ "$room" -gt 0 ] || fail "$part room '$room'"
	awk -v a="$room" -v b="$jroom" 'BEGIN { d = a - b; exit !(d * d <= (b / 10) ^ 2) }' ||
		fail "$part room: metric $room, pool status $jroom"
	assert_eq "$(metric "thinsnap_pool_autogrow_added_bytes_total{part=\"$part\"}")" \
		"$(jq -r ".capacity.autogrow_${part}_bytes" "$T/status.json")" "$part auto-grown"
done
# scrapes in a row reuse the capacity read (no statvfs/lvs per scrape)
reads=$(grep -c 'metrics: capacity re-read' "$T/d.log")
[ "$reads" -ge 1 ] || fail "capacity never read"
for _ in 1 2 3; do
	curl -sS -o /dev/null --unix-socket "$T/run/m/metrics.sock" http://localhost/metrics
done
assert_eq "$(grep -c 'metrics: capacity re-read' "$T/d.log")" "$reads" "capacity re-reads"

# Snapshots by kind against `thinsnap ls`.
ok ts ls --json > "$T/ls.json"
for k in active view committed; do
	assert_eq "$(metric "thinsnap_snapshots{kind=\"$k\"}")" \
		"$(jq "[.[] | select(.kind == \"$k\")] | length" "$T/ls.json")" "$k snapshots"
done
assert_eq "$(metric 'thinsnap_snapshots{kind="active"}')" 1 "active"
assert_eq "$(metric 'thinsnap_snapshots{kind="committed"}')" 1 "committed"
assert_eq "$(metric 'thinsnap_snapshots{kind="view"}')" 0 "views"

# Anything but GET /metrics.
curl -sS -D "$T/mhdr" -o /dev/null --unix-socket "$T/run/m/metrics.sock" http://localhost/
assert_contains "$T/mhdr" "^HTTP/1.1 404"

# Clean up through the daemon, stop it: both sockets go.
expect 0 Remove 2=child
expect 0 Remove 2=base-v1
kill -TERM "$dpid"
for _ in $(seq 1 100); do kill -0 "$dpid" 2> /dev/null || break; sleep 0.1; done
wait "$dpid" || { cat "$T/d.log"; fail "thinsnapd exited with an error"; }
[ -e "$T/run/m/metrics.sock" ] && fail "metrics socket left behind"
[ -e "$T/run/d.sock" ] && fail "socket left behind"
echo "t0415: metrics and exclusive usage ok"
