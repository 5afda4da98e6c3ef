#!/bin/bash
# Turns bench/scale/run.sh's scale.tsv into the markdown section scale.md (printed on stdout):
# tables per pool size, and the goals (at the largest size every per-snapshot operation
# <= 1.2x its latency at the smallest, daemon memory < 16 MiB) met or missed, with ratios;
# with scale-pair.tsv, the goal rows of the interleaved pair rounds (library and floor, grown
# pool against a 10-snapshot pool in the same rounds) and where their time goes.
#   bench/scale/report.sh build/bench/scale.tsv [build/bench/scale-pair.tsv] > build/bench/scale.md
set -eu
tsv=${1:?usage: report.sh SCALE.TSV [SCALE-PAIR.TSV]}
pair=${2:-}
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
	print "### Per call through thinsnapd at " big " snapshots"
	print ""
	print "Against the daemon on the " small "-snapshot pool in the same rounds (" \
	      "the goals of prepare and remove of an active snapshot are decided by the pair" \
	      " rounds below: more rounds, and the floor beside them). Read as: every per-snapshot operation (stat, prepare, commit, remove), whose work" \
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
# The pair rounds: rows "OP[:PART]<TAB>snapshots<TAB>grown pool us<TAB>reference pool us", one
# per round (bench-scale pair), and "calls:OP:PHASE" rows (calls per operation).
if [ -n "$pair" ] && [ -s "$pair" ]; then
	awk -F '\t' -v harness="$harness" '
function sortv(A, n, i, j, t) { # insertion sort of A[1..n]
	for (i = 2; i <= n; i++) {
		t = A[i]
		for (j = i - 1; j >= 1 && A[j] > t; j--) A[j + 1] = A[j]
		A[j + 1] = t
	}
}
function q(A, n, p) { return n ? A[int(p * (n - 1) + 0.5) + 1] : 0 }
# medians of the grown and reference columns of key k at size n: into gm, rm
function medians(k, n, c, A, B) {
	for (c = 1; c <= cnt[k, n]; c++) { A[c] = G[k, n, c]; B[c] = Rf[k, n, c] }
	sortv(A, cnt[k, n]); sortv(B, cnt[k, n])
	gm = q(A, cnt[k, n], 0.5); rm = q(B, cnt[k, n], 0.5)
}
# the per-round ratio grown / reference of op k (divided by that of op f when f is set): into
# r50, r10, r90
function ratios(k, f, n, c, m, x, A) {
	m = 0
	for (c = 1; c <= cnt[k, n]; c++) {
		if (Rf[k, n, c] <= 0 || G[k, n, c] <= 0) continue
		x = G[k, n, c] / Rf[k, n, c]
		if (f != "") {
			if (Rf[f, n, c] <= 0 || G[f, n, c] <= 0) continue
			x /= G[f, n, c] / Rf[f, n, c]
		}
		A[++m] = x
	}
	sortv(A, m)
	r50 = q(A, m, 0.5); r10 = q(A, m, 0.1); r90 = q(A, m, 0.9)
	return m
}
# the median of the per-round difference grown - reference of key k at size n
function extra(k, n, c, A) {
	for (c = 1; c <= cnt[k, n]; c++) A[c] = G[k, n, c] - Rf[k, n, c]
	sortv(A, cnt[k, n])
	return q(A, cnt[k, n], 0.5)
}
# means of both columns (CPU time comes in clock ticks: only its mean over rounds says much)
function means(k, n, c) {
	gm = rm = 0
	for (c = 1; c <= cnt[k, n]; c++) { gm += G[k, n, c]; rm += Rf[k, n, c] }
	gm /= cnt[k, n]; rm /= cnt[k, n]
}
{
	if (!($2 in seen)) { seen[$2] = 1; lv[++nl] = $2 }
	if ($1 ~ /^calls:/) { calls[substr($1, 7), $2] = $3; next }
	if (!(($1, $2) in cnt)) { if (!($1 in known)) { known[$1] = 1; keys[++nk] = $1 } }
	c = ++cnt[$1, $2]; G[$1, $2, c] = $3; Rf[$1, $2, c] = $4
}
# "ours" of library op k over floor op f at size n: the quotient of their median ratios into
# o50; the spread of the per-round quotients into r10, r90
function ours(k, f, n, l) {
	ratios(k, "", n); l = r50
	ratios(f, "", n); o50 = r50 > 0 ? l / r50 : 0
	ratios(k, f, n)
}
function row(label, k, f, n) {
	if (!((k, n) in cnt)) return
	if (f == "") {
		ratios(k, f, n)
		medians(k, n)
		printf "| %s | %s | %.0f | %.0f | %.2fx | %.2f-%.2fx |\n", label, n, gm, rm, r50, r10, r90
	} else {
		ours(k, f, n)
		printf "| %s | %s | - | - | %.2fx | %.2f-%.2fx |\n", label, n, o50, r10, r90
	}
}
END {
	big = lv[nl]
	print ""
	print "### Goals at " big " snapshots: prepare and remove, interleaved with the floor"
	print ""
	print "| goal | measured | target | verdict | from |"
	print "| --- | --- | --- | --- | --- |"
	split("prepare|floor_prepare|remove_active|floor_remove", op, "|")
	split("prepare of an active snapshot|floor prepare|remove of an active snapshot|floor remove", lab, "|")
	for (o = 1; o <= 4; o += 2) {
		if (!ratios(op[o], "", big)) continue
		l50 = r50; l10 = r10; l90 = r90
		medians(op[o], big); lg = gm; lr = rm
		ratios(op[o + 1], "", big); f50 = r50; f10 = r10; f90 = r90
		ours(op[o], op[o + 1], big)
		printf "| %s, %s vs 10 snapshots | %.2f× | ≤ 1.2× | %s | per-round ratio p10–p90" \
		       " %.2f–%.2f×; %.2f ms / %.2f ms on the 10-snapshot pool (medians, n %d); its" \
		       " floor %.2f× (p10–p90 %.2f–%.2f×), the kernel'\''s own growth; ours (library" \
		       " / floor) %.2f× (per round p10–p90 %.2f–%.2f×) |\n", lab[o], big, l50,
		       l50 <= 1.2 ? "**met**" : "**missed**", l10, l90, lg / 1000, lr / 1000,
		       cnt[op[o], big], f50, f10, f90, o50, r10, r90
	}
	print ""
	printf "Prepare and remove of an active snapshot (the child of a committed snapshot) on the" \
	       " grown pool and on a third pool that holds 10 snapshots all along, each through the" \
	       " library and as the bare floor under it (libdevmapper alone: a `create_snap` message" \
	       " and the device'\''s create, load and resume; its remove and a `delete` message). All" \
	       " four run in every round, their order rotated and flipped from round to round, so" \
	       " they share the machine'\''s load; %d rounds per size. The ratio is grown pool /" \
	       " 10-snapshot pool in the same round, median and p10-p90 over the rounds; \"ours\" is" \
	       " the library'\''s median ratio divided by the floor'\''s (its spread: the per-round" \
	       " quotients): what thinsnap adds to the growth of the kernel'\''s own calls. At 10" \
	       " snapshots both pools are the same size: that row is the control. Per size:\n",
	       cnt["prepare", big]
	print ""
	print "| operation | snapshots | grown pool us | 10-snapshot pool us | ratio median | p10-p90 |"
	print "| --- | ---: | ---: | ---: | ---: | ---: |"
	split("library prepare|floor prepare|library remove (active)|floor remove", lab, "|")
	for (o = 1; o <= 4; o += 2) {
		for (i = 1; i <= nl; i++) row(lab[o], op[o], "", lv[i])
		for (i = 1; i <= nl; i++) row(lab[o + 1], op[o + 1], "", lv[i])
		for (i = 1; i <= nl; i++) row("ours: " lab[o] " / floor", op[o], op[o + 1], lv[i])
	}
	print ""
	printf "Where the time goes at " big " snapshots: per call, %sits device-mapper ioctls" \
	      " and syncs as the benchmark times them (\"rest\": the wall time outside them, the" \
	      " library'\''s own code and other system calls, the journal'\''s write and its" \
	      " asynchronous sync among them). Medians in microseconds on the grown" \
	      " and on the 10-snapshot pool, and the median of the per-round difference:\n",
	      harness == "vm" ? "" : "the calling thread'\''s CPU time (user and system: its" \
	      " mean, a kernel may sample it at its clock tick), and "
	print ""
	print "| operation | part | calls | grown pool us | 10-snapshot pool us | extra us |"
	print "| --- | --- | ---: | ---: | ---: | ---: |"
	for (o = 1; o <= 4; o++) {
		for (j = 1; j <= nk; j++) {
			k = keys[j]
			if (index(k, op[o] ":") != 1 || !((k, big) in cnt)) continue
			part = substr(k, length(op[o]) + 2)
			# CPU time, and a call not made in every round (the zeros
			# written ahead of the journal): means over all rounds
			if (part == "cpu" && harness == "vm") continue
			if (part == "cpu" || cnt[k, big] < cnt[op[o], big]) {
				means(k, big)
				gm *= cnt[k, big] / cnt[op[o], big]
				rm *= cnt[k, big] / cnt[op[o], big]
				nc = ((op[o] ":" part, big) in calls) ? calls[op[o] ":" part, big] : "-"
				printf "| %s | %s (mean) | %s | %.0f | %.0f | %.0f |\n", lab[o], part, nc,
				       gm, rm, gm - rm
				continue
			}
			medians(k, big)
			nc = ((op[o] ":" part, big) in calls) ? calls[op[o] ":" part, big] : "-"
			printf "| %s | %s | %s | %.0f | %.0f | %.0f |\n", lab[o], part, nc, gm, rm,
			       extra(k, big)
		}
	}
}
' "$pair"
fi
notes=$(dirname "$0")/notes.md
if [ -f "$notes" ]; then
	echo
	cat "$notes"
fi
