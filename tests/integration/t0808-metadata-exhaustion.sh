#!/bin/bash
# A pool's metadata runs out. A 2 MiB metadata device; a committed snapshot
# with a 128 MiB file (thousands of mappings), then snapshots of it each rewriting scattered
# blocks, so that every one copies btree leaves. First the metadata floor (10 %) refuses new
# snapshots with the free metadata named; with the floor off, the kernel runs out of metadata
# space and turns the pool read-only: changing verbs exit 3 (Unavailable) naming the repair
# step, `thinsnap pool grow --metadata`; growing it brings the pool back to read-write, and
# nothing committed is lost and nothing leaks (the journal's thin ids are the pool's).
. "$(dirname "$0")/lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=512MB
require_thin
command -v jq > /dev/null || skip "no jq"
command -v perl > /dev/null || skip "no perl"
st="$T/state"
pool=tsmeta$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }
field() { ts pool status --json | jq -r "$1"; }
# Rewrites 4 KiB every STRIDE bytes of FILE in place (one process: cheap in UML).
scatter() {
	perl -e 'my ($f, $stride) = @ARGV; open(my $h, "+<", $f) or die "$f: $!";
		my $sz = -s $h; my $b = pack("N", int(rand(2**32))) x 1024;
		for (my $o = 0; $o < $sz; $o += $stride) { sysseek($h, $o, 0);
			syswrite($h, $b) == 4096 or die "write at $o: $!"; }
		close($h) or die "close: $!";' "$1" "$2"
}
# The journal's thin ids (ls keys + base devices + pending deletes) against the pool's own.
assert_no_leak() {
	ok ts check > "$T/check"
	local journal pool_n
	journal=$(ts pool status --json | jq '.snapshots | .committed + .active + .view + .pending_deletes')
	pool_n=$(ts pool list-ids --state-dir "$st/pool" --name "$pool" | wc -l)
	# one base device (the empty ext4 every parentless snapshot starts from)
	assert_eq "$pool_n" "$((journal + 1))" "pool thin ids vs journal ($1)"
}

pool_with_base 1G 2M big 134217728
echo "after base: metadata $(field '.metadata.used_percent')% used"

# --- the floor: new snapshots are refused while < 10 % of the metadata is free ---
floor_hit=0
for ((k = 1; k <= 80; k++)); do
	rc ts prepare --target "$T/mnt" "s$k" base
	if [ "$rc" != 0 ]; then
		floor_hit=$k
		break
	fi
	scatter "$T/mnt/big" 4194304
	umount "$T/mnt"
done
[ "$floor_hit" -gt 0 ] || fail "80 snapshots and the metadata floor never refused one"
cat "$T/err"
assert_eq "$rc" 1 "exit code of a prepare below the metadata floor"
assert_contains "$T/err" "of metadata space free"
assert_contains "$T/err" "below the 10% floor"
assert_eq "$(field .mode)" rw "mode at the floor"
echo "floor refused snapshot $floor_hit at $(field '.metadata.used_percent')% metadata used"
assert_no_leak "at the floor"

# --- no floor: on until the kernel runs out of metadata space ---
export THINSNAP_MIN_FREE_METADATA_PERCENT=0 THINSNAP_MIN_FREE_DATA_PERCENT=0
ro_at=0
for ((k = floor_hit; k <= floor_hit + 40; k++)); do
	rc ts prepare --target "$T/mnt" "s$k" base
	if [ "$rc" = 0 ]; then
		scatter "$T/mnt/big" 1048576 2> "$T/scatter.err" || true
		umount "$T/mnt" 2> /dev/null || umount -l "$T/mnt"
	fi
	if [ "$(field .mode)" = ro ]; then
		ro_at=$k
		break
	fi
done
[ "$ro_at" -gt 0 ] || fail "the pool never ran out of metadata space"
ts pool status
echo "out of metadata space at snapshot $ro_at"
assert_eq "$(field .needs_check)" false "needs_check when out of metadata space"
hint="grow it with 'thinsnap pool grow --metadata SIZE'"
for args in "prepare x base" "view v base" "rm s1" "label base k=v" "cleanup"; do
	# shellcheck disable=SC2086
	rc ts $args
	assert_eq "$rc" 3 "exit code of '$args' out of metadata space"
	assert_contains "$T/err" "is out of metadata space"
	assert_contains "$T/err" "$hint"
done
# reads work; the committed snapshot reads back (through its child's device, read-only)
ok ts ls > /dev/null
ok ts info base > /dev/null

# --- the repair step: grow the metadata; the pool is read-write again ---
ok ts pool grow --metadata 8M
assert_eq "$(field .mode)" rw "mode after growing the metadata"
assert_eq "$(field .metadata.total_bytes)" 8388608 "metadata size"
assert_no_leak "after growing"
assert_base_intact "after growing"
ok ts prepare x base
assert_no_leak "at the end"
echo "metadata exhaustion ok: floor at snapshot $floor_hit, out of metadata space at $ro_at"
