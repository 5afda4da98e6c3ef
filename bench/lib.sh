# shellcheck shell=bash
# Shared by the bench/ shell scripts (source it): a scratch directory whose clean-up commands
# run in reverse on exit, a clock, and interleaving: each round's order of the contenders and a
# sample per contender and round, summarised as median and p10-p90 of the per-round ratios.

# bench_scratch NAME: makes the scratch directory $B and, on exit, runs the commands pushed on
# the array cleanups (last first), then removes $B
bench_scratch() {
	B=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	cleanups=()
	trap bench_cleanup EXIT
}
bench_cleanup() {
	local i
	for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[$i]}" > /dev/null 2>&1 || true; done
	rm -rf "$B"
}

now() { date +%s.%N; }

# rotate ROUND A B C...: the contenders in this round's order, one per line; each round
# starts one later (AB BA AB ..., ABC BCA CAB ...), so each takes every place equally often
rotate() {
	local round=$1 n i
	shift
	local a=("$@")
	n=${#a[@]}
	for ((i = 0; i < n; i++)); do echo "${a[$(((i + round) % n))]}"; done
}

# round_sample PART CONTENDER ROUND MICROSECONDS: one line "part<TAB>contender<TAB>round<TAB>ms"
# appended to the file $rounds
round_sample() {
	# shellcheck disable=SC2154 # the caller's file
	printf '%s\t%s\t%s\t%d.%03d\n' "$1" "$2" "$3" $(($4 / 1000)) $(($4 % 1000)) >> "$rounds"
}

# round_timed PART CONTENDER ROUND CMD...: runs CMD (its output in $T/last.out) and records its
# wall time as a sample of the round; a failure prints the output and returns 1
round_timed() {
	local part=$1 who=$2 round=$3 s e
	shift 3
	s=$EPOCHREALTIME
	"$@" > "$T/last.out" 2>&1 || {
		cat "$T/last.out" >&2
		echo "$part $who: '$*' failed" >&2
		return 1
	}
	e=$EPOCHREALTIME
	round_sample "$part" "$who" "$round" $((10#${e/./} - 10#${s/./}))
}

# round_summary FILE PART REFERENCE: per contender of PART the median and p10-p90 of its
# per-round values (a round's value: the median of its samples), and per other contender the
# median and p10-p90 of its per-round ratio to REFERENCE. Percentiles interpolate between ranks
# (the median of an even count: the mean of the middle two).
round_summary() {
	awk -F'\t' -v part="$2" -v ref="$3" '
	function pct(arr, n, p,   i, j, t, x) { # sorts arr[1..n]; interpolates between ranks
		for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
		x = p * (n - 1) + 1; i = int(x)
		return i >= n ? arr[n] : arr[i] + (x - i) * (arr[i + 1] - arr[i])
	}
	$1 == part {
		k = $2 SUBSEP $3; c[k]++; x[k, c[k]] = $4
		if (!($2 in seen)) { seen[$2] = 1; order[++nw] = $2 }
		if (!($3 in rs)) { rs[$3] = 1; rl[++nr] = $3 }
	}
	END {
		for (k in c) { delete s; for (i = 1; i <= c[k]; i++) s[i] = x[k, i]; v[k] = pct(s, c[k], 0.5) }
		for (w = 1; w <= nw; w++) {
			n = 0; delete s
			for (r = 1; r <= nr; r++) if ((order[w], rl[r]) in v) s[++n] = v[order[w], rl[r]]
			if (n == 0) continue
			printf "%-8s %-18s %9.1f ms  (p10-p90 %.1f-%.1f, n=%d)\n", part, order[w],
				pct(s, n, 0.5), pct(s, n, 0.1), pct(s, n, 0.9), n
		}
		for (w = 1; w <= nw; w++) {
			if (order[w] == ref) continue
			n = 0; delete s
			for (r = 1; r <= nr; r++)
				if (((order[w], rl[r]) in v) && ((ref, rl[r]) in v) && v[ref, rl[r]] > 0)
					s[++n] = v[order[w], rl[r]] / v[ref, rl[r]]
			if (n == 0) continue
			printf "%-8s %-18s %6.2fx %s  (per-round p10-p90 %.2f-%.2fx, n=%d)\n", part, order[w],
				pct(s, n, 0.5), ref, pct(s, n, 0.1), pct(s, n, 0.9), n
		}
	}' "$1"
}
