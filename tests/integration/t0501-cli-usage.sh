#!/bin/bash
# The command's own errors need no pool: exit 2 and one line for usage errors (unknown verb,
# option, bad size), --help on every verb, --version, and config-file rejections with the line.
. "$(dirname "$0")/lib.sh"
[ -x "$THINSNAP" ] || fail "no $THINSNAP"
st="$T/state"

# rc CMD...: runs it, output in $T/out and $T/err, exit code in $rc
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }

rc "$THINSNAP"
assert_eq "$rc" 2 "no verb"
rc "$THINSNAP" frobnicate
assert_eq "$rc" 2 "unknown verb"
assert_contains "$T/err" "thinsnap: unknown verb 'frobnicate'"
rc "$THINSNAP" --bogus ls
assert_eq "$rc" 2 "unknown global option"
assert_contains "$T/err" "unknown option '--bogus'"
rc "$THINSNAP" --state-dir "$st" ls --bogus
assert_eq "$rc" 2 "unknown verb option"
assert_contains "$T/err" "^thinsnap: list: unknown option '--bogus'"
rc "$THINSNAP" --state-dir "$st" commit onlyone
assert_eq "$rc" 2 "commit arity"
assert_contains "$T/err" "^thinsnap: commit: want NAME KEY"
rc "$THINSNAP" --state-dir "$st" label x novalue
assert_eq "$rc" 2 "bad label"
assert_contains "$T/err" "bad label 'novalue'"

rc "$THINSNAP" --version
assert_eq "$rc" 0 "--version"
assert_contains "$T/out" "^thinsnap [0-9]"
rc "$THINSNAP" --help
assert_eq "$rc" 0 "--help"
assert_contains "$T/out" "prepare"
for v in prepare view commit remove rm delete del list ls info mounts mount m label tree \
	usage pool check repair cleanup; do
	rc "$THINSNAP" "$v" --help
	assert_eq "$rc" 0 "$v --help"
	assert_contains "$T/out" "^usage: thinsnap "
done
for v in create status grow destroy; do
	rc "$THINSNAP" pool "$v" --help
	assert_eq "$rc" 0 "pool $v --help"
	assert_contains "$T/out" "^usage: thinsnap pool $v"
done

# bad sizes are usage errors, before anything touches a pool
rc "$THINSNAP" --state-dir "$st" --pool tsu$$ pool create --data-size 10XB
assert_eq "$rc" 2 "bad size"
assert_contains "$T/err" "^thinsnap: pool create: bad size '10XB' for --data-size"
rc "$THINSNAP" --state-dir "$st" --pool tsu$$ pool create --block-size 96K --data-size 1G
assert_eq "$rc" 2 "bad block size"
assert_contains "$T/err" "multiple of 64 KiB"
rc "$THINSNAP" --state-dir "$st" --pool tsu$$ pool grow lots
assert_eq "$rc" 2 "bad grow size"

# the config file: strict, with line numbers; env and flags win over it
cat > "$T/bad.toml" <<'TOML'
[plugins."io.containerd.snapshotter.v1.devmapper"]
  pool_name = "p"
  bogus = 1
TOML
rc "$THINSNAP" --config "$T/bad.toml" ls
assert_eq "$rc" 1 "bad config line"
assert_contains "$T/err" "^thinsnap: list: $T/bad.toml: line 3: unknown key 'bogus'"
THINSNAP_CONFIG="$T/bad.toml" rc "$THINSNAP" ls
assert_eq "$rc" 1 "bad config via THINSNAP_CONFIG"
assert_contains "$T/err" "line 3: unknown key 'bogus'"
rc "$THINSNAP" --config "$T/missing.toml" ls
assert_eq "$rc" 1 "missing config file"
assert_contains "$T/err" "missing.toml"
printf 'base_image_size = "huge"\n' > "$T/size.toml"
rc "$THINSNAP" --config "$T/size.toml" ls
assert_eq "$rc" 1 "bad base_image_size"
assert_contains "$T/err" "line 1: base_image_size: bad size 'huge'"
THINSNAP_ASYNC_REMOVE=perhaps rc "$THINSNAP" --state-dir "$st" ls
assert_eq "$rc" 1 "bad env boolean"
assert_contains "$T/err" "environment THINSNAP_ASYNC_REMOVE: async_remove: bad boolean 'perhaps'"
echo "cli usage: ok"
