#!/bin/bash
# thinsnapd under a private containerd (Debian's package, its own config, root and socket) as
# the proxy plugin "thinsnap": `ctr snapshots --snapshotter thinsnap` prepare, view, commit,
# ls, info, label, tree, usage, rm behave, errors come back with containerd's codes, and
# SIGTERM stops the daemon cleanly. The daemon is the real build/release/thinsnapd on a
# loop-file pool (THINSNAPD may name build/release/thinsnapd-fake: in memory, no pool).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

start_thinsnapd
assert_eq "$(stat -c %a "$T/run/thinsnapd.sock")" 660 "socket mode"
start_containerd

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
stop_thinsnapd
cat "$T/thinsnapd.log"
if grep -E 'AddressSanitizer|runtime error' "$T/thinsnapd.log"; then fail "sanitizer report"; fi
echo "t0601: containerd $ctrd_version + thinsnapd ok"
