#!/bin/bash
# The other half of t0612: the 9 conformance cases on file contents, ownership, permissions
# and mounts (layer file updates, deletions and moves across layers, chown, 128 layers)
# through containerd 2.x to thinsnapd.
export CONTAINERD=2 SUITE_PART=files
exec bash "$(dirname "$0")/t0602-conformance.sh"
