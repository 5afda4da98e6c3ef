#!/bin/bash
# A pool whose metadata the kernel flagged needs_check. The flag is set
# offline in the metadata superblock (tests/tools/thin-sb-tool.c, as the kernel does after a
# metadata error); the pool then comes up read-only. Every changing verb is refused as
# Unavailable (exit 3) with the repair step named, by the command and by thinsnapd over gRPC;
# reads and committed contents still work; `thinsnap repair` checks the metadata, clears the
# flag and brings the pool and the active snapshot back; nothing is lost or leaked.
. "$(dirname "$0")/lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=128MB
require_thin
command -v jq > /dev/null || skip "no jq"
sbtool=$TOP/build/release/tests/thinsnap-thin-sb-tool
[ -x "$sbtool" ] || fail "missing $sbtool (make all)"
st="$T/state"
pool=tsnc$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
field() { ts pool status --json | jq -r ".$1"; }
repair_hint="needs a check: run 'thinsnap repair'"

pool_with_base 256M 8M precious 4194304
ok ts prepare --target "$T/mnt" work base
echo "work in progress" > "$T/mnt/wip"
umount "$T/mnt"
ids_before=$(ts pool list-ids --state-dir "$st/pool" --name "$pool" | tr '\n' ' ')

# --- the kernel's verdict, as after a metadata error: needs_check in the superblock ---
for d in $(dmsetup ls | awk -v p="$pool-" 'index($1, p) == 1 {print $1}'); do
	dmsetup remove "$d"
done
dmsetup remove "$pool"
ok "$sbtool" "$st/pool/metadata" set-needs-check
assert_eq "$("$sbtool" "$st/pool/metadata" show | head -n 1)" "needs_check: yes" "flag set"

# activation (thin_check passes: the metadata is sound) keeps the flag: the pool is read-only
ok ts pool status > "$T/status"
cat "$T/status"
assert_contains "$T/status" "(needs check)"
assert_eq "$(field needs_check)" true "needs_check"
assert_eq "$(field mode)" ro "mode"

# every changing verb: Unavailable (exit 3), one line naming the repair step
for args in "prepare x base" "view v base" "commit c work" "rm work" "label base k=v" \
	"cleanup" "resize work 256M"; do
	# shellcheck disable=SC2086
	rc ts $args
	assert_eq "$rc" 3 "exit code of '$args' on a pool that needs a check"
	assert_contains "$T/err" "$repair_hint"
	assert_eq "$(wc -l < "$T/err")" 1 "one line for '$args'"
done
# reads work
ok ts ls > "$T/ls"
assert_contains "$T/ls" "^base "
ok ts info work > /dev/null
ok ts tree > /dev/null
# committed contents are readable: the active child's device, read-only
src=$(ts mounts /t work | awk '{print $4}')
[ -b "$src" ] || fail "work's device '$src' is not there"
mount -o ro,noload "$src" "$T/mnt"
assert_eq "$(cat "$T/mnt/wip")" "work in progress" "active contents"
assert_eq "$(sha256sum < "$T/mnt/precious")" "$file_sum" "committed contents under the active"
umount "$T/mnt"

# --- the daemon: Unavailable over gRPC, with the same hint; Stat works ---
daemon=$TOP/build/release/thinsnapd
suite=$TOP/build/conformance/thinsnap-suite.test
if [ -x "$daemon" ] && [ -x "$suite" ]; then
	mkdir -p "$T/run"
	"$daemon" --state-dir "$st" --pool "$pool" --address "$T/run/d.sock" 2> "$T/d.log" &
	dpid=$!
	at_exit "kill -KILL $dpid"
	for _ in $(seq 1 200); do [ -S "$T/run/d.sock" ] && break; sleep 0.05; done
	[ -S "$T/run/d.sock" ] || { cat "$T/d.log"; fail "thinsnapd did not start"; }
	THINSNAP_UNAVAILABLE_SOCKET=$T/run/d.sock THINSNAP_UNAVAILABLE_WANT=$repair_hint \
		THINSNAP_UNAVAILABLE_KEY=base "$suite" -test.run '^TestPoolUnavailable$' -test.v \
		> "$T/grpc.log" 2>&1 || { cat "$T/grpc.log" "$T/d.log"; fail "gRPC calls"; }
	cat "$T/grpc.log"
	grep -q -- "--- PASS: TestPoolUnavailable" "$T/grpc.log" || fail "the gRPC test did not run"
	kill -TERM "$dpid"
	wait "$dpid" 2> /dev/null || true
else
	echo "no thinsnapd or conformance suite: gRPC part skipped"
fi

# --- the repair step: check, clear the flag, reactivate ---
ok ts repair > "$T/repair"
assert_eq "$(field needs_check)" false "needs_check after repair"
assert_eq "$(field mode)" rw "mode after repair"
ok ts check
assert_eq "$(ts pool list-ids --state-dir "$st/pool" --name "$pool" | tr '\n' ' ')" "$ids_before" \
	"thin ids after repair"
# the active snapshot is back and writable, the committed one intact
src=$(ts mounts /t work | awk '{print $4}')
mount "$src" "$T/mnt"
assert_eq "$(cat "$T/mnt/wip")" "work in progress" "active contents after repair"
echo more >> "$T/mnt/wip"
umount "$T/mnt"
assert_base_intact "after repair"
ok ts prepare x base
ok ts commit x-v1 x
ok ts check
echo "needs_check ok: refused with exit 3 and '$repair_hint', repaired, contents intact"
