/* mkfs/xfs.c: the base formatted by mkfs.xfs on a sparse file (no kernel needed), its
 * arguments passed without a shell, and its failures reported with its own words. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
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
#include <unistd.h>

#include "mkfs/mkfs.h"
#include "testutil.h"

static bool have_mkfs_xfs(void)
{
	return access("/usr/sbin/mkfs.xfs", X_OK) == 0 || access("/sbin/mkfs.xfs", X_OK) == 0;
}

static char *sparse_file(char *dir, uint64_t size)
{
	char *p = strdup(tu_path(dir, "dev"));
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return p;
}

static void test_format(void **state)
{
	struct thinsnap_mkfs_opts o = { .fs_type = "xfs", .fs_options = " -L  base\t" };
	struct thinsnap_error e = { 0 };
	char *dir, *dev;

	(void)state;
	if (!have_mkfs_xfs())
		skip();
	dir = tu_mkdtemp();
	dev = sparse_file(dir, 320u << 20);
	assert_int_equal(thinsnap_mkfs_format(dev, 0, &o, &e), 0);
	assert_int_equal(thinsnap_mkfs_verify(dev, "xfs", &e), 0);
	assert_int_equal(thinsnap_mkfs_verify(dev, "ext4", &e), -EUCLEAN);
	/* a fresh xfs: the root directory and the realtime bitmap and summary inodes */
	uint64_t inodes = 0;
	assert_int_equal(thinsnap_mkfs_inodes_used(dev, &inodes, &e), 0);
	print_message("  fresh xfs: %llu inodes in use\n", (unsigned long long)inodes);
	assert_true(inodes >= 1 && inodes <= 16);
	/* a bad option: mkfs.xfs' own complaint, nothing of a shell */
	o.fs_options = "-b size=12345 ; rm -rf /";
	assert_int_equal(thinsnap_mkfs_format(dev, 0, &o, &e), -EIO);
	assert_non_null(strstr(e.msg, "mkfs.xfs '"));
	assert_non_null(strstr(e.msg, "failed (exit "));
	free(dev);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
