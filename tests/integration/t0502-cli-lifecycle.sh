#!/bin/bash
# The snapshot lifecycle through the command on a loop-file pool: prepare, mount and write,
# commit, view, ls/info/tree/usage/mounts/label (text and parsed JSON), remove, pool status,
# check, cleanup, pool destroy.
. "$(dirname "$0")/lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
st="$T/state"
pool=tscli$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }

ok ts pool create --data-size 512M --metadata-size 16M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
ts pool status > "$T/status"
assert_contains "$T/status" "^pool: *$pool"
assert_contains "$T/status" "^mode: *rw"
assert_contains "$T/status" "^data: .* / 512.0 MiB"
assert_contains "$T/status" "^snapshots: *0 committed, 0 active, 0 view"

# prepare, mount, write
mkdir "$T/mnt" "$T/ro"
ts prepare --mounts base > "$T/mounts"
assert_contains "$T/mounts" "^mount -t ext4 /dev/mapper/[^ ]* ''"
ts prepare --target "$T/mnt" app
at_exit "umount $T/mnt"
echo "hello from thinsnap" > "$T/mnt/file"
umount "$T/mnt"
ok ts commit app-v1 app
ok ts commit base-v1 base

# views are read-only and see the committed content
ts view --target "$T/ro" look app-v1
at_exit "umount $T/ro"
assert_eq "$(cat "$T/ro/file")" "hello from thinsnap" "content through the view"
if touch "$T/ro/new" 2> /dev/null; then fail "wrote through a view"; fi
umount "$T/ro"

ts prepare work app-v1
ts commit --keep-active app-v2 work

# ls: ctr's table, sorted by key; kinds capitalised
ts ls > "$T/ls"
head -n 1 "$T/ls" | grep -q '^KEY  *PARENT  *KIND$' || fail "ls header: $(head -n 1 "$T/ls")"
grep -q '^app-v1  *Committed$' "$T/ls" || fail "ls app-v1: $(cat "$T/ls")"
grep -q '^look  *app-v1  *View$' "$T/ls" || fail "ls look"
grep -q '^work  *app-v2  *Active$' "$T/ls" || grep -q '^work  *app-v1  *Active$' "$T/ls" ||
	fail "ls work"
assert_eq "$(ts ls -q | tr '\n' ' ')" "app-v1 app-v2 base-v1 look work " "ls -q"
assert_eq "$(ts ls 'kind==committed' -q | tr '\n' ' ')" "app-v1 app-v2 base-v1 " "ls filter"
assert_eq "$(ts ls 'kind==view' 'name==work' -q | tr '\n' ' ')" "look work " "filters OR"

# ls --json: one array of infos
ts ls --json > "$T/ls.json"
assert_eq "$(jq -r 'type' "$T/ls.json")" "array" "ls --json type"
assert_eq "$(jq -r 'length' "$T/ls.json")" "5" "ls --json length"
assert_eq "$(jq -r '.[] | select(.name=="look") | .parent' "$T/ls.json")" "app-v1" "json parent"
assert_eq "$(jq -r '.[] | select(.name=="look") | .kind' "$T/ls.json")" "view" "json kind"
assert_eq "$(jq -r '.[0] | keys | join(",")' "$T/ls.json")" \
	"created,id,kind,labels,name,parent,updated" "json fields"
assert_eq "$(jq -r '.[] | select(.name=="look") | .id' "$T/ls.json")" "null" "a view has no id"
jq -r '.[] | select(.name=="app-v1") | .id' "$T/ls.json" | grep -Eq '^[0-9a-f]{32}$' ||
	fail "a committed snapshot's id"
jq -e '.[] | select(.name=="app-v1") | .created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$")' \
	"$T/ls.json" > /dev/null || fail "created is not RFC 3339"

# info prints one info as JSON
ts info app-v1 > "$T/info.json"
assert_eq "$(jq -r '.name + " " + .kind' "$T/info.json")" "app-v1 committed" "info"
assert_eq "$(jq -r '.parent' "$T/info.json")" "null" "info parent of a root"

# labels: set, print, unset
assert_eq "$(ts label app-v1 team=infra tier=gold)" "team=infra,tier=gold" "label set"
assert_eq "$(ts label app-v1 tier=)" "team=infra" "label unset"
assert_eq "$(ts info app-v1 | jq -r '.labels.team')" "infra" "label in info"
assert_eq "$(ts ls 'labels.team==infra' -q)" "app-v1" "label filter"
assert_eq "$(ts label app-v1 --json | jq -r '.labels | length')" "1" "label --json"

# tree: ctr's drawing, committed children first
ts tree > "$T/tree"
assert_eq "$(sed -n 1p "$T/tree")" " app-v1" "tree root"
grep -qx '  \\_ app-v2' "$T/tree" || fail "tree: $(cat "$T/tree")"
grep -qx '  \\_ look' "$T/tree" || fail "tree look"
[ "$(grep -n 'app-v2' "$T/tree" | cut -d: -f1)" -lt "$(grep -n 'look' "$T/tree" | cut -d: -f1)" ] ||
	fail "committed before views in tree"
[ "$(ts tree --json | jq -r '.[] | select(.name=="app-v1") | .children | length')" -ge 2 ] ||
	fail "tree --json children"

# usage: KEY SIZE EXCLUSIVE SHARED INODES, human and bytes
ts usage > "$T/usage"
head -n 1 "$T/usage" | grep -q '^KEY  *SIZE  *EXCLUSIVE  *SHARED  *INODES$' || fail "usage header"
sz='[0-9.]+ (B|KiB|MiB|GiB)'
grep -qE "^app-v1  *$sz  *$sz  *$sz  *[0-9]+$" "$T/usage" || fail "usage: $(cat "$T/usage")"
ts usage -b app-v1 > "$T/usage-b"
grep -qE '^app-v1  *[0-9]+  *[0-9]+  *[0-9]+  *[0-9]+$' "$T/usage-b" ||
	fail "usage -b: $(cat "$T/usage-b")"
[ "$(ts usage --json app-v1 | jq -r '.size')" -gt 0 ] || fail "usage --json size"
[ "$(ts usage --json app-v1 | jq -r '.shared')" -gt 0 ] || fail "usage --json shared"
assert_eq "$(ts usage --json | jq -r 'length')" "5" "usage --json all"

# mounts prints the mount command line, as ctr does
ts mounts /target work > "$T/m"
grep -qE '^mount -t ext4 /dev/mapper/[^ ]+ /target( -o .*)?$' "$T/m" || fail "mounts: $(cat "$T/m")"
ts m /target look | grep -qE -- '-o (.*,)?ro(,|$)' || fail "view mounts lack ro"
assert_eq "$(ts mount --json /t work | jq -r '.[0].target')" "/t" "mounts --json"

# pool status counts by kind, text and JSON
ts pool status > "$T/status"
assert_contains "$T/status" "^snapshots: *3 committed, 1 active, 1 view"
ts pool status --json > "$T/status.json"
assert_eq "$(jq -r '.snapshots.committed' "$T/status.json")" "3" "status json committed"
assert_eq "$(jq -r '.mode' "$T/status.json")" "rw" "status json mode"
jq -e '.data.used_bytes > 0 and .data.total_bytes == 536870912' "$T/status.json" > /dev/null ||
	fail "status json data: $(cat "$T/status.json")"
ts pool status -b | grep -q '^data: *[0-9]* / 536870912 ' || fail "status -b"

ok ts check > "$T/check"
assert_contains "$T/check" "journal and pool agree"
assert_eq "$(ts check --json | jq -r '.agree')" "true" "check --json"

# remove several; one failing still removes the others and exits 1
if ts del look nosuch 2> "$T/err"; then fail "del nosuch succeeded"; fi
assert_contains "$T/err" "^thinsnap: remove nosuch: "
assert_eq "$(ts ls -q | tr '\n' ' ')" "app-v1 app-v2 base-v1 work " "after rm"
ok ts rm work app-v2 app-v1 base-v1
ok ts cleanup
assert_eq "$(ts ls --json)" "[]" "empty ls --json"
ok ts check
ok ts pool grow +256M
ts pool status -b | grep -q '^data: *[0-9]* / 805306368 ' || fail "grow"
ok ts pool destroy
if ts pool status 2> "$T/err"; then fail "status after destroy"; fi
# a new pool in the same state directory starts with a fresh journal
ok ts pool create --data-size 256M
ok ts prepare again
assert_eq "$(ts ls -q)" "again" "fresh journal after re-create"
ok ts rm again
ok ts pool destroy -q
ls "$st"/journal.*.destroyed > /dev/null || fail "the old journal was not set aside"
echo "cli lifecycle: ok"
