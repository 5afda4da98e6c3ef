#!/bin/bash
# check exits 0 only when the journal and the pool agree: a thin device made behind the
# journal's back (the low-level `thin create`) is reported as leaked (exit 1, text and JSON),
# repair deletes it, and check agrees again. async_remove leaves a pending delete that
# check does not count as disagreement and cleanup deletes.
. "$(dirname "$0")/lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
st="$T/state"
pool=tschk$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }

ok ts pool create --data-size 256M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
ok ts prepare a
ok ts commit a1 a
ok ts check > /dev/null

# a leak: a thin device the journal does not know
ok "$THINSNAP" thin create --state-dir "$st/pool" --name "$pool" --id 4242
rc ts check
assert_eq "$rc" 1 "check with a leaked thin id"
assert_contains "$T/out" "^leaked thin ids: *1 (4242)"
assert_contains "$T/out" "disagree"
rc ts check --json
assert_eq "$rc" 1 "check --json with a leak"
assert_eq "$(jq -c '[.agree, .leaked_ids]' "$T/out")" '[false,[4242]]' "check --json"
ok ts repair > "$T/repair"
assert_contains "$T/repair" "^repaired"
ok ts check > /dev/null
assert_eq "$("$THINSNAP" pool list-ids --state-dir "$st/pool" --name "$pool" | grep -c '^4242$')" 0 \
	"leaked id deleted"

# async_remove: remove only marks, cleanup deletes
ok ts prepare b a1
THINSNAP_ASYNC_REMOVE=true ts rm b
assert_eq "$(ts ls -q | tr '\n' ' ')" "a1 " "b gone from the journal"
ts pool status > "$T/status"
grep -q '^snapshots: .*(1 pending delete)' "$T/status" || fail "pending delete: $(cat "$T/status")"
ok ts check > "$T/check"
assert_contains "$T/check" "^pending deletes: *1"
ok ts cleanup
ok ts check > "$T/check"
assert_contains "$T/check" "^pending deletes: *0"
ok ts rm a1
echo "cli check/repair/cleanup: ok"
