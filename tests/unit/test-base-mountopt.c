/* base/mountopt: flag words to mount(2) flags in order, the rest into the data string. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "base/mountopt.h"

static void check(const char *const *opts, size_t n, unsigned long want_flags,
		  const char *want_data)
{
	unsigned long flags = 12345;
	char *data = NULL;

	assert_int_equal(thinsnap_mountopt_parse(opts, n, &flags, &data), 0);
	assert_true(flags == want_flags);
	assert_string_equal(data, want_data);
	free(data);
}

static void test_flags_and_data(void **state)
{
	const char *cli[] = { "ro", "nosuid", "errors=remount-ro", "nodev", "", "discard", "dev" };
	const char *xfs_view[] = { "ro", "nouuid", "norecovery" };
	const char *ext_view[] = { "ro", "noload" };
	const char *order[] = { "ro", "rw", "noexec", "exec", "sync", "noatime", "relatime" };
	const char *binds[] = { "rbind", "ro" };
	const char *words[] = { "defaults",    "suid",    "async",      "atime", "norelatime",
				"strictatime", "dirsync", "nodiratime", "bind" };
	(void)state;

	check(cli, 7, MS_RDONLY | MS_NOSUID, "errors=remount-ro,discard");
	check(xfs_view, 3, MS_RDONLY, "nouuid,norecovery");
	check(ext_view, 2, MS_RDONLY, "noload");
	check(order, 7, MS_SYNCHRONOUS | MS_NOATIME | MS_RELATIME, "");
	check(binds, 2, MS_BIND | MS_REC | MS_RDONLY, "");
	check(words, 9, MS_STRICTATIME | MS_DIRSYNC | MS_NODIRATIME | MS_BIND, "");
	check(NULL, 0, 0, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_and_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
