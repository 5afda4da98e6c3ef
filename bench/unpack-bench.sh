#!/bin/bash
# Unpack benchmark: a 4-layer image of >= 100 MiB (busybox-static, many small files,
# large random files, whiteouts), imported side by side in one boot by `thinsnap unpack` and by
# `ctr images import` onto containerd's devmapper and native snapshotters (containerd's
# overlayfs needs the overlay module, which Debian's user-mode-linux kernel lacks; where it is
# there, overlayfs is timed too). Run as root:
#   scripts/dmrun --timeout 1800 -- bench/unpack-bench.sh
# or, to build the image once outside the VM (slow there):
#   bench/unpack-bench.sh --make-image /var/tmp/bench.tar
#   scripts/dmrun --timeout 1800 -- bench/unpack-bench.sh --image /var/tmp/bench.tar
# Prints one line per contender: seconds, and the ratio to thinsnap.
set -eu
mode=all img=""
case ${1:-} in
--make-image) mode="make"; img=$2 ;;
--image) mode=run; img=$2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
THINSNAP=${THINSNAP:-$top/build/release/thinsnap}
. "$top/bench/lib.sh"
bench_scratch unpack-bench
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- the image ----
if [ "$mode" != run ]; then
mkdir -p "$B/l1/bin" "$B/l1/usr/share/small" "$B/l2/opt" "$B/l3/usr/lib/small" "$B/l4/opt" \
	"$B/img/blobs/sha256"
cp /bin/busybox "$B/l1/bin/busybox"
for a in sh ls cat cp mv rm; do ln -s busybox "$B/l1/bin/$a"; done
head -c 4096 /dev/urandom > "$B/seed"
for i in $(seq 1 3000); do cp "$B/seed" "$B/l1/usr/share/small/f$i"; done
head -c $((40 << 20)) /dev/urandom > "$B/l2/opt/big1"
head -c $((30 << 20)) /dev/urandom > "$B/l3/opt-big2"
for i in $(seq 1 2000); do cp "$B/seed" "$B/l3/usr/lib/small/g$i"; done
head -c $((30 << 20)) /dev/urandom > "$B/l4/opt/big3"
touch "$B/l4/opt/.wh.big1"
ids="" descs=""
for n in 1 2 3 4; do
	tar --numeric-owner -C "$B/l$n" -cf "$B/l$n.tar" .
	gzip -1 -c "$B/l$n.tar" > "$B/l$n.tar.gz"
	d=$(sha "$B/l$n.tar.gz")
	ids="$ids${ids:+,}\"sha256:$(sha "$B/l$n.tar")\""
	descs="$descs${descs:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$B/l$n.tar.gz")}"
	mv "$B/l$n.tar.gz" "$B/img/blobs/sha256/$d"
	rm -rf "$B/l$n" "$B/l$n.tar"
done
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$ids" > "$B/c"
c=$(sha "$B/c")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
	"$c" "$(stat -c %s "$B/c")" "$descs" > "$B/m"
mv "$B/c" "$B/img/blobs/sha256/$c"
m=$(sha "$B/m")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/library/bench:latest","org.opencontainers.image.ref.name":"latest"}}]}' \
	"$m" "$(stat -c %s "$B/m")" > "$B/img/index.json"
mv "$B/m" "$B/img/blobs/sha256/$m"
echo '{"imageLayoutVersion":"1.0.0"}' > "$B/img/oci-layout"
(cd "$B/img" && tar -cf "$B/img.tar" .)
if [ "$mode" = make ]; then
	mv "$B/img.tar" "$img"
	echo "image: $img, 4 layers, $(du -sm "$img" | cut -f1) MiB compressed"
	exit 0
fi
else
	cp "$img" "$B/img.tar"
fi
echo "image: 4 layers, $(du -sm "$B/img.tar" | cut -f1) MiB compressed"
sync

# ---- thinsnap ----
ts() { "$THINSNAP" --state-dir "$B/ts" --pool tsbench$$ "$@"; }
ts pool create --data-size 4G --metadata-size 64M > /dev/null
cleanups+=("$THINSNAP --state-dir $B/ts --pool tsbench$$ pool destroy --force")
ts prepare warm > /dev/null # the base device exists before timing, as for containerd's pool
ts remove warm > /dev/null
t0=$(now)
ts unpack -q "$B/img.tar" > /dev/null
t_ts=$(echo "$(now) - $t0" | bc)
echo "thinsnap unpack:            ${t_ts}s"

# ---- containerd ----
command -v containerd > /dev/null && command -v ctr > /dev/null || { echo "no containerd"; exit 0; }
run_ctd() { # NAME SNAPSHOTTER EXTRA_TOML
	local sn=$2 extra=$3 d="$B/ctd-$1" pid t0 t
	mkdir -p "$d"
	cat > "$d/config.toml" << EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/sock"
$extra
EOF
	containerd --config "$d/config.toml" > "$d/log" 2>&1 &
	pid=$!
	cleanups+=("kill $pid; wait $pid")
	for _ in $(seq 1 100); do [ -S "$d/sock" ] && break; sleep 0.2; done
	ctr -a "$d/sock" plugins ls 2> /dev/null | grep -Eq "snapshotter\.v1 +$sn +.* ok" ||
		{ echo "containerd $sn: snapshotter not ok"; tail -n 5 "$d/log"; return 0; }
	t0=$(now)
	ctr -a "$d/sock" -n bench images import --snapshotter "$sn" "$B/img.tar" > /dev/null ||
		{ echo "containerd $sn: import failed"; tail -n 5 "$d/log"; return 0; }
	t=$(echo "$(now) - $t0" | bc)
	printf 'ctr import (%s): %*s%ss  (thinsnap = %.2fx)\n' "$sn" $((14 - ${#sn})) "" "$t" \
		"$(echo "$t_ts / $t" | bc -l)"
}
if grep -q overlay /proc/filesystems || modprobe -q overlay 2> /dev/null; then
	run_ctd overlay overlayfs ""
fi
run_ctd native native ""
# containerd's devmapper on its own pool of the same shape
truncate -s 4G "$B/ctd-data"
truncate -s 64M "$B/ctd-meta"
dd_data=$(losetup --find --show "$B/ctd-data")
cleanups+=("losetup -d $dd_data")
dd_meta=$(losetup --find --show "$B/ctd-meta")
cleanups+=("losetup -d $dd_meta")
dd if=/dev/zero of="$dd_meta" bs=4096 count=1 status=none
dmsetup create ctdbench$$ --table "0 $((4 << 21)) thin-pool $dd_meta $dd_data 128 32768 1 skip_block_zeroing"
cleanups+=("dmsetup remove ctdbench$$")
cleanups+=("dmsetup ls | grep -o '^ctdbench$$-[^ 	]*' | xargs -r -n1 dmsetup remove")
run_ctd devmapper devmapper "[plugins.\"io.containerd.snapshotter.v1.devmapper\"]
  pool_name = \"ctdbench$$\"
  root_path = \"$B/ctd-devmapper/dm\"
  base_image_size = \"1GB\"
  async_remove = false"
