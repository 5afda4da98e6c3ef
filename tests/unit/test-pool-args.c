/* pool/ argument checks that fail before any device-mapper call (no kernel needed). */
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
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thinsnap/pool.h>

static void test_create_args(void **state)
{
	struct thinsnap_pool_create_opts o;
	struct thinsnap_pool *p = (struct thinsnap_pool *)0x1;
	struct thinsnap_error e;

	(void)state;
	assert_int_equal(thinsnap_pool_create(NULL, &p, &e), -EINVAL);
	o = (struct thinsnap_pool_create_opts)THINSNAP_POOL_CREATE_OPTS_INIT;
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_string_equal(e.msg, "no pool name");
	o.name = "bad/name";
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_string_equal(e.msg, "invalid pool name 'bad/name'");
	o.name = "tp0";
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_string_equal(e.msg, "pool 'tp0': no state dir");
	o.state_dir = "/nonexistent";
	o.data_dev = "/dev/null";
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "give both data and metadata devices"));
	o.data_dev = NULL;
	o.data_block_sectors = 100;
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "block size"));
	o.data_block_sectors = 0;
	o.data_size_bytes = 4096; /* less than one 64 KiB block */
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "at least one block"));
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	o.name = longname;
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -ENAMETOOLONG);
	assert_ptr_equal(p, (struct thinsnap_pool *)0x1); /* ret_ untouched on failure */
}

/* Options zeroed by hand (version 0) or from a newer header: refused before anything. */
static void test_create_version(void **state)
{
	struct thinsnap_pool_create_opts o = THINSNAP_POOL_CREATE_OPTS_INIT;
	struct thinsnap_pool *p = (struct thinsnap_pool *)0x1;
	struct thinsnap_error e;
	char dir[] = "/tmp/thinsnap-unit.XXXXXX", state_dir[64];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(state_dir, sizeof(state_dir), "%s/pool", dir);
	o.name = "thinsnap-unit-version";
	o.state_dir = state_dir;
	o.data_size_bytes = 1ull << 30;
	o.version = 0;
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_int_equal(e.err, -EINVAL);
	assert_string_equal(e.msg, "thinsnap_pool_create_opts version 0 is not supported (this "
				   "library knows 1); start from THINSNAP_POOL_CREATE_OPTS_INIT");
	o.version = THINSNAP_POOL_CREATE_OPTS_VERSION + 1;
	assert_int_equal(thinsnap_pool_create(&o, &p, &e), -EINVAL);
	assert_string_equal(e.msg, "thinsnap_pool_create_opts version 2 is not supported (this "
				   "library knows 1); start from THINSNAP_POOL_CREATE_OPTS_INIT");
	assert_ptr_equal(p, (struct thinsnap_pool *)0x1);
	assert_int_equal(stat(state_dir, &st), -1); /* the state dir was not created */
	assert_int_equal(errno, ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

static void test_open_args(void **state)
{
	struct thinsnap_pool *p = NULL;
	struct thinsnap_error e;
	char dir[] = "/tmp/thinsnap-unit.XXXXXX";

	(void)state;
	assert_int_equal(thinsnap_pool_open(NULL, "/tmp", &p, &e), -EINVAL);
	assert_int_equal(thinsnap_pool_open("tp0", NULL, &p, &e), -EINVAL);
	assert_int_equal(thinsnap_pool_open("tp0", "/tmp", NULL, &e), -EINVAL);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(thinsnap_pool_open("tp0", dir, &p, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "pool 'tp0' not found"));
	assert_null(p);
	assert_int_equal(rmdir(dir), 0);
}

static void test_null_handles(void **state)
{
	struct thinsnap_error e;
	uint64_t tid;

	(void)state;
	thinsnap_pool_free(NULL);
	assert_null(thinsnap_pool_uuid(NULL));
	assert_null(thinsnap_pool_name(NULL));
	assert_int_equal(thinsnap_pool_create_thin(NULL, 1, &e), -EINVAL);
	assert_int_equal(thinsnap_pool_delete_thin(NULL, 1, &e), -EINVAL);
	assert_int_equal(thinsnap_pool_transaction_id(NULL, &tid, &e), -EINVAL);
	assert_int_equal(thinsnap_pool_destroy(NULL, &e), -EINVAL);
	assert_string_equal(thinsnap_pool_mode_name(THINSNAP_POOL_MODE_OUT_OF_DATA_SPACE),
			    "out_of_data_space");
	assert_string_equal(thinsnap_pool_mode_name(THINSNAP_POOL_MODE_FAIL), "fail");
}

static void test_dev_path(void **state)
{
	char buf[32];
	char big[200];

	(void)state;
	assert_int_equal(thinsnap_pool_dev_path("tp0-1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/dev/mapper/tp0-1");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(thinsnap_pool_dev_path(big, buf, sizeof(buf)), -ENAMETOOLONG);
	assert_int_equal(THINSNAP_POOL_DEV_ID_MAX, 16777215);
}

static void test_space_args(void **state)
{
	struct thinsnap_error e;
	uint32_t ev = 0;
	uint64_t n = 0;

	(void)state;
	assert_false(thinsnap_pool_loop_backed(NULL));
	assert_int_equal(thinsnap_pool_grow_limit(NULL, &n, &e), -EINVAL);
	assert_string_equal(e.msg, "grow limit: missing argument");
	assert_int_equal(thinsnap_pool_set_low_water(NULL, 1, &e), -EINVAL);
	assert_int_equal(thinsnap_pool_wait_event(NULL, &ev, 10, &e), -EINVAL);
	assert_string_equal(e.msg, "wait event: missing argument");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_space_args), cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_open_args),  cmocka_unit_test(test_null_handles),
		cmocka_unit_test(test_dev_path),   cmocka_unit_test(test_create_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
