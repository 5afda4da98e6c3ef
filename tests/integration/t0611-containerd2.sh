#!/bin/bash
# t0601 (every `ctr snapshots` verb, containerd's error codes, a clean SIGTERM) against Debian
# sid's containerd 2.x (scripts/containerd-fetch.sh puts it in build/cache) with a version 3
# config; skipped with the fetch's reason when the archive couldn't be reached.
export CONTAINERD=2
exec bash "$(dirname "$0")/t0601-containerd.sh"
