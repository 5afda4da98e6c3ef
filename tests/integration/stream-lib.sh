# Helpers for the snapshot stream tests (t07NN): source after lib.sh.
#   view_sum TS KEY   the tree_sum of committed KEY read through a view on the pool that the
#                     shell function TS drives (mounted at $T/mnt, then removed)
view_sum() {
	$1 view --target "$T/mnt" "look-$2" "$2" > /dev/null || fail "view of $2"
	tree_sum "$T/mnt"
	umount "$T/mnt"
	$1 rm "look-$2" > /dev/null
}
