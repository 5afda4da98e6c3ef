#!/bin/bash
# SIGKILL at every fault point of every mutating operation (prepare,
# prepare with a parent, view, commit, commit keep-active, remove, cleanup, update; each hit
# of each snap.* and meta.append.* point), and pool grow killed from outside; remove and
# cleanup killed while discard_blocks has the device active; a lost intent (the journal cut
# back after a kill between the pool step and the journal's sync, the boot id forgotten: a
# power cut); after each, reopen and assert check clean, journal == thin_dump, committed
# sha256 intact, all or nothing.
# tests/integration/crash-matrix.c does the work; its figures go to the log.
. "$(dirname "$0")/lib.sh"
require_thin
command -v thin_dump > /dev/null || skip "no thin_dump"
bin="$TOP/build/fault/itest/crash-matrix"
[ -x "$bin" ] || fail "missing $bin (make all)"
"$bin"
