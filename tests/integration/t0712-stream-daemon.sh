#!/bin/bash
# Streams while thinsnapd holds the pools: the command hands send and receive to the daemon
# through <state_dir>/stream.sock (the stream's descriptor passed along), so a node agent
# streams without stopping it; a failure's message (a flipped byte) comes back from the
# daemon and leaves nothing; the received snapshots read back identical once it stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stream-lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
SNAPDRIVE=${SNAPDRIVE:-$TOP/build/release/tests/snapdrive}
[ -x "$SNAPDRIVE" ] || skip "no $SNAPDRIVE (make all builds it)"
THINSNAPD=${THINSNAPD:-$(dirname "$THINSNAP")/thinsnapd}
export THINSNAP_BASE_IMAGE_SIZE=320M
ta() { "$THINSNAP" --state-dir "$T/a" --pool "tsda$$" "$@"; }
tb() { "$THINSNAP" --state-dir "$T/b" --pool "tsdb$$" "$@"; }
# start_daemon P: thinsnapd on pool P's state directory; its pid in dpid_P
start_daemon() {
	"$THINSNAPD" --state-dir "$T/$1" --pool "tsd$1$$" --address "$T/$1.sock" \
		2> "$T/d$1.log" &
	printf -v "dpid_$1" '%s' "$!"
	at_exit "kill -KILL $!"
	wait_socket "$T/$1/stream.sock" "$!" || { cat "$T/d$1.log"; fail "thinsnapd on $1"; }
}
stop_daemon() {
	local v="dpid_$1"
	kill -TERM "${!v}"
	wait "${!v}" || true
}

for p in a b; do
	ok "t$p" pool create --data-size 1G --metadata-size 16M
	at_exit "$THINSNAP --state-dir $T/$p --pool tsd$p$$ pool destroy --force"
done
mkdir "$T/mnt"
at_exit "umount -l $T/mnt"
ok ta prepare --target "$T/mnt" base-w
head -c 6M /dev/urandom > "$T/mnt/one"
umount "$T/mnt"
ok ta commit base base-w
ok ta prepare --target "$T/mnt" app-w base
head -c 3M /dev/urandom > "$T/mnt/two"
umount "$T/mnt"
ok ta commit app app-w
ok ta prepare --target "$T/mnt" big-w base
head -c 64M /dev/urandom > "$T/mnt/big"
umount "$T/mnt"
ok ta commit big big-w
want_base=$(view_sum ta base)
want_app=$(view_sum ta app)
want_big=$(view_sum ta big)

start_daemon a
start_daemon b
# the daemons hold the pools: the command can't write them itself
set +e
ta prepare x > /dev/null 2>&1
rc=$?
set -e
assert_eq "$rc" 75 "a changing verb while thinsnapd runs"
ok ta send base > "$T/base.s"
ok ta send -i base app > "$T/app.s"
ok tb receive base < "$T/base.s"
cp "$T/app.s" "$T/flip.s"
printf '\xff' | dd of="$T/flip.s" bs=1 seek=$(($(stat -c %s "$T/app.s") / 2)) conv=notrunc status=none
nok tb receive --parent base flip < "$T/flip.s"
assert_contains "$T/last.err" "data checksum mismatch"
ok tb receive --parent base app < "$T/app.s"
assert_eq "$(tb info app | jq -r .id)" "$(ta info app | jq -r .id)" "app's id"

# a send stalled on its reader: the reader takes 64 KiB (the send is past its setup), then
# reads nothing until $T/go exists
mkfifo "$T/fifo"
(
	dd bs=64k count=1 iflag=fullblock status=none
	: > "$T/started"
	while [ ! -e "$T/go" ]; do sleep 0.1; done
	exec cat
) < "$T/fifo" > "$T/big.s" &
rpid=$!
at_exit "kill $rpid"
ta send big > "$T/fifo" 2> "$T/send.err" &
spid=$!
for _ in $(seq 1 600); do [ -e "$T/started" ] && break; sleep 0.1; done
[ -e "$T/started" ] || { cat "$T/send.err" "$T/da.log"; fail "the send did not start"; }
mkdir "$T/dmnt"
ok timeout 300 "$SNAPDRIVE" -sock "$T/a.sock" -random 5s -seed 1 -call-timeout 30s -prefix d- \
	-mnt "$T/dmnt" > "$T/drive.log"
cat "$T/drive.log"
grep -Eq ' prepare=[1-9]' "$T/drive.log" || fail "no Prepare during the send"
grep -Eq ' commit=[1-9]' "$T/drive.log" || fail "no Commit during the send"
nok "$SNAPDRIVE" -sock "$T/a.sock" -remove big -call-timeout 30s
assert_contains "$T/last.out" "remove big: FailedPrecondition"
assert_contains "$T/last.err" "in use by a send"
kill -0 "$spid" 2> /dev/null || fail "the send ended before its reader read"
: > "$T/go"
wait "$spid" || { cat "$T/send.err"; fail "the stalled send"; }
wait "$rpid"
ok tb receive big < "$T/big.s"
# the send's pin is gone with it: the snapshot can be removed now
ok "$SNAPDRIVE" -sock "$T/a.sock" -remove big > /dev/null
stop_daemon a
stop_daemon b
[ ! -e "$T/b/stream.sock" ] || fail "stream.sock left behind"
assert_eq "$(tb list -q | sort | tr '\n' ' ')" "app base big " "pool B's keys"
ok tb check > /dev/null
assert_eq "$(view_sum tb base)" "$want_base" "base through the daemon"
assert_eq "$(view_sum tb app)" "$want_app" "app through the daemon"
assert_eq "$(view_sum tb big)" "$want_big" "big, sent while containerd's calls went on"
ok ta check > /dev/null
echo "stream through thinsnapd: ok"
