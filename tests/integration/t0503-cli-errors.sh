#!/bin/bash
# Errors through the command on a real pool, each as one line "thinsnap: <verb> <key>: ..."
# and exit 1: unknown key, bad filter, parent not committed, commit of a view, remove with
# children, a pool that does not exist, a state directory locked by another writer.
. "$(dirname "$0")/lib.sh"
require_thin
st="$T/state"
pool=tserr$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
one_line() { assert_eq "$(wc -l < "$T/err")" 1 "one line on stderr"; }

ok ts pool create --data-size 256M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
ok ts prepare a
ok ts commit a1 a
ok ts view v a1
ok ts prepare act a1

rc ts info nosuch
assert_eq "$rc" 1 "unknown key"
assert_contains "$T/err" "^thinsnap: info nosuch: "
one_line
rc ts rm nosuch
assert_eq "$rc" 1 "remove unknown key"
assert_contains "$T/err" "^thinsnap: remove nosuch: "
rc ts usage nosuch
assert_eq "$rc" 1 "usage unknown key"
assert_contains "$T/err" "^thinsnap: usage nosuch: "

rc ts ls 'kind=~=('
assert_eq "$rc" 1 "bad filter"
assert_contains "$T/err" "^thinsnap: list: "
one_line
rc ts ls 'nosuchfield==x'
[ "$rc" -le 1 ] || fail "unknown filter field: exit $rc"

rc ts prepare child act
assert_eq "$rc" 1 "parent not committed"
assert_contains "$T/err" "^thinsnap: prepare child: "
one_line
rc ts prepare child nosuchparent
assert_eq "$rc" 1 "parent missing"
assert_contains "$T/err" "^thinsnap: prepare child: "
rc ts prepare a1
assert_eq "$rc" 1 "key taken"
assert_contains "$T/err" "^thinsnap: prepare a1: "

rc ts commit v-committed v
assert_eq "$rc" 1 "commit of a view"
assert_contains "$T/err" "^thinsnap: commit v: "
one_line
rc ts commit x nosuch
assert_eq "$rc" 1 "commit of nothing"

rc ts rm a1
assert_eq "$rc" 1 "remove with children"
assert_contains "$T/err" "^thinsnap: remove a1: "
one_line
rc ts mounts /t a1
assert_eq "$rc" 1 "mounts of a committed snapshot"
assert_contains "$T/err" "^thinsnap: mounts a1: "

# a pool that does not exist
rc "$THINSNAP" --state-dir "$T/other" --pool nosuchpool$$ ls
assert_eq "$rc" 1 "pool missing"
assert_contains "$T/err" "^thinsnap: list: "
one_line
rc "$THINSNAP" --state-dir "$T/other" --pool nosuchpool$$ pool status
assert_eq "$rc" 1 "pool status of a missing pool"
assert_contains "$T/err" "^thinsnap: pool status nosuchpool$$: "

# a state directory locked by another writer: writers fail at once, readers still work
[ -e "$st/lock" ] || fail "no lock file in the state directory"
flock -o "$st/lock" sleep 30 &
locker=$!
at_exit "kill $locker"
poll 30 '! flock -n "$st/lock" true' || fail "flock did not take the lock"
rc ts prepare b
assert_eq "$rc" 75 "state dir locked: busy"
assert_contains "$T/err" "^thinsnap: prepare b: busy: state directory '.*' is locked by another writer"
assert_contains "$T/err" "wait with --wait SECONDS"
one_line
rc ts ls -q
assert_eq "$rc" 0 "read while locked"
# --wait: gives up after the time given, or goes on once the holder lets go
start=$(date +%s%N)
rc ts --wait 1.5 prepare b
assert_eq "$rc" 75 "busy after --wait 1.5"
assert_contains "$T/err" "gave up waiting"
waited=$((($(date +%s%N) - start) / 1000000))
[ "$waited" -ge 1500 ] || fail "--wait 1.5 gave up after $waited ms"
ts info b > /dev/null 2>&1 && fail "a refused prepare created 'b'"
rc ts pool destroy --force
assert_eq "$rc" 75 "pool destroy while locked: busy"
assert_contains "$T/err" "^thinsnap: pool destroy .*: busy: "
ok ts pool status > /dev/null
(sleep 1 && kill "$locker") &
rc ts --wait 20 prepare b
assert_eq "$rc" 0 "prepare once the lock is free (--wait 20)"
wait "$locker" 2> /dev/null || true
ok ts rm b
rc ts --wait 5s prepare b
assert_eq "$rc" 2 "--wait wants a number"

ok ts check
ok ts rm act v
echo "cli errors: ok"
