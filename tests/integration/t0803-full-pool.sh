#!/bin/bash
# Fill a small pool's data device through a snapshot. Writes fail promptly
# (pools made by `thinsnap pool create` and the embedded default have error_if_no_space:
# without it the kernel queues them for 60 s); removing the filler frees the space and the
# pool returns to read-write; the committed snapshot's contents are intact. (The free-space
# floor that refuses new snapshots early is tested by t0410.)
. "$(dirname "$0")/lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
st="$T/state"
pool=tsfull$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
tree_sum() {
	(cd "$1" && find . -type f ! -path './lost+found/*' -print0 | sort -z |
		xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}
mode() { ts pool status --json | jq -r .mode; }

ok ts -q pool create --data-size 256M --metadata-size 8M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
# the kernel table carries the flag
dmsetup table "$pool" | grep -q error_if_no_space || fail "pool lacks error_if_no_space: $(dmsetup table "$pool")"
mkdir "$T/mnt"
ok ts prepare --target "$T/mnt" base-a
at_exit "umount -l $T/mnt"
head -c 8388608 /dev/urandom > "$T/mnt/precious"
want=$(tree_sum "$T/mnt")
umount "$T/mnt"
ok ts commit base base-a

# fill it
ok ts prepare --target "$T/mnt" filler base
start=$(date +%s)
if timeout -s KILL 120 dd if=/dev/zero of="$T/mnt/fill" bs=1M oflag=direct > "$T/dd.out" 2>&1; then
	fail "dd filled a 256 MiB pool without an error"
fi
secs=$(($(date +%s) - start))
cat "$T/dd.out"
grep -q "No space left\|Input/output error" "$T/dd.out" || fail "dd stopped for another reason"
((secs < 30)) || fail "the write took ${secs}s to fail (queued instead of erroring)"
assert_eq "$(mode)" out_of_data_space "pool mode when full"
echo "full-pool: dd failed after ${secs}s with: $(grep -o 'No space left on device\|Input/output error' "$T/dd.out" | head -n 1)"
# snapshot operations still answer promptly (no hang), whatever they decide
rc=0
timeout 60 "$THINSNAP" --state-dir "$st" --pool "$pool" prepare probe base > "$T/probe.out" 2>&1 ||
	rc=$?
[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "prepare hung on a full pool"
echo "full-pool: prepare on the full pool exited $rc: $(cat "$T/probe.out")"
# the free-space floor (default 10 %) refuses it, saying how much is free
[ "$rc" = 1 ] || fail "prepare on a full pool was not refused"
grep -q "below the" "$T/probe.out" || fail "the refusal does not name the floor"

# delete the filler: space comes back, the pool is read-write again
umount "$T/mnt"
ok ts remove filler
ok ts cleanup
used=$(ts pool status --json | jq -r .data.used_percent)
echo "full-pool: after removing the filler: mode $(mode), data ${used}% used"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ "$(mode)" = rw ] && break; sleep 1; done
assert_eq "$(mode)" rw "pool mode after freeing space"
awk -v u="$used" 'BEGIN { exit !(u < 50) }' || fail "space not freed: ${used}% used"

# new snapshots work again, and the committed contents are intact
ok ts prepare --target "$T/mnt" after base
echo more > "$T/mnt/more"
sync -f "$T/mnt"
umount "$T/mnt"
ok ts view --target "$T/mnt" look base
assert_eq "$(tree_sum "$T/mnt")" "$want" "committed contents after the full pool"
umount "$T/mnt"
ok ts remove look after
ok ts check
