#!/bin/bash
# Makes the performance report from what bench/run-all.sh measured: $OUT/results.tsv (median
# and p90 per system, way and operation, and the median and p10-p90 of the per-round ratio to
# containerd's devmapper the same way, from the interleaved rounds), docs/performance.md (tables,
# goals, the machine, the load, the command) and docs/performance.png (gnuplot). Every ratio it
# states is taken per round from rounds measured interleaved in one boot ($OUT/rounds.tsv, and
# bench-fair's $OUT/fair.tsv). Runs on the host after the VM: `make bench-report` calls it.
#   bench/report.sh [OUT [DOCS]]      (defaults: build/bench, docs)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-${OUT:-$top/build/bench}}
DOCS=${2:-$top/docs}
samples=$OUT/samples.tsv
res=$OUT/results.tsv
md=$DOCS/performance.md
png=$DOCS/performance.png
[ -s "$samples" ] || { echo "report: no samples in $samples (run bench/run-all.sh)" >&2; exit 1; }
mkdir -p "$DOCS"

# ---- statistics: median and p90 (nearest rank, as ctrbench) per system/via/op ----
sort -t $'\t' -k1,1 -k2,2 -k3,3 -k4,4g "$samples" | awk -F'\t' '
	function flush() {
		if (n == 0) return
		printf "%s\t%s\t%s\t%d\t%.3f\t%.3f\n", key1, key2, key3, n,
			v[int(0.5 * (n - 1) + 0.5) + 1], v[int(0.9 * (n - 1) + 0.5) + 1]
	}
	{ k = $1 FS $2 FS $3
	  if (k != cur) { flush(); cur = k; n = 0; key1 = $1; key2 = $2; key3 = $3 }
	  v[++n] = $4 }
	END { flush() }' > "$OUT/stats.tmp"
# ---- the interleaved rounds: per part and contender, the median of each round's samples ----
# plus a derived part: a 16-layer run's writes alone (its write part less its mounts and
# unmounts), per contender and round
rounds=$OUT/rounds-all.tsv
cat "$OUT/rounds.tsv" 2> /dev/null > "$rounds"
awk -F'\t' 'BEGIN { OFS = "\t" }
	$1 == "layer16-write" { w[$2 SUBSEP $3] = $4 }
	$1 == "layer16-mount" { m[$2 SUBSEP $3] = $4 }
	$1 == "layer16-unmount" { u[$2 SUBSEP $3] = $4 }
	END { for (k in w) if ((k in m) && (k in u)) { split(k, a, SUBSEP)
		print "layer16-files", a[1], a[2], sprintf("%.3f", w[k] - m[k] - u[k]) } }' "$rounds" >> "$rounds"
# rstat PART CONTENDER [REFERENCE] -> "n ratio_median ratio_p10 ratio_p90 median p10 p90
# ref_median": the contender's per-round values (median, p10, p90 over the rounds) and, with
# REFERENCE, its per-round ratio to REFERENCE over the rounds both have (percentiles interpolate
# between ranks, as bench/lib.sh's)
rstat() {
	awk -F'\t' -v part="$1" -v who="$2" -v ref="${3:-}" '
	function pct(arr, n, p,   i, j, t, x) { # sorts arr[1..n]; interpolates between ranks
		for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
		x = p * (n - 1) + 1; i = int(x)
		return i >= n ? arr[n] : arr[i] + (x - i) * (arr[i + 1] - arr[i])
	}
	function rmed(w, r,   i, k) { k = w SUBSEP r; delete s; for (i = 1; i <= c[k]; i++) s[i] = x[k, i]; return pct(s, c[k], 0.5) }
	$1 == part && ($2 == who || $2 == ref) {
		k = $2 SUBSEP $3; c[k]++; x[k, c[k]] = $4
		if (!($3 in rs)) { rs[$3] = 1; rl[++nr] = $3 }
	}
	END {
		n = 0; m = 0; nq = 0
		for (r = 1; r <= nr; r++) {
			if ((who SUBSEP rl[r]) in c) a[++m] = v = rmed(who, rl[r]); else continue
			if (ref != "" && ((ref SUBSEP rl[r]) in c)) { w = rmed(ref, rl[r]); q[++nq] = w; if (w > 0) t[++n] = v / w }
		}
		if (m == 0) exit
		med = pct(a, m, 0.5); p10 = pct(a, m, 0.1); p90 = pct(a, m, 0.9)
		if (n > 0) printf "%d %.2f %.2f %.2f %.3f %.3f %.3f %.3f\n", n, pct(t, n, 0.5), pct(t, n, 0.1), pct(t, n, 0.9), med, p10, p90, pct(q, nq, 0.5)
		else printf "%d - - - %.3f %.3f %.3f -\n", m, med, p10, p90
	}' "$rounds"
}
# rs PART CONTENDER REFERENCE FIELD (1 n, 2 ratio median, 3 p10, 4 p90, 5 median ms, 6 p10 ms,
# 7 p90 ms, 8 the reference's median ms) -> value, or empty
rs() {
	local v
	v=$(rstat "$1" "$2" "$3" | cut -d' ' -f"$4")
	[ "$v" = - ] || echo "$v"
}
# ratio_text PART CONTENDER REFERENCE -> "1.05× (p10–p90 0.90–1.20)" or "–"
ratio_text() {
	local r
	r=$(rstat "$1" "$2" "$3")
	set -- $r
	[ $# = 8 ] && [ "$2" != - ] && echo "$2× ($3–$4)" || echo "–"
}
# the per-round ratio to containerd's devmapper the same way: per-call ways against devmapper
# per call (ctr), the rest against devmapper through containerd's API from one client
ref_of() { # SYSTEM VIA -> the reference contender, empty if that way was not interleaved
	case $2 in
	ctr | process) echo "devmapper ctr" ;;
	api | direct) echo "devmapper api" ;;
	esac
}
while IFS=$'\t' read -r sys via op n med p90; do
	ref=$(ref_of "$sys" "$via")
	f=()
	[ -n "$ref" ] && [ "$sys $via" != "$ref" ] &&
		read -ra f <<< "$(rstat "op:$op" "$sys $via" "$ref" | cut -d' ' -f2-4)"
	[ ${#f[@]} = 3 ] || f=(- - -)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$via" "$op" "$n" "$med" "$p90" "${f[@]}"
done < "$OUT/stats.tmp" > "$OUT/results.tmp"
{
	printf 'system\tvia\top\tn\tmedian_ms\tp90_ms\tvs_devmapper_round_median\tvs_devmapper_p10\tvs_devmapper_p90\n'
	cat "$OUT/results.tmp"
} > "$res"
rm -f "$OUT/stats.tmp" "$OUT/results.tmp"

# ---- the fair comparison (bench-fair): per load and op, from the per-round ratios ----
fair_stats=$OUT/fair-stats.tsv
: > "$fair_stats"
if [ -s "$OUT/fair.tsv" ]; then
	for load in quiet loaded; do
		for op in prepare commit remove fdatasync; do
			awk -F'\t' -v l="$load" -v o="$op" '$1 == l && $2 == o { print $3, $4, $3 / $4 }' \
				"$OUT/fair.tsv" > "$OUT/fair.tmp"
			[ -s "$OUT/fair.tmp" ] || continue
			# n, ratio median, p10, p90, library median, floor median (nearest rank)
			{
				printf '%s\t%s\t%s' "$load" "$op" "$(wc -l < "$OUT/fair.tmp")"
				for col in 3:0.5 3:0.1 3:0.9 1:0.5 2:0.5; do
					sort -g -k"${col%%:*}","${col%%:*}" "$OUT/fair.tmp" | awk -v c="${col%%:*}" \
						-v p="${col#*:}" '{ v[NR] = $c } END { printf "\t%.2f", v[int(p * (NR - 1) + 0.5) + 1] }'
				done
				echo
			} >> "$fair_stats"
		done
	done
	rm -f "$OUT/fair.tmp"
fi
fair() { # LOAD OP FIELD(1 n, 2 ratio median, 3 p10, 4 p90, 5 library ms, 6 floor ms)
	awk -F'\t' -v l="$1" -v o="$2" -v f="$(($3 + 2))" '$1 == l && $2 == o { print $f }' "$fair_stats"
}

get() { # SYSTEM VIA OP FIELD(5 median, 6 p90, 4 n) -> value or empty
	awk -F'\t' -v s="$1" -v v="$2" -v o="$3" -v f="$4" \
		'$1 == s && $2 == v && $3 == o { print $f }' "$res"
}
machine() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$OUT/machine.tsv" 2> /dev/null; }
div() { [ -n "$1" ] && [ -n "$2" ] && echo "$1 $2" | awk '$2 > 0 { printf "%.2f", $1 / $2 }'; }
fmt() { [ -n "$1" ] && awk -v x="$1" 'BEGIN { printf (x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f"), x }' || echo "–"; }

# contenders: system via label
contenders="floor library raw-libdevmapper-floor
library library thinsnap-library
thinsnap process thinsnap-command
thinsnap direct thinsnapd-one-client-direct
thinsnap api thinsnapd-one-client-via-containerd
devmapper api devmapper-one-client-via-containerd
overlayfs api overlayfs-one-client-via-containerd
thinsnap ctr thinsnapd-ctr-per-call
devmapper ctr devmapper-ctr-per-call
overlayfs ctr overlayfs-ctr-per-call"
label() { echo "$1" | tr '-' ' '; }
opname() {
	case $1 in
	prepare0) echo "prepare (parentless)" ;; prepare) echo "prepare (child)" ;;
	cycle) echo "cycle: prepare + commit + remove" ;; *) echo "$1" ;;
	esac
}

ops="prepare0 prepare view commit remove cycle"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
harness=$(machine harness)

goal_line() { # NAME MEASURED(ratio) OP(le|ge) TARGET DETAIL
	local verdict
	if [ -z "$2" ]; then
		verdict="not measured"
	elif awk -v x="$2" -v t="$4" -v op="$3" 'BEGIN { exit !(op == "le" ? x <= t : x >= t) }'; then
		verdict="**met**"
	else
		verdict="**missed**"
	fi
	printf '| %s | %s | %s %s× | %s | %s |\n' "$1" "${2:+$2×}" "$([ "$3" = le ] && echo "≤" || echo "≥")" \
		"$4" "$verdict" "$5"
}

# the host's load: the 1-minute load average sampled every 10 s on the host while the VM ran
# (make bench-report), as "min / median / max (n samples)"
host_load_samples() {
	[ -s "$OUT/host-load-samples" ] || { echo "not sampled"; return; }
	sort -g "$OUT/host-load-samples" | awk '{ v[NR] = $1 }
		END { printf "%s / %s / %s (%d samples)", v[1], v[int(0.5 * (NR - 1) + 0.5) + 1], v[NR], NR }'
}
# rounds_ms PART CONTENDER -> the median of its per-round values, ms, formatted
rounds_ms() { fmt "$(rs "$1" "$2" "" 5)"; }
# round_goal NAME PART CONTENDER REFERENCE OP TARGET WHAT: a goal row from the per-round ratio
round_goal() {
	local r
	r=$(rstat "$2" "$3" "$4")
	set -- "$1" "$2" "$3" "$4" "$5" "$6" "$7" $r
	if [ $# = 15 ] && [ "$9" != - ]; then
		goal_line "$1" "$9" "$5" "$6" "per-round ratio p10–p90 ${10}–${11}×; $7 $(fmt "${12}") ms / $(fmt "${15}") ms (medians of the rounds, n ${8})"
	else
		goal_line "$1" "" "$5" "$6" "$7"
	fi
}
# rounds_rows PART REFERENCE NAME CONTENDER...: per contender a table row: NAME (a printf format
# of the contender), rounds, median, p10–p90 and the per-round ratio to REFERENCE
rounds_rows() {
	local part=$1 ref=$2 name=$3 c f
	shift 3
	for c; do
		read -ra f <<< "$(rstat "$part" "$c" "$ref")"
		[ ${#f[@]} = 8 ] || continue
		# shellcheck disable=SC2059 # the name's format is the caller's
		printf "| $name | %s | %s | %s–%s | %s |\n" "$c" "${f[0]}" "$(fmt "${f[4]}")" "$(fmt "${f[5]}")" \
			"$(fmt "${f[6]}")" "$([ "$c" = "$ref" ] && echo 1 || ratio_text "$part" "$c" "$ref")"
	done
}
libs() { ldd "$1" 2> /dev/null | grep -c '=>'; }

{
	echo "# Performance: thinsnap against containerd's devmapper and overlayfs"
	echo
	echo "Generated by \`bench/report.sh\` from \`bench/run-all.sh\`'s samples; do not edit by hand."
	echo
	echo "Reproduce: \`make bench-report\` (builds, makes the image, runs \`scripts/dmrun -- bench/run-all.sh\`"
	echo "in one boot, then this report; figures in \`build/bench/\`: \`samples.tsv\`, \`rounds.tsv\`,"
	echo "\`results.tsv\`, \`fair.tsv\`)."
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| date | $(machine date) |"
	echo "| CPU (host) | $cpu, $(nproc) cores |"
	echo "| harness | $([ "$harness" = vm ] && echo "user-mode-linux VM (one CPU, hostfs root, loop files on the host's disk)" || echo "native") |"
	echo "| kernel | $(machine kernel) |"
	echo "| containerd | $(machine containerd) |"
	echo "| rounds | $(machine rounds) |"
	echo "| pools | 8 GiB data, 64 MiB metadata, 64 KiB blocks, loop files; 1 GB ext4 base devices |"
	echo "| host load (1 min, on $(nproc) cores) | before $(head -n 1 "$OUT/host-load" 2> /dev/null | cut -d' ' -f1 || echo "–"), during min / median / max $(host_load_samples), after $(sed -n 2p "$OUT/host-load" 2> /dev/null | cut -d' ' -f1) |"
	echo "| VM load (1, 5, 15 min) | $(machine vm_loadavg) at the start, $(machine vm_loadavg_end) at the end; per part below (*The run*) |"
	echo
	echo "Ways: *library* = thinsnap's C API in-process, the raw floor = bare libdevmapper"
	echo "create_snap + activate (prepare) and deactivate + delete (remove) on the same pool; *command*"
	echo "= one \`thinsnap\` process per call; *one client* = ctrbench, one Go process using containerd's"
	echo "snapshots API (*direct*: on thinsnapd's socket; *via containerd*: through a containerd daemon"
	echo "with thinsnapd as a proxy plugin, devmapper and overlayfs built in); *ctr per call* = one"
	echo "\`ctr snapshots\` process per call. overlayfs's root is ext4 on a loop file."
	echo
	echo "**How the ratios are taken.** Every ratio below comes from rounds measured interleaved in"
	echo "this one boot: in each round every contender of a comparison runs once, the order rotating"
	echo "from round to round (AB BA …, ABC BCA CAB …), so a change of the host's load falls on all of"
	echo "them alike; the ratio is taken per round (a round's value: the median of its samples), and"
	echo "the report gives the median of the per-round ratios with their p10–p90 (interpolated between"
	echo "ranks). Times in ms are medians. The host is shared with other VMs: its load is in the table"
	echo "above; a busier host widens the spread of the per-round ratios."
	echo
	echo "## Goals"
	echo
	echo "The floor ratios come from \`bench-fair\`: library and bare libdevmapper floor on the same"
	echo "pool in interleaved rounds (library first, then floor first, alternating), the ratio taken"
	echo "per round; *loaded*: while a background writer (64 MiB \`dd conv=fsync\` in a loop) loads"
	echo "the pool's disk. The floors: a child prepare's is \`create_snap\` + create/load/resume, a"
	echo "remove's deactivate + \`delete\`, a commit's the same deactivate and one pool metadata"
	echo "commit. Load: a 4 KiB pwrite + fdatasync beside the pool took $(fmt "$(fair quiet fdatasync 5)") ms"
	echo "(median) in the quiet rounds and $(fmt "$(fair loaded fdatasync 5)") ms in the loaded ones. The other rows: the"
	echo "interleaved rounds of the sections below. Container start and the 16-layer run share the"
	echo "goal ≤ 1.1× overlayfs (the 16-layer run's was ≤ 1.2× before)."
	echo
	echo "| goal | measured | target | verdict | from |"
	echo "| --- | --- | --- | --- | --- |"
	for load in quiet loaded; do
		for op in prepare commit remove; do
			goal_line "$(opname "$op" | sed 's/^prepare$/child prepare/') vs its floor, $load" \
				"$(fair "$load" "$op" 2)" le 1.3 \
				"per-round ratio p10–p90 $(fair "$load" "$op" 3)–$(fair "$load" "$op" 4)×; library $(fmt "$(fair "$load" "$op" 5)") ms / floor $(fmt "$(fair "$load" "$op" 6)") ms (medians, n $(fair "$load" "$op" 1))"
		done
	done
	round_goal "container start, \`ctr run --rm\`, vs overlayfs" ctr-run thinsnap overlayfs le 1.1 \
		"thinsnap / overlayfs"
	round_goal "16-layer run vs overlayfs" layer16 thinsnap overlayfs le 1.1 "thinsnap / overlayfs"
	round_goal "the command's start, \`thinsnap ls\` vs \`dmsetup ls\`" command thinsnap dmsetup le 1.5 \
		"thinsnap / dmsetup"
	round_goal "cycle via containerd's API, one client: devmapper / thinsnap" op:cycle "devmapper api" \
		"thinsnap api" ge 10 "devmapper / thinsnap"
	round_goal "image unpack vs overlayfs (\`thinsnap unpack\`)" op:unpack "thinsnap process" \
		"overlayfs ctr" le 1.2 "thinsnap unpack / ctr import onto overlayfs"
	round_goal "image unpack vs overlayfs (\`ctr images import\` onto each)" op:unpack "thinsnap ctr" \
		"overlayfs ctr" le 1.2 "thinsnap / overlayfs"
	# scale: the goal rows of the pair rounds' own table (bench/scale/report.sh, below)
	if [ -f "$OUT/scale.md" ]; then
		awk '/^### Goals at .*interleaved with the floor/ { on = 1; next }
			on && /^\| (prepare|remove) of an active snapshot/ { print }
			on && /^### / { on = 0 }' "$OUT/scale.md"
	fi
	echo
	echo "## Snapshot operations"
	echo
	echo "Median / p90 in ms over all samples; the last column is the median and p10–p90 of the"
	echo "per-round ratio to containerd devmapper the same way (per-call ways against \`ctr\` on"
	echo "devmapper, the others against one client via containerd), from the interleaved rounds;"
	echo "below 1 is faster. The library and raw floor rows come from \`bench-snap\` in its own phase"
	echo "(library, then floor, in-process, no containerd): they get no ratio here; the library"
	echo "against the floor is compared interleaved in the goals above."
	echo
	for op in $ops; do
		echo "### $(opname "$op")"
		echo
		echo "| contender | n | median ms | p90 ms | × devmapper, per round (p10–p90) |"
		echo "| --- | --- | --- | --- | --- |"
		echo "$contenders" | while read -r s v l; do
			[ -n "$(get "$s" "$v" "$op" 5)" ] || continue
			x=$(get "$s" "$v" "$op" 7)
			printf '| %s | %s | %s | %s | %s |\n' "$(label "$l")" "$(get "$s" "$v" "$op" 4)" \
				"$(fmt "$(get "$s" "$v" "$op" 5)")" "$(fmt "$(get "$s" "$v" "$op" 6)")" \
				"$([ "$x" != - ] && echo "$x ($(get "$s" "$v" "$op" 8)–$(get "$s" "$v" "$op" 9))" || echo "–")"
		done
		echo
	done
	echo "## Container start"
	echo
	echo "\`ctr run --rm\` of a small image (busybox-static in one uncompressed layer, \`/bin/true\`),"
	echo "imported onto each snapshotter beforehand, one untimed run each first; thinsnap is thinsnapd"
	echo "behind containerd, devmapper containerd's own on a pool of the same shape. Per round one"
	echo "run each, the order rotating."
	echo
	echo "| snapshotter | rounds | median ms | p10–p90 ms | × overlayfs, per round (p10–p90) |"
	echo "| --- | --- | --- | --- | --- |"
	rounds_rows ctr-run overlayfs '%s' overlayfs thinsnap devmapper
	echo
	echo "Where it goes: the snapshot steps of a start one by one through containerd's API, in one"
	echo "ctrbench process per snapshotter and round (no process start in these figures): prepare on"
	echo "the image's layer, mount, read every file once (the container's first reads), unmount,"
	echo "remove, 3 of each per round, interleaved the same way; medians of the rounds in ms:"
	echo
	echo "| step | overlayfs | thinsnap | devmapper | thinsnap × overlayfs, per round (p10–p90) |"
	echo "| --- | --- | --- | --- | --- |"
	for st in prepare mount read umount remove; do
		printf '| %s | %s | %s | %s | %s |\n' "$st" "$(rounds_ms steps "overlayfs-$st")" \
			"$(rounds_ms steps "thinsnap-$st")" "$(rounds_ms steps "devmapper-$st")" \
			"$(ratio_text steps "thinsnap-$st" "overlayfs-$st")"
	done
	echo
	run_ts=$(rs ctr-run thinsnap overlayfs 5) run_ov=$(rs ctr-run thinsnap overlayfs 8)
	steps_d=$(for st in prepare mount read umount remove; do
		echo "$(rs steps "thinsnap-$st" "" 5) $(rs steps "overlayfs-$st" "" 5)"
	done | awk 'NF == 2 { d += $1 - $2 } END { printf "%.0f", d }')
	echo "In this run a start on thinsnap took $(fmt "$run_ts") ms against overlayfs's $(fmt "$run_ov") ms"
	echo "(medians); the snapshot steps together differ by ${steps_d:-–} ms (thinsnap minus"
	echo "overlayfs, medians). The rest of a start (\`ctr\`, the shim, runc, the task's cgroup) is"
	echo "processes whose cost does not depend on the snapshotter. The unmount named"
	echo "as the suspect: a thin snapshot is its own ext4, so its unmount writes back the superblock,"
	echo "the journal and whatever the container wrote through the thin pool and the loop device, and"
	echo "waits for the flush; overlayfs's unmount syncs its upper filesystem. This container writes"
	echo "next to nothing: its unmount took $(rounds_ms steps thinsnap-umount) ms on thinsnap against $(rounds_ms steps overlayfs-umount) ms on overlayfs;"
	echo "the mount $(rounds_ms steps thinsnap-mount) against $(rounds_ms steps overlayfs-mount) ms, the first read of the image's files $(rounds_ms steps thinsnap-read) against"
	echo "$(rounds_ms steps overlayfs-read) ms (a new snapshot's page cache starts cold: the cache belongs to the block"
	echo "device). The 16-layer run below writes 10 MiB per layer and shows the writeback's cost."
	echo
	echo "## The command's start"
	echo
	echo "The process time (fork to exit, wall clock) of \`thinsnap ls\` against \`dmsetup ls\`, both"
	echo "warm in the page cache, interleaved; \`thinsnap\` loads $(libs "$top/build/release/thinsnap") shared libraries (\`ldd\`),"
	echo "\`dmsetup\` $(libs "$(command -v dmsetup || echo /sbin/dmsetup)")."
	echo
	echo "| command | rounds | median ms | p10–p90 ms | × \`dmsetup ls\`, per round (p10–p90) |"
	echo "| --- | --- | --- | --- | --- |"
	rounds_rows command dmsetup '`%s ls`' dmsetup thinsnap
	echo
	echo "## 16-layer run"
	echo
	echo "containerd's snapshots/benchsuite shape, through containerd's API from one client: per"
	echo "layer prepare on the previous commit, mount, write 10 × 1 MiB files, unmount, commit. One"
	echo "run (16 layers) per snapshotter and round, the order rotating; ctrbench's own figure (not"
	echo "its process start nor the removal of the layers). Medians of the rounds in ms; the ratio"
	echo "per round to overlayfs, median (p10–p90):"
	echo
	echo "| per 16 layers | overlayfs | thinsnap | thinsnap × overlayfs | devmapper | devmapper × overlayfs |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for p in "layer16 whole run" "layer16-prepare prepares" "layer16-write mount + write + unmount" \
		"layer16-mount of which mounts" "layer16-files of which writes" \
		"layer16-unmount of which unmounts" "layer16-commit commits"; do
		[ -n "$(rs "${p%% *}" overlayfs "" 5)" ] || continue
		printf '| %s | %s | %s | %s | %s | %s |\n' "${p#* }" "$(rounds_ms "${p%% *}" overlayfs)" \
			"$(rounds_ms "${p%% *}" thinsnap)" "$(ratio_text "${p%% *}" thinsnap overlayfs)" \
			"$(rounds_ms "${p%% *}" devmapper)" "$(ratio_text "${p%% *}" devmapper overlayfs)"
	done
	echo
	echo "Rounds: $(rs layer16 thinsnap overlayfs 1). *Writes*: the write part less its mounts and unmounts,"
	echo "per round. A thin snapshot is its own ext4: its unmount writes the layer's data and journal"
	echo "through the thin pool and the loop device into the host's file and waits for the flush."
	echo "overlayfs's unmount syncs its upper filesystem (containerd's root ext4) as well, so both"
	echo "write the 10 MiB before \`umount\` returns: in this run the 16 unmounts took"
	echo "$(rounds_ms layer16-unmount thinsnap) ms on thinsnap against $(rounds_ms layer16-unmount overlayfs) ms on overlayfs (per round $(ratio_text layer16-unmount thinsnap overlayfs)), the"
	echo "mounts $(rounds_ms layer16-mount thinsnap) against $(rounds_ms layer16-mount overlayfs) ms and the writes alone $(rounds_ms layer16-files thinsnap) against $(rounds_ms layer16-files overlayfs) ms"
	echo "(devmapper, an ext4 on a thin device too: unmounts $(rounds_ms layer16-unmount devmapper), mounts $(rounds_ms layer16-mount devmapper), writes"
	echo "$(rounds_ms layer16-files devmapper) ms)."
	echo
	echo "## Image unpack"
	echo
	echo "\`bench/unpack-bench.sh\`'s image: 4 gzip layers, ~100 MiB compressed (busybox, 5000 small"
	echo "files, 100 MiB of random data, a whiteout). \`thinsnap unpack\` reads the archive itself;"
	echo "\`ctr images import\` runs after the blobs are in containerd's content store (an import"
	echo "without unpacking first), so it times the unpack. One unpack per contender and round, the"
	echo "order rotating. Median / p90 in ms; the ratio per round to overlayfs, median (p10–p90)."
	echo
	echo "| contender | n | median ms | p90 ms | × overlayfs, per round (p10–p90) |"
	echo "| --- | --- | --- | --- | --- |"
	for sv in "thinsnap process thinsnap-unpack" "thinsnap ctr ctr-import-onto-thinsnapd" \
		"devmapper ctr ctr-import-onto-devmapper" "overlayfs ctr ctr-import-onto-overlayfs"; do
		set -- $sv
		[ -n "$(get "$1" "$2" unpack 5)" ] || continue
		printf '| %s | %s | %s | %s | %s |\n' "$(label "$3")" "$(get "$1" "$2" unpack 4)" \
			"$(fmt "$(get "$1" "$2" unpack 5)")" "$(fmt "$(get "$1" "$2" unpack 6)")" \
			"$([ "$1 $2" = "overlayfs ctr" ] && echo 1 || ratio_text op:unpack "$1 $2" "overlayfs ctr")"
	done
	echo
	if [ -f "$OUT/scale.md" ]; then
		cat "$OUT/scale.md"
		echo
	fi
	if [ -f "$DOCS/performance-notes.md" ]; then
		cat "$DOCS/performance-notes.md"
		echo
	fi
	echo "## The run"
	echo
	echo "| part | status | seconds | VM load (1 min) at its start |"
	echo "| --- | --- | --- | --- |"
	tail -n +2 "$OUT/parts.tsv" | awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
	echo
	echo "![median latency per operation and system](performance.png)"
} > "$md"

# ---- the chart: grouped bars, log scale ----
if command -v gnuplot > /dev/null; then
	{
		printf 'op'
		echo "$contenders" | while read -r _ _ l; do printf '\t"%s"' "$(label "$l")"; done
		echo
		for op in $ops; do
			printf '"%s"' "$(opname "$op" | sed 's/: .*//')"
			echo "$contenders" | while read -r s v _; do
				x=$(get "$s" "$v" "$op" 5)
				printf '\t%s' "${x:--}"
			done
			echo
		done
	} > "$OUT/chart-ops.dat"
	{
		printf 'what\t"thinsnap"\t"devmapper"\t"overlayfs"\n'
		printf '"16 layers"\t%s\t%s\t%s\n' "$(rs layer16 thinsnap "" 5)" \
			"$(rs layer16 devmapper "" 5)" "$(rs layer16 overlayfs "" 5)" | sed 's/\t\t/\t-\t/g; s/\t$/\t-/'
		printf '"ctr run"\t%s\t%s\t%s\n' "$(rs ctr-run thinsnap "" 5)" \
			"$(rs ctr-run devmapper "" 5)" "$(rs ctr-run overlayfs "" 5)" | sed 's/\t\t/\t-\t/g; s/\t$/\t-/'
		printf '"ctr import"\t%s\t%s\t%s\n' "$(get thinsnap ctr unpack 5)" \
			"$(get devmapper ctr unpack 5)" "$(get overlayfs ctr unpack 5)" | sed 's/\t\t/\t-\t/g; s/\t$/\t-/'
		printf '"thinsnap\\nunpack"\t%s\t-\t-\n' "$(get thinsnap process unpack 5)"
	} > "$OUT/chart-runs.dat"
	ncol=$(echo "$contenders" | wc -l)
	gnuplot <<- EOF
		set terminal pngcairo size 1600,700 font "sans,10"
		set output "$png"
		set datafile separator "\t"
		set datafile missing "-"
		set style data histograms
		set style histogram clustered gap 1
		set style fill solid 0.9 border -1
		set boxwidth 0.9
		set logscale y
		set grid ytics
		set key outside bottom center horizontal maxrows 4 font "sans,9"
		colors = "#7f3fbf #1b9e77 #66c2e6 #e69f00 #f0e442 #0072b2 #d55e00 #222222 #cc79a7 #009e73"
		set tmargin 4
		set multiplot layout 1,2 title "thinsnap vs containerd devmapper and overlayfs: median latency ($harness, $(machine date))"
		set size 0.68,1
		set ylabel "ms (log)"
		set title "snapshot operations"
		plot for [i=2:$((ncol + 1))] "$OUT/chart-ops.dat" using i:xtic(1) title columnheader(i) \
			lc rgb word(colors, i - 1)
		set origin 0.68,0
		set size 0.32,1
		set title "16-layer run, container start, image unpack"
		set key inside top right vertical
		plot for [i=2:4] "$OUT/chart-runs.dat" using i:xtic(1) title columnheader(i) \
			lc rgb word("#1f77b4 #ff7f0e #2ca02c", i - 1)
		unset multiplot
	EOF
else
	echo "report: no gnuplot (scripts/setup.sh installs gnuplot-nox); $png not made" >&2
fi
echo "report: $md, $png, $res"
