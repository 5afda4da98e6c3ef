#!/bin/bash
# A damaged journal on the real pool. Keys with a newline, an escape sequence and 4 KiB go
# through the command: escaped in the table, exact in JSON. One damaged copy of the journal
# heals by itself. Damage at the same place in both copies: every verb and thinsnapd refuse,
# naming `thinsnap repair --salvage`; --dry-run changes nothing; the salvage keeps every thin
# device (the pool's list is the same), the ones no record names become lost+found/<id>
# with their filesystem type, their data is readable through a view, and check is clean.
. "$(dirname "$0")/lib.sh"
export THINSNAP_BASE_IMAGE_SIZE=64MB
require_thin
command -v jq > /dev/null || skip "no jq"
st="$T/state"
pool=tssal$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }
ids() { "$THINSNAP" pool list-ids --state-dir "$st/pool" --name "$pool" | tr '\n' ' '; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }

ok ts pool create --data-size 512M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir "$T/mnt"

# six committed layers, each with its own file
parent=()
for i in 1 2 3 4 5 6; do
	ok ts prepare --target "$T/mnt" "layer-$i" "${parent[@]}"
	echo "data of c$i" > "$T/mnt/id.txt"
	umount "$T/mnt"
	ok ts commit "c$i" "layer-$i"
	parent=("c$i")
done

# keys that would hijack a terminal: escaped in the table, exact in JSON
odd=$'odd\nkey\x1b[2J'
big=$(printf 'k%.0s' $(seq 4096))
ok ts prepare "$odd" c1
ok ts prepare "$big" c1
ts ls > "$T/ls"
grep -q $'\x1b' "$T/ls" && fail "an escape sequence reached the table"
assert_contains "$T/ls" '^odd\\nkey\\x1b\[2J '
assert_eq "$(wc -l < "$T/ls")" "9" "one line per snapshot (and the header)"
ts ls --json > "$T/ls.json"
assert_eq "$(jq --arg k "$odd" '[.[] | select(.name == $k)] | length' "$T/ls.json")" "1" \
	"the odd key exact in JSON"
assert_eq "$(jq --arg k "$big" '[.[] | select(.name == $k)] | length' "$T/ls.json")" "1" \
	"the 4 KiB key exact in JSON"
assert_eq "$(ts ls -q | grep -c '^odd\\nkey\\x1b\[2J$')" "1" "ls -q escapes too"
ts label c1 $'note=line1\nline2\x1b]0;x\x07' > "$T/label"
assert_eq "$(cat "$T/label")" 'note=line1\nline2\x1b]0;x\x07' "label output escaped"
assert_eq "$(ts ls --json | jq -r '.[] | select(.name == "c1") | .labels.note')" \
	$'line1\nline2\x1b]0;x\x07' "the label exact in JSON"
ok ts rm "$big"
ok ts check > /dev/null

[ -f "$st/journal.copy" ] || fail "no journal.copy"
cmp "$st/journal" "$st/journal.copy" || fail "the two copies differ"
before=$(ids)

# one copy damaged in the middle: nothing lost, and the next writer heals it
# (in its records: zeros written ahead of their end follow them)
size=$(($(LC_ALL=C grep -aboP '[^\x00]' "$st/journal" | tail -1 | cut -d: -f1) + 1))
dd if=/dev/zero of="$st/journal" bs=512 seek=$((size / 1024)) count=1 conv=notrunc status=none
ok ts ls -q > "$T/ls1"
assert_eq "$(grep -c '^c[1-6]$' "$T/ls1")" "6" "all layers with one copy damaged"
ok ts check > /dev/null
ok ts label c1 healed=yes > /dev/null
cmp "$st/journal" "$st/journal.copy" || fail "the writer did not heal the copies"

# both copies damaged at the same place: c4's record (the healing checkpoint wrote one per
# snapshot, parents first; the key is a u32 length, the bytes and a NUL)
off=$(LC_ALL=C grep -aboP '\x02\x00\x00\x00c4\x00' "$st/journal" | head -1 | cut -d: -f1)
[ -n "$off" ] || fail "c4 not found in the journal"
for f in journal journal.copy; do
	dd if=/dev/zero of="$st/$f" bs=1 seek=$((off - 8)) count=24 conv=notrunc status=none
done
rc ts ls
[ "$rc" != 0 ] || fail "ls opened a journal damaged in both copies"
assert_contains "$T/err" "repair --salvage"
rc "$TOP/build/release/thinsnapd" --state-dir "$st" --pool "$pool" \
	--address "$T/thinsnapd.sock" --log-level info
[ "$rc" != 0 ] || fail "thinsnapd started on a damaged journal"
assert_contains "$T/err" "thinsnap repair --salvage"

# the dry run shows the plan and writes nothing
cp "$st/journal" "$T/j.before"
ok ts repair --salvage --dry-run > "$T/plan"
cat "$T/plan"
assert_contains "$T/plan" "^dry run"
assert_contains "$T/plan" "^lost+found: 3"
cmp "$st/journal" "$T/j.before" || fail "the dry run wrote the journal"
ls "$st"/journal.corrupt-* > /dev/null 2>&1 && fail "the dry run kept a corrupt copy"

# the salvage: c4, and c5 and c6 which depend on it, become lost+found; nothing is deleted
ok ts repair --salvage --json > "$T/salvage.json"
assert_eq "$(jq -r '.agree' "$T/salvage.json")" "true" "journal and pool agree after salvage"
assert_eq "$(jq -r '.lost_found | length' "$T/salvage.json")" "3" "lost+found count"
assert_eq "$(jq -r '[.lost_found[].fs_type] | unique | join(",")' "$T/salvage.json")" "ext4" \
	"lost+found fs type"
assert_eq "$(jq -r '[.recovered[] | select(test("^c[1-3]$"))] | length' "$T/salvage.json")" "3" \
	"c1..c3 recovered"
jq -e '.lost | length >= 3' "$T/salvage.json" > /dev/null || fail "no reasons for the losses"
assert_eq "$(ids)" "$before" "the pool's thin devices after salvage"
ls "$st"/journal.corrupt-* > /dev/null || fail "the damaged journal was not kept"
ok ts check > /dev/null

# each lost+found snapshot is readable through a view, with the data of c4..c6
got=()
for key in $(jq -r '.lost_found[].key' "$T/salvage.json"); do
	ok ts view --target "$T/mnt" "look-${key#lost+found/}" "$key"
	got+=("$(cat "$T/mnt/id.txt")")
	# its size is its filesystem's, from the superblock
	dev=$(findmnt -no SOURCE "$T/mnt")
	fs=$(dumpe2fs -h "$dev" 2> /dev/null | awk -F: '/^Block count/ { c = $2 }
		/^Block size/ { s = $2 } END { print c * s }')
	assert_eq "$(jq -r --arg k "$key" '.lost_found[] | select(.key == $k) | .size' \
		"$T/salvage.json")" "$fs" "size of $key"
	umount "$T/mnt"
	ok ts rm "look-${key#lost+found/}"
done
assert_eq "$(printf '%s\n' "${got[@]}" | sort | tr '\n' ' ')" "data of c4 data of c5 data of c6 " \
	"data read through the lost+found views"
assert_eq "$(ts ls --json | jq --arg k "$odd" '[.[] | select(.name == $k)] | length')" "1" \
	"the odd key survived the salvage"
ok ts check > /dev/null
echo "salvage: ok"
