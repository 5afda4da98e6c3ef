# Helpers for the thinsnapd tests (t06NN): source after lib.sh.
#   start_thinsnapd      starts the daemon on $T/run/thinsnapd.sock (sets $dpid, $daemon):
#                        the real build/release/thinsnapd on a pool that `thinsnap pool
#                        create` makes on loop files under $T/state/pool; THINSNAPD may name
#                        another binary (build/release/thinsnapd-fake: in memory, no pool;
#                        THINSNAP_FAKE_BIND=1 backs snapshots with directories);
#                        THINSNAPD_ARGS adds options
#   start_containerd     a private containerd (own config, root, state and socket) with
#                        proxy_plugins.thinsnap; c ARGS runs ctr against it, s ARGS is
#                        `ctr snapshots --snapshotter thinsnap ARGS`
#   CONTAINERD=2         (set before sourcing) the tests run Debian sid's containerd 2.x that
#                        scripts/containerd-fetch.sh put in build/cache/containerd2, with a
#                        version 3 config; default: the system's containerd (Debian 12: 1.6)
#   CTRD_CRI=1           start_containerd leaves the CRI plugin on (2.x); CTRD_EXTRA is
#                        appended to the config; CTRD_GC_DELAY (default 1h) is the garbage
#                        collector's startup and schedule delay, and with it set, every
#                        deletion triggers a collection
#   require_runc         skips unless runc can run a container here (mounts cgroup2 if absent)
#   ctr_run_motd REF WANT  `ctr run --rm` of REF on thinsnap prints WANT from /etc/motd, and
#                        leaves no active snapshot
#   busybox_oci DIR NAME TEXT [CMD]  an OCI layout in DIR: one uncompressed busybox-static
#                        layer with /etc/motd = TEXT, named NAME, CMD the JSON array's items
#                        (default "/bin/sh"); sets $layer (its digest hex)
if [ "${CONTAINERD:-}" = 2 ]; then
	ctrd2=${THINSNAP_CACHE:-$TOP/build/cache}/containerd2/usr/bin
	if [ ! -x "$ctrd2/containerd" ]; then
		why=$(cat "${ctrd2%/usr/bin}.skip" 2> /dev/null || echo "not fetched: run scripts/containerd-fetch.sh")
		skip "no containerd 2.x in ${ctrd2%/usr/bin}: $why"
	fi
	export PATH="$ctrd2:$PATH"
fi
command -v containerd > /dev/null || skip "no containerd"
command -v ctr > /dev/null || skip "no ctr"
ctrd_version=$(containerd --version | awk '{print $3}')
ctrd_major=${ctrd_version%%.*}
echo "containerd: $(command -v containerd) $ctrd_version"

fail() {
	echo "--- thinsnapd log (tail)"
	tail -n 40 "$T/thinsnapd.log" 2> /dev/null
	echo "FAIL: $*" >&2
	exit 1
}

start_thinsnapd() {
	daemon=${THINSNAPD:-$TOP/build/release/thinsnapd}
	[ -x "$daemon" ] || fail "no daemon binary '$daemon'"
	local args=(--state-dir "$T/state" --address "$T/run/thinsnapd.sock" --log-level info)
	# shellcheck disable=SC2206 # THINSNAPD_ARGS: more options, split on spaces
	args+=(${THINSNAPD_ARGS:-})
	mkdir -p "$T/state" "$T/run"
	real=0
	case $daemon in *-fake) ;; *) real=1 ;; esac
	if [ "$real" = 1 ]; then
		# the real daemon opens the pool that the command made and recorded in the state dir
		require_thin
		local pool=tctrd$$
		# Small base devices keep mkfs quick (the daemon reads this like the command).
		export THINSNAP_BASE_IMAGE_SIZE=${THINSNAP_BASE_IMAGE_SIZE:-512MB}
		"$THINSNAP" --state-dir "$T/state" --pool "$pool" pool create --data-size "${POOL_SIZE:-2G}" ||
			fail "thinsnap pool create"
		at_exit "$THINSNAP --state-dir $T/state --pool $pool pool destroy --force"
		args+=(--pool "$pool")
	fi
	echo "daemon: $daemon"
	"$daemon" "${args[@]}" 2> "$T/thinsnapd.log" &
	dpid=$!
	at_exit "kill -KILL $dpid"
	wait_socket "$T/run/thinsnapd.sock" "$dpid" || fail "thinsnapd did not start"
}

c() { ctr --address "$T/ctrd.sock" --namespace t06 "$@"; }
s() { c snapshots --snapshotter thinsnap "$@"; }

# What both config versions say alike: the sockets, and thinsnapd as a proxy plugin.
ctrd_config_common() {
	cat <<- EOF
	[grpc]
	  address = "$T/ctrd.sock"
	[ttrpc]
	  address = "$T/ctrd.sock.ttrpc"
	[debug]
	  address = ""
	[proxy_plugins]
	  [proxy_plugins.thinsnap]
	    type = "snapshot"
	    address = "$T/run/thinsnapd.sock"
	EOF
}

# The config of containerd 1.x: version 2.
ctrd_config_v2() {
	cat <<- EOF
	version = 2
	root = "$T/ctrd/root"
	state = "$T/ctrd/state"
	disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
	  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
	  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
	  "io.containerd.internal.v1.tracing"]
	EOF
	ctrd_config_common
	cat <<- EOF
	# ctr holds no lease: a garbage collection between two calls (its startup pass runs late on
	# a loaded machine) would take the snapshot the next call names. The tests read containerd's
	# records, which a remove drops at once.
	[plugins."io.containerd.gc.v1.scheduler"]
	  startup_delay = "1h"
	  schedule_delay = "1h"
	EOF
}

# The config of containerd 2.x: version 3. Its transfer service (ctr images import and pull)
# unpacks only onto the snapshotters its unpack_config lists.
ctrd_config_v3() {
	local cri_off='"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
	  "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.sandbox.controller.v1.shim",'
	[ "${CTRD_CRI:-0}" = 1 ] && cri_off=
	cat <<- EOF
	version = 3
	root = "$T/ctrd/root"
	state = "$T/ctrd/state"
	disabled_plugins = [$cri_off "io.containerd.snapshotter.v1.btrfs",
	  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.blockfile",
	  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs",
	  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
	EOF
	ctrd_config_common
	cat <<- EOF
	[plugins]
	  [plugins.'io.containerd.gc.v1.scheduler']
	    startup_delay = "${CTRD_GC_DELAY:-1h}"
	    schedule_delay = "${CTRD_GC_DELAY:-1h}"
	    deletion_threshold = $([ -n "${CTRD_GC_DELAY:-}" ] && echo 1 || echo 0)
	  [[plugins.'io.containerd.transfer.v1.local'.unpack_config]]
	    platform = "linux/$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')"
	    snapshotter = "thinsnap"
	EOF
}

start_containerd() {
	if [ "$ctrd_major" -ge 2 ]; then ctrd_config_v3; else ctrd_config_v2; fi > "$T/containerd.toml"
	[ -n "${CTRD_EXTRA:-}" ] && printf '%s\n' "$CTRD_EXTRA" >> "$T/containerd.toml"
	containerd --config "$T/containerd.toml" > "$T/containerd.log" 2>&1 &
	cpid=$!
	at_exit "kill -KILL $cpid"
	for _ in $(seq 1 300); do c version > /dev/null 2>&1 && break; sleep 0.1; done
	c version > /dev/null || { tail -n 30 "$T/containerd.log"; fail "containerd did not start"; }
	c plugins ls | grep -qE 'snapshotter.v1 +thinsnap .* ok' || { c plugins ls; fail "no thinsnap plugin"; }
	if grep -iE 'level=warn.*(deprecat|migrat)' "$T/containerd.log"; then
		fail "containerd warns about its config"
	fi
	return 0
}

require_runc() {
	command -v runc > /dev/null || skip "${1:-}no runc"
	# runc needs a cgroup hierarchy; the user-mode-linux boot mounts none.
	if ! grep -q ' - cgroup2\? ' /proc/self/mountinfo; then
		mkdir -p /sys/fs/cgroup
		mount -t cgroup2 cgroup2 /sys/fs/cgroup 2> /dev/null || skip "${1:-}no cgroup for runc"
		at_exit "umount /sys/fs/cgroup"
	fi
}

ctr_run_motd() {
	if ! c run --rm --snapshotter thinsnap "$1" ctrrun /bin/cat /etc/motd > "$T/run.out" 2> "$T/run.err"; then
		cat "$T/run.err"
		tail -n 20 "$T/containerd.log"
		fail "ctr run failed"
	fi
	assert_eq "$(cat "$T/run.out")" "$2" "output of the container"
	# The container's active snapshot is gone with --rm; the image's layer stays.
	s ls > "$T/ls"
	assert_eq "$(grep -c Active "$T/ls" || true)" 0 "active snapshots left"
}

busybox_oci() {
	local dir=$1 name=$2 text=$3 cmd=${4:-'"/bin/sh"'} w=$1.work
	[ -x /bin/busybox ] || skip "no busybox-static"
	mkdir -p "$w/rootfs/bin" "$w/rootfs/etc" "$w/rootfs/proc" "$w/rootfs/sys" "$w/rootfs/dev" \
		"$w/rootfs/tmp" "$dir/blobs/sha256"
	cp /bin/busybox "$w/rootfs/bin/busybox"
	for l in sh echo cat ls sleep; do ln -sf busybox "$w/rootfs/bin/$l"; done
	echo "$text" > "$w/rootfs/etc/motd"
	tar -C "$w/rootfs" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$w/layer.tar" .
	blob() { # FILE -> digest hex; copies the file into the layout
		local h
		h=$(sha256sum "$1" | cut -d' ' -f1)
		cp "$1" "$dir/blobs/sha256/$h"
		echo "$h"
	}
	size() { stat -c %s "$1"; }
	layer=$(blob "$w/layer.tar")
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":[%s],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$cmd" "$layer" > "$w/config.json"
	local config manifest
	config=$(blob "$w/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
		"$config" "$(size "$w/config.json")" "$layer" "$(size "$w/layer.tar")" > "$w/manifest.json"
	manifest=$(blob "$w/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
		"$manifest" "$(size "$w/manifest.json")" "$name" "${name##*:}" > "$dir/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
	rm -rf "$w"
}

stop_thinsnapd() {
	kill -TERM "$dpid"
	for _ in $(seq 1 100); do kill -0 "$dpid" 2> /dev/null || break; sleep 0.1; done
	if kill -0 "$dpid" 2> /dev/null; then fail "thinsnapd ignored SIGTERM"; fi
	wait "$dpid" || fail "thinsnapd exited with an error"
	[ -e "$T/run/thinsnapd.sock" ] && fail "socket left behind"
	grep -q "stopped" "$T/thinsnapd.log" || fail "no stop message"
	return 0
}
