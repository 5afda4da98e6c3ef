#!/bin/bash
# Random operations through the thinsnap command, each SIGKILLed from
# outside (timeout -s KILL) after a random delay, with no cooperation from the code. Then
# `thinsnap check` must be clean and every committed snapshot's contents (sha256 of its files
# through a view) what its ancestry says. TEST_KILL_CYCLES cycles (200 by default; the
# figure in docs/reliability.md is from TEST_KILL_CYCLES=1000).
. "$(dirname "$0")/lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
cycles=${TEST_KILL_CYCLES:-200}
max_delay_ms=${TEST_KILL_MAX_DELAY_MS:-150}
st="$T/state"
pool=tsrk$$
ts() { "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }

ok ts -q pool create --data-size 1G --metadata-size 16M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
mkdir "$T/mnt"
# tree_sum DIR: sha256 over every file's sha256, in name order
tree_sum() {
	(cd "$1" && find . -type f ! -path './lost+found/*' -print0 | sort -z |
		xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}
ok ts prepare --target "$T/mnt" golden-a
at_exit "umount $T/mnt"
mkdir -p "$T/mnt/d"
head -c 2097152 /dev/urandom > "$T/mnt/d/big"
echo golden > "$T/mnt/small"
golden_sum=$(tree_sum "$T/mnt")
empty_sum=$(printf '' | sha256sum | cut -d' ' -f1)
umount "$T/mnt"
ok ts commit golden golden-a

# committed_sum NAME: checksum through a view (prints it)
committed_sum() {
	ts view --target "$T/mnt" sum-view "$1" > /dev/null || return 1
	tree_sum "$T/mnt"
	umount "$T/mnt"
	ts remove sum-view > /dev/null
}

pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }
committed_keys() { ts ls -q 'kind==committed' 2> /dev/null || true; }
active_keys() { ts ls -q 'kind==active' 2> /dev/null || true; }
# the key lists, refreshed every 10 cycles (a command start is dear in the VM)
refresh_keys() { ck=$(committed_keys); ak=$(active_keys); }
random_op() {
	local n=$((RANDOM % 4)) c a
	# shellcheck disable=SC2086
	c=$(pick golden $ck)
	case $((RANDOM % 10)) in
	0) echo "prepare a$n" ;;
	1 | 2) echo "prepare a$n $c" ;;
	3) echo "view v$((n % 2)) $c" ;;
	4) a=$(pick a0 $ak); echo "commit c$n $a" ;;
	5) a=$(pick a0 $ak); echo "commit --keep-active c$n $a" ;;
	6) echo "remove $(pick a$n v$((n % 2)) c$n)" ;;
	7) echo "cleanup" ;;
	8) echo "label $(pick a$n c$n golden) k$n=v$RANDOM" ;;
	9) echo "remove $(pick c0 c1 c2 c3 a0 a1 a2 a3)" ;;
	esac
}

killed=0 completed=0 failed=0 pending=0
start=$(date +%s)
for ((i = 1; i <= cycles; i++)); do
	((i % 10 == 1)) && refresh_keys
	op=$(random_op)
	delay=$(printf '0.%03d' $((RANDOM % max_delay_ms)))
	rc=0
	# shellcheck disable=SC2086
	{ timeout --foreground -s KILL "$delay" "$THINSNAP" --state-dir "$st" --pool "$pool" -q $op \
		> /dev/null 2> "$T/op.err"; } 2> /dev/null || rc=$?
	case $rc in
	137) killed=$((killed + 1)) ;;
	0) completed=$((completed + 1)) ;;
	*) failed=$((failed + 1)) ;; # refusals (not found, has children, ...) are fine
	esac
	# from time to time: check right after the kill (read-only: a killed writer's intent is
	# reported as recovery pending, not as a disagreement), then reopen as a writer (its
	# open recovers) and check again
	if ((i % 100 == 0)); then
		ts check > "$T/check" 2>&1 || { cat "$T/check"; fail "check right after cycle $i ($op)"; }
		grep -q '^recovery pending' "$T/check" && pending=$((pending + 1))
		ok ts cleanup
		ts check > "$T/check" 2>&1 || { cat "$T/check"; fail "check after $i cycles ($op)"; }
	fi
done
secs=$(($(date +%s) - start))

ok ts cleanup
ts check > "$T/check" 2>&1 || { cat "$T/check"; fail "check after all cycles"; }
ts --json check > "$T/check.json"
assert_eq "$(jq -r '.leaked_ids | length' "$T/check.json")" 0 "leaked ids"
assert_eq "$(jq -r '.dangling_keys | length' "$T/check.json")" 0 "dangling keys"

# every committed snapshot holds what its ancestry says: golden's files or an empty tree
n_sums=0
for c in $(committed_keys); do
	root=$c
	while p=$(ts info "$root" | jq -r ".parent // empty") && [ -n "$p" ]; do root=$p; done
	want=$empty_sum
	[ "$root" = golden ] && want=$golden_sum
	got=$(committed_sum "$c") || fail "view of $c"
	assert_eq "$got" "$want" "contents of committed '$c' (root '$root')"
	n_sums=$((n_sums + 1))
done
echo "random-kills: $cycles cycles in ${secs}s: $killed killed, $completed completed," \
	"$failed refused; check clean (right after a kill too: $pending with recovery pending); $n_sums committed snapshots sha256-verified"
((killed >= cycles / 5)) || fail "too few kills ($killed of $cycles): raise the delay range"
