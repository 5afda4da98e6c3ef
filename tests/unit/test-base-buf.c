/* base/buf: growth from empty, appends across reallocations, overflow, free and reuse. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <string.h>

#include "base/buf.h"

static void test_append_grows(void **state)
{
	struct thinsnap_buf b = { 0 };
	uint8_t chunk[100];
	(void)state;

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	assert_int_equal(thinsnap_buf_append(&b, NULL, 0), 0);
	assert_int_equal(b.len, 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(thinsnap_buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 5000);
	assert_true(b.cap >= 5000);
	assert_int_equal(b.cap & (b.cap - 1), 0); /* doubled from 256 */
	for (int i = 0; i < 50; i++)
		assert_memory_equal(b.p + i * 100, chunk, sizeof(chunk));
	thinsnap_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(thinsnap_buf_append(&b, "x", 1), 0); /* reusable after free */
	assert_int_equal(b.cap, 256);
	thinsnap_buf_free(&b);
	thinsnap_buf_free(NULL);
}

static void test_reserve(void **state)
{
	struct thinsnap_buf b = { 0 };
	uint8_t *p;
	(void)state;

	assert_int_equal(thinsnap_buf_reserve(&b, 300), 0);
	assert_int_equal(b.cap, 512);
	assert_int_equal(b.len, 0);
	p = b.p;
	assert_int_equal(thinsnap_buf_reserve(&b, 512), 0); /* fits: no reallocation */
	assert_ptr_equal(b.p, p);
	assert_int_equal(thinsnap_buf_append(&b, "abc", 3), 0);
	/* overflow of len + more is -ENOMEM and leaves the buffer as it was */
	assert_int_equal(thinsnap_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	assert_int_equal(thinsnap_buf_reserve(&b, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(thinsnap_buf_append(&b, "x", SIZE_MAX - 1), -ENOMEM);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, "abc", 3);
	thinsnap_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_grows),
		cmocka_unit_test(test_reserve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
