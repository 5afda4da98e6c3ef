#!/bin/bash
# Concurrency on a real pool, for a bounded time.
# Phase 1: thinsnapd serves random Prepare/Commit/View/Remove/reads (tests/snapdrive, every
# commit writes a marker file first) while 3 `thinsnap` processes loop over random verbs:
# readers (ls, info, usage, tree, pool status, check) must work, writers must be refused at
# once with exit 75 and "busy: ... locked by another writer (thinsnapd, pid N)" (or after
# --wait). Phase 2: the daemon stopped, 4 `thinsnap` processes race each other with mutations
# (half with --wait 5) and reads. Every invocation is bounded (a hang fails the test), and
# every failure must be an expected refusal: busy, not found, already exists, has children.
# Then: check clean, the pool's own thin ids = the journal's, every committed snapshot holds
# the markers of itself and its ancestors. TEST_CONC_SECONDS (30) sets each phase's length,
# TEST_CONC_VERIFY (12, or all) how many committed snapshots are read back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stress-lib.sh"
command -v jq > /dev/null || skip "no jq"

secs=${TEST_CONC_SECONDS:-30}
semantic="snapshot '.*' not found|parent '.*' not found|already exists|it has children"
make_stress_pool 2G
mkdir -p "$T/mnt/chk"
at_exit "for m in $T/mnt/*; do umount -l \$m; done"

# cli W OP ARGS...: one bounded `thinsnap ARGS`, its outcome tallied in $T/tally.W as
# "OP CLASS"; the output stays in $T/out.W, $T/err.W
cli() {
	local w=$1 op=$2 rc=0 class
	shift 2
	timeout -k 5 60 "$THINSNAP" --state-dir "$st" --pool "$pool" "$@" > "$T/out.$w" \
		2> "$T/err.$w" || rc=$?
	if [ "$rc" = 0 ]; then
		class=ok
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		class=hung
	elif [ "$rc" = 75 ] && grep -qE "^thinsnap: .*busy: state directory '.*' is locked by another writer \($busy_holder" "$T/err.$w"; then
		class=busy
	elif [ "$rc" = 1 ] && grep -qE "$semantic" "$T/err.$w"; then
		class=refused
	elif [ "$op" = check ] && [ "$rc" = 1 ] && grep -q 'unfinished intents: [1-9]' "$T/out.$w" &&
		grep -q '^leaked thin ids: *0$' "$T/out.$w" && grep -q '^dangling keys: *0$' "$T/out.$w"; then
		class=inflight # an operation of the daemon's was under way for over a second
	else
		class=unexpected
	fi
	[ "$class" = ok ] || [ "$class" = refused ] || [ "$class" = busy ] ||
		{ echo "worker $w: $op ($*): exit $rc, $class"; cat "$T/out.$w" "$T/err.$w"; } >> "$T/odd"
	echo "$op $class" >> "$T/tally.$w"
	return "$rc"
}

# Each `thinsnap` costs ~0.3 s in user-mode-linux (an exec there is slow): the workers pick
# keys from the last listing they made (itself one of their random reads), and use builtins.
# pick: a random element of the array named $1 (or "x", a key that does not exist)
pick() {
	local -n a=$1
	if [ ${#a[@]} = 0 ]; then echo x; else echo "${a[RANDOM % ${#a[@]}]}"; fi
}
now() { printf '%(%s)T'; }

# run_workers FUNC ID...: FUNC ID END in the background for each ID, END $secs from now
run_workers() {
	local f=$1 end p pids=()
	shift
	end=$(($(now) + secs))
	for w in "$@"; do
		"$f" "$w" "$end" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "a worker ($f) failed"
	done
}

# Phase 1: the daemon holds the writer lock; CLI writers are refused, readers work.
reader_or_writer() {
	local w=$1 end=$2 n=0 k keys=()
	while [ "$(now)" -lt "$end" ]; do
		n=$((n + 1))
		k=$(pick keys)
		case $((n == 1 ? 1 : RANDOM % 14)) in
		0) cli "$w" prepare prepare "w$w-$n" || true ;;
		1) cli "$w" prepare-wait --wait 0.5 prepare "w$w-$n" "$k" || true ;;
		2) cli "$w" commit commit "w$w-c$n" "$k" || true ;;
		3) cli "$w" remove rm "$k" || true ;;
		4) cli "$w" label label "$k" "w$w=$n" || true ;;
		5) cli "$w" cleanup cleanup || true ;;
		6 | 7) cli "$w" ls ls -q && mapfile -t keys < "$T/out.$w" || true ;;
		8) cli "$w" info info "$k" || true ;;
		9) cli "$w" usage usage || true ;;
		10) cli "$w" tree tree || true ;;
		*) cli "$w" check check || true ;; # it reads the journal, the pool, the journal
		esac
	done
	echo "worker $w: $n operations" >> "$T/done"
}

ok ts prepare seed > /dev/null # the base device, so that phase 1's counts are about the race
ok ts commit seed-c seed
start_daemon
busy_holder="thinsnapd, pid $dpid\)"
timeout -k 5 $((secs + 120)) "$SNAPDRIVE" -sock "$sock" -random "${secs}s" -prefix d- \
	-mnt "$T/mnt/d" > "$T/drive" 2>&1 &
drive=$!
run_workers reader_or_writer 1 2 3
drc=0
wait "$drive" || drc=$?
cat "$T/drive"
[ "$drc" = 0 ] || fail "snapdrive: exit $drc (124: it hung)"
stop_daemon
assert_eq "$daemon_rc" 0 "thinsnapd's exit status"
grep -q 'unexpected: 0' "$T/drive" || fail "snapdrive saw unexpected codes"

# Phase 2: CLI against CLI, no daemon. Even workers wait for the lock (--wait 5), odd don't.
writer() {
	local w=$1 end=$2 n=0 k wait=() keys=() committed=()
	[ $((w % 2)) = 0 ] && wait=(--wait 5)
	mkdir -p "$T/mnt/$w"
	while [ "$(now)" -lt "$end" ]; do
		n=$((n + 1))
		case $((RANDOM % 10)) in
		0 | 1 | 2) # prepare on a committed parent (or none), write a marker, commit
			k=$(pick committed)
			[ "$k" = x ] && k=
			if cli "$w" prepare "${wait[@]}" prepare --target "$T/mnt/$w" "w$w-$n" ${k:+"$k"}; then
				echo "w$w-c$n" > "$T/mnt/$w/marker-w$w-c$n"
				umount "$T/mnt/$w" || fail "umount $T/mnt/$w"
				cli "$w" commit "${wait[@]}" commit "w$w-c$n" "w$w-$n" || true
			fi
			;;
		3) cli "$w" view "${wait[@]}" view "w$w-v$n" "$(pick committed)" || true ;;
		4) cli "$w" remove "${wait[@]}" rm "$(pick keys)" || true ;;
		5) cli "$w" label "${wait[@]}" label "$(pick keys)" "w$w=$n" || true ;;
		6) cli "$w" cleanup "${wait[@]}" cleanup || true ;;
		7) cli "$w" ls ls -q && mapfile -t keys < "$T/out.$w" || true ;;
		8) cli "$w" ls ls -q kind==committed && mapfile -t committed < "$T/out.$w" || true ;;
		*) cli "$w" usage usage || true ;;
		esac
	done
	echo "worker $w: $n operations" >> "$T/done"
}
busy_holder="(thinsnap, )?pid [0-9]+\)"
run_workers writer 4 5 6 7
cat "$T/done"
assert_eq "$(wc -l < "$T/done")" 7 "workers that finished"

# Counts: phase 1 (workers 1-3) and phase 2 (4-7).
tally() { cat "$@" | awk '{n[$2]++} END {for (c in n) printf "%s=%d ", c, n[c]}'; }
p1=$(tally "$T"/tally.[123])
p2=$(tally "$T"/tally.[4567])
echo "phase 1 (thinsnapd + 3 thinsnap): $p1"
echo "phase 2 (4 thinsnap): $p2"
checks=$(grep -h '^check ' "$T"/tally.[123] | tally)
echo "phase 1 checks while thinsnapd wrote: $checks"
p1_writes=$(cat "$T"/tally.[123] | grep -cE '^(prepare|prepare-wait|commit|remove|label|cleanup) ' || true)
p1_busy=$(cat "$T"/tally.[123] | grep -c ' busy$' || true)
assert_eq "$p1_busy" "$p1_writes" "phase 1: every CLI writer refused as busy"
[ "$p1_busy" -gt 0 ] || fail "phase 1 ran no CLI writer"
grep -q '^prepare-wait busy' "$T"/tally.[123] || fail "phase 1: no --wait refusal"
readers_ok=$(cat "$T"/tally.[123] | grep -cE '^(ls|info|usage|tree|check) ok$' || true)
[ "$readers_ok" -gt 0 ] || fail "phase 1: no reader succeeded"
p2_ok=$(cat "$T"/tally.[4567] | grep -cE '^(prepare|commit|remove) ok$' || true)
[ "$p2_ok" -gt 0 ] || fail "phase 2: no CLI writer succeeded"
if grep -qv ' \(ok\|refused\|busy\|inflight\)$' "$T"/tally.*; then
	cat "$T/odd"
	fail "unexpected outcomes (hangs or errors)"
fi
[ -e "$T/odd" ] && { echo "--- check during writes (in flight):"; head -n 20 "$T/odd"; }

# The state: a writer's open recovers nothing (nobody was killed), check agrees.
ok ts cleanup
ts check > "$T/check" || { cat "$T/check"; fail "check after the run"; }
ts --json check > "$T/check.json"
assert_eq "$(jq -r '.leaked_ids | length' "$T/check.json")" 0 "leaked ids"
assert_eq "$(jq -r '.dangling_keys | length' "$T/check.json")" 0 "dangling keys"
# the pool's own ids (its metadata, read through a metadata snapshot) against the journal's:
# every snapshot has its device, plus the one base device, plus pending deletes
ts --json ls > "$T/ls.json"
n_keys=$(jq length "$T/ls.json")
n_pending=$(jq -r .pending_deletes "$T/check.json")
n_ids=$("$THINSNAP" pool list-ids --state-dir "$st/pool" --name "$pool" | wc -l)
assert_eq "$n_ids" $((n_keys + 1 + n_pending)) "pool ids vs journal ($n_keys keys, $n_pending pending)"

# Contents: a committed snapshot holds marker-X = X for itself and each ancestor. Each check
# costs ~2 s here (view, mount, remove): TEST_CONC_VERIFY (12) random ones, or "all".
n_verify=${TEST_CONC_VERIFY:-12}
[ "$n_verify" = all ] && n_verify=1000000
n_committed=$(jq '[.[] | select(.kind == "committed")] | length' "$T/ls.json")
n_checked=0
for c in $(jq -r '.[] | select(.kind == "committed" and .name != "seed-c") | .name' \
	"$T/ls.json" | shuf -n "$n_verify"); do
	ok ts view --target "$T/mnt/chk" "chk-$c" "$c"
	x=$c
	while [ -n "$x" ] && [ "$x" != seed-c ]; do
		[ "$(cat "$T/mnt/chk/marker-$x" 2> /dev/null)" = "$x" ] ||
			{ ls "$T/mnt/chk"; fail "committed '$c': marker of '$x' missing or wrong"; }
		x=$(jq -r --arg x "$x" '.[] | select(.name == $x) | .parent // ""' "$T/ls.json")
	done
	umount "$T/mnt/chk"
	ok ts rm "chk-$c"
	n_checked=$((n_checked + 1))
done
[ "$n_checked" -gt 0 ] || fail "no committed snapshot to check"
ok ts check > /dev/null
echo "concurrency: ${secs} s + ${secs} s; phase 1: $p1(checks: $checks); phase 2: $p2;" \
	"$(sed -n 's/^snapdrive: \([0-9]* calls\).*/daemon \1/p' "$T/drive");" \
	"check clean; $n_ids thin ids = journal; $n_checked of $n_committed committed snapshots'" \
	"markers verified (with their ancestors')"
