/* pool/thin-ls.c: thin_ls output as thinsnap_pool_thin_usage() reads it. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdlib.h>

#include "pool/thin-ls.h"

static void test_parse(void **state)
{
	struct thinsnap_pool_thin_usage *u = NULL;
	size_t n = 9;

	(void)state;
	/* thin_ls 0.9 pads its columns; order is not guaranteed */
	assert_int_equal(thinsnap_pool_parse_thin_ls("  3   33882112   33882112        0\n"
						     "  1  201326592     327680  67764224\n"
						     "\n"
						     "16777215 0 0 0\n",
						     &u, &n),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(u[0].dev_id, 1);
	assert_int_equal(u[0].mapped_bytes, 201326592);
	assert_int_equal(u[0].exclusive_bytes, 327680);
	assert_int_equal(u[0].shared_bytes, 67764224);
	assert_int_equal(u[1].dev_id, 3);
	assert_int_equal(u[1].exclusive_bytes, 33882112);
	assert_int_equal(u[2].dev_id, 16777215);
	free(u);
	/* nothing: no devices */
	u = (void *)1;
	assert_int_equal(thinsnap_pool_parse_thin_ls("", &u, &n), 0);
	assert_int_equal(n, 0);
	assert_null(u);
}

static void test_reject(void **state)
{
	static const char *const bad[] = {
		"1 2 3\n",                       /* a field missing */
		"1 2 3 4 5\n",                   /* one too many */
		"16777216 0 0 0\n",              /* dev_id beyond 24 bits */
		"1 2 3 99999999999999999999\n",  /* overflow */
		"DEV MAPPED EXCLUSIVE SHARED\n", /* a header */
		"1 2 3 -4\n",                    /* a sign */
		"1 2MiB 3 4\n",                  /* units */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct thinsnap_pool_thin_usage *u = (void *)1;
		size_t n = 7;
		assert_int_equal(thinsnap_pool_parse_thin_ls(bad[i], &u, &n), -EIO);
		assert_ptr_equal(u, (void *)1); /* untouched on failure */
		assert_int_equal(n, 7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_reject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
