#!/bin/bash
# An OCI image built here (busybox-static) imported with `ctr images import --snapshotter
# thinsnap` unpacks onto thinsnap, and `ctr run --snapshotter thinsnap` runs a command in it
# when runc works. With the fake daemon, snapshots are directories (THINSNAP_FAKE_BIND=1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
[ -x /bin/busybox ] || skip "no busybox-static"
export THINSNAP_FAKE_BIND=1

# The image: one uncompressed layer with busybox and a few links, an OCI layout archive.
img=$T/img
mkdir -p "$img/rootfs/bin" "$img/rootfs/etc" "$img/rootfs/proc" "$img/rootfs/sys" \
	"$img/rootfs/dev" "$img/rootfs/tmp" "$img/oci/blobs/sha256"
cp /bin/busybox "$img/rootfs/bin/busybox"
for l in sh echo cat ls; do ln -s busybox "$img/rootfs/bin/$l"; done
echo "made for t0603" > "$img/rootfs/etc/motd"
tar -C "$img/rootfs" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$img/layer.tar" .
blob() { # FILE -> digest hex; copies the file into the layout
	local h
	h=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$img/oci/blobs/sha256/$h"
	echo "$h"
}
size() { stat -c %s "$1"; }
layer=$(blob "$img/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$layer" > "$img/config.json"
config=$(blob "$img/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
	"$config" "$(size "$img/config.json")" "$layer" "$(size "$img/layer.tar")" > "$img/manifest.json"
manifest=$(blob "$img/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"docker.io/library/t0603:1","org.opencontainers.image.ref.name":"1"}}]}' \
	"$manifest" "$(size "$img/manifest.json")" > "$img/oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$img/oci/oci-layout"
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
command -v runc > /dev/null || skip "image unpacked onto thinsnap; no runc for ctr run"
# runc needs a cgroup hierarchy; the user-mode-linux boot mounts none.
if ! grep -q ' - cgroup2\? ' /proc/self/mountinfo; then
	mkdir -p /sys/fs/cgroup
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2> /dev/null ||
		skip "image unpacked onto thinsnap; no cgroup for ctr run"
	at_exit "umount /sys/fs/cgroup"
fi
if ! c run --rm --snapshotter thinsnap docker.io/library/t0603:1 t0603c /bin/cat /etc/motd \
	> "$T/run.out" 2> "$T/run.err"; then
	cat "$T/run.err"
	tail -n 20 "$T/containerd.log"
	fail "ctr run failed"
fi
assert_eq "$(cat "$T/run.out")" "made for t0603" "output of the container"
# The container's active snapshot is gone with --rm; the image's layer stays.
s ls > "$T/ls"
assert_eq "$(grep -c Active "$T/ls" || true)" 0 "active snapshots left"
stop_thinsnapd
echo "t0603: import + run on thinsnap ok"
