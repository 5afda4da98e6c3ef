#!/bin/bash
# Enforces the folder boundaries of STYLE.md: only dm/ includes libdevmapper or calls dm_*,
# only mkfs/ includes ext2fs/blkid, and nothing in the product runs dmsetup.
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
[ "$bad" = 0 ] && echo "check-deps: ok"
exit "$bad"
