# Helpers for the tests that drive the real thinsnapd with tests/snapdrive (t0805, t0806);
# source after lib.sh. Unlike daemon-lib.sh, they need no containerd.
#   make_stress_pool SIZE  a pool made by `thinsnap pool create` under $T/state ($st, $pool;
#                          ts ARGS runs the command on it)
#   start_daemon [WRAPPER...]  thinsnapd on $sock (sets $dpid), under WRAPPER (valgrind) if given
#   stop_daemon [SECONDS]  SIGTERM; fails unless it exits within SECONDS (60); its exit
#                          status goes to $daemon_rc
command -v go > /dev/null || [ -x "${SNAPDRIVE:-$TOP/build/release/tests/snapdrive}" ] ||
	skip "no snapdrive and no go to build it"
SNAPDRIVE=${SNAPDRIVE:-$TOP/build/release/tests/snapdrive}
[ -x "$SNAPDRIVE" ] || "$TOP/tests/snapdrive/build.sh" "$SNAPDRIVE" || fail "building snapdrive"
THINSNAPD=${THINSNAPD:-$TOP/build/release/thinsnapd}
[ -x "$THINSNAPD" ] || skip "no $THINSNAPD"
# small base devices keep mkfs quick; the command and the daemon read the same variable
export THINSNAP_BASE_IMAGE_SIZE=64MB
st=$T/state
pool=tstress$$
sock=$T/run/thinsnapd.sock

ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }

make_stress_pool() {
	require_thin
	ts -q pool create --data-size "$1" --metadata-size 16M || fail "pool create"
	at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
}

start_daemon() {
	mkdir -p "$T/run"
	"$@" "$THINSNAPD" --state-dir "$st" --pool "$pool" --address "$sock" --log-level info \
		2> "$T/thinsnapd.log" &
	dpid=$!
	at_exit "kill -KILL $dpid"
	wait_socket "$sock" "$dpid" 60 || { cat "$T/thinsnapd.log" >&2; fail "thinsnapd did not start"; }
}

stop_daemon() {
	local secs=${1:-60}
	daemon_rc=0
	kill -TERM "$dpid"
	for _ in $(seq 1 $((secs * 10))); do kill -0 "$dpid" 2> /dev/null || break; sleep 0.1; done
	kill -0 "$dpid" 2> /dev/null && fail "thinsnapd did not stop within $secs s of SIGTERM"
	wait "$dpid" || daemon_rc=$?
	grep -q stopped "$T/thinsnapd.log" || { tail -n 30 "$T/thinsnapd.log" >&2; fail "no stop message"; }
}
