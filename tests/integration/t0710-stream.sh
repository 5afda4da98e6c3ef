#!/bin/bash
# Snapshot streams between two pools (two nodes) in one VM: a whole and an incremental stream
# sent from pool A and received on pool B hold the same files (sha256 through mounted views)
# and keep their unique ids; a wrong base is refused; a flipped byte, a truncated stream and a
# killed receive leave nothing (no key, no thin device: check agrees) and a retry works; an
# xfs snapshot travels with its filesystem type.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stream-lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
export THINSNAP_BASE_IMAGE_SIZE=320M
pa=tssa$$
pb=tssb$$
ta() { "$THINSNAP" --state-dir "$T/a" --pool "$pa" "$@"; }
tb() { "$THINSNAP" --state-dir "$T/b" --pool "$pb" "$@"; }
id_of() { "$@" | jq -r .id; }
# The thin devices pool B's journal and kernel agree on, and its keys.
b_state() { tb check > /dev/null || fail "pool B: check disagrees"; tb list -q | sort | tr '\n' ' '; }

ok ta pool create --data-size 1G --metadata-size 16M
at_exit "$THINSNAP --state-dir $T/a --pool $pa pool destroy --force"
ok tb pool create --data-size 1G --metadata-size 16M
at_exit "$THINSNAP --state-dir $T/b --pool $pb pool destroy --force"
mkdir "$T/mnt"
at_exit "umount -l $T/mnt"

# on A: base with files, app on it with some changed and some new
ok ta prepare --target "$T/mnt" base-w
head -c 8M /dev/urandom > "$T/mnt/big"
for i in $(seq 1 20); do head -c $((i * 1000)) /dev/urandom > "$T/mnt/f$i"; done
umount "$T/mnt"
ok ta commit --label team=blue base base-w
base_id=$(id_of ta info base)
[[ "$base_id" =~ ^[0-9a-f]{32}$ ]] || fail "base's id '$base_id'"
ok ta prepare --target "$T/mnt" app-w base
dd if=/dev/urandom of="$T/mnt/big" bs=1M count=2 seek=3 conv=notrunc status=none
head -c 3M /dev/urandom > "$T/mnt/new"
rm "$T/mnt/f3"
umount "$T/mnt"
ok ta commit app app-w
app_id=$(id_of ta info app)
[ "$app_id" != "$base_id" ] || fail "two commits with one id"
want_base=$(view_sum ta base)
want_app=$(view_sum ta app)

# whole and incremental streams
ta send --stats base > "$T/base.s" 2> "$T/send.err"
assert_contains "$T/send.err" "^send: stream [0-9]* bytes"
ta send -i base app > "$T/app.s"
whole=$(stat -c %s "$T/base.s")
incr=$(stat -c %s "$T/app.s")
[ "$incr" -lt $((8 << 20)) ] || fail "incremental stream of ~5 MiB changed is $incr bytes"
[ "$incr" -gt $((5 << 20)) ] || fail "incremental stream of ~5 MiB changed is only $incr bytes"
[ "$whole" -gt $((8 << 20)) ] || fail "whole stream is only $whole bytes"
nok ta send -i app base
assert_contains "$T/last.err" "not a committed ancestor"
nok ta send app-w
assert_contains "$T/last.err" "not found"
# a reader that goes away fails the send, which leaves no device active
ta send base 2> "$T/epipe.err" | head -c 100000 > /dev/null
assert_contains "$T/epipe.err" "writing the stream"
[ -z "$(dmsetup ls | grep "^$pa-snap-")" ] || fail "a device left active by a broken send"

# on B: whole, then incremental on it; same files, same ids, the labels
ok tb receive base < "$T/base.s"
assert_eq "$(id_of tb info base)" "$base_id" "base's id after receive"
assert_eq "$(tb info base | jq -r .labels.team)" blue "labels travel"
assert_eq "$(view_sum tb base)" "$want_base" "base's files on B"
nok tb receive app < "$T/app.s"
assert_contains "$T/last.err" "incremental: give its base"
ok tb receive --parent base app < "$T/app.s"
assert_eq "$(id_of tb info app)" "$app_id" "app's id after receive"
assert_eq "$(tb info app | jq -r .parent)" base "app's parent"
assert_eq "$(view_sum tb app)" "$want_app" "app's files on B"
nok tb receive base2 < "$T/app.s"
nok tb receive --parent base app < "$T/app.s"
assert_contains "$T/last.err" "already exists"
good=$(b_state)
assert_eq "$good" "app base " "pool B's keys"

# a wrong base is refused, changing nothing
nok tb receive --parent app wrong < "$T/app.s"
assert_contains "$T/last.err" "is not the stream's base"
assert_eq "$(b_state)" "$good" "after a wrong base"

# a flipped byte in the data, and in a chunk header
cp "$T/app.s" "$T/flip.s"
printf '\xff' | dd of="$T/flip.s" bs=1 seek=$((incr / 2)) conv=notrunc status=none
nok tb receive --parent base flip < "$T/flip.s"
grep -q "checksum" "$T/last.err" || fail "flipped byte: $(cat "$T/last.err")"
assert_contains "$T/last.err" "stream chunk [0-9]* (byte [0-9]*)"
assert_eq "$(b_state)" "$good" "after a flipped byte"
cp "$T/base.s" "$T/flip2.s"
printf '\x01' | dd of="$T/flip2.s" bs=1 seek=3 conv=notrunc status=none
nok tb receive flip2 < "$T/flip2.s"
assert_contains "$T/last.err" "not a thinsnap stream"
# truncated: in the middle, and just before the end record
head -c $((incr / 3)) "$T/app.s" > "$T/trunc.s"
nok tb receive --parent base trunc < "$T/trunc.s"
assert_contains "$T/last.err" "truncated"
head -c $((incr - 32)) "$T/app.s" > "$T/trunc.s"
nok tb receive --parent base trunc < "$T/trunc.s"
assert_contains "$T/last.err" "truncated"
assert_eq "$(b_state)" "$good" "after truncated streams"

# a receive killed half-way: the next writer rolls it back
tb rm app > /dev/null
mkfifo "$T/fifo"
tb receive --parent base app < "$T/fifo" 2> "$T/killed.err" &
rpid=$!
exec 3> "$T/fifo"
head -c $((incr / 2)) "$T/app.s" >&3
sleep 1
kill -KILL "$rpid"
wait "$rpid" 2> /dev/null || true
exec 3>&-
ok tb cleanup > /dev/null
assert_eq "$(b_state)" "base " "after a killed receive"
# and the retry works
ok tb receive --parent base app < "$T/app.s"
assert_eq "$(view_sum tb app)" "$want_app" "app's files after the retry"

# xfs: the filesystem type travels with the stream
if command -v mkfs.xfs > /dev/null && { grep -qw xfs /proc/filesystems || modprobe -q xfs 2> /dev/null; }; then
	THINSNAP_FS_TYPE=xfs ta prepare --target "$T/mnt" x-w > /dev/null
	head -c 5M /dev/urandom > "$T/mnt/x"
	umount "$T/mnt"
	ok ta commit x x-w
	want_x=$(view_sum ta x)
	ta send x > "$T/x.s"
	ok tb receive x < "$T/x.s"
	tb view --target "$T/mnt" look-x x > /dev/null
	assert_eq "$(findmnt -n -o FSTYPE "$T/mnt")" xfs "received xfs"
	assert_eq "$(tree_sum "$T/mnt")" "$want_x" "xfs files on B"
	umount "$T/mnt"
	ok tb rm look-x
else
	echo "no xfs: its case skipped"
fi
ok tb check > /dev/null
echo "stream send/receive: ok"
