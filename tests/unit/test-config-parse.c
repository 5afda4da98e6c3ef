/* config/: the TOML subset of the configuration file: accepted forms, every rejection with
 * its line, NUL bytes, files that can't be read. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containerd_file),
		cmocka_unit_test(test_thinsnap_table_and_strings),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_nul_and_name),
		cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
