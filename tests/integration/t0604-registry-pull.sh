#!/bin/bash
# `ctr images pull --plain-http --snapshotter thinsnap` from a real registry on 127.0.0.1
# (Debian's docker-registry; the image is built here from busybox-static and pushed with
# skopeo) unpacks the layer onto thinsnap (a view reads the file back) and `ctr run` runs a
# command in it, leaving no active snapshot behind.
# CONTAINERD=2 runs it on containerd 2.x (t0614).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/registry-lib.sh"

busybox_oci "$T/oci" t0604:1 "pulled for t0604"
start_registry
push_oci "$T/oci" t0604:1
start_thinsnapd
start_containerd
ref=$REGISTRY/t0604:1
start=$(date +%s.%N)
if ! c images pull --plain-http --snapshotter thinsnap "$ref" > "$T/pull.out" 2>&1; then
	cat "$T/pull.out"
	tail -n 20 "$T/containerd.log"
	fail "ctr images pull"
fi
printf 'pull: %.2fs\n' "$(echo "$(date +%s.%N) - $start" | bc)"
c images ls > "$T/images"
assert_contains "$T/images" "$ref"
s ls > "$T/ls"
cat "$T/ls"
assert_contains "$T/ls" "sha256:$layer.*Committed"
# The unpacked layer is the image's: a view of it reads the file back.
mkdir "$T/v"
s view t0604-view "sha256:$layer" > /dev/null
c snapshots --snapshotter thinsnap mounts "$T/v" t0604-view | sh
at_exit "umount -l $T/v"
assert_eq "$(cat "$T/v/etc/motd")" "pulled for t0604" "motd in the pulled layer"
umount "$T/v"
ok s rm t0604-view

require_runc "pulled onto thinsnap; "
ctr_run_motd "$ref" "pulled for t0604"
stop_thinsnapd
echo "t0604: pull from $REGISTRY + run on thinsnap ok (containerd $ctrd_version)"
