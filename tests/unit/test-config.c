/* config/: the TOML subset (accepted forms, every rejection with its line), booleans, the
 * environment, flag > env > file > default, and the library's options from the result. */
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

static const char containerd_cfg[] = "version = 2\n"
				     "\n"
				     "# the devmapper snapshotter, as in containerd's docs\n"
				     "[plugins.\"io.containerd.snapshotter.v1.devmapper\"]\n"
				     "  pool_name = \"containerd-pool\"\n"
				     "  root_path = \"/var/lib/containerd/devmapper\"   # state\n"
				     "  base_image_size = \"8GB\"\n"
				     "  async_remove = true\n"
				     "  discard_blocks = true\n"
				     "  fs_type = \"ext4\"\n"
				     "  fs_options = \"-E nodiscard\"\r\n";

static void test_containerd_file(void **state)
{
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(
		thinsnap_config_parse(&c, NULL, containerd_cfg, strlen(containerd_cfg), &e), 0);
	assert_string_equal(c.pool_name, "containerd-pool");
	assert_string_equal(c.state_dir, "/var/lib/containerd/devmapper");
	assert_true(c.base_size_bytes == 8ull << 30);
	assert_true(c.async_remove);
	assert_true(c.discard_blocks);
	assert_string_equal(c.fs_type, "ext4");
	assert_string_equal(c.fs_options, "-E nodiscard");
	assert_int_equal(c.source[THINSNAP_CONFIG_POOL_NAME], THINSNAP_CONFIG_FILE);
	thinsnap_config_clear(&c);
}

static void test_thinsnap_table_and_strings(void **state)
{
	static const char text[] = "# top-level keys are fine too\n"
				   "fs_options = 'literal \\n stays'\n"
				   "[ thinsnap ]\n"
				   "pool_name = \"a\\\"b\\\\c\\u00e9\\U0001F600\\t\"\n"
				   "base_image_size = 1_048_576\n"
				   "\"async_remove\" = false\n";
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, "f", text, strlen(text), &e), 0);
	assert_string_equal(c.fs_options, "literal \\n stays");
	assert_string_equal(c.pool_name, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80\t");
	assert_true(c.base_size_bytes == 1048576);
	assert_false(c.async_remove);
	thinsnap_config_clear(&c);
}

/* Every rejection names its line. */
static void test_rejections(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} rows[] = {
		{ "pool_name = \"x\"\nbogus = 1\n", "line 2: unknown key 'bogus'" },
		{ "\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n", "line 3: unknown table" },
		{ "[plugins]\n", "line 1: unknown table" },
		{ "[thinsnap.x]\n", "line 1: unknown table" },
		{ "[[thinsnap]]\n", "line 1: arrays of tables are not supported" },
		{ "[thinsnap]\n[thinsnap]\n", "line 2: table defined twice" },
		{ "[thinsnap\n", "line 1: expected ']'" },
		{ "pool_name = \"x\"\npool_name = \"y\"\n",
		  "line 2: 'pool_name' already set on line 1" },
		{ "pool_name = \"x\"\n[thinsnap]\npool_name = \"y\"\n",
		  "line 3: 'pool_name' already set on line 1" },
		{ "pool_name = 3\n", "line 1: 'pool_name' must be a string" },
		{ "async_remove = \"yes\"\n", "line 1: 'async_remove' must be a boolean" },
		{ "base_image_size = true\n", "line 1: 'base_image_size' must be a size string" },
		{ "base_image_size = \"10 XB\"\n", "line 1: base_image_size: bad size '10 XB'" },
		{ "base_image_size = 0\n", "line 1: 'base_image_size' must be positive" },
		{ "base_image_size = \"0\"\n", "line 1: base_image_size: bad size '0'" },
		{ "pool_name = \"\"\n", "line 1: pool_name must not be empty" },
		{ "pool_name = \"a/b\"\n", "line 1: pool_name must be a device-mapper name" },
		{ "root_path = \"\"\n", "line 1: root_path must not be empty" },
		{ "pool_name = \"x\n", "line 1: unterminated string" },
		{ "pool_name = \"\"\"x\"\"\"\n", "line 1: multi-line strings are not supported" },
		{ "pool_name = \"\\q\"\n", "line 1: bad escape in a string" },
		{ "pool_name = \"\\u00\"\n", "line 1: bad \\u escape" },
		{ "pool_name = \"\\uD800\"\n", "line 1: bad unicode code point" },
		{ "pool_name = \"\\u0000\"\n", "line 1: NUL in a string" },
		{ "pool_name = \"a\x01\"\n", "line 1: control character in a string" },
		{ "pool_name = \"x\" y\n", "line 1: unexpected 'y' after the value" },
		{ "pool_name \"x\"\n", "line 1: expected '='" },
		{ "pool_name =\n", "line 1: expected a value" },
		{ "pool_name = [\"x\"]\n", "line 1: arrays and inline tables are not supported" },
		{ "pool_name = {a = 1}\n", "line 1: arrays and inline tables are not supported" },
		{ "pool.name = 1\n", "line 1: unknown key 'pool'" },
		{ "root_path.x = 1\n", "line 1: dotted keys are not supported" },
		{ "= 1\n", "line 1: expected a key" },
		{ "async_remove = truth\n", "line 1: unsupported value" },
		{ "async_remove = yes\n", "line 1: unsupported value" },
		{ "base_image_size = 1.5\n", "line 1: floats and dates are not supported" },
		{ "base_image_size = 0x10\n", "line 1: only decimal integers are supported" },
		{ "base_image_size = 012\n", "line 1: leading zeros in an integer" },
		{ "base_image_size = 1__0\n", "line 1: misplaced '_' in an integer" },
		{ "base_image_size = 99999999999999999999\n", "line 1: integer out of range" },
		{ "version = 9\n", "line 1: 'version' must be 1, 2 or 3" },
		{ "version = 2\nversion = 2\n", "line 2: 'version' set twice" },
		{ "[thinsnap]\nversion = 2\n", "line 2: unknown key 'version'" },
		{ "# ok\n# bad \x01 comment\n", "line 2: control character in a comment" },
		{ "pool_name = \"x\"\n\rroot_path = \"/\"\n", "line 2: expected a key" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct thinsnap_config c;
		struct thinsnap_error e = { 0 };
		assert_int_equal(thinsnap_config_init(&c), 0);
		int r = thinsnap_config_parse(&c, NULL, rows[i].text, strlen(rows[i].text), &e);
		if (r != -EINVAL || strncmp(e.msg, rows[i].msg, strlen(rows[i].msg)) != 0)
			fail_msg("row %zu: got %d '%s', want '%s'", i, r, e.msg, rows[i].msg);
		thinsnap_config_clear(&c);
	}
}

static void test_nul_and_name(void **state)
{
	static const char text[] = "pool_name = \"x\"\n\nfs\0_type = 1\n";
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	(void)state;

	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_parse(&c, "/etc/x.toml", text, sizeof(text) - 1, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "/etc/x.toml: line 3: NUL byte");
	/* empty input is a valid, empty config */
	assert_int_equal(thinsnap_config_parse(&c, NULL, "", 0, &e), 0);
	assert_int_equal(thinsnap_config_parse(&c, NULL, NULL, 0, &e), 0);
	thinsnap_config_clear(&c);
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

static void test_load_file(void **state)
{
	char path[] = "/tmp/test-config.XXXXXX";
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[thinsnap]\nfs_type = \"ext4\"\nfs_typo = 1\n", 40), 40);
	close(fd);
	assert_int_equal(thinsnap_config_init(&c), 0);
	assert_int_equal(thinsnap_config_load_file(&c, path, &e), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s: line 3: unknown key 'fs_typo'", path);
	assert_string_equal(e.msg, want);
	unlink(path);
	assert_int_equal(thinsnap_config_load_file(&c, path, &e), -ENOENT);
	assert_int_equal(thinsnap_config_load_file(&c, "/tmp", &e), -EINVAL);
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
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_containerd_file),
		cmocka_unit_test(test_thinsnap_table_and_strings),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_nul_and_name),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_min_free),
		cmocka_unit_test(test_metrics_address),
		cmocka_unit_test(test_monitor_keys),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_to_options),
		cmocka_unit_test(test_key_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
