#!/bin/sh
# Installs every Debian package thinsnap needs to build, test and run, idempotently:
# nothing is fetched when all are present. Run as root (CI and the README commands call it).
set -eu

# libacl1-dev libzstd-dev liblz4-dev: `pkg-config --static libarchive` names them, and
# `make check-pc` links libthinsnap.a the way a static user does.
PKGS="build-essential pkg-config libdevmapper-dev libblkid-dev libext2fs-dev libcmocka-dev libjansson-dev jq
      comerr-dev e2fsprogs dmsetup thin-provisioning-tools user-mode-linux busybox-static
      clang libclang-rt-14-dev util-linux kmod bc libarchive-dev libssl-dev zstd xfsprogs
      libacl1-dev libzstd-dev liblz4-dev libcurl4-openssl-dev
      libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
      golang-github-containerd-containerd-dev golang-go containerd runc curl gnuplot-nox
      docker-registry skopeo lvm2"

# containerd 2.x from sid into build/cache, for the tests (they skip without it)
"$(dirname "$0")/containerd-fetch.sh" || echo "setup: containerd 2.x not fetched" >&2

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "setup: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
