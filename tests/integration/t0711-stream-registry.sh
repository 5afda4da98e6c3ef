#!/bin/bash
# Snapshot streams through an OCI registry (Debian's docker-registry on 127.0.0.1): push a
# whole and an incremental stream from pool A, pull them on pool B and mount them
# bit-identical; pulling the incremental stream with its base already on B fetches only its
# own blobs (counted in the registry's access log); on a third pool, pulling it alone pulls
# its base first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stream-lib.sh"
. "$(dirname "$0")/registry-lib.sh"
require_thin
command -v jq > /dev/null || skip "no jq"
export THINSNAP_BASE_IMAGE_SIZE=320M
ta() { "$THINSNAP" --state-dir "$T/a" --pool "tsra$$" "$@"; }
tb() { "$THINSNAP" --state-dir "$T/b" --pool "tsrb$$" "$@"; }
tc() { "$THINSNAP" --state-dir "$T/c" --pool "tsrc$$" "$@"; }
blob_gets() { grep -c "\"GET /v2/snaps/blobs/sha256:" "$T/registry/log" || true; }

start_registry
for p in a b c; do
	ok "t$p" pool create --data-size 1G --metadata-size 16M
	at_exit "$THINSNAP --state-dir $T/$p --pool tsr$p$$ pool destroy --force"
done
mkdir "$T/mnt"
at_exit "umount -l $T/mnt"

ok ta prepare --target "$T/mnt" base-w
head -c 20M /dev/urandom > "$T/mnt/big"
umount "$T/mnt"
ok ta commit base base-w
ok ta prepare --target "$T/mnt" app-w base
dd if=/dev/urandom of="$T/mnt/big" bs=1M count=2 seek=5 conv=notrunc status=none
echo hello > "$T/mnt/hello"
umount "$T/mnt"
ok ta commit app app-w
want_base=$(view_sum ta base)
want_app=$(view_sum ta app)

# push: the incremental one needs its base there first
nok ta push -i base app "$REGISTRY/snaps:app"
assert_contains "$T/last.err" "push it first"
ok ta push base "$REGISTRY/snaps:base" > "$T/base.digest"
ok ta push -i base app "$REGISTRY/snaps:app" > "$T/app.digest"
curl -fsS -H "Accept: application/vnd.oci.image.manifest.v1+json" \
	"http://$REGISTRY/v2/snaps/manifests/app" > "$T/app.json"
assert_eq "$(jq -r '.annotations["org.thinsnap.stream.base-manifest"]' "$T/app.json")" \
	"$(cat "$T/base.digest")" "the incremental manifest names its base's"
n_app=$(jq '.layers | length' "$T/app.json")
n_base=$(curl -fsS -H "Accept: application/vnd.oci.image.manifest.v1+json" \
	"http://$REGISTRY/v2/snaps/manifests/base" | jq '.layers | length')
[ "$n_base" -ge 3 ] || fail "a 20 MiB whole stream in $n_base blobs"

# B: base, then app on it: only app's blobs travel
ok tb pull "$REGISTRY/snaps:base" base
assert_eq "$(view_sum tb base)" "$want_base" "base pulled"
before=$(blob_gets)
tb pull "$REGISTRY/snaps:app" app 2> "$T/pull.err" || { cat "$T/pull.err"; fail "pull app"; }
after=$(blob_gets)
assert_eq "$((after - before))" "$n_app" "blobs fetched for the incremental pull"
assert_contains "$T/pull.err" "pull: $n_app blobs fetched"
assert_eq "$(tb info app | jq -r .parent)" base "app's parent on B"
assert_eq "$(view_sum tb app)" "$want_app" "app pulled"
assert_eq "$(tb info app | jq -r .id)" "$(ta info app | jq -r .id)" "app's id"
ok tb check > /dev/null

# C: the incremental one alone brings its base along
ok tc pull "$REGISTRY/snaps:app" app2
assert_eq "$(tc list -q | sort | tr '\n' ' ')" "app2 base " "pool C's keys"
assert_eq "$(view_sum tc app2)" "$want_app" "app pulled with its base"
ok tc check > /dev/null
echo "stream registry push/pull: ok"
