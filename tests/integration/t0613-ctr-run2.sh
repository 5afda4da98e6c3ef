#!/bin/bash
# t0603 (`ctr images import` onto thinsnap through the transfer service's unpack_config, then
# `ctr run`) against Debian sid's containerd 2.x from build/cache, version 3 config.
export CONTAINERD=2
exec bash "$(dirname "$0")/t0603-ctr-run.sh"
