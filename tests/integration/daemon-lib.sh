# Helpers for the thinsnapd tests (t06NN): source after lib.sh.
#   start_thinsnapd      starts the daemon on $T/run/thinsnapd.sock (sets $dpid, $daemon):
#                        the real build/release/thinsnapd on a pool that `thinsnap pool
#                        create` makes on loop files under $T/state/pool; THINSNAPD may name
#                        another binary (build/release/thinsnapd-fake: in memory, no pool;
#                        THINSNAP_FAKE_BIND=1 backs snapshots with directories)
#   start_containerd     a private containerd (own config, root, state and socket) with
#                        proxy_plugins.thinsnap; c ARGS runs ctr against it, s ARGS is
#                        `ctr snapshots --snapshotter thinsnap ARGS`
command -v containerd > /dev/null || skip "no containerd"
command -v ctr > /dev/null || skip "no ctr"

fail() {
	echo "--- thinsnapd log (tail)"
	tail -n 40 "$T/thinsnapd.log" 2> /dev/null
	echo "FAIL: $*" >&2
	exit 1
}

start_thinsnapd() {
	daemon=${THINSNAPD:-$TOP/build/release/thinsnapd}
	[ -x "$daemon" ] || fail "no daemon binary '$daemon'"
	local args=(--state-dir "$T/state" --address "$T/run/thinsnapd.sock" --log-level info)
	mkdir -p "$T/state" "$T/run"
	real=0
	case $daemon in *-fake) ;; *) real=1 ;; esac
	if [ "$real" = 1 ]; then
		# the real daemon opens the pool that the command made and recorded in the state dir
		require_thin
		local pool=tctrd$$
		# Small base devices keep mkfs quick (the daemon reads this like the command).
		export THINSNAP_BASE_IMAGE_SIZE=${THINSNAP_BASE_IMAGE_SIZE:-512MB}
		"$THINSNAP" --state-dir "$T/state" --pool "$pool" pool create --data-size "${POOL_SIZE:-2G}" ||
			fail "thinsnap pool create"
		at_exit "$THINSNAP --state-dir $T/state --pool $pool pool destroy --force"
		args+=(--pool "$pool")
	fi
	echo "daemon: $daemon"
	"$daemon" "${args[@]}" 2> "$T/thinsnapd.log" &
	dpid=$!
	at_exit "kill -KILL $dpid"
	wait_socket "$T/run/thinsnapd.sock" "$dpid" || fail "thinsnapd did not start"
}

c() { ctr --address "$T/ctrd.sock" --namespace t06 "$@"; }
s() { c snapshots --snapshotter thinsnap "$@"; }

start_containerd() {
	cat > "$T/containerd.toml" <<- EOF
	version = 2
	root = "$T/ctrd/root"
	state = "$T/ctrd/state"
	disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
	  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
	  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
	  "io.containerd.internal.v1.tracing"]
	[grpc]
	  address = "$T/ctrd.sock"
	[ttrpc]
	  address = "$T/ctrd.sock.ttrpc"
	[debug]
	  address = ""
	[proxy_plugins]
	  [proxy_plugins.thinsnap]
	    type = "snapshot"
	    address = "$T/run/thinsnapd.sock"
	# ctr holds no lease: a garbage collection between two calls (its startup pass runs late on
	# a loaded machine) would take the snapshot the next call names. The tests read containerd's
	# records, which a remove drops at once.
	[plugins."io.containerd.gc.v1.scheduler"]
	  startup_delay = "1h"
	  schedule_delay = "1h"
	EOF
	containerd --config "$T/containerd.toml" > "$T/containerd.log" 2>&1 &
	cpid=$!
	at_exit "kill -KILL $cpid"
	for _ in $(seq 1 300); do c version > /dev/null 2>&1 && break; sleep 0.1; done
	c version > /dev/null || { tail -n 30 "$T/containerd.log"; fail "containerd did not start"; }
	c plugins ls | grep -qE 'snapshotter.v1 +thinsnap .* ok' || { c plugins ls; fail "no thinsnap plugin"; }
}

stop_thinsnapd() {
	kill -TERM "$dpid"
	for _ in $(seq 1 100); do kill -0 "$dpid" 2> /dev/null || break; sleep 0.1; done
	if kill -0 "$dpid" 2> /dev/null; then fail "thinsnapd ignored SIGTERM"; fi
	wait "$dpid" || fail "thinsnapd exited with an error"
	[ -e "$T/run/thinsnapd.sock" ] && fail "socket left behind"
	grep -q "stopped" "$T/thinsnapd.log" || fail "no stop message"
	return 0
}
