#!/bin/bash
# thinsnap unpack onto a full thin volume: a layer larger than the 64 MiB base fails with
# "No space left on device", nothing is committed (not even the layer's key), check stays
# clean, and a layer that fits still unpacks on the same pool afterwards.
. "$(dirname "$0")/lib.sh"
require_thin
command -v sha256sum > /dev/null || skip "no sha256sum"
st="$T/state"
pool=tsful$$
ts() { THINSNAP_BASE_IMAGE_SIZE=64M "$THINSNAP" --state-dir "$st" --pool "$pool" "$@"; }

ok ts pool create --data-size 512M --metadata-size 16M
at_exit "$THINSNAP --state-dir $st --pool $pool pool destroy --force"

sha() { sha256sum "$1" | cut -d' ' -f1; }
# mk_image DIR LAYER.tar.gz : a one-layer OCI layout
mk_image() {
	local dir=$1 l=$2 dg diff cfg m
	mkdir -p "$dir/blobs/sha256"
	dg=$(sha "$l")
	diff=$(gzip -dc "$l" | sha256sum | cut -d' ' -f1)
	cp "$l" "$dir/blobs/sha256/$dg"
	printf '{"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" > "$dir/c"
	cfg=$(sha "$dir/c")
	mv "$dir/c" "$dir/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
		"$cfg" "$dg" "$(stat -c %s "$l")" > "$dir/m"
	m=$(sha "$dir/m")
	mv "$dir/m" "$dir/blobs/sha256/$m"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":1}]}' \
		"$m" > "$dir/index.json"
	echo "sha256:$diff"
}

# 96 MiB of zeros: a tiny gzip blob that does not fit a 64 MiB volume
mkdir -p "$T/big"
dd if=/dev/zero of="$T/big/zeros" bs=1M count=96 status=none
tar -C "$T/big" -cf - . | gzip -1 > "$T/big.tar.gz"
rm -rf "$T/big"
big=$(mk_image "$T/bigimg" "$T/big.tar.gz")

nok ts unpack "$T/bigimg"
assert_contains "$T/last.err" "No space left on device"
assert_eq "$(ts ls -q | grep -c -e "^$big\$" -e '^unpack-' || true)" "0" "nothing committed"
ts check > "$T/check" || { cat "$T/check"; fail "check after a full volume"; }

# the pool is still usable
mkdir -p "$T/small"
echo small > "$T/small/f"
tar -C "$T/small" -cf - . | gzip > "$T/small.tar.gz"
small=$(mk_image "$T/smallimg" "$T/small.tar.gz")
ts unpack "$T/smallimg" > "$T/out" || fail "a small layer after the full one"
assert_eq "$(tail -n 1 "$T/out")" "$small" "small layer committed"
ts check > "$T/check" || { cat "$T/check"; fail "check at the end"; }


# on a terminal: a progress bar (bytes and rate) on stderr, the top chain ID last
if command -v script > /dev/null; then
	echo tty > "$T/small/g"
	tar -C "$T/small" -cf - . | gzip > "$T/tty.tar.gz"
	tty=$(mk_image "$T/ttyimg" "$T/tty.tar.gz")
	THINSNAP_BASE_IMAGE_SIZE=64M script -qec \
		"$THINSNAP --state-dir $st --pool $pool unpack $T/ttyimg" /dev/null > "$T/tty.out" ||
		{ cat "$T/tty.out"; fail "unpack on a terminal"; }
	assert_contains "$T/tty.out" "layer 1/1 \[#*\] .* B / .* B  .*/s"
	assert_contains "$T/tty.out" "layer 1/1 $tty committed"
	assert_eq "$(tail -n 1 "$T/tty.out" | tr -d '\r')" "$tty" "top chain id last on a terminal"
fi
echo "unpack-full: tty ok"
