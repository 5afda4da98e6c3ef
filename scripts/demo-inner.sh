#!/bin/bash
# The main job, run by scripts/demo.sh where dm-thin works: the snapshot lifecycle through
# `thinsnap` on the embedded default (a loop-file pool in the default state directory, created
# on first use): prepare, write, commit, view, tree, usage, remove.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PWD/build/release:$PATH"
state=${THINSNAP_STATE_DIR:-/var/lib/thinsnap}
fresh=0
[ -e "$state/pool/identity" ] || fresh=1
mnt=$(mktemp -d /tmp/thinsnap-demo.XXXXXX)
cleanup() {
	umount "$mnt/app" "$mnt/look" 2> /dev/null || true
	thinsnap rm demo-look demo-app demo-app-v1 demo-base demo-base-v1 > /dev/null 2>&1 || true
	if [ "$fresh" = 1 ]; then thinsnap pool destroy --force > /dev/null 2>&1 || true; fi
	rm -rf "$mnt"
}
trap cleanup EXIT
mkdir "$mnt/app" "$mnt/look"
run() { echo "\$ $*"; "$@"; }

run thinsnap prepare demo-base          # the first use creates the pool
run thinsnap commit demo-base-v1 demo-base
run thinsnap prepare --target "$mnt/app" demo-app demo-base-v1
echo "hello from a thin snapshot" > "$mnt/app/hello"
run umount "$mnt/app"
run thinsnap commit demo-app-v1 demo-app
run thinsnap view --target "$mnt/look" demo-look demo-app-v1
run cat "$mnt/look/hello"
run umount "$mnt/look"
run thinsnap ls
run thinsnap tree
run thinsnap usage
run thinsnap pool status
run thinsnap check
run thinsnap rm demo-look demo-app-v1 demo-base-v1
echo "demo: ok"
