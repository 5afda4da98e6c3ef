#!/bin/bash
# Streams while thinsnapd holds the pools: the command hands send and receive to the daemon
# through <state_dir>/stream.sock (the stream's descriptor passed along), so a node agent
# streams without stopping it; a failure's message (a flipped byte) comes back from the
# daemon and leaves nothing; the received snapshots read back identical once it stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stream-lib.sh"
unset THINSNAP_STATE_DIR THINSNAP_POOL THINSNAP_CONFIG THINSNAP_BASE_IMAGE_SIZE \
	THINSNAP_FS_TYPE THINSNAP_FS_OPTIONS THINSNAP_ASYNC_REMOVE THINSNAP_DISCARD_BLOCKS \
	THINSNAP_MIN_FREE_DATA_PERCENT THINSNAP_MIN_FREE_METADATA_PERCENT
require_thin
command -v jq > /dev/null || skip "no jq"
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
want_base=$(view_sum ta base)
want_app=$(view_sum ta app)

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
stop_daemon a
stop_daemon b
[ ! -e "$T/b/stream.sock" ] || fail "stream.sock left behind"
assert_eq "$(tb list -q | sort | tr '\n' ' ')" "app base " "pool B's keys"
ok tb check > /dev/null
assert_eq "$(view_sum tb base)" "$want_base" "base through the daemon"
assert_eq "$(view_sum tb app)" "$want_app" "app through the daemon"
echo "stream through thinsnapd: ok"
