/* config/: the keys and their defaults, booleans, the environment, flag > env > file >
 * default, loading from $THINSNAP_CONFIG, and the library's options from the result. */
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
#include <unistd.h>

#include "config/config.h"

static void test_defaults(void **state)
{
	struct thinsnap_config c;
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_string_equal(c.state_dir, "/var/lib/thinsnap");
	assert_string_equal(c.pool_name, "thinsnap-pool");
	assert_string_equal(c.fs_type, "ext4");
	assert_string_equal(c.fs_options, "");
	assert_true(c.base_size_bytes == 10ull << 30);
	assert_false(c.async_remove);
	assert_false(c.discard_blocks);
	assert_int_equal(c.min_free_data_percent, 10);
	assert_int_equal(c.min_free_metadata_percent, 10);
	for (int k = 0; k < THINSNAP_CONFIG_N_KEYS; k++)
		assert_int_equal(c.source[k], THINSNAP_CONFIG_DEFAULT);
	thinsnap_config_clear(&c);
	thinsnap_config_clear(&c); /* twice is fine */
}

static void test_bools(void **state)
{
	bool b = false;
	(void)state;

	assert_int_equal(thinsnap_config_parse_bool("TRUE", &b), 0);
	assert_true(b);
	assert_int_equal(thinsnap_config_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(thinsnap_config_parse_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(thinsnap_config_parse_bool("0", &b), 0);
	assert_false(b);
	assert_int_equal(thinsnap_config_parse_bool("maybe", &b), -EINVAL);
	assert_int_equal(thinsnap_config_parse_bool("", &b), -EINVAL);
}

static void test_min_free(void **state)
{
	static const char text[] = "[thinsnap]\nmin_free_data_percent = 25\n"
				   "min_free_metadata_percent = 0\n";
	char *env[] = { "THINSNAP_MIN_FREE_DATA_PERCENT=30%", NULL };
	char *bad_env[] = { "THINSNAP_MIN_FREE_METADATA_PERCENT=101", NULL };
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, text, strlen(text), &e), 0);
	assert_int_equal(c.min_free_data_percent, 25);
	assert_int_equal(c.min_free_metadata_percent, 0); /* 0: no floor */
	assert_int_equal(thinsnap_config_apply_env(&c, env, &e), 0);
	assert_int_equal(c.min_free_data_percent, 30);
	assert_int_equal(c.source[THINSNAP_CONFIG_MIN_FREE_DATA], THINSNAP_CONFIG_ENV);
	assert_int_equal(thinsnap_config_apply_env(&c, bad_env, &e), -EINVAL);
	assert_string_equal(e.msg, "environment THINSNAP_MIN_FREE_METADATA_PERCENT: "
				   "min_free_metadata_percent: bad percentage '101' (0 to 100)");
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_MIN_FREE_DATA, "ten",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_MIN_FREE_DATA, "-1",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_MIN_FREE_DATA, "100",
					     THINSNAP_CONFIG_FLAG, &e),
			 0);
	assert_int_equal(c.min_free_data_percent, 100);
	thinsnap_config_clear(&c);

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, "min_free_data_percent = \"5\"\n", 28, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "line 1: 'min_free_data_percent' must be an integer");
	assert_int_equal(thinsnap_config_parse(&c, NULL, "min_free_data_percent = -5\n", 27, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "line 1: 'min_free_data_percent' must be 0 to 100");
	thinsnap_config_clear(&c);
	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, "min_free_data_percent = 150\n", 28, &e),
			 -EINVAL);
	assert_string_equal(e.msg,
			    "line 1: min_free_data_percent: bad percentage '150' (0 to 100)");
	thinsnap_config_clear(&c);
}

/* thinsnapd's metrics_address: a string, empty by default (off), env over file. */
static void test_metrics_address(void **state)
{
	static const char text[] = "[thinsnap]\nmetrics_address = \"unix:/run/m.sock\"\n";
	char *env[] = { "THINSNAP_METRICS_ADDRESS=127.0.0.1:9100", NULL };
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_string_equal(c.metrics_address, "");
	assert_string_equal(thinsnap_config_key_name(THINSNAP_CONFIG_METRICS_ADDRESS),
			    "metrics_address");
	assert_int_equal(thinsnap_config_parse(&c, NULL, text, strlen(text), &e), 0);
	assert_string_equal(c.metrics_address, "unix:/run/m.sock");
	assert_int_equal(thinsnap_config_apply_env(&c, env, &e), 0);
	assert_string_equal(c.metrics_address, "127.0.0.1:9100");
	assert_int_equal(c.source[THINSNAP_CONFIG_METRICS_ADDRESS], THINSNAP_CONFIG_ENV);
	thinsnap_config_clear(&c);
}

static void test_monitor_keys(void **state)
{
	static const char text[] = "[thinsnap]\nautogrow_threshold_percent = 70\n"
				   "autogrow_percent = 25\nautogrow_max_size = \"2G\"\n"
				   "monitor_interval = 3\nspace_warning_margin_percent = 7\n";
	char *env[] = { "THINSNAP_AUTOGROW_MAX_SIZE=0", "THINSNAP_MONITOR_INTERVAL=60", NULL };
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(c.autogrow_threshold_percent, 80);
	assert_int_equal(c.autogrow_percent, 20);
	assert_int_equal(c.autogrow_max_size_bytes, 0);
	assert_int_equal(c.monitor_interval_s, 10);
	assert_int_equal(c.warn_margin_percent, 5);
	assert_int_equal(c.autogrow_metadata_max_size_bytes, THINSNAP_POOL_METADATA_MAX_BYTES);
	assert_int_equal(thinsnap_config_parse(&c, NULL, text, strlen(text), &e), 0);
	assert_int_equal(c.autogrow_threshold_percent, 70);
	assert_int_equal(c.autogrow_percent, 25);
	assert_int_equal(c.autogrow_max_size_bytes, 2ull << 30);
	assert_int_equal(c.monitor_interval_s, 3);
	assert_int_equal(c.warn_margin_percent, 7);
	assert_int_equal(thinsnap_config_apply_env(&c, env, &e), 0);
	assert_int_equal(c.autogrow_max_size_bytes, 0); /* 0: no cap */
	assert_int_equal(c.monitor_interval_s, 60);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_MONITOR_INTERVAL, "0",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "monitor_interval: bad interval '0' (1 to 86400 seconds)");
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_MONITOR_INTERVAL, "86401",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_AUTOGROW_MAX_SIZE, "lots",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "autogrow_max_size: bad size 'lots' (0 = no cap)");
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_AUTOGROW_THRESHOLD, "101",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_int_equal(c.autogrow_threshold_percent, 70); /* unchanged */
	thinsnap_config_clear(&c);

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, "monitor_interval = \"5\"\n", 23, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "line 1: 'monitor_interval' must be an integer");
	assert_int_equal(thinsnap_config_parse(&c, NULL, "autogrow_max_size = 0\n", 22, &e), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, "autogrow_max_size = -1\n", 23, &e),
			 -EINVAL);
	thinsnap_config_clear(&c);

	/* the metadata's cap: a size; 0 or past the kernel's limit is that limit */
	struct thinsnap_autogrow_policy p;
	char *menv[] = { "THINSNAP_AUTOGROW_METADATA_MAX_SIZE=1G", NULL };
	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, "autogrow_metadata_max_size = \"8M\"\n",
					       strlen("autogrow_metadata_max_size = \"8M\"\n"), &e),
			 0);
	assert_int_equal(c.autogrow_metadata_max_size_bytes, 8ull << 20);
	thinsnap_config_to_autogrow(&c, &p);
	assert_int_equal(p.version, THINSNAP_AUTOGROW_POLICY_VERSION);
	assert_int_equal(p.max_metadata_size_bytes, 8ull << 20);
	assert_int_equal(thinsnap_config_apply_env(&c, menv, &e), 0);
	assert_int_equal(c.autogrow_metadata_max_size_bytes, 1ull << 30);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE, "0",
					     THINSNAP_CONFIG_FLAG, &e),
			 0);
	assert_int_equal(c.autogrow_metadata_max_size_bytes, THINSNAP_POOL_METADATA_MAX_BYTES);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE, "64G",
					     THINSNAP_CONFIG_FLAG, &e),
			 0);
	assert_int_equal(c.autogrow_metadata_max_size_bytes, THINSNAP_POOL_METADATA_MAX_BYTES);
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE, "x",
					     THINSNAP_CONFIG_FLAG, &e),
			 -EINVAL);
	assert_string_equal(e.msg,
			    "autogrow_metadata_max_size: bad size 'x' (0 = the kernel's limit)");
	assert_int_equal(c.autogrow_metadata_max_size_bytes, THINSNAP_POOL_METADATA_MAX_BYTES);
	thinsnap_config_clear(&c);
}

static void test_precedence(void **state)
{
	static const char text[] = "pool_name = \"from-file\"\nroot_path = \"/file\"\n"
				   "fs_type = \"xfs\"\nasync_remove = true\n";
	char *env[] = { "THINSNAP_POOL=from-env",
			"THINSNAP_STATE_DIR=/env",
			"THINSNAP_DISCARD_BLOCKS=yes",
			"THINSNAP_FS_OPTIONS=",
			"PATH=/bin",
			NULL };
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	/* flags first, then env, then file: the order of calls does not matter */
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_POOL_NAME, "from-flag",
					     THINSNAP_CONFIG_FLAG, &e),
			 0);
	assert_int_equal(thinsnap_config_apply_env(&c, env, &e), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, text, strlen(text), &e), 0);
	assert_string_equal(c.pool_name, "from-flag");
	assert_string_equal(c.state_dir, "/env");
	assert_string_equal(c.fs_type, "xfs");
	assert_true(c.async_remove);
	assert_true(c.discard_blocks);
	assert_string_equal(c.fs_options, ""); /* an empty env value is ignored */
	assert_int_equal(c.source[THINSNAP_CONFIG_POOL_NAME], THINSNAP_CONFIG_FLAG);
	assert_int_equal(c.source[THINSNAP_CONFIG_STATE_DIR], THINSNAP_CONFIG_ENV);
	assert_int_equal(c.source[THINSNAP_CONFIG_FS_TYPE], THINSNAP_CONFIG_FILE);
	assert_int_equal(c.source[THINSNAP_CONFIG_BASE_SIZE], THINSNAP_CONFIG_DEFAULT);
	/* a lower source later does not override, a same-rank one does */
	assert_int_equal(
		thinsnap_config_set(&c, THINSNAP_CONFIG_POOL_NAME, "env2", THINSNAP_CONFIG_ENV, &e),
		0);
	assert_string_equal(c.pool_name, "from-flag");
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_POOL_NAME, "flag2",
					     THINSNAP_CONFIG_FLAG, &e),
			 0);
	assert_string_equal(c.pool_name, "flag2");
	/* a bad value is rejected even when it would not win */
	assert_int_equal(thinsnap_config_set(&c, THINSNAP_CONFIG_ASYNC_REMOVE, "perhaps",
					     THINSNAP_CONFIG_DEFAULT, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "async_remove: bad boolean 'perhaps'");
	thinsnap_config_clear(&c);
}

static void test_env_errors(void **state)
{
	char *env[] = { "THINSNAP_BASE_IMAGE_SIZE=lots", NULL };
	char *env2[] = { "THINSNAP_BASE_IMAGE_SIZE=2GiB", "THINSNAP_ASYNC_REMOVE=1", NULL };
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_apply_env(&c, env, &e), -EINVAL);
	assert_string_equal(
		e.msg, "environment THINSNAP_BASE_IMAGE_SIZE: base_image_size: bad size 'lots'");
	assert_int_equal(thinsnap_config_apply_env(&c, env2, &e), 0);
	assert_true(c.base_size_bytes == 2ull << 30);
	assert_true(c.async_remove);
	assert_null(thinsnap_config_getenv(env2, "THINSNAP_BASE"));
	assert_null(thinsnap_config_getenv(NULL, "X"));
	thinsnap_config_clear(&c);
}

/* A temporary config file holding text; the caller unlinks path. */
static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_load(void **state)
{
	char path[] = "/tmp/test-config.XXXXXX", bad[] = "/tmp/test-config.XXXXXX";
	char env_file[96], missing[] = "/tmp/test-config.none";
	char *env[] = { env_file, "THINSNAP_FS_TYPE=ext2", "THINSNAP_POOL=", NULL };
	char *no_file[] = { "THINSNAP_CONFIG=", NULL };
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	write_file(path, "pool_name = \"from-file\"\nfs_type = \"xfs\"\n");
	snprintf(env_file, sizeof(env_file), "THINSNAP_CONFIG=%s", path);

	/* $THINSNAP_CONFIG names the file; the environment outranks it */
	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_load(&c, NULL, env, &e), 0);
	assert_string_equal(c.pool_name, "from-file");
	assert_string_equal(c.fs_type, "ext2");
	assert_int_equal(c.source[THINSNAP_CONFIG_POOL_NAME], THINSNAP_CONFIG_FILE);
	assert_int_equal(c.source[THINSNAP_CONFIG_FS_TYPE], THINSNAP_CONFIG_ENV);
	/* then the flags */
	assert_int_equal(thinsnap_config_set_flags(&c, "/flag", NULL, &e), 0);
	assert_string_equal(c.state_dir, "/flag");
	assert_string_equal(c.pool_name, "from-file");
	assert_int_equal(thinsnap_config_set_flags(&c, NULL, "from-flag", &e), 0);
	assert_string_equal(c.pool_name, "from-flag");
	assert_int_equal(thinsnap_config_set_flags(&c, NULL, "a/b", &e), -EINVAL);
	assert_string_equal(e.msg,
			    "pool_name must be a device-mapper name (no '/', at most 127 bytes)");
	thinsnap_config_clear(&c);

	/* a named file wins over $THINSNAP_CONFIG; a missing one is an error */
	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_load(&c, missing, env, &e), -ENOENT);
	assert_string_equal(e.msg, "/tmp/test-config.none: No such file or directory");
	thinsnap_config_clear(&c);

	/* an empty name is none: the default file, when it exists */
	if (access(THINSNAP_CONFIG_DEFAULT_FILE, F_OK) < 0) {
		assert_int_equal(thinsnap_config_init(&c), 0);
		assert_int_equal(thinsnap_config_load(&c, "", no_file, &e), 0);
		assert_int_equal(thinsnap_config_load(&c, NULL, no_file, &e), 0);
		assert_string_equal(c.pool_name, THINSNAP_CONFIG_DEFAULT_POOL);
		thinsnap_config_clear(&c);
	}

	/* file errors name the file and line */
	write_file(bad, "fs_type = 1\n");
	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_load(&c, bad, env, &e), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s: line 1: 'fs_type' must be a string", bad);
	assert_string_equal(e.msg, want);
	thinsnap_config_clear(&c);
	unlink(bad);
	unlink(path);
}

static void test_to_options(void **state)
{
	struct thinsnap_autogrow_policy g;
	struct thinsnap_options o;
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	thinsnap_config_to_options(&c, &o);
	assert_int_equal(o.version, THINSNAP_OPTIONS_VERSION);
	assert_string_equal(o.state_dir, "/var/lib/thinsnap");
	assert_string_equal(o.pool_name, "thinsnap-pool");
	assert_true(o.base_size_bytes == 10ull << 30);
	assert_string_equal(o.fs_type, "ext4");
	assert_null(o.fs_options); /* "" = none */
	assert_false(o.async_remove);
	assert_false(o.discard_blocks);
	assert_false(o.read_only);
	assert_null(o.log);
	assert_int_equal(o.min_free_data_percent, 10);
	assert_int_equal(o.min_free_metadata_percent, 10);
	thinsnap_config_to_autogrow(&c, &g);
	assert_int_equal(g.version, THINSNAP_AUTOGROW_POLICY_VERSION);
	assert_int_equal(g.threshold_percent, 80);
	assert_int_equal(g.grow_percent, 20);
	assert_true(g.max_data_size_bytes == 0);

	static const char text[] = "fs_options = \"-E nodiscard\"\nmin_free_data_percent = 0\n"
				   "min_free_metadata_percent = 25\nasync_remove = true\n"
				   "discard_blocks = true\nautogrow_threshold_percent = 90\n"
				   "autogrow_percent = 5\nautogrow_max_size = \"1G\"\n";
	assert_int_equal(thinsnap_config_parse(&c, NULL, text, strlen(text), &e), 0);
	thinsnap_config_to_options(&c, &o);
	assert_string_equal(o.fs_options, "-E nodiscard");
	assert_int_equal(o.min_free_data_percent, -1); /* 0 = no floor: -1 for the library */
	assert_int_equal(o.min_free_metadata_percent, 25);
	assert_true(o.async_remove);
	assert_true(o.discard_blocks);
	assert_ptr_equal(o.state_dir, c.state_dir); /* borrowed */
	thinsnap_config_to_autogrow(&c, &g);
	assert_int_equal(g.threshold_percent, 90);
	assert_int_equal(g.grow_percent, 5);
	assert_true(g.max_data_size_bytes == 1ull << 30);
	thinsnap_config_clear(&c);
}

static void test_key_types(void **state)
{
	(void)state;
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_STATE_DIR),
			 THINSNAP_CONFIG_TYPE_STRING);
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_METRICS_ADDRESS),
			 THINSNAP_CONFIG_TYPE_STRING);
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_DISCARD_BLOCKS),
			 THINSNAP_CONFIG_TYPE_BOOL);
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_WARN_MARGIN),
			 THINSNAP_CONFIG_TYPE_PERCENT);
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_MONITOR_INTERVAL),
			 THINSNAP_CONFIG_TYPE_SECONDS);
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_BASE_SIZE),
			 THINSNAP_CONFIG_TYPE_SIZE);
	assert_int_equal(thinsnap_config_key_type(THINSNAP_CONFIG_AUTOGROW_MAX_SIZE),
			 THINSNAP_CONFIG_TYPE_SIZE);
	assert_string_equal(thinsnap_config_key_name(THINSNAP_CONFIG_WARN_MARGIN),
			    "space_warning_margin_percent");
	assert_string_equal(thinsnap_config_key_name(THINSNAP_CONFIG_N_KEYS), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),        cmocka_unit_test(test_bools),
		cmocka_unit_test(test_precedence),      cmocka_unit_test(test_min_free),
		cmocka_unit_test(test_metrics_address), cmocka_unit_test(test_monitor_keys),
		cmocka_unit_test(test_env_errors),      cmocka_unit_test(test_load),
		cmocka_unit_test(test_to_options),      cmocka_unit_test(test_key_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
