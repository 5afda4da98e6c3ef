#!/bin/sh
# Builds snapdrive offline: GOPATH mode over Debian's Go sources in /usr/share/gocode/src.
# Usage: tests/snapdrive/build.sh [OUT_BINARY]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/release/tests/snapdrive}
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$(dirname "$out")" "$top/build/go-cache" "$top/build/go-path"
export GO111MODULE=off GOFLAGS=-buildvcs=false GOPROXY=off
export GOPATH="$top/build/go-path:/usr/share/gocode" GOCACHE="$top/build/go-cache"
cd "$top/tests/snapdrive"
exec go build -o "$out" .
