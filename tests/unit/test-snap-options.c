/*
 * snap/'s options, checked before anything is touched (no pool, no root needed): the version of
 * struct thinsnap_options and of the auto-grow policy, and where the state directory keeps
 * its pool (thinsnap_state_pool_dir).
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
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

static void test_options_init(void **state)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_autogrow_policy g = THINSNAP_AUTOGROW_POLICY_INIT;

	(void)state;
	assert_int_equal(o.version, THINSNAP_OPTIONS_VERSION);
	assert_null(o.state_dir); /* everything else: the defaults */
	assert_int_equal(o.base_size_bytes, 0);
	assert_false(o.read_only);
	assert_null(o.log);
	assert_int_equal(o.min_free_data_percent, 0);
	assert_int_equal(g.version, THINSNAP_AUTOGROW_POLICY_VERSION);
	assert_int_equal(g.threshold_percent, 0);
	assert_int_equal(g.max_data_size_bytes, 0);
}

/* Options zeroed by hand (version 0) or from a newer header: refused, the state dir untouched. */
static void test_open_version(void **state)
{
	static const unsigned int bad[] = { 0, THINSNAP_OPTIONS_VERSION + 1, 1000 };
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_snapshotter *s = (struct thinsnap_snapshotter *)0x1;
	char dir[] = "/tmp/thinsnap-unit.XXXXXX", state_dir[64];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	o.state_dir = state_dir;
	o.pool_name = "thinsnap-unit-version";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct thinsnap_error e = { 0 };
		char want[160];

		o.version = bad[i];
		o.read_only = i % 2 == 1; /* a reader is refused the same way */
		snprintf(want, sizeof(want),
			 "thinsnap_options version %u is not supported (this library knows 1); "
			 "start from THINSNAP_OPTIONS_INIT",
			 bad[i]);
		assert_int_equal(thinsnap_open(&o, &s, &e), -EINVAL);
		assert_int_equal(e.err, -EINVAL);
		assert_string_equal(e.msg, want);
	}
	assert_ptr_equal(s, (struct thinsnap_snapshotter *)0x1); /* ret_ untouched */
	assert_int_equal(stat(state_dir, &st), -1);              /* nothing created */
	assert_int_equal(errno, ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

/* The policy's version is checked first, whatever the handle. */
static void test_autogrow_version(void **state)
{
	struct thinsnap_autogrow_policy g = THINSNAP_AUTOGROW_POLICY_INIT;
	struct thinsnap_space_report rep;
	struct thinsnap_error e = { 0 };

	(void)state;
	g.threshold_percent = 80;
	g.grow_percent = 20;
	g.version = 0;
	assert_int_equal(thinsnap_autogrow(NULL, &g, &rep, &e), -EINVAL);
	assert_string_equal(e.msg, "thinsnap_autogrow_policy version 0 is not supported (this "
				   "library knows 2); start from THINSNAP_AUTOGROW_POLICY_INIT");
	g.version = THINSNAP_AUTOGROW_POLICY_VERSION + 1;
	assert_int_equal(thinsnap_autogrow(NULL, &g, &rep, &e), -EINVAL);
	assert_string_equal(e.msg, "thinsnap_autogrow_policy version 3 is not supported (this "
				   "library knows 2); start from THINSNAP_AUTOGROW_POLICY_INIT");
	/* version 1 (no metadata cap) is still taken: what fails then is the missing handle */
	g.version = 1;
	assert_int_equal(thinsnap_autogrow(NULL, &g, &rep, &e), -EINVAL);
	assert_string_equal(e.msg, "no snapshotter");
}

static void test_state_pool_dir(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(thinsnap_state_pool_dir("/var/lib/thinsnap", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/var/lib/thinsnap/pool");
	assert_int_equal(thinsnap_state_pool_dir("/var/lib/thinsnap", buf, 22), -ENAMETOOLONG);
	assert_int_equal(thinsnap_state_pool_dir("/var/lib/thinsnap", buf, 23), 0);
	assert_int_equal(thinsnap_state_pool_dir("", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(thinsnap_state_pool_dir(NULL, buf, sizeof(buf)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_init),
		cmocka_unit_test(test_open_version),
		cmocka_unit_test(test_autogrow_version),
		cmocka_unit_test(test_state_pool_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
