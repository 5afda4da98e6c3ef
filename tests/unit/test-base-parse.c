/* base/parse: decimal u64 (whole and prefix) and the size syntax, each error and its errno. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <string.h>

#include "base/parse.h"

struct row {
	const char *s;
	int r;
	uint64_t v;
};

/* Each row through parse: its errno, its value, and the result untouched on failure. */
static void check_rows(int (*parse)(const char *, uint64_t *), const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 77;
		int r = parse(rows[i].s, &v);
		if (r != rows[i].r)
			fail_msg("'%s': got %d, want %d", rows[i].s, r, rows[i].r);
		if (r == 0 && v != rows[i].v)
			fail_msg("'%s': got %llu, want %llu", rows[i].s, (unsigned long long)v,
				 (unsigned long long)rows[i].v);
		if (r < 0)
			assert_true(v == 77);
	}
}

static void test_u64(void **state)
{
	static const struct row rows[] = {
		{ "0", 0, 0 },
		{ "7", 0, 7 },
		{ "0042", 0, 42 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "99999999999999999999999x", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "12a", -EINVAL, 0 },
	};
	(void)state;

	check_rows(thinsnap_parse_u64, rows, sizeof(rows) / sizeof(rows[0]));
	assert_int_equal(thinsnap_parse_u64(NULL, NULL), -EINVAL);
}

static void test_u64_prefix(void **state)
{
	const char *line = "17 4096\tx", *end = NULL;
	uint64_t v = 0;
	(void)state;

	assert_int_equal(thinsnap_parse_u64_prefix(line, &v, &end), 0);
	assert_true(v == 17);
	assert_ptr_equal(end, line + 2);
	assert_int_equal(thinsnap_parse_u64_prefix(end + 1, &v, &end), 0);
	assert_true(v == 4096);
	assert_string_equal(end, "\tx");
	assert_int_equal(thinsnap_parse_u64_prefix("123", &v, NULL), 0);
	assert_true(v == 123);
	end = NULL;
	assert_int_equal(thinsnap_parse_u64_prefix("\t1", &v, &end), -EINVAL);
	assert_int_equal(thinsnap_parse_u64_prefix("-1", &v, &end), -EINVAL);
	assert_int_equal(thinsnap_parse_u64_prefix("18446744073709551616 1", &v, &end), -ERANGE);
	assert_null(end);
	assert_true(v == 123);
}

static void test_size(void **state)
{
	static const struct row rows[] = {
		{ "0", 0, 0 },
		{ "4096", 0, 4096 },
		{ "512b", 0, 512 },
		{ "10G", 0, 10ull << 30 },
		{ "10GB", 0, 10ull << 30 },
		{ "10gib", 0, 10ull << 30 },
		{ "512MiB", 0, 512ull << 20 },
		{ "1 G", 0, 1ull << 30 },
		{ "1.5M", 0, 3ull << 19 },
		{ "0.5k", 0, 512 },
		{ "2t", 0, 2ull << 40 },
		{ "3P", 0, 3ull << 50 },
		{ "8191P", 0, 8191ull << 50 },
		{ "8192P", -ERANGE, 0 },
		{ "9223372036854775807", 0, 9223372036854775807ull },
		{ "9223372036854775808", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ " 1G", -EINVAL, 0 },
		{ "1G ", -EINVAL, 0 },
		{ "1  G", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 },
		{ ".5G", -EINVAL, 0 },
		{ "1.2.3", -EINVAL, 0 },
		{ "1X", -EINVAL, 0 },
		{ "1GBB", -EINVAL, 0 },
		{ "1iB", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1e9", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
	};
	(void)state;

	check_rows(thinsnap_parse_size, rows, sizeof(rows) / sizeof(rows[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_u64_prefix),
		cmocka_unit_test(test_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
