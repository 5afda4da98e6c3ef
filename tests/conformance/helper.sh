#!/bin/bash
# Starts and stops one thinsnapd per conformance case (THINSNAP_SUITE_HELPER).
#   helper.sh start ROOT   prints the socket of a new daemon (socket in ROOT, state beside it)
#   helper.sh stop ROOT    stops it (SIGTERM) and, with a pool, removes the pool
# THINSNAPD is the daemon binary (default build/check/thinsnapd-fake). With THINSNAP_SUITE_POOL=1
# each case gets its own pool (`thinsnap pool create` on loop files; needs the core and root).
# With THINSNAP_SUITE_CONTAINERD naming a containerd binary, each case also gets a containerd
# (version 3 config, thinsnapd as its proxy plugin "thinsnap") and start prints containerd's
# socket: the suite then reaches thinsnapd through containerd's snapshots service.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
daemon=${THINSNAPD:-$top/build/check/thinsnapd-fake}
thinsnap=${THINSNAP:-$top/build/release/thinsnap}
verb=$1
root=$2
# Alive and not a zombie (once an earlier helper exits, the daemon's parent is init).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}
# The state (and a pool's sparse loop files) lives outside ROOT: the suite dumps ROOT's files
# into its log when a case fails, and would read a multi-GiB sparse file into memory.
state=${TMPDIR:-/tmp}/thinsnap-suite-state.$(basename "$(dirname "$root")")
# A containerd in front of the daemon: its metadata and content live beside the daemon's
# state, its sockets in ROOT (c.sock); the collector never runs during a case.
start_containerd() {
	local c=$state/containerd
	mkdir -p "$c"
	printf '%s\n' 'version = 3' "root = \"$c/root\"" "state = \"$c/state\"" \
		'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]' \
		'[grpc]' "address = \"$root/c.sock\"" '[ttrpc]' "address = \"$root/c.ttrpc\"" \
		'[proxy_plugins.thinsnap]' 'type = "snapshot"' "address = \"$root/thinsnapd.sock\"" \
		"[plugins.'io.containerd.gc.v1.scheduler']" 'startup_delay = "1h"' 'schedule_delay = "1h"' \
		> "$c/config.toml"
	"$THINSNAP_SUITE_CONTAINERD" --config "$c/config.toml" > "$c/log" 2>&1 < /dev/null &
	echo $! > "$root/containerd.pid"
	for _ in $(seq 1 1200); do
		if [ -S "$root/c.sock" ]; then
			echo "$root/c.sock"
			exit 0
		fi
		alive "$(cat "$root/containerd.pid")" || break
		sleep 0.05
	done
	echo "helper: containerd did not come up:" >&2
	tail -n 20 "$c/log" >&2
	exit 1
}

case $verb in
start)
	args=(--state-dir "$state" --address "$root/thinsnapd.sock" --log-level "${THINSNAP_SUITE_LOG:-warning}")
	mkdir -p "$state"
	if [ "${THINSNAP_SUITE_POOL:-0}" = 1 ]; then
		# The core opens only pools the command made (recorded in <state_dir>/pool).
		pool=tsuite$(basename "$(dirname "$root")" | tr -dc 'a-z0-9' | tail -c 12)
		"$thinsnap" --state-dir "$state" --pool "$pool" pool create \
			--data-size "${THINSNAP_SUITE_POOL_SIZE:-4G}" >&2
		echo "$pool" > "$root/pool"
		args+=(--pool "$pool")
		# Small base devices keep 21 pools and their mkfs quick (read by the config module).
		export THINSNAP_BASE_IMAGE_SIZE=${THINSNAP_BASE_IMAGE_SIZE:-512MB}
	fi
	"$daemon" "${args[@]}" > "$root/thinsnapd.log" 2>&1 < /dev/null &
	echo $! > "$root/thinsnapd.pid"
	for _ in $(seq 1 1200); do
		if [ -S "$root/thinsnapd.sock" ]; then
			# with a containerd in front, that prints its socket and exits
			[ -n "${THINSNAP_SUITE_CONTAINERD:-}" ] && start_containerd
			echo "$root/thinsnapd.sock"
			exit 0
		fi
		alive "$(cat "$root/thinsnapd.pid")" || break
		sleep 0.05
	done
	echo "helper: thinsnapd did not come up:" >&2
	cat "$root/thinsnapd.log" >&2
	exit 1
	;;
stop)
	rc=0
	if [ -f "$root/containerd.pid" ]; then
		cpid=$(cat "$root/containerd.pid")
		if ! alive "$cpid"; then
			echo "helper: containerd died during the case:" >&2
			tail -n 20 "$state/containerd/log" >&2
			rc=1
		fi
		# the case went through containerd: its metadata store holds the case's records
		if [ ! -s "$state/containerd/root/io.containerd.metadata.v1.bolt/meta.db" ]; then
			echo "helper: containerd has no metadata store: the case did not go through it" >&2
			rc=1
		fi
		kill -TERM "$cpid" 2> /dev/null || true
		for _ in $(seq 1 200); do alive "$cpid" || break; sleep 0.05; done
		kill -KILL "$cpid" 2> /dev/null || true
	fi
	pid=$(cat "$root/thinsnapd.pid")
	kill -TERM "$pid" 2> /dev/null || true
	for _ in $(seq 1 600); do alive "$pid" || break; sleep 0.05; done
	if alive "$pid"; then echo "helper: thinsnapd $pid ignored SIGTERM" >&2; kill -KILL "$pid"; rc=1; fi
	if grep -E 'ERROR: AddressSanitizer|runtime error' "$root/thinsnapd.log" >&2; then rc=1; fi
	[ "${THINSNAP_SUITE_VERBOSE:-0}" = 1 ] && cat "$root/thinsnapd.log" >&2
	if [ -f "$root/pool" ]; then
		"$thinsnap" --state-dir "$state" --pool "$(cat "$root/pool")" pool destroy --force >&2 ||
			rc=1
	fi
	rm -rf "$state"
	exit $rc
	;;
*)
	echo "usage: helper.sh start|stop ROOT" >&2
	exit 2
	;;
esac
