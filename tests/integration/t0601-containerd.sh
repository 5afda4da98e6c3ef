#!/bin/bash
# thinsnapd under a private containerd (Debian's package, its own config, root and socket) as
# the proxy plugin "thinsnap": `ctr snapshots --snapshotter thinsnap` prepare, view, commit,
# ls, info, label, tree, usage, rm behave, errors come back with containerd's codes, and
# SIGTERM stops the daemon cleanly. THINSNAPD picks the daemon: the real build/release/thinsnapd
# on a loop-file pool when it exists, else build/release/thinsnapd-fake (in memory, no pool;
# the sanitizer build can't run in user-mode-linux).
. "$(dirname "$0")/lib.sh"
command -v containerd > /dev/null || skip "no containerd"
command -v ctr > /dev/null || skip "no ctr"

daemon=${THINSNAPD:-}
if [ -z "$daemon" ]; then
	if [ -x "$TOP/build/release/thinsnapd" ]; then
		daemon=$TOP/build/release/thinsnapd
	else
		daemon=$TOP/build/release/thinsnapd-fake
	fi
fi
[ -x "$daemon" ] || fail "no daemon binary '$daemon'"
args=(--state-dir "$T/state" --address "$T/run/thinsnapd.sock" --log-level info)
real=0
case $daemon in *-fake) ;; *) real=1 ;; esac
if [ "$real" = 1 ]; then
	require_thin
	meta=$(make_loop 16M)
	data=$(make_loop 1G)
	pool=tctrd$$
	dmsetup create "$pool" --table "0 $((1024 * 2048)) thin-pool $meta $data 128 0"
	at_exit "for d in \$(dmsetup ls | awk '{print \$1}' | grep '^$pool' | sort -r); do dmsetup remove \$d; done"
	args+=(--pool "$pool")
fi
echo "daemon: $daemon"

mkdir -p "$T/state" "$T/run"
"$daemon" "${args[@]}" 2> "$T/thinsnapd.log" &
dpid=$!
at_exit "kill -KILL $dpid"
fail() {
	echo "--- thinsnapd log (tail)"
	tail -n 40 "$T/thinsnapd.log"
	echo "FAIL: $*" >&2
	exit 1
}
for _ in $(seq 1 200); do [ -S "$T/run/thinsnapd.sock" ] && break; sleep 0.05; done
[ -S "$T/run/thinsnapd.sock" ] || { cat "$T/thinsnapd.log"; fail "thinsnapd did not start"; }
assert_eq "$(stat -c %a "$T/run/thinsnapd.sock")" 660 "socket mode"

cat > "$T/containerd.toml" << EOF
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
EOF
containerd --config "$T/containerd.toml" > "$T/containerd.log" 2>&1 &
cpid=$!
at_exit "kill -KILL $cpid"
c() { ctr --address "$T/ctrd.sock" --namespace t0601 "$@"; }
s() { c snapshots --snapshotter thinsnap "$@"; }
for _ in $(seq 1 300); do c version > /dev/null 2>&1 && break; sleep 0.1; done
c version > /dev/null || { tail -n 30 "$T/containerd.log"; fail "containerd did not start"; }
c plugins ls | grep -qE 'snapshotter.v1 +thinsnap .* ok' || { c plugins ls; fail "no thinsnap plugin"; }

# prepare, commit, view, a child of the committed one.
ok s prepare base-work
s ls > "$T/ls"
assert_contains "$T/ls" "base-work.*Active"
ok s commit base base-work
ok s prepare child base
ok s view ro base
s ls > "$T/ls"
cat "$T/ls"
# ctr prints an empty parent as an empty column: compare the fields that exist.
assert_eq "$(awk 'NR > 1 {print $1 "/" $2 "/" $NF}' "$T/ls" | sort | tr '\n' ' ')" \
	"base/Committed/Committed child/base/Active ro/base/View " "ls"

# info round-trips name, parent, kind and labels; label goes through Update.
s info child > "$T/info"
assert_contains "$T/info" '"Kind": "Active"'
assert_contains "$T/info" '"Parent": "base"'
ok s label child team=thinsnap
s info child > "$T/info"
assert_contains "$T/info" '"team": "thinsnap"'
s tree > "$T/tree"
cat "$T/tree"
assert_contains "$T/tree" "base"
assert_contains "$T/tree" "child"
s usage > "$T/usage"
assert_contains "$T/usage" "child"

# The mount of an active snapshot and a view names our device.
s mounts /mnt child > "$T/mounts"
assert_contains "$T/mounts" "mount -t"
s mounts /mnt ro > "$T/mounts-ro"
assert_contains "$T/mounts-ro" "ro"

# Errors come back as containerd's codes.
nok s prepare child base
assert_contains "$T/last.err" "already exists"
nok s info nosuch
assert_contains "$T/last.err" "not found"
nok s prepare orphan nosuchparent
assert_contains "$T/last.err" "not found"
nok s rm base
assert_contains "$T/last.err" "failed precondition"

# Remove in an order that works, and the pool is empty again.
ok s rm child ro
ok s rm base
s ls > "$T/ls"
assert_eq "$(awk 'NR > 1' "$T/ls" | wc -l)" 0 "snapshots left"

# A graceful stop.
kill -TERM $dpid
for _ in $(seq 1 100); do kill -0 $dpid 2> /dev/null || break; sleep 0.1; done
if kill -0 $dpid 2> /dev/null; then fail "thinsnapd ignored SIGTERM"; fi
wait $dpid || { cat "$T/thinsnapd.log"; fail "thinsnapd exited with an error"; }
[ -e "$T/run/thinsnapd.sock" ] && fail "socket left behind"
cat "$T/thinsnapd.log"
grep -q "stopped" "$T/thinsnapd.log" || fail "no stop message"
if grep -E 'AddressSanitizer|runtime error' "$T/thinsnapd.log"; then fail "sanitizer report"; fi
echo "t0601: containerd + thinsnapd ok"
