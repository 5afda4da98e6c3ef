#!/bin/bash
# The main job on the embedded default: installs what is missing, builds, then (in the VM when
# this kernel lacks dm-thin) runs scripts/demo-inner.sh on a loop-file-backed pool.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
make -j"$(nproc 2>/dev/null || echo 2)" all > /dev/null
exec ./scripts/dmrun --timeout 600 -- ./scripts/demo-inner.sh
