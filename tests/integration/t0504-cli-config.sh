#!/bin/bash
# Configuration precedence on a real pool: flag > THINSNAP_* env > TOML file > default; the
# file in containerd's devmapper form is accepted as is.
. "$(dirname "$0")/lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
st="$T/state"
pool=tscfg$$
cat > "$T/containerd.toml" <<TOML
version = 2

[plugins."io.containerd.snapshotter.v1.devmapper"]
  pool_name = "$pool"
  root_path = "$st"
  base_image_size = "64MB"
  async_remove = false
  discard_blocks = true
  fs_type = "ext4"
  fs_options = ""
TOML
ts() { "$THINSNAP" --config "$T/containerd.toml" "$@"; }
rc() { set +e; "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }

ok ts pool create --data-size 256M
at_exit "$THINSNAP --config $T/containerd.toml pool destroy --force"
[ -e "$st/lock" ] || [ -d "$st" ] || fail "root_path not used as the state directory"
ok ts prepare base
# base_image_size from the file: the device is 64 MiB
src=$(ts mounts /t base | awk '{print $4}')
[ -b "$src" ] || fail "no device $src"
assert_eq "$(blockdev --getsize64 "$src")" "67108864" "base_image_size from the file"
ok ts rm base

# space floors from the environment: metadata is never 100% free; 0 turns the floor off
THINSNAP_MIN_FREE_METADATA_PERCENT=100 rc ts prepare floored
assert_eq "$rc" 1 "metadata floor"
assert_contains "$T/err" "^thinsnap: prepare floored: pool '$pool': .*% of metadata space free (.* of .*), below the 100% floor"
THINSNAP_MIN_FREE_DATA_PERCENT=0 THINSNAP_MIN_FREE_METADATA_PERCENT=0 ok ts prepare floored
ok ts rm floored
ts pool status > "$T/status"
assert_contains "$T/status" "^floors: *new snapshots need 10% of data and 10% of metadata free$"
assert_eq "$(THINSNAP_MIN_FREE_DATA_PERCENT=25 ts pool status --json | jq -c .floors)" \
	'{"data_free_percent":25,"metadata_free_percent":10}' "floors in pool status --json"
THINSNAP_MIN_FREE_DATA_PERCENT=101 rc ts ls
assert_eq "$rc" 1 "bad percentage"
assert_contains "$T/err" "bad percentage '101' (0 to 100)"

# env beats the file, the flag beats env: name a pool that does not exist and see it named
THINSNAP_POOL=envpool$$ rc ts pool status
assert_eq "$rc" 1 "env pool"
assert_contains "$T/err" "^thinsnap: pool status envpool$$: "
THINSNAP_POOL=envpool$$ rc "$THINSNAP" --config "$T/containerd.toml" --pool flagpool$$ pool status
assert_contains "$T/err" "^thinsnap: pool status flagpool$$: "
# THINSNAP_CONFIG names the file when --config is absent
THINSNAP_CONFIG="$T/containerd.toml" "$THINSNAP" pool status --json | jq -e ".name == \"$pool\"" \
	> /dev/null || fail "THINSNAP_CONFIG not used"
# a flag beats env for the state directory too
THINSNAP_STATE_DIR="$T/nowhere" rc "$THINSNAP" --state-dir "$st" --pool "$pool" ls -q
assert_eq "$rc" 0 "--state-dir over THINSNAP_STATE_DIR"
echo "cli config: ok"
