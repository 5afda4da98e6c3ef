#!/bin/sh
# Builds ctrbench offline: GOPATH mode over Debian's Go sources in /usr/share/gocode/src.
# build.sh [OUT [PACKAGE_DIR]]: another bench/ Go program (bench/scale) the same way.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/release/bench/ctrbench}
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$(dirname "$out")" "$top/build/go-cache"
export GO111MODULE=off GOFLAGS=-buildvcs=false GOPROXY=off
export GOPATH="$top/build/go-path:/usr/share/gocode" GOCACHE="$top/build/go-cache"
cd "$top/${2:-bench/ctrbench}"
exec go build -o "$out" .
