#!/bin/bash
# Power cuts, from the host: boot the VM over a pool whose loop files live
# in a host directory, run random operations in it (tests/power/inner.sh run), and kill -9
# the VM's whole process group at a random moment: no shutdown, and whatever the UML kernel
# had not yet written to the host files is lost. Boot again over the same files: open's
# recovery, `thinsnap check` clean, every committed snapshot's sha256 as recorded. N cuts
# (TEST_POWER_CUTS, default 5; every second one aimed at a pool operation), then a last
# verifying boot.
#   tests/power/run.sh            (as root; make check-power)
set -u
cd "$(dirname "$0")/../.."
top=$PWD
cuts=${TEST_POWER_CUTS:-5}
W=$(mktemp -d /tmp/thinsnap-power.XXXXXX)
trap '[ "${keep:-}" ] || rm -rf "$W"' EXIT
inner=$top/tests/power/inner.sh
boot() { scripts/dmrun --vm --timeout 300 "$@"; }
start=$(date +%s)

# the cut must stop the whole VM, or the next boot shares the pool files with it
tests/power/vm-cut.sh || exit 1
boot -- "$inner" setup "$W" || { echo "power: setup boot failed"; exit 1; }
done_cycles=0
for ((k = 1; k <= cuts; k++)); do
	boot --pidfile "$W/vm.pid" -- "$inner" run "$W" "$k" > "$W/boot.$k.log" 2>&1 &
	dmrun_pid=$!
	# wait for the verification and the first finished cycle, then cut at a random moment
	for ((t = 0; t < 1200; t++)); do
		[ -s "$W/progress.$k" ] && break
		kill -0 "$dmrun_pid" 2> /dev/null || break
		sleep 0.1
	done
	if ! [ -s "$W/progress.$k" ]; then
		wait "$dmrun_pid"
		cat "$W/boot.$k.log"
		echo "power: boot $k never started its operations (state kept in $W)"; keep=1
		exit 1
	fi
	if ((k % 2)); then
		sleep "$((RANDOM % 3)).$((RANDOM % 10))" # anywhere
	else
		# aimed (a cut at a random moment mostly lands between pool operations): 0-10 ms
		# after the host sees the journal grow (hostfs writes through): inside a pool
		# transaction (intent written, end not) or just after it
		size=$(stat -c %s "$W/state/journal")
		for ((t = 0; t < 1000; t++)); do
			[ "$(stat -c %s "$W/state/journal")" != "$size" ] && break
			sleep 0.01
		done
		((RANDOM % 2)) && sleep 0.01
	fi
	pg=$(cat "$W/vm.pid")
	kill -KILL -- "-$pg"
	wait "$dmrun_pid" 2> /dev/null
	if kill -0 -- "-$pg" 2> /dev/null; then
		echo "power: cut $k: processes of the VM (group $pg) survived the cut"; keep=1
		exit 1
	fi
	grep '^power:' "$W/boot.$k.log"
	n=$(cat "$W/progress.$k")
	done_cycles=$((done_cycles + n))
	echo "power: cut $k: the VM killed after $n finished cycles"
done
if ! boot -- "$inner" verify "$W" "$((cuts + 1))" > "$W/verify.log" 2>&1; then
	cat "$W/verify.log"
	echo "power: FAILED after $cuts power cuts (state kept in $W)"; keep=1
	exit 1
fi
grep '^power:' "$W/verify.log"
resolved=$(sed -n 's/^power: boot .*(\([0-9]*\) interrupted.*/\1/p' "$W"/boot.*.log "$W/verify.log" |
	awk '{ n += $1 } END { print n + 0 }')
echo "power: $cuts power cuts, $done_cycles finished cycles, recovery clean each boot" \
	"($resolved interrupted operations resolved); took $(($(date +%s) - start))s"
