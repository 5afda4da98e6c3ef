#!/bin/sh
# Builds containerd's snapshotter conformance suite against thinsnapd offline: GOPATH mode over
# the Go sources Debian's golang-*-dev packages install in /usr/share/gocode/src.
# Usage: tests/conformance/build.sh OUT_BINARY
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/conformance/thinsnap-suite.test}
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$(dirname "$out")" "$top/build/go-cache" "$top/build/go-path"
export GO111MODULE=off GOFLAGS=-buildvcs=false GOPROXY=off
export GOPATH="$top/build/go-path:/usr/share/gocode" GOCACHE="$top/build/go-cache"
cd "$top/tests/conformance"
exec go test -c -o "$out" .
