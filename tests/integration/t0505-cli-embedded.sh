#!/bin/bash
# The embedded default: with nothing configured but the state directory, the first
# `thinsnap prepare demo` creates a loop-file pool there and just works.
. "$(dirname "$0")/lib.sh"
require_thin
if [ -e /dev/mapper/thinsnap-pool ]; then skip "a pool named thinsnap-pool already exists"; fi
st="$T/state"
ts() { env -u THINSNAP_POOL -u THINSNAP_CONFIG "$THINSNAP" --state-dir "$st" "$@"; }

ts prepare demo 2> "$T/err" || { cat "$T/err" >&2; fail "first prepare on the default"; }
at_exit "$THINSNAP --state-dir $st pool destroy --force"
assert_contains "$T/err" "created pool 'thinsnap-pool' on sparse files"
[ -e "$st/pool/identity" ] || fail "no pool identity in <state-dir>/pool"
ts ls -q | grep -qx demo || fail "demo not listed"
ts pool status | grep -q '^pool: *thinsnap-pool' || fail "pool status on the default"
# a second use reuses the pool, silently
ts prepare demo2 2> "$T/err2"
[ ! -s "$T/err2" ] || fail "second use printed: $(cat "$T/err2")"
ok ts rm demo demo2
ok ts pool destroy
echo "cli embedded default: ok"
