#!/bin/sh
# Builds the CRI test client (tests/cri/*.go) offline, in GOPATH mode, with Debian 12's Go 1.19,
# grpc 1.33 and protobuf 1.28 from /usr/share/gocode, and the CRI API's generated messages from
# sid's golang-k8s-cri-api-dev (scripts/containerd-fetch.sh puts it in build/cache/cri-api).
# Two changes make that code build here: its unsafe.Slice(unsafe.StringData(s), len(s)) (Go
# 1.20) becomes []byte(s), and its gRPC stubs (they need grpc >= 1.64) are left out: the client
# calls ClientConn.Invoke with the method names.
# Usage: tests/cri/build.sh OUT_BINARY      (exit 0 without building when the API isn't fetched)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/cri/thinsnap-cri}
case $out in /*) ;; *) out=$PWD/$out ;; esac
src=${THINSNAP_CACHE:-$top/build/cache}/cri-api/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1
if [ ! -f "$src/api.pb.go" ]; then
	echo "cri: no CRI API in $src (scripts/containerd-fetch.sh): client not built" >&2
	exit 0
fi
gopath=$top/build/cri/go-path
dst=$gopath/src/k8s.io/cri-api/pkg/apis/runtime/v1
mkdir -p "$dst" "$(dirname "$out")" "$top/build/go-cache"
sed -e 's/unsafe\.Slice(unsafe\.StringData(\([A-Za-z0-9_]*\)), len([A-Za-z0-9_]*))/[]byte(\1)/g' \
	-e '/^\tunsafe "unsafe"$/d' "$src/api.pb.go" > "$dst/api.pb.go"
cp "$src/constants.go" "$dst/"
export GO111MODULE=off GOFLAGS=-buildvcs=false GOPROXY=off
export GOPATH="$gopath:/usr/share/gocode" GOCACHE="$top/build/go-cache"
cd "$top/tests/cri"
exec go build -o "$out" .
