/*
 * base/fileio and base/io: the atomic replace on success and at each failure point (write,
 * file fsync, fault point, rename, directory fsync) through the I/O hook, mkdir -p, and the
 * write loops over short writes and EINTR.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/fileio.h"
#include "testutil.h"

/* A hook that counts calls, can fail the n-th pwrite or sync, and can write in small pieces. */
struct hook {
	struct thinsnap_io io;
	int dirfd;
	int fail_write_at, fail_sync_at, err;
	size_t max_write; /* 0 = whole */
	bool eintr_once;  /* the first pwrite returns -EINTR */
	bool zero_writes; /* pwrite returns 0 */
	int writes, syncs, dir_syncs;
};

static ssize_t hook_pwrite(void *userdata, int fd, const void *buf, size_t len, off_t off)
{
	struct hook *h = userdata;
	ssize_t n;

	h->writes++;
	if (h->eintr_once) {
		h->eintr_once = false;
		return -EINTR;
	}
	if (h->zero_writes)
		return 0;
	if (h->writes == h->fail_write_at)
		return h->err;
	if (h->max_write && len > h->max_write)
		len = h->max_write;
	n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static int hook_sync(void *userdata, int fd, bool datasync)
{
	struct hook *h = userdata;

	h->syncs++;
	if (fd == h->dirfd)
		h->dir_syncs++;
	if (h->syncs == h->fail_sync_at)
		return h->err;
	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

struct fixture {
	char *dir;
	int dirfd;
	struct hook h;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_mkdtemp();
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->h = (struct hook){ .io = { hook_pwrite, hook_sync, &f->h }, .dirfd = f->dirfd };
	*state = f;
	return f->dirfd < 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)close(f->dirfd);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

/* name's contents equal s */
static void assert_file(struct fixture *f, const char *name, const char *s)
{
	size_t len = 0;
	uint8_t *p = tu_read(tu_path(f->dir, name), &len);

	assert_non_null(p);
	assert_int_equal(len, strlen(s));
	assert_memory_equal(p, s, len);
	free(p);
}

static bool exists(struct fixture *f, const char *name)
{
	return faccessat(f->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_replace(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char back[16] = { 0 };
	int fd = -EBADF;

	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "one", 3, NULL, NULL), 0);
	assert_file(f, "state", "one");
	assert_int_equal(fstatat(f->dirfd, "state", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_false(exists(f, ".state.tmp"));

	struct thinsnap_file_replace_opts o = { .mode = 0640, .io = &f->h.io };
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "second", 6, &o, &fd), 0);
	assert_true(fd >= 0);
	assert_file(f, "state", "second");
	assert_int_equal(pread(fd, back, sizeof(back), 0), 6); /* open read-write */
	assert_string_equal(back, "second");
	assert_int_equal(pwrite(fd, "S", 1, 0), 1);
	(void)close(fd);
	assert_file(f, "state", "Second");
	assert_int_equal(fstatat(f->dirfd, "state", &st, 0), 0);
	mode_t um = umask(0);
	(void)umask(um);
	assert_int_equal(st.st_mode & 0777, 0640 & ~um);
	assert_int_equal(f->h.writes, 1);
	assert_int_equal(f->h.syncs, 2); /* the file, then the directory */
	assert_int_equal(f->h.dir_syncs, 1);
}

static void test_short_writes(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_file_replace_opts o = { .io = &f->h.io };

	f->h.max_write = 3;
	f->h.eintr_once = true;
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "0123456789", 10, &o, NULL), 0);
	assert_file(f, "state", "0123456789");
	assert_int_equal(f->h.writes, 5); /* EINTR, then 3 + 3 + 3 + 1 */

	f->h.zero_writes = true; /* a write that makes no progress is -EIO, not a loop */
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "x", 1, &o, NULL), -EIO);
	assert_file(f, "state", "0123456789");
	assert_false(exists(f, ".state.tmp"));
}

/* Each failure before the rename: the error comes back, name keeps its old contents, the
 * temp file is gone, and ret_renamed stays false. */
static void test_fail_before_rename(void **state)
{
	struct fixture *f = *state;
	bool renamed = false;
	int fd = 77;
	struct thinsnap_file_replace_opts o = { .io = &f->h.io, .ret_renamed = &renamed };

	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "old", 3, NULL, NULL), 0);

	f->h = (struct hook){
		.io = f->h.io, .dirfd = f->dirfd, .fail_write_at = 1, .err = -ENOSPC
	};
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "new", 3, &o, &fd), -ENOSPC);
	assert_file(f, "state", "old");
	assert_false(exists(f, ".state.tmp"));
	assert_false(renamed);
	assert_int_equal(fd, 77);

	f->h = (struct hook){ .io = f->h.io, .dirfd = f->dirfd, .fail_sync_at = 1, .err = -EIO };
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "new", 3, &o, &fd), -EIO);
	assert_file(f, "state", "old");
	assert_false(exists(f, ".state.tmp"));
	assert_false(renamed);
	assert_int_equal(fd, 77);
	assert_int_equal(f->h.dir_syncs, 0);

	o.fault_before_rename = "base.test.before_rename";
	assert_int_equal(thinsnap_fault_arm("base.test.before_rename:-EIO"), 0);
	f->h = (struct hook){ .io = f->h.io, .dirfd = f->dirfd };
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "new", 3, &o, &fd), -EIO);
	assert_int_equal(thinsnap_fault_hits("base.test.before_rename"), 1);
	assert_int_equal(thinsnap_fault_arm(NULL), 0);
	assert_int_equal(f->h.syncs, 1); /* the data was synced, then the point fired */
	assert_file(f, "state", "old");
	assert_false(exists(f, ".state.tmp"));
	assert_false(renamed);

	/* the rename itself fails: a file cannot replace a directory */
	assert_int_equal(mkdirat(f->dirfd, "adir", 0700), 0);
	assert_int_equal(thinsnap_file_replace(f->dirfd, "adir", "new", 3, &o, NULL), -EISDIR);
	assert_false(exists(f, ".adir.tmp"));
	assert_false(renamed);
}

/* The directory fsync fails after the rename: the error comes back, ret_renamed says the
 * new contents may be the durable ones, no fd is returned. */
static void test_fail_after_rename(void **state)
{
	struct fixture *f = *state;
	bool renamed = false;
	int fd = 77;
	struct thinsnap_file_replace_opts o = { .io = &f->h.io, .ret_renamed = &renamed };

	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "old", 3, NULL, NULL), 0);
	f->h = (struct hook){ .io = f->h.io, .dirfd = f->dirfd, .fail_sync_at = 2, .err = -EIO };
	assert_int_equal(thinsnap_file_replace(f->dirfd, "state", "new", 3, &o, &fd), -EIO);
	assert_true(renamed);
	assert_int_equal(fd, 77);
	assert_int_equal(f->h.dir_syncs, 1);
	assert_file(f, "state", "new");
	assert_false(exists(f, ".state.tmp"));
}

static void test_names(void **state)
{
	struct fixture *f = *state;
	char name[300];
	struct thinsnap_file_replace_opts o = { .tmp_name = "custom.tmp" };

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(thinsnap_file_replace(f->dirfd, name, "x", 1, NULL, NULL), -ENAMETOOLONG);

	/* the default temp name is taken by a directory: only tmp_name gets past it */
	assert_int_equal(mkdirat(f->dirfd, ".journal.tmp", 0700), 0);
	assert_int_equal(thinsnap_file_replace(f->dirfd, "journal", "x", 1, NULL, NULL), -EISDIR);
	assert_int_equal(thinsnap_file_replace(f->dirfd, "journal", "j", 1, &o, NULL), 0);
	assert_file(f, "journal", "j");
	assert_false(exists(f, "custom.tmp"));

	/* O_NOFOLLOW: a symlink at the temp name is not followed */
	assert_int_equal(symlinkat("journal", f->dirfd, ".link.tmp"), 0);
	assert_int_equal(thinsnap_file_replace(f->dirfd, "link", "x", 1, NULL, NULL), -ELOOP);
	assert_file(f, "journal", "j");
}

static void test_mkdir_p(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *p = NULL;

	assert_true(asprintf(&p, "%s/a/b//c/", f->dir) > 0);
	assert_int_equal(thinsnap_mkdir_p(p, 0700), 0);
	assert_int_equal(thinsnap_mkdir_p(p, 0700), 0); /* existing: fine */
	assert_int_equal(fstatat(f->dirfd, "a/b/c", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	free(p);

	assert_int_equal(thinsnap_file_replace(f->dirfd, "file", "x", 1, NULL, NULL), 0);
	assert_true(asprintf(&p, "%s/file/sub", f->dir) > 0);
	assert_int_equal(thinsnap_mkdir_p(p, 0700), -ENOTDIR);
	free(p);
	assert_int_equal(thinsnap_mkdir_p("", 0700), -EINVAL);
	assert_int_equal(thinsnap_mkdir_p("/proc/thinsnap-no/x", 0700), -ENOENT);
}

static void test_file_exists(void **state)
{
	struct fixture *f = *state;
	char *p = NULL;

	assert_int_equal(thinsnap_file_exists(f->dir, "identity"), 0);
	assert_int_equal(thinsnap_file_replace(f->dirfd, "identity", "x", 1, NULL, NULL), 0);
	assert_int_equal(thinsnap_file_exists(f->dir, "identity"), 1);
	assert_int_equal(mkdirat(f->dirfd, "sub", 0700), 0);
	assert_int_equal(thinsnap_file_exists(f->dir, "sub"), 1); /* any kind of entry */
	assert_true(asprintf(&p, "%s/identity", f->dir) > 0);
	assert_int_equal(thinsnap_file_exists(p, "x"), -ENOTDIR); /* can't be told */
	free(p);
	assert_int_equal(thinsnap_file_exists("", "x"), -EINVAL);
	assert_int_equal(thinsnap_file_exists(f->dir, ""), -EINVAL);
	assert_int_equal(thinsnap_file_exists(NULL, "x"), -EINVAL);
}

static void test_write_all(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(200000);
	int fd;

	memset(big, 'w', 200000);
	fd = openat(f->dirfd, "w", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(thinsnap_write_all(fd, big, 200000), 0);
	assert_int_equal(thinsnap_write_all(fd, "", 0), 0);
	(void)close(fd);
	assert_int_equal(thinsnap_write_all(fd, "x", 1), -EBADF);
	assert_int_equal(thinsnap_write_all(-1, "x", 1), -EBADF);
	free(big);

	/* the plain io calls: NULL hook = syscalls */
	fd = openat(f->dirfd, "w", O_RDWR | O_CLOEXEC);
	assert_int_equal(thinsnap_io_pwrite_all(NULL, fd, "abc", 3, 10), 0);
	assert_int_equal(thinsnap_io_sync(NULL, fd, true), 0);
	assert_int_equal(thinsnap_io_sync(NULL, fd, false), 0);
	(void)close(fd);
	assert_int_equal(thinsnap_io_pwrite(NULL, fd, "x", 1, 0), -EBADF);
	assert_int_equal(thinsnap_io_sync(NULL, fd, true), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_before_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_after_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_exists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_all, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
