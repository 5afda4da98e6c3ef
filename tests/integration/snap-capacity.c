/*
 * The snapshotter's capacity features on a real dm-thin pool (run as root by
 * t0410-snap-capacity.sh, in the VM when the kernel lacks dm-thin): space floors filled with
 * real writes, per-snapshot sizes grown with the kernel's online ext4 resize, discards.
 */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "base/fault.h"
#include "itest.h"

#define MiB ((uint64_t)1 << 20)

static struct itest_pool P;
static struct thinsnap_snapshotter *S;
static struct thinsnap_options O;

/* 256 MiB of pool data, 192 MiB snapshots, and a 50% data floor: cheap to cross. */
static struct thinsnap_options default_opts(void)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;

	o.state_dir = P.state_dir;
	o.pool_name = P.name;
	o.base_size_bytes = 192 * MiB;
	o.fs_type = "ext4";
	o.min_free_data_percent = 50;
	return o;
}

static void open_s(void)
{
	struct thinsnap_error e = { 0 };
	int r = thinsnap_open(&O, &S, &e);
	if (r < 0)
		fail_msg("open: %s", e.msg);
}

static void reopen_with(struct thinsnap_options o)
{
	thinsnap_free(S);
	S = NULL;
	O = o;
	open_s();
}

static int setup(void **state)
{
	(void)state;
	if (itest_create_pool("snapcap", "tcap", 256 * MiB, false, &P) < 0)
		return -1;
	O = default_opts();
	open_s();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	umount2(P.mnt, MNT_DETACH);
	thinsnap_free(S);
	S = NULL;
	return itest_destroy_pool(&P);
}

/* ---- helpers ---- */

/* Writes mib MiB of non-zero data to dir/name and syncs it; returns what was written. */
static uint64_t fill(const char *dir, const char *name, uint64_t mib)
{
	static char buf[1 << 20];
	char p[600];
	uint64_t done = 0;
	int fd;

	memset(buf, 0xa5, sizeof(buf));
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("open %s: %s", p, strerror(errno));
	for (uint64_t i = 0; i < mib; i++) {
		ssize_t n = write(fd, buf, sizeof(buf));
		if (n < 0 && errno == ENOSPC)
			break;
		if (n != (ssize_t)sizeof(buf))
			fail_msg("write %s: %s", p, strerror(errno));
		done += (uint64_t)n;
	}
	if (fsync(fd) < 0)
		fail_msg("fsync %s: %s", p, strerror(errno));
	close(fd);
	return done;
}

static double pool_free_data_percent(void)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_status st;

	itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
	itest_must(thinsnap_pool_status(p, &st, &e), &e, "pool status");
	thinsnap_pool_free(p);
	return 100.0 * (double)(st.total_data_bytes - st.used_data_bytes) /
	       (double)st.total_data_bytes;
}

/* ---- space floors ---- */

static void test_floor_refuses_new_devices(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	int r;

	(void)state;
	itest_must(thinsnap_prepare(S, "filler", NULL, NULL, 0, &m, &e), &e, "prepare filler");
	itest_mount(m, P.mnt);
	thinsnap_mount_free(m);
	m = NULL;
	fill(P.mnt, "blob", 150);
	itest_umount(P.mnt);
	double free_pct = pool_free_data_percent();
	if (free_pct >= 50.0)
		fail_msg("filling left %.1f%% free", free_pct);

	/* prepare, view and a kept commit all create a thin device: refused */
	r = thinsnap_prepare(S, "x", NULL, NULL, 0, NULL, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_FAILED_PRECONDITION);
	assert_int_equal(r, -ENOSPC);
	print_message("refused: %s\n", e.msg);
	char want[160];
	snprintf(want, sizeof(want), "pool '%s': ", P.name);
	assert_true(strncmp(e.msg, want, strlen(want)) == 0);
	assert_non_null(strstr(e.msg, "% of data space free ("));
	assert_non_null(strstr(e.msg, " of 256.0 MiB), below the 50% floor"));
	r = thinsnap_commit(S, "filler-c", "filler", NULL, 0, THINSNAP_COMMIT_KEEP_ACTIVE, &e);
	assert_int_equal(r, -ENOSPC);
	/* a plain commit creates nothing: allowed; a view of it is refused */
	itest_must(thinsnap_commit(S, "filler-c", "filler", NULL, 0, 0, &e), &e, "commit");
	r = thinsnap_view(S, "v", "filler-c", NULL, 0, NULL, &e);
	assert_int_equal(r, -ENOSPC);
	assert_null(strstr(e.msg, "metadata"));

	/* a negative floor disables it */
	struct thinsnap_options o = default_opts();
	o.min_free_data_percent = -1;
	reopen_with(o);
	itest_must(thinsnap_view(S, "v", "filler-c", NULL, 0, NULL, &e), &e, "view without floor");
	itest_must(thinsnap_remove(S, "v", &e), &e, "remove v");
	reopen_with(default_opts());

	/* removing the filler gives the space back: prepare works again */
	itest_must(thinsnap_remove(S, "filler-c", &e), &e, "remove filler");
	free_pct = pool_free_data_percent();
	if (free_pct < 50.0)
		fail_msg("removing the filler left %.1f%% free", free_pct);
	itest_must(thinsnap_prepare(S, "x", NULL, NULL, 0, NULL, &e), &e, "prepare after remove");
	itest_must(thinsnap_remove(S, "x", &e), &e, "remove x");
}

static void test_floor_metadata_and_options(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_snapshotter *s2 = NULL;
	int r;

	(void)state;
	/* metadata is never 100% free: a 100% floor refuses every new device */
	struct thinsnap_options o = default_opts();
	o.min_free_metadata_percent = 100;
	reopen_with(o);
	r = thinsnap_prepare(S, "m", NULL, NULL, 0, NULL, &e);
	assert_int_equal(r, -ENOSPC);
	print_message("refused: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "% of metadata space free ("));
	assert_non_null(strstr(e.msg, "below the 100% floor"));
	reopen_with(default_opts());
	itest_must(thinsnap_prepare(S, "m", NULL, NULL, 0, NULL, &e), &e, "prepare m");
	itest_must(thinsnap_remove(S, "m", &e), &e, "remove m");

	/* above 100 is a caller mistake */
	o = default_opts();
	o.min_free_data_percent = 101;
	r = thinsnap_open(&o, &s2, &e);
	assert_int_equal(r, -EINVAL);
	assert_null(s2);
}

/* ---- per-snapshot size ---- */

static uint64_t dev_size(const char *dev)
{
	uint64_t size = 0;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0)
		fail_msg("size of %s: %s", dev, strerror(errno));
	close(fd);
	return size;
}

static uint64_t fs_size(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) < 0)
		fail_msg("statvfs %s: %s", dir, strerror(errno));
	return (uint64_t)sv.f_blocks * sv.f_frsize;
}

static struct thinsnap_mount *mounts_of(const char *key)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;

	itest_must(thinsnap_mounts(S, key, &m, &e), &e, "mounts");
	return m;
}

static void test_size_label_grows_child(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	struct thinsnap_mount *m = NULL;
	char big[32];
	int r;

	(void)state;
	/* room for writes beyond the old size; no floor in the way of these prepares */
	itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
	itest_must(thinsnap_pool_grow(p, 1024 * MiB, &e), &e, "pool grow");
	thinsnap_pool_free(p);
	struct thinsnap_options o = default_opts();
	o.min_free_data_percent = -1;
	reopen_with(o);

	snprintf(big, sizeof(big), "%" PRIu64, 320 * MiB);
	struct thinsnap_label lb[] = { { THINSNAP_LABEL_MAX_SIZE, big }, { "a", "b" } };
	itest_must(thinsnap_prepare(S, "big", NULL, lb, 2, &m, &e), &e, "prepare big");
	assert_int_equal(dev_size(m->source), 320 * MiB);
	itest_mount(m, P.mnt);
	thinsnap_mount_free(m);
	m = NULL;
	uint64_t fs = fs_size(P.mnt);
	print_message("320 MiB child of a 192 MiB base: filesystem of %" PRIu64 " MiB\n", fs / MiB);
	assert_true(fs > 280 * MiB); /* 192 MiB holds 174 MiB of filesystem */
	assert_int_equal(fill(P.mnt, "beyond", 230), 230 * MiB); /* more than the parent holds */
	itest_umount(P.mnt);
	itest_must(thinsnap_commit(S, "big-c", "big", NULL, 0, 0, &e), &e, "commit big");

	/* children inherit the size; smaller is refused; a view cannot grow */
	itest_must(thinsnap_prepare(S, "kid", "big-c", NULL, 0, &m, &e), &e, "prepare kid");
	assert_int_equal(dev_size(m->source), 320 * MiB);
	thinsnap_mount_free(m);
	m = NULL;
	struct thinsnap_label small[] = { { THINSNAP_LABEL_MAX_SIZE, "201326592" } };
	r = thinsnap_prepare(S, "kid-small", "big-c", small, 1, NULL, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_INVALID_ARGUMENT);
	print_message("refused: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "cannot be smaller"));
	struct thinsnap_label same[] = { { THINSNAP_LABEL_MAX_SIZE, big } };
	itest_must(thinsnap_view(S, "view-same", "big-c", same, 1, NULL, &e), &e, "view same size");
	itest_must(thinsnap_remove(S, "view-same", &e), &e, "remove view");
	struct thinsnap_label huge[] = { { THINSNAP_LABEL_MAX_SIZE, "1073741824" } };
	r = thinsnap_view(S, "view-big", "big-c", huge, 1, NULL, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_INVALID_ARGUMENT);
	struct thinsnap_label junk[] = { { THINSNAP_LABEL_MAX_SIZE, "12G" } };
	r = thinsnap_prepare(S, "kid-junk", "big-c", junk, 1, NULL, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_INVALID_ARGUMENT);
	assert_null(thinsnap_stat(S, "kid-junk", NULL, NULL) == 0 ? "exists" : NULL);

	/* the label is kept like any other */
	struct thinsnap_info *info = NULL;
	itest_must(thinsnap_stat(S, "big-c", &info, &e), &e, "stat");
	thinsnap_info_free(info);
	itest_must(thinsnap_remove(S, "kid", &e), &e, "remove kid");
	itest_must(thinsnap_remove(S, "big-c", &e), &e, "remove big-c");
}

static void test_resize_active(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	int r;

	(void)state;
	struct thinsnap_options o = default_opts();
	o.min_free_data_percent = -1;
	reopen_with(o);
	itest_must(thinsnap_prepare(S, "r", NULL, NULL, 0, &m, &e), &e, "prepare r");
	itest_must(thinsnap_prepare(S, "cold", NULL, NULL, 0, NULL, &e), &e, "prepare cold");
	assert_int_equal(dev_size(m->source), 192 * MiB);

	/* mounted: the filesystem grows under the mount */
	itest_mount(m, P.mnt);
	uint64_t before = fs_size(P.mnt);
	itest_must(thinsnap_resize(S, "r", 300 * MiB, &e), &e, "resize mounted");
	assert_int_equal(dev_size(m->source), 300 * MiB);
	uint64_t after = fs_size(P.mnt);
	print_message("mounted resize: %" PRIu64 " -> %" PRIu64 " MiB\n", before / MiB,
		      after / MiB);
	assert_true(after > before + 100 * MiB);
	assert_int_equal(fill(P.mnt, "beyond", 230), 230 * MiB);
	itest_umount(P.mnt);
	/* the same size again: a no-op; smaller: refused */
	itest_must(thinsnap_resize(S, "r", 300 * MiB, &e), &e, "resize same");
	r = thinsnap_resize(S, "r", 200 * MiB, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_INVALID_ARGUMENT);
	print_message("refused: %s\n", e.msg);
	assert_int_equal(dev_size(m->source), 300 * MiB);
	thinsnap_mount_free(m);
	m = NULL;

	/* committed and views: refused; absent: not found */
	itest_must(thinsnap_commit(S, "r-c", "r", NULL, 0, 0, &e), &e, "commit r");
	r = thinsnap_resize(S, "r-c", 400 * MiB, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_FAILED_PRECONDITION);
	itest_must(thinsnap_view(S, "r-v", "r-c", NULL, 0, NULL, &e), &e, "view");
	r = thinsnap_resize(S, "r-v", 400 * MiB, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_FAILED_PRECONDITION);
	r = thinsnap_resize(S, "nope", 400 * MiB, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_NOT_FOUND);

	/* not mounted: mounted privately to grow; the size survives a lost device */
	itest_must(thinsnap_resize(S, "cold", 400 * MiB + 1, &e), &e, "resize unmounted");
	m = mounts_of("cold");
	assert_int_equal(dev_size(m->source), 400 * MiB + 4096); /* rounded up to 4 KiB */
	char dm[160];
	snprintf(dm, sizeof(dm), "%s", m->source + strlen("/dev/mapper/"));
	thinsnap_free(S);
	S = NULL;
	struct thinsnap_pool *p = NULL;
	itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
	itest_must(thinsnap_pool_deactivate_thin(p, dm, &e), &e, "deactivate");
	thinsnap_pool_free(p);
	open_s(); /* re-activates it at the journaled size */
	assert_int_equal(dev_size(m->source), 400 * MiB + 4096);
	itest_mount(m, P.mnt);
	assert_true(fs_size(P.mnt) > 360 * MiB);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_remove(S, "cold", &e), &e, "remove cold");
	itest_must(thinsnap_remove(S, "r-v", &e), &e, "remove r-v");
	itest_must(thinsnap_remove(S, "r-c", &e), &e, "remove r-c");
}

/* Failures and a crash in the middle of growing leave nothing half-done. */
static void test_size_faults(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	char sz[32];
	int r;

	(void)state;
	struct thinsnap_options o = default_opts();
	o.min_free_data_percent = -1;
	reopen_with(o);
	/* the fs grow fails after the device was created: no device, no key */
	snprintf(sz, sizeof(sz), "%" PRIu64, 256 * MiB);
	struct thinsnap_label lb[] = { { THINSNAP_LABEL_MAX_SIZE, sz } };
	assert_int_equal(thinsnap_fault_arm("snap.create.before_grow:-EIO"), 0);
	r = thinsnap_prepare(S, "g", NULL, lb, 1, NULL, &e);
	unsigned hits = thinsnap_fault_hits("snap.create.before_grow");
	thinsnap_fault_arm(NULL);
	assert_int_equal(hits, 1); /* the -EIO is the fault's */
	assert_int_equal(r, -EIO);
	assert_int_equal(thinsnap_stat(S, "g", NULL, NULL), -ENOENT);
	itest_assert_check_clean(S);

	/* the device reload fails after the journal: the journal goes back to the old size */
	itest_must(thinsnap_prepare(S, "g", NULL, NULL, 0, &m, &e), &e, "prepare g");
	assert_int_equal(thinsnap_fault_arm("snap.resize.after_journal:-EIO"), 0);
	r = thinsnap_resize(S, "g", 256 * MiB, &e);
	hits = thinsnap_fault_hits("snap.resize.after_journal");
	thinsnap_fault_arm(NULL);
	assert_int_equal(hits, 1);
	assert_int_equal(r, -EIO);
	assert_int_equal(dev_size(m->source), 192 * MiB);

	/* a crash right after the journal: the next resize to that size finishes the job */
	thinsnap_free(S);
	S = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct thinsnap_snapshotter *c = NULL;
		if (thinsnap_fault_arm("snap.resize.after_journal:abort") < 0 ||
		    thinsnap_open(&O, &c, NULL) < 0)
			_exit(3);
		(void)thinsnap_resize(c, "g", 256 * MiB, NULL);
		_exit(4); /* not reached */
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	open_s();
	assert_int_equal(dev_size(m->source), 192 * MiB); /* still active as it was */
	itest_must(thinsnap_resize(S, "g", 256 * MiB, &e), &e, "resize after the crash");
	assert_int_equal(dev_size(m->source), 256 * MiB);
	itest_mount(m, P.mnt);
	assert_true(fs_size(P.mnt) > 220 * MiB);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_remove(S, "g", &e), &e, "remove g");
	itest_assert_check_clean(S);
}

/* ---- honest usage ---- */

static uint64_t pool_used_bytes(void)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_status st;

	itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
	itest_must(thinsnap_pool_status(p, &st, &e), &e, "pool status");
	thinsnap_pool_free(p);
	return st.used_data_bytes;
}

static void test_usage_exclusive_shared(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_usage_detail d[2];
	const char *keys[] = { "par-c", "kid" };
	int r;

	(void)state;
	struct thinsnap_options o = default_opts();
	o.min_free_data_percent = -1;
	reopen_with(o);
	/* a parent with 64 MiB, a child with 32 MiB more */
	itest_must(thinsnap_prepare(S, "par", NULL, NULL, 0, &m, &e), &e, "prepare par");
	itest_mount(m, P.mnt);
	fill(P.mnt, "a", 64);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_commit(S, "par-c", "par", NULL, 0, 0, &e), &e, "commit par");
	itest_must(thinsnap_prepare(S, "kid", "par-c", NULL, 0, &m, &e), &e, "prepare kid");
	itest_mount(m, P.mnt);
	fill(P.mnt, "b", 32);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);

	itest_must(thinsnap_usage_detail(S, keys, 2, d, &e), &e, "usage detail");
	for (int i = 0; i < 2; i++)
		print_message("%s: size %" PRId64 " KiB, exclusive %" PRId64 " KiB, shared %" PRId64
			      " KiB, %" PRId64 " inodes\n",
			      keys[i], d[i].size_bytes >> 10, d[i].exclusive_bytes >> 10,
			      d[i].shared_bytes >> 10, d[i].inodes);
	/* the child alone maps its 32 MiB (plus the fs metadata it rewrote) */
	assert_true(d[1].exclusive_bytes >= (int64_t)(32 * MiB));
	assert_true(d[1].exclusive_bytes < (int64_t)(40 * MiB));
	/* it shares its parent's 64 MiB; the parent shares them and keeps little alone */
	assert_true(d[1].shared_bytes >= (int64_t)(64 * MiB));
	assert_true(d[0].shared_bytes >= (int64_t)(64 * MiB));
	assert_true(d[0].exclusive_bytes < (int64_t)(8 * MiB));
	assert_true(d[1].inodes > 0);

	/* exclusive is exactly what removing it gives back */
	uint64_t before = pool_used_bytes();
	itest_must(thinsnap_remove(S, "kid", &e), &e, "remove kid");
	uint64_t freed = before - pool_used_bytes();
	print_message("removing kid freed %" PRIu64 " KiB\n", freed >> 10);
	assert_int_equal(freed, (uint64_t)d[1].exclusive_bytes);

	/* with the child gone, the parent's blocks are its own (but for the base's) */
	itest_must(thinsnap_usage_detail(S, keys, 1, d, &e), &e, "usage detail after");
	assert_true(d[0].exclusive_bytes >= (int64_t)(64 * MiB));

	r = thinsnap_usage_detail(S, (const char *[]){ "par-c", "nope" }, 2, d, &e);
	itest_expect_err(r, &e, THINSNAP_CODE_NOT_FOUND);
	itest_must(thinsnap_usage_detail(S, NULL, 0, NULL, &e), &e, "no keys");
	itest_must(thinsnap_remove(S, "par-c", &e), &e, "remove par-c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_refuses_new_devices),
		cmocka_unit_test(test_floor_metadata_and_options),
		cmocka_unit_test(test_size_label_grows_child),
		cmocka_unit_test(test_resize_active),
		cmocka_unit_test(test_size_faults),
		cmocka_unit_test(test_usage_exclusive_shared),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
