/*
 * base/spawn: tool lookup, exit statuses and signals, stdout captured whole, stderr's
 * trimmed tail, /dev/null for what is not captured, and both pipes read without deadlock.
 */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/spawn.h"

static void test_find(void **state)
{
	char buf[256];
	(void)state;

	assert_int_equal(thinsnap_spawn_find("sh", buf, sizeof(buf)), 0);
	assert_true(strcmp(buf, "/usr/bin/sh") == 0 || strcmp(buf, "/bin/sh") == 0);
	assert_int_equal(thinsnap_spawn_find("/bin/sh", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/bin/sh");
	assert_int_equal(thinsnap_spawn_find("thinsnap-no-such-tool", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(thinsnap_spawn_find("/nonexistent/sh", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(thinsnap_spawn_find("/etc/passwd", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(thinsnap_spawn_find("sh", buf, 8), -ENAMETOOLONG);
	assert_int_equal(thinsnap_spawn_find("", buf, sizeof(buf)), -EINVAL);
}

static void test_missing_tool(void **state)
{
	char *argv[] = { "thinsnap-no-such-tool", "-x", NULL };
	char *out = (char *)"untouched", *err = (char *)"untouched";
	(void)state;

	assert_int_equal(thinsnap_spawn_capture(argv, &out, &err), -ENOENT);
	assert_string_equal(out, "untouched");
	assert_string_equal(err, "untouched");
	assert_int_equal(thinsnap_spawn_capture((char *[]){ NULL }, &out, NULL), -EINVAL);
}

static void test_status_and_outputs(void **state)
{
	char *argv[] = { "sh", "-c", "echo out; echo line1 >&2; echo 'last line  ' >&2; exit 3",
			 NULL };
	char *out = NULL, *err = NULL;
	(void)state;

	assert_int_equal(thinsnap_spawn_capture(argv, &out, &err), 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(err, "line1\nlast line"); /* trailing spaces and newline trimmed */
	free(out);
	free(err);

	/* nothing captured: both go to /dev/null, the status still comes back */
	assert_int_equal(thinsnap_spawn_capture(argv, NULL, NULL), 3);

	/* empty outputs are "" */
	char *quiet[] = { "true", NULL };
	assert_int_equal(thinsnap_spawn_capture(quiet, &out, &err), 0);
	assert_string_equal(out, "");
	assert_string_equal(err, "");
	free(out);
	free(err);

	/* stdin is /dev/null: cat ends at once */
	char *cat[] = { "cat", NULL };
	assert_int_equal(thinsnap_spawn_capture(cat, &out, NULL), 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_signal(void **state)
{
	char *argv[] = { "sh", "-c", "echo partial; kill -9 $$", NULL };
	char *out = NULL;
	(void)state;

	assert_int_equal(thinsnap_spawn_capture(argv, &out, NULL), 128 + 9);
	assert_string_equal(out, "partial\n");
	free(out);
}

/* 1 MiB on stdout and 100 KiB on stderr, interleaved: neither pipe may fill up unread. */
static void test_large_outputs(void **state)
{
	char *argv[] = { "sh", "-c",
			 "i=0; while [ $i -lt 100 ]; do head -c 10240 /dev/zero | tr '\\0' a; "
			 "head -c 1024 /dev/zero | tr '\\0' b >&2; i=$((i+1)); done; "
			 "printf 'the end\\n\\n' >&2",
			 NULL };
	char *out = NULL, *err = NULL;
	size_t n;
	(void)state;

	assert_int_equal(thinsnap_spawn_capture(argv, &out, &err), 0);
	n = strlen(out);
	assert_int_equal(n, 100 * 10240);
	for (size_t i = 0; i < n; i++)
		if (out[i] != 'a')
			fail_msg("stdout byte %zu is %d", i, out[i]);
	n = strlen(err);
	/* the last 4096 bytes, then "\n\n" trimmed */
	assert_int_equal(n, THINSNAP_SPAWN_STDERR_MAX - 2);
	assert_string_equal(err + n - 7, "the end");
	for (size_t i = 0; i < n - 7; i++)
		if (err[i] != 'b')
			fail_msg("stderr byte %zu is %d", i, err[i]);
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_missing_tool),
		cmocka_unit_test(test_status_and_outputs),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_large_outputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
