/*
 * snap/filter under allocation failure: for each n, the n-th allocation fails; parse must
 * return -ENOMEM with *ret untouched and nothing leaked (ASan), until it has nothing left to
 * fail and succeeds. The library's malloc family is wrapped at link time (Makefile:
 * TEST_LDFLAGS_test-snap-filter-alloc, tests/lib/failalloc.c); regcomp's own allocations inside libc are not.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "failalloc.h"
#include "snap/filter.h"

static bool get(void *userdata, const char *const *path, size_t depth, const char **ret)
{
	(void)userdata;
	if (depth == 1 && strcmp(path[0], "name") == 0) {
		*ret = "foo";
		return true;
	}
	return false;
}

static void test_every_allocation_fails(void **state)
{
	(void)state;
	const char *filters[] = {
		"name==foo,labels.\"containerd.io/gc.root\",kind!=view",
		"name~=/^f\\/?o+$/,labels.a.b.c==\"x\\ty\",parent",
		"",
	};
	long n;

	for (n = 0;; n++) {
		struct thinsnap_filter *f = NULL;
		struct thinsnap_error err = { 0 };
		bool did_fire;
		int r;

		failalloc_arm(n);
		r = thinsnap_filter_parse(filters, ELEMENTSOF(filters), &f, &err);
		did_fire = failalloc_fired();
		failalloc_disarm();
		if (!did_fire) {
			assert_int_equal(r, 0);
			assert_true(thinsnap_filter_match(f, get, NULL));
			thinsnap_filter_free(f);
			break;
		}
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(err.err, -ENOMEM);
		assert_string_equal(err.msg, "out of memory");
		assert_null(f);
	}
	print_message("  %ld allocations, each failed once\n", n);
	assert_true(n > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
