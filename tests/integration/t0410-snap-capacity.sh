#!/bin/bash
# The snapshotter's capacity features on the real pool: tests/integration/snap-capacity.c
# (cmocka): space floors crossed by real writes and given back by a remove.
. "$(dirname "$0")/lib.sh"
require_thin
bin="$TOP/build/fault/itest/snap-capacity"
[ -x "$bin" ] || fail "missing $bin (make all)"
"$bin"
