#!/bin/bash
# containerd 1.6's snapshotter conformance suite (snapshots/testsuite) through containerd's
# proxy client against thinsnapd, one fresh daemon per case (tests/conformance/helper.sh):
# the real build/release/thinsnapd on a fresh pool per case (`thinsnap pool create`), or, when
# THINSNAPD names build/release/thinsnapd-fake, that one backing snapshots with directories
# (THINSNAP_FAKE_BIND=1).
# Every case that runs must pass; the suite skips Rename itself (20 of 21 run). TestBadRequests
# (badreq_test.go) checks the codes of bad requests and that the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
suite=$TOP/build/conformance/thinsnap-suite.test
[ -x "$suite" ] || skip "no $suite (make daemon builds it)"
export THINSNAP_SUITE_HELPER=$TOP/tests/conformance/helper.sh
if [ -z "${THINSNAPD:-}" ]; then
	require_thin
	export THINSNAPD=$TOP/build/release/thinsnapd THINSNAP_SUITE_POOL=1
else
	export THINSNAP_FAKE_BIND=1
fi
echo "daemon: $THINSNAPD"
# CONTAINERD=2 (t0612): every case reaches thinsnapd through a containerd 2.x from
# build/cache (version 3 config), its snapshots service and metadata layer in between. The
# bad-request cases talk to the daemon alone and run only here without it. A containerd per
# case makes the whole suite take over 5 minutes in the VM, so it is split in two test files
# that the test command's two boots run side by side: t0612 the 11 cases on records, kinds
# and walks, t0615 (SUITE_PART=files) the 9 on file contents, ownership and mounts (Rename is
# skipped by the suite itself); THINSNAP_SUITE_ALL=1 runs all 20 in one.
name=t0602
cases=.
want=20
if [ "${CONTAINERD:-}" = 2 ]; then
	bin=${THINSNAP_CACHE:-$TOP/build/cache}/containerd2/usr/bin
	[ -x "$bin/containerd" ] || skip "no containerd 2.x in ${bin%/usr/bin}: $(cat "${bin%/usr/bin}.skip" 2> /dev/null || echo "not fetched")"
	export THINSNAP_SUITE_CONTAINERD=$bin/containerd
	echo "through: $("$bin/containerd" --version)"
	name=t0612
	cases='^TestThinsnap$'
	if [ "${THINSNAP_SUITE_ALL:-0}" = 1 ]; then
		:
	elif [ "${SUITE_PART:-}" = files ]; then
		name=t0615
		cases='^TestThinsnap$/^(LayerFileupdate|RemoveDirectoryInLowerLayer|Chown|DirectoryPermissionOnCommit|DeletedFilesInChildSnapshot|MoveFileFromLowerLayer|CloseTwice|RootPermission|128LayersMount)$'
		want=9
	else
		cases='^TestThinsnap$/^(Basic|StatInWalk|Walk|Update|Remove|ViewReadonly|RemoveIntermediateSnapshot|StatActive|StatComitted|PreareViewFailingtest|TransitivityTest)$'
		want=11
	fi
fi
cd "$T"
# Mounts a failed case leaves behind would keep $T from being removed.
at_exit "grep -o ' $T/[^ ]*' /proc/mounts | sort -r | xargs -r -n 1 umount -l"
log=$TOP/build/test-logs/$name-suite.log
rc=0
TMPDIR=$T "$suite" -test.v -test.timeout 20m -test.run "$cases" > "$log" 2>&1 || rc=$?
grep -E '^\s*--- (PASS|FAIL|SKIP)' "$log" || true
passed=$(grep -cE '^\s+--- PASS' "$log" || true)
failed=$(grep -cE '^\s+--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s+--- SKIP' "$log" || true)
echo "conformance: $passed passed, $failed failed, $skipped skipped (log: $log)"
if [ "$rc" != 0 ] || [ "$failed" != 0 ] || [ "$passed" -lt "$want" ]; then
	grep -vE 'helpers.go:6[46]' "$log" | tail -n 80
	fail "conformance suite (exit $rc)"
fi
