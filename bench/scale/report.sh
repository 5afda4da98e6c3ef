#!/bin/bash
# Turns bench/scale/run.sh's scale.tsv into the markdown section scale.md (printed on stdout):
# tables per pool size, and the goals (at the largest size every per-snapshot operation
# <= 1.2x its latency at the smallest, daemon memory < 16 MiB) met or missed, with ratios.
#   bench/scale/report.sh build/bench/scale.tsv > build/bench/scale.md
set -eu
tsv=${1:?usage: report.sh SCALE.TSV}
harness=${THINSNAP_HARNESS:-native}
kernel=$(uname -r)
awk -F '\t' -v harness="$harness" -v kernel="$kernel" '
/^#/ { next }
{
	if (!($2 in seen)) { seen[$2] = 1; lv[++nl] = $2 }
	med[$1, $2] = $3; p90[$1, $2] = $4
}
function has(m) { return ((m, lv[1]) in med) && ((m, lv[nl]) in med) }
function ratio(m) { return med[m, lv[1]] > 0 ? med[m, lv[nl]] / med[m, lv[1]] : 0 }
function cell(m, n, div, fmt) {
	if (!((m, n) in med)) return "-"
	if (p90[m, n] == "-" || p90[m, n] == "") return sprintf(fmt, med[m, n] / div)
	return sprintf(fmt " / " fmt, med[m, n] / div, p90[m, n] / div)
}
function header(first, i, s, d) {
	s = "| " first; d = "| ---"
	for (i = 1; i <= nl; i++) { s = s " | " lv[i] " snapshots"; d = d " | ---:" }
	print s " | " lv[nl] " vs " lv[1] " |"; print d " | ---: |"
}
function line(label, m, div, fmt, i, s) {
	if (!has(m)) return
	s = "| " label
	for (i = 1; i <= nl; i++) s = s " | " cell(m, lv[i], div, fmt)
	printf "%s | %.2fx |\n", s, ratio(m)
}
# one table body from "label|metric|divisor|format" rows separated by ";"
function rows(spec, n, r, i, f) {
	n = split(spec, r, ";")
	for (i = 1; i <= n; i++) { split(r[i], f, "|"); line(f[1], f[2], f[3], f[4]) }
}
# the pool floor under a daemon or library operation: the sum of its bare pool/ calls
function floor_sum(op, n) {
	if (op == "prepare") return med["floor_status", n] * 2 + med["floor_create_snap", n] + \
		med["floor_activate", n] + med["floor_set_transaction_id", n]
	if (op == "commit") return med["floor_status", n] + med["floor_deactivate", n]
	if (op == "remove_active") return med["floor_status", n] + med["floor_deactivate", n] + \
		med["floor_delete", n] + med["floor_set_transaction_id", n]
	if (op == "remove_committed") return med["floor_status", n] + med["floor_delete", n] + \
		med["floor_set_transaction_id", n]
	return 0
}
END {
	big = lv[nl]; small = lv[1]
	print "## Scale"
	print ""
	printf "One thin pool grown to"
	for (i = 1; i <= nl; i++) printf " %s%s", lv[i], i < nl ? "," : ""
	print " snapshots, measured at each size. The snapshots form a forest shaped like a" \
	      " node that pulled many images: chains of 4 to 12 committed layers (\"default/N/sha256:...\"" \
	      " keys, made as containerd unpacks: an extract active, then its commit, two labels each)," \
	      " three of every four images branching off one of the first layers of another" \
	      " (sibling chains up to 16 deep), and containers (actives) and views on the top layers."
	if (("count_committed", big) in med)
		printf "At %s: %d committed, %d active, %d views.\n", big, med["count_committed", big],
		       med["count_active", big], med["count_views", big]
	print ""
	printf "Harness: %s, kernel %s; the pool'\''s loop files and the journal on a tmpfs" \
	       " (fsyncs are free, so the figures show how the code scales, not the disk)." \
	       " Reproduce: `make bench-scale` (`scripts/dmrun --timeout 1500 -- bench/scale/run.sh`;" \
	       " raw rows in `build/bench/scale.tsv`).\n", harness, kernel
	print ""
	print "Per call through thinsnapd'\''s snapshots API, one client process (containerd'\''s proxy" \
	      " snapshotter over gRPC), calls interleaved in rounds; stat of random existing keys," \
	      " prepare of a child of a random committed snapshot, commit of such a child, and the" \
	      " removal of each. Microseconds, median / p90:"
	print ""
	header("operation")
	rows("stat|stat|1|%.0f;prepare (child of a committed)|prepare|1|%.0f;commit|commit|1|%.0f;" \
	     "remove (active)|remove_active|1|%.0f;remove (committed)|remove_committed|1|%.0f;" \
	     "reference pool: stat|stat_ref|1|%.0f;reference pool: prepare|prepare_ref|1|%.0f;" \
	     "reference pool: commit|commit_ref|1|%.0f;" \
	     "reference pool: remove (active)|remove_active_ref|1|%.0f;" \
	     "reference pool: remove (committed)|remove_committed_ref|1|%.0f")
	print ""
	print "The reference pool holds " small " snapshots all along; its daemon takes turns with the" \
	      " measured one in every round, so the two see the same machine: the goal ratio below" \
	      " compares them in the same rounds. Its own drift from stage to stage (the last column of" \
	      " its rows) is the machine'\''s, not thinsnap'\''s."
	print ""
	print "The same operations straight through the library, and the pool floor under them" \
	      " (bare `pool/` calls on the same pool in the same run; each is one or two dm ioctls):"
	print ""
	header("operation")
	rows("library prepare|lib_prepare|1|%.0f;library commit|lib_commit|1|%.0f;" \
	     "library remove (active)|lib_remove_active|1|%.0f;" \
	     "library remove (committed)|lib_remove_committed|1|%.0f;" \
	     "floor: pool status|floor_status|1|%.0f;" \
	     "floor: create_snap message|floor_create_snap|1|%.0f;" \
	     "floor: activate (create, load, resume)|floor_activate|1|%.0f;" \
	     "floor: deactivate (remove)|floor_deactivate|1|%.0f;" \
	     "floor: delete message|floor_delete|1|%.0f;" \
	     "floor: set_transaction_id message|floor_set_transaction_id|1|%.0f")
	print ""
	print "List returns every snapshot (containerd'\''s Walk has no paging), so its latency grows" \
	      " with the pool by design; per item it should stay flat. Milliseconds for the whole list," \
	      " microseconds per item:"
	print ""
	header("list")
	rows("list, whole (ms)|list|1000|%.1f;list, per item (us)|list_per_item|1|%.2f")
	print ""
	print "Opening and memory: `thinsnap_open()` (journal replay, pool checks, recovery, the check" \
	      " that every active snapshot and view is active) on the grown pool; thinsnapd from exec" \
	      " to its first accepted connection (3 starts); the daemon'\''s resident memory when ready," \
	      " and after the calls above (VmRSS), and its peak (VmHWM):"
	print ""
	header("")
	rows("library open (ms)|open_library|1000|%.1f;" \
	     "thinsnapd start to ready (ms)|daemon_ready|1000|%.1f;" \
	     "thinsnapd VmRSS when ready (MiB)|daemon_rss_ready_kib|1024|%.1f;" \
	     "thinsnapd VmHWM when ready (MiB)|daemon_hwm_ready_kib|1024|%.1f;" \
	     "thinsnapd VmRSS after the calls (MiB)|daemon_rss_kib|1024|%.1f;" \
	     "thinsnapd VmHWM, peak (MiB)|daemon_hwm_kib|1024|%.1f")
	print ""
	print "### Goals at " big " snapshots"
	print ""
	print "Read as: every per-snapshot operation (stat, prepare, commit, remove), whose work" \
	      " does not depend on how many other snapshots exist, within 1.2x of its median at " \
	      small " snapshots; list is excluded (it returns all of them: its per-item cost is" \
	      " the figure to watch); the daemon'\''s memory is its peak, VmHWM, after all the calls."
	print ""
	n_ops = split("stat prepare commit remove_active remove_committed", ops, " ")
	missed = 0
	for (i = 1; i <= n_ops; i++) {
		op = ops[i]
		if (!has(op)) continue
		# against the reference in the same rounds when there is one, else the first stage
		base = ((op "_ref", big) in med) ? med[op "_ref", big] : med[op, small]
		r = base > 0 ? med[op, big] / base : 0
		how = ((op "_ref", big) in med) ? "the " small "-snapshot pool in the same rounds" : \
		      "the first stage"
		if (r <= 1.2) {
			printf "- %s: met, %.2fx (%.0f us at %s vs %.0f us on %s; %.2fx against the first" \
			       " stage).\n", op, r, med[op, big], big, base, how, ratio(op)
		} else {
			missed++
			printf "- %s: **missed**, %.2fx (%.0f us at %s vs %.0f us on %s), %.0f%% over the" \
			       " 1.2x goal; %.2fx against the first stage.", op, r, med[op, big], big, base,
			       how, (r / 1.2 - 1) * 100, ratio(op)
			if (has("lib_" op))
				printf " Through the library alone: %.2fx.", ratio("lib_" op)
			fs = floor_sum(op, small); fb = floor_sum(op, big)
			if (fs > 0)
				printf " Its pool floor (the dm ioctls it makes): %.0f -> %.0f us, %.2fx.",
				       fs, fb, fb / fs
			printf "\n"
		}
	}
	if (("daemon_hwm_kib", big) in med) {
		h = med["daemon_hwm_kib", big]
		if (h < 16384)
			printf "- thinsnapd memory: met, peak %.1f MiB (VmHWM) < 16 MiB; %.1f MiB resident" \
			       " after the calls.\n", h / 1024, med["daemon_rss_kib", big] / 1024
		else
			printf "- thinsnapd memory: **missed**, peak %.1f MiB (VmHWM), %.0f%% over 16 MiB;" \
			       " %.1f MiB resident after the calls.\n", h / 1024, (h / 16384 - 1) * 100,
			       med["daemon_rss_kib", big] / 1024
	}
	mid = nl > 2 ? lv[nl - 1] : small
	if (has("list_per_item") && med["list_per_item", mid] > 0)
		printf "- list per item (not a goal): %.2f us per snapshot at %s, %.2f at %s (%.2fx;" \
		       " at %s the call'\''s fixed cost dominates).\n", med["list_per_item", mid], mid,
		       med["list_per_item", big], big,
		       med["list_per_item", big] / med["list_per_item", mid], small
}
' "$tsv"
notes=$(dirname "$0")/notes.md
if [ -f "$notes" ]; then
	echo
	cat "$notes"
fi
