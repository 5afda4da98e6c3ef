/* cli/format.c: sizes as ctr prints them, times, table alignment, the parent forest (text and
 * JSON), mount lines with quoting, and the JSON form of an info (parsed back with jansson). */
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

#include "cli/format.h"

/* Runs fn into a memory stream and returns what it printed (malloc'd). */
struct mem {
	char *buf;
	size_t len;
	FILE *f;
};

static void mem_open(struct mem *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	assert_non_null(m->f);
}

static char *mem_close(struct mem *m)
{
	assert_int_equal(fclose(m->f), 0);
	return m->buf;
}

static void test_sizes(void **state)
{
	static const struct {
		int64_t v;
		bool raw;
		const char *want;
	} rows[] = {
		{ 0, false, "0.0 B" },
		{ 512, false, "512.0 B" },
		{ 1024, false, "1.0 KiB" },
		{ 4096, false, "4.0 KiB" },
		{ 1536 * 1024, false, "1.5 MiB" },
		{ 10ll << 30, false, "10.0 GiB" },
		{ 3ll << 40, false, "3.0 TiB" },
		{ INT64_MAX, false, "8.0 EiB" },
		{ -5, false, "0.0 B" },
		{ 4096, true, "4096" },
		{ 0, true, "0" },
	};
	char buf[32];
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		thinsnap_cli_format_size(rows[i].v, rows[i].raw, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].want);
	}
}

static void test_times(void **state)
{
	char buf[64];
	(void)state;

	thinsnap_cli_format_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	thinsnap_cli_format_time(1795812304500000000ll, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T20:45:04.5Z");
	thinsnap_cli_format_time(1795812304000000001ll, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T20:45:04.000000001Z");
	thinsnap_cli_format_time(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999999999Z");
}

static void test_table(void **state)
{
	struct thinsnap_cli_table *t = thinsnap_cli_table_new(3);
	const char *h[] = { "KEY", "PARENT", "KIND" };
	const char *r1[] = { "base", "", "Committed" };
	const char *r2[] = { "w\xc3\xa9"
			     "b",
			     "base", "Active" };
	const char *r3[] = { "a-much-longer-key", NULL, "" };
	struct mem m;
	(void)state;

	assert_non_null(t);
	assert_null(thinsnap_cli_table_new(0));
	assert_int_equal(thinsnap_cli_table_add(t, h), 0);
	assert_int_equal(thinsnap_cli_table_add(t, r1), 0);
	assert_int_equal(thinsnap_cli_table_add(t, r2), 0);
	for (int i = 0; i < 20; i++) /* grows past the first allocation */
		assert_int_equal(thinsnap_cli_table_add(t, r3), 0);
	mem_open(&m);
	assert_int_equal(thinsnap_cli_table_print(t, m.f), 0);
	char *out = mem_close(&m);
	/* é counts as one column; no trailing blanks */
	assert_memory_equal(out,
			    "KEY               PARENT KIND\n"
			    "base                     Committed\n"
			    "w\xc3\xa9"
			    "b               base   Active\n"
			    "a-much-longer-key\n",
			    strlen("KEY               PARENT KIND\n"
				   "base                     Committed\n"
				   "w\xc3\xa9"
				   "b               base   Active\n"
				   "a-much-longer-key\n"));
	free(out);
	thinsnap_cli_table_free(t);
	thinsnap_cli_table_free(NULL);
}

static const struct thinsnap_cli_node forest[] = {
	{ "layer2", "layer1", THINSNAP_KIND_COMMITTED }, { "work", "layer2", THINSNAP_KIND_ACTIVE },
	{ "layer1", NULL, THINSNAP_KIND_COMMITTED },     { "aview", "layer2", THINSNAP_KIND_VIEW },
	{ "zlayer", "layer2", THINSNAP_KIND_COMMITTED }, { "scratch", "", THINSNAP_KIND_ACTIVE },
	{ "orphan", "gone", THINSNAP_KIND_ACTIVE },      { "other", NULL, THINSNAP_KIND_COMMITTED },
};

static void test_tree(void **state)
{
	struct mem m;
	(void)state;

	mem_open(&m);
	assert_int_equal(
		thinsnap_cli_tree_print(forest, sizeof(forest) / sizeof(forest[0]), false, m.f), 0);
	char *out = mem_close(&m);
	assert_string_equal(out, " layer1\n"
				 "  \\_ layer2\n"
				 "    \\_ zlayer\n"
				 "    \\_ aview\n"
				 "    \\_ work\n"
				 " other\n"
				 " orphan\n"
				 " scratch\n");
	free(out);

	mem_open(&m);
	assert_int_equal(thinsnap_cli_tree_print(NULL, 0, false, m.f), 0);
	out = mem_close(&m);
	assert_string_equal(out, "");
	free(out);
}

static void test_tree_cycle_and_self(void **state)
{
	static const struct thinsnap_cli_node nodes[] = {
		{ "a", "b", THINSNAP_KIND_COMMITTED },
		{ "b", "a", THINSNAP_KIND_COMMITTED },
		{ "self", "self", THINSNAP_KIND_COMMITTED },
	};
	struct mem m;
	(void)state;

	mem_open(&m);
	assert_int_equal(thinsnap_cli_tree_print(nodes, 3, false, m.f), 0);
	char *out = mem_close(&m);
	assert_string_equal(out, " self\n"); /* a cycle has no root: not drawn, no hang */
	free(out);
}

static void test_tree_json(void **state)
{
	struct mem m;
	json_error_t err;
	(void)state;

	mem_open(&m);
	assert_int_equal(thinsnap_cli_tree_print(forest, 3, true, m.f), 0);
	char *out = mem_close(&m);
	json_t *v = json_loads(out, 0, &err);
	assert_non_null(v);
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 1);
	json_t *root = json_array_get(v, 0);
	assert_string_equal(json_string_value(json_object_get(root, "name")), "layer1");
	assert_string_equal(json_string_value(json_object_get(root, "kind")), "committed");
	json_t *c = json_array_get(json_object_get(root, "children"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "name")), "layer2");
	json_t *cc = json_array_get(json_object_get(c, "children"), 0);
	assert_string_equal(json_string_value(json_object_get(cc, "name")), "work");
	assert_int_equal(json_array_size(json_object_get(cc, "children")), 0);
	json_decref(v);
	free(out);
}

static void test_mount_line(void **state)
{
	char *opts[] = { "ro", "errors=remount-ro" };
	struct thinsnap_mount m = {
		.type = "ext4", .source = "/dev/mapper/tp-snap-3", .options = opts, .n_options = 2
	};
	struct mem mm;
	(void)state;

	mem_open(&mm);
	thinsnap_cli_mount_line(&m, "/mnt/x", mm.f);
	m.n_options = 0;
	thinsnap_cli_mount_line(&m, "/mnt/with space/it's", mm.f);
	char *out = mem_close(&mm);
	assert_string_equal(out,
			    "mount -t ext4 /dev/mapper/tp-snap-3 /mnt/x -o ro,errors=remount-ro\n"
			    "mount -t ext4 /dev/mapper/tp-snap-3 '/mnt/with space/it'\\''s'\n");
	free(out);
}

static void test_info_json(void **state)
{
	struct thinsnap_label labels[] = { { "containerd.io/gc.root", "yes" },
					   { "bad\xff", "v\xfe" } };
	struct thinsnap_info info = { .name = "work",
				      .parent = "base",
				      .kind = THINSNAP_KIND_ACTIVE,
				      .created_ns = 1795812304500000000ll,
				      .updated_ns = 1795812305000000000ll,
				      .labels = labels,
				      .n_labels = 2 };
	struct mem m;
	json_error_t err;
	(void)state;

	mem_open(&m);
	assert_int_equal(thinsnap_cli_json_print(thinsnap_cli_info_json(&info), m.f), 0);
	info.parent = NULL;
	info.n_labels = 0;
	info.name = "n\xc3";
	assert_int_equal(thinsnap_cli_json_print(thinsnap_cli_info_json(&info), m.f), 0);
	char *out = mem_close(&m);
	assert_non_null(strstr(out, "\n    \"name\": \"work\",\n")); /* indented by 4 */
	json_t *v = json_loadb(out, strlen(out), JSON_DISABLE_EOF_CHECK, &err);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "name")), "work");
	assert_string_equal(json_string_value(json_object_get(v, "parent")), "base");
	assert_string_equal(json_string_value(json_object_get(v, "kind")), "active");
	assert_string_equal(json_string_value(json_object_get(v, "created")),
			    "2026-11-27T20:45:04.5Z");
	assert_string_equal(json_string_value(json_object_get(v, "updated")),
			    "2026-11-27T20:45:05Z");
	json_t *l = json_object_get(v, "labels");
	assert_string_equal(json_string_value(json_object_get(l, "containerd.io/gc.root")), "yes");
	assert_string_equal(json_string_value(json_object_get(l, "bad\xef\xbf\xbd")),
			    "v\xef\xbf\xbd");
	json_t *v2 = json_loads(out + err.position, 0, &err);
	assert_non_null(v2);
	assert_true(json_is_null(json_object_get(v2, "parent")));
	assert_string_equal(json_string_value(json_object_get(v2, "name")), "n\xef\xbf\xbd");
	assert_int_equal(json_object_size(json_object_get(v2, "labels")), 0);
	json_decref(v);
	json_decref(v2);
	free(out);
}

static void test_mount_json(void **state)
{
	char *opts[] = { "ro" };
	struct thinsnap_mount m = {
		.type = "ext4", .source = "/dev/mapper/x", .options = opts, .n_options = 1
	};
	json_t *v = thinsnap_cli_mount_json(&m, "/t");
	(void)state;

	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "source")), "/dev/mapper/x");
	assert_string_equal(json_string_value(json_array_get(json_object_get(v, "options"), 0)),
			    "ro");
	json_decref(v);
	assert_int_equal(thinsnap_cli_json_print(NULL, stdout), -ENOMEM);
}

/* Control characters, backslashes and non-UTF-8 bytes come out C-escaped; the rest as is. A
 * 4 KiB key survives whole, and a table and the forest print the escaped form. */
static void test_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain/key-1", "plain/key-1" },
		{ "a\nb", "a\\nb" },
		{ "\x1b[31mred", "\\x1b[31mred" },
		{ "back\\slash", "back\\\\slash" },
		{ "tab\there\r", "tab\\there\\r" },
		{ "del\x7f", "del\\x7f" },
		{ "csi\xc2\x9b"
		  "2J",
		  "csi\\xc2\\x9b2J" },
		{ "bad\xff", "bad\\xff" },
		{ "caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93" },
		{ "", "" },
	};
	struct thinsnap_cli_node nodes[] = {
		{ .name = "root\nfake", .kind = THINSNAP_KIND_COMMITTED },
		{ .name = "kid\x1b]0;x\x07", .parent = "root\nfake", .kind = THINSNAP_KIND_ACTIVE },
	};
	struct thinsnap_cli_table *t = thinsnap_cli_table_new(2);
	struct mem m;
	char *out, big[4097];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = thinsnap_cli_escape(cases[i].in);
		assert_non_null(e);
		assert_string_equal(e, cases[i].out);
		free(e);
	}
	out = thinsnap_cli_escape(NULL);
	assert_string_equal(out, "");
	free(out);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '\n';
	out = thinsnap_cli_escape(big);
	assert_int_equal(strlen(out), 4097);
	assert_memory_equal(out + 100, "\\n", 2);
	free(out);

	assert_non_null(t);
	assert_int_equal(thinsnap_cli_table_add(t, (const char *[]){ "KEY", "KIND" }), 0);
	assert_int_equal(thinsnap_cli_table_add(t, (const char *[]){ "a\nb\x1b[2J", "x" }), 0);
	mem_open(&m);
	assert_int_equal(thinsnap_cli_table_print(t, m.f), 0);
	out = mem_close(&m);
	assert_string_equal(out, "KEY         KIND\na\\nb\\x1b[2J x\n");
	free(out);
	thinsnap_cli_table_free(t);

	mem_open(&m);
	assert_int_equal(thinsnap_cli_tree_print(nodes, 2, false, m.f), 0);
	out = mem_close(&m);
	assert_string_equal(out, " root\\nfake\n  \\_ kid\\x1b]0;x\\x07\n");
	free(out);
	/* JSON stays exact */
	mem_open(&m);
	assert_int_equal(thinsnap_cli_tree_print(nodes, 2, true, m.f), 0);
	out = mem_close(&m);
	assert_non_null(strstr(out, "\"root\\nfake\""));
	assert_non_null(strstr(out, "\"kid\\u001B]0;x\\u0007\""));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_tree_cycle_and_self),
		cmocka_unit_test(test_tree_json),
		cmocka_unit_test(test_mount_line),
		cmocka_unit_test(test_info_json),
		cmocka_unit_test(test_mount_json),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
