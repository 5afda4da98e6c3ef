#!/bin/bash
# t0604 (`ctr images pull --plain-http --snapshotter thinsnap` from a local registry, then
# `ctr run`) against Debian sid's containerd 2.x from build/cache, version 3 config.
export CONTAINERD=2
exec bash "$(dirname "$0")/t0604-registry-pull.sh"
