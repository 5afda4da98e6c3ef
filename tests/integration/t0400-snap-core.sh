#!/bin/bash
# The snapshotter core on the real pool: tests/integration/snap-core.c (cmocka), covering
# every rule of the snapshot model with real mounts and contents, error codes, reopen after
# a lost device, check/repair, and SIGKILL at each fault point between journal and pool.
. "$(dirname "$0")/lib.sh"
require_thin
bin="$TOP/build/fault/itest/snap-core"
[ -x "$bin" ] || fail "missing $bin (make all)"
"$bin"
