#!/bin/bash
# An OCI image built here (busybox-static) imported with `ctr images import --snapshotter
# thinsnap` unpacks onto thinsnap, and `ctr run --snapshotter thinsnap` runs a command in it
# when runc works. With the fake daemon, snapshots are directories (THINSNAP_FAKE_BIND=1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
export THINSNAP_FAKE_BIND=1

# The image: one uncompressed layer with busybox and a few links, an OCI layout archive.
img=$T/img
busybox_oci "$img/oci" docker.io/library/t0603:1 "made for t0603"
tar -C "$img/oci" -cf "$img/image.tar" oci-layout index.json blobs

start_thinsnapd
start_containerd
ok c images import --snapshotter thinsnap "$img/image.tar"
c images ls > "$T/images"
cat "$T/images"
assert_contains "$T/images" "docker.io/library/t0603:1"
# The layer was unpacked onto thinsnap: its committed snapshot carries the layer's diff id.
s ls > "$T/ls"
cat "$T/ls"
assert_contains "$T/ls" "sha256:$layer.*Committed"

# A container from it, if runc works here.
require_runc "image unpacked onto thinsnap; "
ctr_run_motd docker.io/library/t0603:1 "made for t0603"
stop_thinsnapd
echo "t0603: import + run on thinsnap ok (containerd $ctrd_version)"
