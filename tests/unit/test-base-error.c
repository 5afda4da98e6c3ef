/* base/: the errno -> containerd code table, error message formatting. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <string.h>

#include <thinsnap/error.h>

static void test_code_table(void **state)
{
	(void)state;
	static const struct {
		int err;
		enum thinsnap_code code;
	} rows[] = {
		{ 0, THINSNAP_CODE_OK },
		{ -ENOENT, THINSNAP_CODE_NOT_FOUND },
		{ -ENXIO, THINSNAP_CODE_NOT_FOUND },
		{ -EEXIST, THINSNAP_CODE_ALREADY_EXISTS },
		{ -EINVAL, THINSNAP_CODE_INVALID_ARGUMENT },
		{ -ERANGE, THINSNAP_CODE_INVALID_ARGUMENT },
		{ -ENAMETOOLONG, THINSNAP_CODE_INVALID_ARGUMENT },
		{ -EBUSY, THINSNAP_CODE_FAILED_PRECONDITION },
		{ -ENOTEMPTY, THINSNAP_CODE_FAILED_PRECONDITION },
		{ -ENOSPC, THINSNAP_CODE_FAILED_PRECONDITION },
		{ -EROFS, THINSNAP_CODE_FAILED_PRECONDITION },
		{ -EUCLEAN, THINSNAP_CODE_FAILED_PRECONDITION },
		{ -EAGAIN, THINSNAP_CODE_UNAVAILABLE },
		{ -ETIMEDOUT, THINSNAP_CODE_UNAVAILABLE },
		{ -ENODEV, THINSNAP_CODE_UNAVAILABLE },
		{ -EOPNOTSUPP, THINSNAP_CODE_UNIMPLEMENTED },
		{ -EIO, THINSNAP_CODE_UNKNOWN },
		{ -ENOMEM, THINSNAP_CODE_UNKNOWN },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(thinsnap_code_from_errno(rows[i].err), rows[i].code);
	assert_string_equal(thinsnap_code_name(THINSNAP_CODE_NOT_FOUND), "not found");
}

static void test_setf(void **state)
{
	struct thinsnap_error e;
	char big[600];

	(void)state;
	thinsnap_error_clear(&e);
	assert_int_equal(e.err, 0);
	assert_int_equal(thinsnap_error_setf(&e, -ENOENT, "key '%s' not found", "a/b"), -ENOENT);
	assert_int_equal(e.err, -ENOENT);
	assert_string_equal(e.msg, "key 'a/b' not found");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	thinsnap_error_setf(&e, -EINVAL, "%s", big);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1); /* truncated, terminated */
	assert_int_equal(thinsnap_error_setf(NULL, -EIO, "ignored"), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_table),
		cmocka_unit_test(test_setf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
