#!/bin/bash
# thinsnap unpack on a loop-file pool: a three-layer OCI image (busybox-static plus trees with
# every entry type, whiteouts and opaque dirs; gzip, zstd and plain layers) is unpacked and
# compared file by file with a reference extraction done with tar; again from an oci-archive
# tar (all layers present); a malicious layer stays inside its snapshot; a digest mismatch
# commits nothing; a killed unpack leaves no mount (the library's own mount namespace) and
# nothing committed half-way, and check stays clean.
. "$(dirname "$0")/lib.sh"
require_thin
for t in jq zstd python3 sha256sum; do command -v $t > /dev/null || skip "no $t"; done
[ -x /bin/busybox ] || skip "no busybox-static"
st="$T/state"
pool=tsunp$$
TS=$THINSNAP
ts() { "$TS" --state-dir "$st" --pool "$pool" "$@"; }

ok ts pool create --data-size 1G --metadata-size 16M
at_exit "$TS --state-dir $st --pool $pool pool destroy --force"

sha() { sha256sum "$1" | cut -d' ' -f1; }
TAR() { tar --numeric-owner --xattrs --xattrs-include='*' --format=pax --sort=name "$@"; }

# mk_image DIR LAYER... : an OCI layout of the given layer blobs (compression by suffix)
mk_image() {
	local dir=$1 l mt diff dg ids="" descs="" cfg m
	shift
	mkdir -p "$dir/blobs/sha256"
	for l in "$@"; do
		case $l in
		*.gz) mt=application/vnd.oci.image.layer.v1.tar+gzip; diff=$(gzip -dc "$l" | sha256sum | cut -d' ' -f1) ;;
		*.zst) mt=application/vnd.oci.image.layer.v1.tar+zstd; diff=$(zstd -dc "$l" | sha256sum | cut -d' ' -f1) ;;
		*) mt=application/vnd.oci.image.layer.v1.tar; diff=$(sha "$l") ;;
		esac
		dg=$(sha "$l")
		cp "$l" "$dir/blobs/sha256/$dg"
		ids="$ids${ids:+,}\"sha256:$diff\""
		descs="$descs${descs:+,}{\"mediaType\":\"$mt\",\"digest\":\"sha256:$dg\",\"size\":$(stat -c %s "$l")}"
	done
	printf '{"architecture":"%s","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')" "$ids" > "$dir/config"
	cfg=$(sha "$dir/config")
	mv "$dir/config" "$dir/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$cfg" "$(stat -c %s "$dir/blobs/sha256/$cfg")" "$descs" > "$dir/manifest"
	m=$(sha "$dir/manifest")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$m" "$(stat -c %s "$dir/manifest")" > "$dir/index.json"
	mv "$dir/manifest" "$dir/blobs/sha256/$m"
	echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
}

# chain_of LAYER... : the top chain ID
chain_of() {
	local c="" d l
	for l in "$@"; do
		case $l in
		*.gz) d=sha256:$(gzip -dc "$l" | sha256sum | cut -d' ' -f1) ;;
		*.zst) d=sha256:$(zstd -dc "$l" | sha256sum | cut -d' ' -f1) ;;
		*) d=sha256:$(sha "$l") ;;
		esac
		if [ -z "$c" ]; then c=$d; else c=sha256:$(printf '%s %s' "$c" "$d" | sha256sum | cut -d' ' -f1); fi
	done
	echo "$c"
}

# ref_apply REF LAYER: the OCI rules in shell: whiteouts and opaque dirs, then extract
ref_apply() {
	local ref=$1 l=$2 x="$W/x.$$" f b
	rm -rf "$x" && mkdir "$x"
	case $l in *.gz) gzip -dc "$l" ;; *.zst) zstd -dc "$l" ;; *) cat "$l" ;; esac > "$W/plain.tar"
	TAR -xpf "$W/plain.tar" -C "$x"
	(cd "$x" && find . -name '.wh..wh..opq') | while read -r f; do
		find "$ref/$(dirname "$f")" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
	done
	(cd "$x" && find . -name '.wh.*' ! -name '.wh..wh..opq') | while read -r f; do
		b=$(basename "$f")
		rm -rf "${ref:?}/$(dirname "$f")/${b#.wh.}"
	done
	TAR -xpf "$W/plain.tar" -C "$ref" --exclude='.wh.*'
	rm -rf "$x"
}

# A listing of everything but contents: type, mode, owner, size, links, target, mtime, rdev
listing() {
	(cd "$1" && find . -path ./lost+found -prune -o -type d \
		-printf '%p %y %m %U:%G - %n %TY-%Tm-%Td+%TT\n' -o \
		-printf '%p %y %m %U:%G %s %n %l %TY-%Tm-%Td+%TT\n' | sed 's/\.[0-9]*$//' | sort)
	(cd "$1" && find . \( -type c -o -type b \) -exec stat -c '%n %t:%T' {} + | sort)
	(cd "$1" && python3 -c '
import os, sys
for root, dirs, files in os.walk("."):
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        for a in sorted(os.listxattr(p, follow_symlinks=False)):
            print(p, a, os.getxattr(p, a, follow_symlinks=False))' | sort)
}

compare() { # REF MOUNTED
	listing "$1" > "$T/ref.list"
	listing "$2" > "$T/got.list"
	diff -u "$T/ref.list" "$T/got.list" || fail "metadata differs"
	diff -r --no-dereference -x lost+found -x dev "$1" "$2" || fail "contents differ" # dev/: in the listing
}

# Trees, layers and the reference live on ext4 (device nodes, user xattrs, the snapshot's
# directory sizes), whatever the scratch filesystem is.
W="$T/w"
mkdir "$W"
make_loop wdev 2G
mkfs.ext4 -q -O ^has_journal "$wdev"
mount "$wdev" "$W"
at_exit "umount $W"
L="$W/layers"
mkdir -p "$L/1/bin" "$L/1/etc" "$L/1/a" "$L/1/d/sub" "$L/1/dev" "$L/1/opt" "$L/2/a" "$L/2/d" \
	"$L/2/etc" "$L/3/bin" "$L/3/e/f" "$L/3/opt"
cp /bin/busybox "$L/1/bin/busybox"
for app in sh ls cat; do ln -s busybox "$L/1/bin/$app"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$L/1/etc/passwd"
ln "$L/1/etc/passwd" "$L/1/etc/passwd.hard"
echo x > "$L/1/a/x"; echo y > "$L/1/a/y"; echo deep > "$L/1/d/sub/deep"; echo dd > "$L/1/d/f"
mknod "$L/1/dev/null" c 1 3; mknod "$L/1/dev/loop7" b 7 7; mkfifo "$L/1/dev/fifo"
chmod 0666 "$L/1/dev/null"
echo suid > "$L/1/opt/suid"; chmod 4755 "$L/1/opt/suid"; chown 1000:1001 "$L/1/opt/suid"
echo t > "$L/1/opt/attr"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.thinsnap", b"layer1")' "$L/1/opt/attr"
ln -s /etc/passwd "$L/1/opt/abs-link"
dd if=/dev/urandom of="$L/1/opt/big" bs=1M count=8 status=none
truncate -s 16M "$L/1/opt/sparse"; echo end >> "$L/1/opt/sparse"
# layer 2: whiteouts, an opaque dir, changed files
touch "$L/2/a/.wh.x" "$L/2/d/.wh..wh..opq"
echo new > "$L/2/d/new"; echo z > "$L/2/a/z"
echo "root:x:0:0:root:/root:/bin/ash" > "$L/2/etc/passwd"
# layer 3: whiteout a symlink and a whole dir, new nested dirs, a dir mode change
touch "$L/3/bin/.wh.ls" "$L/3/.wh.a"
echo f > "$L/3/e/f/g"; chmod 0700 "$L/3/e"
chmod 0711 "$L/3/opt"
find "$L" -exec touch -h -d '2024-01-02 03:04:05' {} +
(cd "$L/1" && TAR -cf - .) | gzip -n > "$T/l1.tar.gz"
(cd "$L/2" && TAR -cf - .) | zstd -q > "$T/l2.tar.zst"
(cd "$L/3" && TAR -cf "$T/l3.tar" .)
layers=("$T/l1.tar.gz" "$T/l2.tar.zst" "$T/l3.tar")
mk_image "$T/img" "${layers[@]}"
top=$(chain_of "${layers[@]}")

# ---- reference extraction ----
mkdir "$W/ref"
for l in "${layers[@]}"; do ref_apply "$W/ref" "$l"; done
[ -e "$W/ref/a" ] && fail "reference: a not whited out"
[ -e "$W/ref/d/sub" ] && fail "reference: opaque d kept sub"
rm -rf "$L"

# ---- unpack ----
ts unpack "$T/img" > "$T/out" || fail "unpack failed"
assert_eq "$(tail -n 1 "$T/out")" "$top" "last line is the top chain id"
assert_eq "$(grep -c ' committed$' "$T/out")" "3" "three layers committed"
assert_eq "$(ts ls -q | grep -c '^unpack-' || true)" "0" "no unpack keys left"
assert_eq "$(ts info "$top" | jq -r .kind)" "committed" "top is committed"
assert_eq "$(ts info "$top" | jq -r '.labels."containerd.io/snapshot.ref"')" "$top" "ref label"
mkdir "$T/v"
ok ts view --target "$T/v" v1 "$top"
at_exit "umount $T/v"
compare "$W/ref" "$T/v"
umount "$T/v"
ok ts remove v1

# the middle layer alone, too
mid=$(chain_of "${layers[0]}" "${layers[1]}")
rm -rf "$W/ref2" && mkdir "$W/ref2"
for l in "${layers[0]}" "${layers[1]}"; do ref_apply "$W/ref2" "$l"; done
ok ts view --target "$T/v" v2 "$mid"
compare "$W/ref2" "$T/v"
umount "$T/v"
ok ts remove v2

# ---- again, from an oci-archive tar, and --json: everything present ----
(cd "$T/img" && tar -cf "$T/img.tar" .)
ts unpack --json "$T/img.tar" > "$T/out.json" || fail "unpack of the archive failed"
assert_eq "$(jq -r .top "$T/out.json")" "$top" "json top"
assert_eq "$(jq -r '.layers | length' "$T/out.json")" "3" "json layers"
assert_eq "$(jq -r '.layers[0].chain_id' "$T/out.json")" "$(chain_of "${layers[0]}")" "json chain 0"
ts unpack "$T/img.tar" > "$T/out2"
assert_eq "$(grep -c ' present$' "$T/out2")" "3" "all layers present the second time"

# ---- a malicious layer stays inside ----
M="$T/evil"
mkdir -p "$M"
python3 - "$T/evil.tar" << 'EOF'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, typ=tarfile.REGTYPE, data=b"", link=""):
    i = tarfile.TarInfo(name); i.type = typ; i.linkname = link; i.size = len(data)
    i.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
    t.addfile(i, io.BytesIO(data) if data else None)
add("../../../../thinsnap-t0701-dotdot", data=b"dotdot")
add("/thinsnap-t0701-abs", data=b"abs")
add("evil", tarfile.SYMTYPE, link="/")
add("evil/thinsnap-t0701-symlink", data=b"through a symlink")
add("up", tarfile.SYMTYPE, link="../../../..")
add("up/tmp/thinsnap-t0701-up", data=b"up")
add("hl", tarfile.LNKTYPE, link="../../../../thinsnap-t0701-dotdot")
t.close()
EOF
mk_image "$T/evilimg" "$T/evil.tar"
ts unpack "$T/evilimg" > "$T/evil.out" 2> "$T/evil.err" || { cat "$T/evil.err"; fail "evil unpack"; }
for f in /thinsnap-t0701-dotdot /thinsnap-t0701-abs /thinsnap-t0701-symlink /tmp/thinsnap-t0701-up; do
	[ -e "$f" ] && { rm -f "$f"; fail "escaped to $f"; }
done
assert_eq "$(ts ls -q | grep -c '^unpack-' || true)" "0" "no unpack keys after the evil layer"
evil=$(chain_of "$T/evil.tar")
assert_eq "$(tail -n 1 "$T/evil.out")" "$evil" "evil layer committed"
ok ts view --target "$T/v" v3 "$evil"
assert_eq "$(cat "$T/v/thinsnap-t0701-symlink")" "through a symlink" "symlink target inside"
assert_eq "$(cat "$T/v/thinsnap-t0701-dotdot")" "dotdot" "dotdot inside"
assert_eq "$(cat "$T/v/thinsnap-t0701-abs")" "abs" "absolute inside"
assert_eq "$(cat "$T/v/tmp/thinsnap-t0701-up")" "up" "up/ inside"
assert_eq "$(stat -c %h "$T/v/hl")" "2" "hard link inside"
umount "$T/v"
ok ts remove v3

# ---- a digest mismatch commits nothing ----
mk_image "$T/bad" "$T/l1.tar.gz" "$T/l3.tar"
bad_top=$(chain_of "$T/l1.tar.gz" "$T/l3.tar")
# a valid layer, but not the one the manifest names
cp "$T/evil.tar" "$T/bad/blobs/sha256/$(sha "$T/l3.tar")"
ts ls -q | sort > "$T/before"
nok ts unpack "$T/bad"
assert_contains "$T/last.err" "digest"
ts ls -q | sort > "$T/after"
diff -u "$T/before" "$T/after" || fail "a failed unpack changed the snapshots"
ts check > "$T/check" || { cat "$T/check"; fail "check after a digest mismatch"; }

# ---- an interrupted unpack ----
mkdir -p "$W/big/data"
for i in 1 2 3 4; do dd if=/dev/urandom of="$W/big/data/f$i" bs=1M count=48 status=none; done
(cd "$W/big" && TAR -cf - .) | gzip -1 > "$W/big.tar.gz"
rm -rf "$W/big"
mk_image "$W/bigimg" "$W/big.tar.gz"
big=$(chain_of "$W/big.tar.gz")
rm -f "$W/big.tar.gz"
"$TS" --state-dir "$st" --pool "$pool" unpack "$W/bigimg" > /dev/null 2>&1 &
pid=$! # the unpack process itself, not a subshell
# killed while its layer is mounted: the library mounts in a mount namespace of its own (the
# command does nothing for that), so the mount is never ours and dies with the process
for _ in $(seq 1 2400); do
	grep -q thinsnap-unpack "/proc/$pid/mounts" 2> /dev/null && break
	kill -0 "$pid" 2> /dev/null || fail "the unpack ended before it could be killed"
	sleep 0.05
done
grep -q thinsnap-unpack "/proc/$pid/mounts" || fail "the unpack never mounted its layer"
[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
	fail "the unpack mounts in our mount namespace"
grep -q thinsnap-unpack /proc/self/mounts && fail "the unpack's mount is visible outside it"
kill -9 "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
grep -qs thinsnap-unpack /proc/[0-9]*/mounts && fail "a killed unpack left its mount behind"
assert_eq "$(ts ls -q | grep -c "^$big\$" || true)" "0" "nothing committed by the killed unpack"
ts check > "$T/check" || { cat "$T/check"; fail "check after a killed unpack"; }
ts unpack "$W/bigimg" > "$T/out3" || fail "unpack after a killed one"
assert_eq "$(tail -n 1 "$T/out3")" "$big" "the next unpack completes"
assert_eq "$(ts ls -q | grep -c '^unpack-' || true)" "0" "stale unpack key removed"
ts check > "$T/check" || { cat "$T/check"; fail "check at the end"; }
echo "unpack: ok"
