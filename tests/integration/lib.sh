# Shared helpers for tests/integration/tNNNN-*.sh. Source it first thing:
#   . "$(dirname "$0")/lib.sh"
# It gives each test a scratch directory $T (removed on exit, with every loop device,
# mount and dm device the test registered), skip/fail helpers and assertions.
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
THINSNAP=${THINSNAP:-$TOP/build/release/thinsnap}
T=$(mktemp -d "${TMPDIR:-/tmp}/t.XXXXXX")
# The command's and thinsnapd's settings come from each test alone, none from the caller's
# environment: every variable config/config.c reads (the tests' own knobs, THINSNAP_CACHE,
# THINSNAP_FAKE_BIND, THINSNAP_SUITE_*, stay).
unset THINSNAP_STATE_DIR THINSNAP_POOL THINSNAP_CONFIG THINSNAP_BASE_IMAGE_SIZE \
	THINSNAP_FS_TYPE THINSNAP_FS_OPTIONS THINSNAP_ASYNC_REMOVE THINSNAP_DISCARD_BLOCKS \
	THINSNAP_MIN_FREE_DATA_PERCENT THINSNAP_MIN_FREE_METADATA_PERCENT \
	THINSNAP_SPACE_WARNING_MARGIN_PERCENT THINSNAP_METRICS_ADDRESS THINSNAP_MONITOR_INTERVAL \
	THINSNAP_AUTOGROW_THRESHOLD_PERCENT THINSNAP_AUTOGROW_PERCENT THINSNAP_AUTOGROW_MAX_SIZE \
	THINSNAP_AUTOGROW_METADATA_MAX_SIZE
_cleanups=()

at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" > /dev/null 2>&1 || true
	done
	rm -rf "$T"
}
trap _run_cleanups EXIT

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs the command; fails the test unless it exits 0.
ok() { "$@" || fail "expected success: $*"; }
# Runs the command; fails the test unless it exits non-zero. Output goes to $T/last.err.
nok() { if "$@" > "$T/last.out" 2> "$T/last.err"; then fail "expected failure: $*"; fi; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', want '$2'"; }
assert_contains() { grep -q -- "$2" "$1" || { cat "$1" >&2; fail "'$1' lacks '$2'"; }; }

require_thin() {
	[ -e /dev/mapper/control ] || skip "no device-mapper"
	dmsetup targets 2>/dev/null | grep -q '^thin-pool' || skip "no thin-pool target"
}

# Attaches a new sparse file of SIZE (e.g. 256M) to a loop device and stores the device in
# the variable named VAR (not printed: a $(...) subshell would lose the cleanup).
#   make_loop VAR SIZE
make_loop() {
	local f dev
	f=$(mktemp "$T/loop.XXXXXX")
	truncate -s "$2" "$f"
	dev=$(losetup --find --show "$f")
	at_exit "losetup -d $dev"
	printf -v "$1" '%s' "$dev"
}

# The sha256 of every regular file under DIR (lost+found aside): a snapshot's contents.
tree_sum() {
	(cd "$1" && find . -type f ! -path './lost+found/*' -print0 | sort -z |
		xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}

# A pool on loop files under $st named $pool (the caller defines ts, st and pool) holding a
# committed snapshot 'base' with FILE of BYTES random bytes; $T/mnt is the mount point. Sets
# $want (base's tree_sum) and $file_sum (FILE's sha256).
#   pool_with_base DATA_SIZE METADATA_SIZE FILE BYTES
pool_with_base() {
	ok ts -q pool create --data-size "$1" --metadata-size "$2"
	at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"
	mkdir "$T/mnt"
	at_exit "umount -l $T/mnt"
	ok ts prepare --target "$T/mnt" base-a
	head -c "$4" /dev/urandom > "$T/mnt/$3"
	want=$(tree_sum "$T/mnt")
	file_sum=$(sha256sum < "$T/mnt/$3")
	umount "$T/mnt"
	ok ts commit base base-a
}

# base (from pool_with_base) read through a view holds what it was committed with.
assert_base_intact() {
	ok ts view --target "$T/mnt" look base
	assert_eq "$(tree_sum "$T/mnt")" "$want" "committed contents $1"
	umount "$T/mnt"
	ok ts rm look
}

# Polls a shell condition every 0.2 s for up to SECONDS; 1 if it never held.
#   poll SECONDS CONDITION
poll() {
	local end=$((SECONDS + $1))
	until eval "$2"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# Waits up to SECONDS (30) for a daemon (PID) to create its unix socket; 0 once it exists.
#   wait_socket SOCKET PID [SECONDS]
wait_socket() {
	local i
	for ((i = 0; i < ${3:-30} * 20; i++)); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2> /dev/null || break
		sleep 0.05
	done
	[ -S "$1" ]
}
