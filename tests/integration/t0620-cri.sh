#!/bin/bash
# The path Kubernetes takes, on containerd 2.x from sid (build/cache) with its CRI plugin on
# and `snapshotter = "thinsnap"`: a CRI v1 client (tests/cri) pulls a pause image and a busybox
# image (both built here from busybox-static) from a registry on 127.0.0.1, runs a
# host-network pod sandbox (no CNI) and a container in it, execs in it, reads ContainerStats
# (the writable layer counts the container's own inodes, not its image's) and ImageFsInfo (the
# image filesystem's mount point exists and reports the capacity of the filesystem holding the
# pool), stops and removes everything; then the pool holds only the two images' layers.
# Prints the timings from pod start to container running.
export CONTAINERD=2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/registry-lib.sh"
cri=$TOP/build/release/tests/thinsnap-cri
[ -x "$cri" ] || skip "no $cri (make daemon builds it once scripts/containerd-fetch.sh ran)"
require_runc "CRI: "

busybox_oci "$T/pause" pause:1 "the pause image" '"/bin/sleep","100000"'
pause_layer=$layer
busybox_oci "$T/img" t0620:1 "made for t0620"
start_registry
push_oci "$T/pause" pause:1
push_oci "$T/img" t0620:1
mkdir -p "$T/certs.d/$REGISTRY" "$T/cni"
printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
	"$REGISTRY" "$REGISTRY" > "$T/certs.d/$REGISTRY/hosts.toml"

start_thinsnapd
# kubelet reads the capacity of the image filesystem that ImageFsInfo names,
# <containerd root>/io.containerd.snapshotter.v1.thinsnap: a bind mount of the folder holding
# the pool's files makes it report the filesystem the pool lives on (docs/containerd.md).
imagefs=$T/ctrd/root/io.containerd.snapshotter.v1.thinsnap
mkdir -p "$imagefs"
mount --bind "$T/state/pool" "$imagefs"
at_exit "umount -l $imagefs"

export CTRD_CRI=1 CTRD_GC_DELAY=0s
CTRD_EXTRA="  [plugins.'io.containerd.cri.v1.images']
    snapshotter = \"thinsnap\"
    stats_collect_period = 1
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = \"$REGISTRY/pause:1\"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = \"$T/certs.d\"
  [plugins.'io.containerd.cri.v1.runtime']
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      conf_dir = \"$T/cni\"
      bin_dirs = [\"$T/cni\"]"
export CTRD_EXTRA
start_containerd
# On a failure: no task or mount left behind for the scratch removal to trip on (this runs
# before containerd is killed).
at_exit "grep -o ' $T/[^ ]*' /proc/mounts | sort -r | xargs -r -n 1 umount -l"
at_exit "ctr --address $T/ctrd.sock -n k8s.io tasks ls -q | xargs -r -n 1 ctr --address $T/ctrd.sock -n k8s.io tasks kill -s KILL"
if ! "$cri" -addr "$T/ctrd.sock" -image "$REGISTRY/t0620:1" -pause "$REGISTRY/pause:1" \
	-work "$T" > "$T/cri.out" 2> "$T/cri.err"; then
	cat "$T/cri.out" "$T/cri.err"
	grep -E 'level=(error|warn)' "$T/containerd.log" | tail -n 30
	fail "CRI client"
fi
cat "$T/cri.out"
assert_contains "$T/cri.out" "^motd made for t0620$"
# ImageFsInfo's capacity is the one of the filesystem that holds the pool.
want=$(stat -f -c '%b %S' "$T/state/pool" | awk '{printf "%.0f\n", $1 * $2}')
got=$(awk '$1 == "imagefs" {for (i = 2; i <= NF; i++) if ($i ~ /^capacity_bytes=/) print substr($i, 16)}' "$T/cri.out")
assert_eq "$got" "$want" "image filesystem capacity"

# Only the two images' layers stay in the pool once containerd's collector has run.
sk() { ctr --address "$T/ctrd.sock" --namespace k8s.io snapshots --snapshotter thinsnap "$@"; }
for _ in $(seq 1 150); do
	sk ls > "$T/ls"
	[ "$(awk 'NR > 1' "$T/ls" | grep -vc Committed || true)" = 0 ] && break
	sleep 0.2
done
cat "$T/ls"
assert_eq "$(awk 'NR > 1 {print $1}' "$T/ls" | sort | tr '\n' ' ')" \
	"$(printf 'sha256:%s\n' "$layer" "$pause_layer" | sort | tr '\n' ' ')" "snapshots left in containerd"
# The pool itself, as thinsnapd lists it.
ctr --address "$T/run/thinsnapd.sock" snapshots --snapshotter thinsnap ls > "$T/pool-ls"
cat "$T/pool-ls"
assert_eq "$(awk 'NR > 1 {print $NF}' "$T/pool-ls" | sort | uniq -c | awk '{print $1 " " $2}')" \
	"2 Committed" "snapshots in the pool"
stop_thinsnapd
echo "t0620: CRI on thinsnap ok (containerd $ctrd_version)"
