#!/bin/sh
# Fetches the newest containerd 2.x that Debian's archive offers (sid), and the CRI API's Go
# code, into a cache folder for the version-matrix tests: `apt-get download` through a private
# source list and package lists, then `dpkg -x`. Nothing is installed system-wide.
#
#   scripts/containerd-fetch.sh [CACHE]     (default build/cache; THINSNAP_CACHE overrides)
#
# Leaves CACHE/containerd2/usr/bin/{containerd,ctr,containerd-shim-runc-v2} and
# CACHE/cri-api/usr/share/gocode/src/k8s.io/cri-api. When the archive can't be reached it prints
# why, writes the reason to CACHE/containerd2.skip (the tests skip with it) and exits 0.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${THINSNAP_CACHE:-$top/build/cache}}
mirror=${THINSNAP_SID_MIRROR:-http://deb.debian.org/debian}
pkgs="containerd golang-k8s-cri-api-dev"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
apt_dir=$cache/apt
if [ -x "$cache/containerd2/usr/bin/containerd" ] && [ -d "$cache/cri-api/usr/share/gocode" ]; then
	exit 0 # fetched before
fi

skip() {
	echo "containerd-fetch: skipped: $*" >&2
	echo "$*" > "$cache/containerd2.skip"
	exit 0
}

mkdir -p "$apt_dir/lists/partial" "$apt_dir/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" \
	> "$apt_dir/sid.list"
# Only the private list is read, and the package caches are not written: the system's apt
# state stays as it was.
set -- -o "Dir::Etc::sourcelist=$apt_dir/sid.list" -o "Dir::Etc::sourceparts=-" \
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::pkgcache=" \
	-o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root"
if ! apt-get "$@" -qq update > "$apt_dir/update.log" 2>&1 ||
	grep -qE '^(W|E): .*(Failed to fetch|Could not resolve|Temporary failure)' "$apt_dir/update.log"; then
	skip "Debian's archive ($mirror sid) can't be reached: $(grep -E '^(W|E):' "$apt_dir/update.log" | head -n 1)"
fi
(cd "$apt_dir/debs" && rm -f ./*.deb && apt-get "$@" -qq download $pkgs) > "$apt_dir/download.log" 2>&1 ||
	skip "apt-get download $pkgs from sid failed: $(grep -E '^(W|E):' "$apt_dir/download.log" | head -n 1)"

extract() { # PACKAGE DIR
	rm -rf "$cache/$2.new"
	dpkg -x "$apt_dir"/debs/"$1"_*.deb "$cache/$2.new"
	rm -rf "${cache:?}/$2"
	mv "$cache/$2.new" "$cache/$2"
}
extract containerd containerd2
extract golang-k8s-cri-api-dev cri-api
rm -f "$cache/containerd2.skip"
echo "containerd-fetch: $("$cache/containerd2/usr/bin/containerd" --version) in $cache/containerd2" >&2
