#!/bin/bash
# Enforces the folder boundaries of STYLE.md: only dm/ includes libdevmapper or calls dm_*,
# only mkfs/ includes ext2fs/blkid, nothing in the product runs dmsetup, and each folder
# includes only the private headers of the folders below it (the include matrix).
set -u
cd "$(dirname "$0")/.."
bad=0
src=$(git ls-files '*.c' '*.h' | grep -vE '^(tests|bench)/')
for f in $src; do
	case "$f" in
	dm/*) ;;
	*) if grep -nE '#include <libdevmapper.h>|\bdm_(task|tree|udev|lib|get|set|log|thin|is|cookie|mknodes|hold|report|dump|malloc|free|pool|zalloc)[a-z_]*\(' "$f"; then
		echo "check-deps: $f uses libdevmapper outside dm/"; bad=1
	fi ;;
	esac
	case "$f" in
	mkfs/*) ;;
	*) if grep -nE '#include <(ext2fs/|blkid/)|\b(ext2fs|blkid)_[a-z_]+\(' "$f"; then
		echo "check-deps: $f uses libext2fs/libblkid outside mkfs/"; bad=1
	fi ;;
	esac
	if grep -nE '"dmsetup|dmsetup ' "$f" | grep -v '^\s*[0-9]*:\s*[/ ]\*' ; then
		echo "check-deps: $f runs dmsetup"; bad=1
	fi
done
# The include matrix: which folders' private headers ("folder/x.h") each folder may include.
# Everything may include the public API (<thinsnap/...>). The library's layers only look down;
# the programs (cli/, daemon/) reach the library through include/thinsnap/ alone, plus the
# utilities in base/ and the configuration module they share (config/).
allowed_includes() {
	case "$1" in
	base) echo "base" ;;
	dm) echo "base dm" ;;
	mkfs) echo "base mkfs" ;;
	meta) echo "base meta" ;;
	pool) echo "base dm mkfs pool" ;;
	snap) echo "base meta mkfs pool snap" ;;
	unpack) echo "base unpack" ;;
	config) echo "base config" ;;
	cli) echo "base config cli" ;;
	daemon) echo "base config daemon" ;;
	stream) echo "base meta pool snap stream" ;;
	*) echo "?" ;;
	esac
}
for f in $src; do
	dir=${f%%/*}
	[ "$dir" = include ] && continue
	allowed=$(allowed_includes "$dir")
	if [ "$allowed" = "?" ]; then
		echo "check-deps: $f: folder '$dir' has no row in the include matrix"; bad=1; continue
	fi
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z0-9_-]*\)\/.*/\1/p' "$f" | sort -u); do
		case " $allowed " in
		*" $inc "*) ;;
		*) echo "check-deps: $f includes from $inc/, which $dir/ may not (may: $allowed)"; bad=1 ;;
		esac
	done
done
[ "$bad" = 0 ] && echo "check-deps: ok"
exit "$bad"
