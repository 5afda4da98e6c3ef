/* cli/args.c: global options before the verb, --help after it, KEY=VALUE labels, and the
 * embedded pool's sizes from the free disk. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static void test_globals(void **state)
{
	char *argv[] = { "thinsnap", "--state-dir", "/s", "--pool=p",   "--config",
			 "/c.toml",  "--json",      "-q", "--wait=2.5", "ls",
			 "--json",   "x",           NULL };
	struct thinsnap_cli_globals g;
	char err[128] = "";
	(void)state;

	assert_int_equal(thinsnap_cli_parse_globals(ARGC(argv), argv, &g, err, sizeof(err)), 0);
	assert_string_equal(g.state_dir, "/s");
	assert_string_equal(g.pool, "p");
	assert_string_equal(g.config, "/c.toml");
	assert_true(g.json);
	assert_true(g.quiet);
	assert_false(g.help);
	assert_int_equal(g.wait_ms, 2500);
	assert_int_equal(g.verb, 9);
	assert_string_equal(argv[g.verb], "ls");
}

static void test_globals_edges(void **state)
{
	char *none[] = { "thinsnap", NULL };
	char *help[] = { "thinsnap", "--help", NULL };
	char *ver[] = { "thinsnap", "--version", NULL };
	char *dd[] = { "thinsnap", "--", "-weird-verb", NULL };
	char *missing[] = { "thinsnap", "--pool", NULL };
	char *empty[] = { "thinsnap", "--state-dir=", "ls", NULL };
	char *unknown[] = { "thinsnap", "--bogus", "ls", NULL };
	char *prefix[] = { "thinsnap", "--poolx", "ls", NULL };
	char *wait0[] = { "thinsnap", "--wait", "0", "ls", NULL };
	char *waitneg[] = { "thinsnap", "--wait", "-1", "ls", NULL };
	char *waitbad[] = { "thinsnap", "--wait=5s", "ls", NULL };
	char *waitbig[] = { "thinsnap", "--wait=86401", "ls", NULL };
	struct thinsnap_cli_globals g;
	char err[128] = "";
	(void)state;

	assert_int_equal(thinsnap_cli_parse_globals(ARGC(none), none, &g, err, sizeof(err)), 0);
	assert_int_equal(g.verb, 1);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(help), help, &g, err, sizeof(err)), 0);
	assert_true(g.help);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(ver), ver, &g, err, sizeof(err)), 0);
	assert_true(g.version);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(dd), dd, &g, err, sizeof(err)), 0);
	assert_int_equal(g.verb, 2);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(missing), missing, &g, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "option '--pool' needs a value");
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(empty), empty, &g, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "option '--state-dir' needs a non-empty value");
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(unknown), unknown, &g, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "unknown option '--bogus'");
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(prefix), prefix, &g, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "unknown option '--poolx'");
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(none), none, &g, err, sizeof(err)), 0);
	assert_int_equal(g.wait_ms, 0);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(wait0), wait0, &g, err, sizeof(err)), 0);
	assert_int_equal(g.wait_ms, 0);
	assert_int_equal(g.verb, 3);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(waitneg), waitneg, &g, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "option '--wait' wants seconds (0 to 86400), not '-1'");
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(waitbad), waitbad, &g, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(thinsnap_cli_parse_globals(ARGC(waitbig), waitbig, &g, err, sizeof(err)),
			 -EINVAL);
}

static void test_wants_help(void **state)
{
	char *help[] = { "ls", "--json", "--help", NULL };
	char *h[] = { "pool", "create", "-h", NULL };
	char *after_dd[] = { "prepare", "--", "--help", NULL };
	char *none[] = { "ls", "-q", "x", NULL };
	char *verb_only[] = { "--help", NULL }; /* argv[0] is the verb, never an option */
	(void)state;

	assert_true(thinsnap_cli_wants_help(ARGC(help), help));
	assert_true(thinsnap_cli_wants_help(ARGC(h), h));
	assert_false(thinsnap_cli_wants_help(ARGC(after_dd), after_dd));
	assert_false(thinsnap_cli_wants_help(ARGC(none), none));
	assert_false(thinsnap_cli_wants_help(ARGC(verb_only), verb_only));
}

static void test_labels(void **state)
{
	char *k = NULL, *v = NULL;
	(void)state;

	assert_int_equal(thinsnap_cli_parse_label("a=b=c", &k, &v), 0);
	assert_string_equal(k, "a");
	assert_string_equal(v, "b=c");
	free(k);
	free(v);
	assert_int_equal(thinsnap_cli_parse_label("gc.root=", &k, &v), 0);
	assert_string_equal(k, "gc.root");
	assert_string_equal(v, "");
	free(k);
	free(v);
	k = v = NULL;
	assert_int_equal(thinsnap_cli_parse_label("novalue", &k, &v), -EINVAL);
	assert_int_equal(thinsnap_cli_parse_label("=x", &k, &v), -EINVAL);
	assert_null(k);
	assert_null(v);
}

static void test_pool_sizes(void **state)
{
	const uint64_t MiB = 1ull << 20, GiB = 1ull << 30;
	uint64_t d = 0, m = 0;
	(void)state;

	assert_int_equal(thinsnap_cli_default_pool_sizes(20 * GiB, &d, &m), 0);
	assert_true(d == 10 * GiB);
	assert_true(m == 16 * MiB);
	assert_int_equal(thinsnap_cli_default_pool_sizes(1000 * GiB, &d, &m), 0);
	assert_true(d == 100 * GiB);
	assert_true(m == 100 * MiB);
	assert_int_equal(thinsnap_cli_default_pool_sizes(3 * GiB + 12345, &d, &m), 0);
	assert_true(d % (64 * 1024) == 0);
	assert_true(d <= (3 * GiB + 12345) / 2);
	d = m = 7;
	assert_int_equal(thinsnap_cli_default_pool_sizes(500 * MiB, &d, &m), -ENOSPC);
	assert_true(d == 7 && m == 7);
	assert_int_equal(thinsnap_cli_default_pool_sizes(UINT64_MAX, &d, &m), 0);
	assert_true(d == 100 * GiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_globals),    cmocka_unit_test(test_globals_edges),
		cmocka_unit_test(test_wants_help), cmocka_unit_test(test_labels),
		cmocka_unit_test(test_pool_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
