/*
 * snap/filter: containerd's filter cases (filters/filter_test.go: same corpus, inputs, matches
 * and error texts), plus OR across strings, snapshot label keys, escapes, whitespace, regexps
 * and the errors the parser must name with their position.
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
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "snap/filter.h"

struct label {
	const char *key, *value;
};

struct entry {
	const char *name;
	const char *other;
	const char *parent;
	const char *kind;
	struct label labels[3];
};

/* containerd's corpus (entries 0..8), then snapshot-like ones. */
static const struct entry corpus[] = {
	{ .name = "foo", .labels = { { "foo", "true" } } },
	{ .name = "bar" },
	{ .name = "foo", .labels = { { "foo", "present" }, { "more complex label", "present" } } },
	{ .name = "bar", .labels = { { "bar", "true" } } },
	{ .name = "fooer", .labels = { { "more complex label with \\ and \"", "present" } } },
	{ .name = "fooer", .labels = { { "more complex label with \\ and \".post", "present" } } },
	{ .name = "baz", .other = "too complex, yo" },
	{ .name = "bazo", .other = "abc" },
	{ .name = "compound", .labels = { { "foo", "omg_asdf.asdf-qwer" } } },
	/* 9.. */
	{ .name = "default/1/sha256:aa",
	  .kind = "committed",
	  .labels = { { "containerd.io/gc.root", "2024" }, { "tab\tkey", "x" } } },
	{ .name = "default/2/work", .parent = "default/1/sha256:aa", .kind = "active" },
	{ .name = "héllo",
	  .parent = "default/1/sha256:aa",
	  .kind = "view",
	  .labels = { { "a.b", "/x/y" } } },
};
#define N_CORPUS ELEMENTSOF(corpus)

static bool get(void *userdata, const char *const *path, size_t depth, const char **ret)
{
	const struct entry *e = userdata;
	char key[256];
	const char *v = NULL;

	assert_true(depth >= 1);
	if (strcmp(path[0], "name") == 0)
		v = e->name;
	else if (strcmp(path[0], "other") == 0)
		v = e->other;
	else if (strcmp(path[0], "parent") == 0)
		v = e->parent;
	else if (strcmp(path[0], "kind") == 0)
		v = e->kind;
	else if (thinsnap_filter_label_key(path, depth, key, sizeof(key))) {
		for (size_t i = 0; i < ELEMENTSOF(e->labels) && e->labels[i].key; i++)
			if (strcmp(e->labels[i].key, key) == 0)
				v = e->labels[i].value;
		if (v) {
			*ret = v;
			return true;
		}
		return false;
	}
	if (!v || !*v) /* like containerd's adaptors: empty means absent */
		return false;
	*ret = v;
	return true;
}

/* Bitmask of the corpus entries that match; -1 on a parse error (message in *err). */
static long long matches(const char *const *filters, size_t n, struct thinsnap_error *err)
{
	struct thinsnap_filter *f = NULL;
	long long mask = 0;
	int r = thinsnap_filter_parse(filters, n, &f, err);

	if (r < 0) {
		assert_int_equal(r, -EINVAL);
		assert_int_equal(err->err, -EINVAL);
		assert_null(f);
		return -1;
	}
	for (size_t i = 0; i < N_CORPUS; i++)
		if (thinsnap_filter_match(f, get, (void *)&corpus[i]))
			mask |= 1LL << i;
	thinsnap_filter_free(f);
	return mask;
}

static long long match1(const char *filter, struct thinsnap_error *err)
{
	return matches(&filter, 1, err);
}

#define B(i)     (1LL << (i))
#define ALL      ((1LL << N_CORPUS) - 1)
#define CD(mask) ((mask)&0x1ff) /* restricted to containerd's corpus */

struct match_case {
	const char *input;
	long long want; /* over containerd's 9 entries */
};

static void test_containerd_matches(void **state)
{
	(void)state;
	static const struct match_case rows[] = {
		{ "", 0x1ff },
		{ "name", 0x1ff },
		{ "labels.foo", B(0) | B(2) | B(8) },
		{ "labels.foo,name", B(0) | B(2) | B(8) },
		{ "labels.foo==true", B(0) },
		{ "labels.foo==omg_asdf.asdf-qwer", B(8) },
		{ "name==bar", B(1) | B(3) },
		{ "name!=bar", 0x1ff & ~(B(1) | B(3)) },
		{ "name==bar,labels.bar", B(3) },
		{ "other==\"too complex, yo\"", B(6) },
		{ "other~=[abc]+,name!=foo", B(6) | B(7) },
		{ "other~=/[abc]+/,name!=foo", B(6) | B(7) },
		{ "other~=/[abc]{1,2}/,name!=foo", B(6) | B(7) },
		{ "other~=/[abc]{0,1}\"\\//,name!=foo", 0 },
		{ "name==bar,labels.bar==true", B(3) },
		{ "name==bar,labels.bar==wrong", 0 },
		{ "name==foo,labels.\"more complex label\"", B(2) },
		{ "labels.\"more complex label with \\\\ and \\\"\"==present", B(4) },
		{ "labels.\"more complex label with \\\\ and \\\"\".post==present", B(5) },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct thinsnap_error err = { 0 };
		long long got = match1(rows[i].input, &err);

		print_message("  %-55s -> %#llx %s\n", rows[i].input, got, err.msg);
		assert_int_equal(CD(got), rows[i].want);
	}
}

struct error_case {
	const char *input;
	const char *msg; /* exact, or a prefix when it ends in '*' */
};

static void test_errors(void **state)
{
	(void)state;
	static const struct error_case rows[] = {
		/* containerd's own */
		{ "labels.|foo|==omg_asdf.asdf-qwer",
		  "filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote "
		  "encountered" },
		{ "labels.?\"more complex label with \\\\ and \\\"\".post==present",
		  "filters: parse error: [labels. >|?|< \"more complex label with \\\\ and "
		  "\\\"\".post==present]: expected field or quoted" },
		{ "name==foo,", "filters: parse error: [name==foo,]: expected field or quoted" },
		{ "labels.", "filters: parse error: [labels.]: expected field or quoted" },
		{ "image~=,id?=?fbaq",
		  "filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted" },
		/* ours */
		{ "name==", "filters: parse error: [name==]: expected value or quoted" },
		{ "==x", "filters: parse error: [ >|=|< =x]: expected field or quoted" },
		{ "name==\"abc",
		  "filters: parse error: [name== >|\"|< abc]: quoted literal not terminated" },
		{ "labels.\"abc", "filters: parse error: [labels. >|\"|< abc]: quoted literal not "
				  "terminated" },
		{ "name==\"a\\qb\"",
		  "filters: parse error: [name== >|\"|< a\\qb\"]: illegal escape sequence" },
		{ "name==\"\\x4\"",
		  "filters: parse error: [name== >|\"|< \\x4\"]: illegal numeric escape sequence" },
		{ "name==\"\\400\"",
		  "filters: parse error: [name== >|\"|< \\400\"]: unquoting failed: quote syntax "
		  "error" },
		{ "name==\"\\x00\"", "filters: parse error: [name== >|\"|< \\x00\"]: unquoting "
				     "failed: quote syntax error" },
		{ "name~=[", "filters: parse error: [name~= >|[|< ]: compile regexp: *" },
		{ "name~=/(a/", "filters: parse error: [name~= >|/|< (a/]: compile regexp: *" },
		{ "name~=a{100}{100}", "filters: parse error: [name~= >|a|< {100}{100}]: compile "
				       "regexp: invalid nested repetition operator" },
		{ "name~=a++", "filters: parse error: [name~= >|a|< ++]: compile regexp: invalid "
			       "nested repetition operator" },
		{ "name~=(a{200}){200}", "filters: parse error: [name~= >|(|< a{200}){200}]: "
					 "compile regexp: too complex" },
		{ "name==/x/",
		  "filters: parse error: [name== >|/|< x/]: invalid quote encountered" },
		{ "name===x",
		  "filters: parse error: [name >|=|< ==x]: unsupported operator \"===\"" },
		{ "name x", "filters: parse error: [name  >|x|< ]: expected an operator "
			    "(\"==\"|\"!=\"|\"~=\")" },
		{ "name ", "filters: parse error: [name ]: expected an operator "
			   "(\"==\"|\"!=\"|\"~=\")" },
		{ "name==bar ", "filters: parse error: [name==bar >| |< ]: unexpected input:  " },
		{ "name==\"a\"b",
		  "filters: parse error: [name==\"a\" >|b|< ]: unexpected input: b" },
		{ "name,,x", "filters: parse error: [name, >|,|< x]: expected field or quoted" },
		{ ",name", "filters: parse error: [ >|,|< name]: expected field or quoted" },
		{ "name==a\x80", "filters: parse error: [name==a >|\x80|< ]: unexpected input: "
				 "\xef\xbf\xbd" },
		{ "na\xffme", "filters: parse error: [na >|\xff|< me]: expected an operator "
			      "(\"==\"|\"!=\"|\"~=\")" },
		{ "labels.\"a\nb\"",
		  "filters: parse error: [labels. >|\"|< a\nb\"]: quoted literal not terminated" },
		{ "   ", "filters: parse error: [   ]: expected field or quoted" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct thinsnap_error err = { 0 };
		long long got = match1(rows[i].input, &err);
		size_t n = strlen(rows[i].msg);

		print_message("  %-30s -> %s\n", rows[i].input, err.msg);
		assert_int_equal(got, -1);
		if (rows[i].msg[n - 1] == '*')
			assert_int_equal(strncmp(err.msg, rows[i].msg, n - 1), 0);
		else
			assert_string_equal(err.msg, rows[i].msg);
	}
}

static void test_or_across_strings(void **state)
{
	(void)state;
	struct thinsnap_error err = { 0 };
	const char *two[] = { "name==foo", "name==bar" };
	const char *with_empty[] = { "name==nope", "" };
	const char *one_bad[] = { "name==foo", "name==" };
	const char *and_or[] = { "name==foo,labels.foo==true", "other~=^a" };
	const char *none[] = { "name==nope", "kind==x" };

	assert_int_equal(CD(matches(two, 2, &err)), B(0) | B(1) | B(2) | B(3));
	assert_int_equal(matches(with_empty, 2, &err), ALL);
	assert_int_equal(matches(NULL, 0, &err), ALL);
	assert_int_equal(matches(one_bad, 2, &err), -1);
	assert_string_equal(err.msg, "filters: parse error: [name==]: expected value or quoted");
	assert_int_equal(matches(and_or, 2, &err), B(0) | B(7));
	assert_int_equal(matches(none, 2, &err), 0);
}

static void test_snapshot_fields(void **state)
{
	(void)state;
	struct thinsnap_error err = { 0 };

	assert_int_equal(match1("labels.\"containerd.io/gc.root\"", &err), B(9));
	assert_int_equal(match1("labels.\"containerd.io/gc.root\"==2024", &err), B(9));
	assert_int_equal(match1("labels.\"containerd.io/gc.root\"!=2024", &err), ALL & ~B(9));
	assert_int_equal(match1("kind==committed", &err), B(9));
	assert_int_equal(match1("kind~=^(active|view)$", &err), B(10) | B(11));
	assert_int_equal(match1("parent==\"default/1/sha256:aa\",kind==view", &err), B(11));
	assert_int_equal(match1("parent==default/1/sha256:aa", &err), B(10) | B(11));
	assert_int_equal(match1("parent", &err), B(10) | B(11));
	/* != matches absent fields ("" != value), == and ~= need them present */
	assert_int_equal(match1("parent!=default/1/sha256:aa", &err), ALL & ~(B(10) | B(11)));
	assert_int_equal(match1("parent~=/.*/", &err), B(10) | B(11));
	assert_int_equal(match1("parent~=.*", &err), -1); /* '.' can't start a bare value */
	/* unquoted dots split the path; the adaptor joins it back */
	assert_int_equal(match1("labels.a.b==\"/x/y\"", &err), B(11));
	assert_int_equal(match1("labels.a.b==/x/y", &err), -1); /* '/' opens a regexp quote */
	assert_int_equal(match1("labels.\"a.b\"==\"/x/y\"", &err), B(11));
	assert_int_equal(match1("labels.\"a\".b", &err), B(11));
	/* unquoted value runs: anything printable but ',' and spaces, UTF-8 too */
	assert_int_equal(match1("name==héllo", &err), B(11));
	/* regexec sees bytes in the C locale ('.' is one byte), characters in a UTF-8 one */
	assert_int_equal(match1("name~=^h.+llo$", &err), B(11));
	assert_int_equal(match1("name~=/^[+*?]*h[^{]+o{1,3}$/", &err), B(11)); /* not stacked */
	assert_int_equal(match1("name~=/^([a-z]+\\/)+[0-9]{1}/", &err), B(9) | B(10));
	assert_int_equal(match1("name==default/2/work,kind==active", &err), B(10));
	assert_int_equal(match1("name-x", &err), 0); /* '-' is a field rune */
	assert_int_equal(match1("_", &err), 0);
}

static void test_escapes(void **state)
{
	(void)state;
	struct thinsnap_error err = { 0 };

	assert_int_equal(match1("labels.\"tab\\tkey\"==x", &err), B(9));
	assert_int_equal(match1("labels.\"tab\\x09key\"", &err), B(9));
	assert_int_equal(match1("labels.\"tab\\011key\"", &err), B(9));
	assert_int_equal(match1("labels.\"tab\\u0009key\"", &err), B(9));
	assert_int_equal(match1("labels.\"tab\\U00000009key\"", &err), B(9));
	assert_int_equal(match1("name==\"h\\u00e9llo\"", &err), B(11));
	assert_int_equal(match1("name==\"h\\xc3\\xa9llo\"", &err), B(11));
	assert_int_equal(match1("name==\"h\\303\\251llo\"", &err), B(11));
	assert_int_equal(match1("name~=|^h\\u00e9|", &err), B(11));
	assert_int_equal(match1("name~=/^default\\/2\\//", &err), B(10));
	/* in |...| an escaped | is a plain |, so this is the regexp a|b */
	assert_int_equal(match1("name~=|a\\|b|", &err), B(1) | B(3) | B(6) | B(7) | B(9) | B(10));
	assert_int_equal(CD(match1("name~=|^(foo\\|bar)$|", &err)), B(0) | B(1) | B(2) | B(3));
	assert_int_equal(CD(match1("name==\"\\x66oo\"", &err)), B(0) | B(2));
	assert_int_equal(match1("name==\"\"", &err), 0);
	assert_int_equal(match1("other!=\"\"", &err), B(6) | B(7));
	assert_int_equal(match1("name==\"a\\\\b\"", &err), 0);
	/* \' is Go's, but only inside '...' quotes, which containerd doesn't take */
	assert_int_equal(match1("name==\"\\'\"", &err), -1);
	assert_int_equal(match1("name==\"\\uD800\"", &err), 0); /* U+FFFD, as Go encodes it */
	assert_int_equal(match1("name==\"\\U00110000\"", &err), -1);
}

static void test_whitespace(void **state)
{
	(void)state;
	struct thinsnap_error err = { 0 };

	assert_int_equal(CD(match1(" name == bar", &err)), B(1) | B(3));
	assert_int_equal(CD(match1("name==bar,  labels.bar", &err)), B(3));
	assert_int_equal(CD(match1("\tname\t==\t\"bar\"", &err)), B(1) | B(3));
	assert_int_equal(match1("labels . foo == true", &err), -1);
	assert_int_equal(CD(match1("labels.\" foo\"", &err)), 0);
	assert_int_equal(CD(match1("name\xc2\xa0==bar", &err)), B(1) | B(3)); /* U+00A0 */
}

static void test_api(void **state)
{
	(void)state;
	struct thinsnap_error err = { 0 };
	struct thinsnap_filter *f = (struct thinsnap_filter *)&err; /* untouched on failure */
	const char *bad[] = { "name==" };
	const char *null_entry[] = { NULL };

	assert_int_equal(thinsnap_filter_parse(bad, 1, &f, &err), -EINVAL);
	assert_ptr_equal(f, (struct thinsnap_filter *)&err);
	assert_int_equal(thinsnap_filter_parse(bad, 1, NULL, &err), -EINVAL);
	assert_int_equal(thinsnap_filter_parse(NULL, 1, &f, NULL), -EINVAL);
	assert_int_equal(thinsnap_filter_parse(null_entry, 1, &f, &err), -EINVAL);
	assert_int_equal(thinsnap_filter_parse(NULL, 0, &f, &err), 0);
	assert_true(thinsnap_filter_match(f, get, (void *)&corpus[0]));
	thinsnap_filter_free(f);
	thinsnap_filter_free(NULL);
	assert_false(thinsnap_filter_match(NULL, get, (void *)&corpus[0]));
}

/* The label key a getter looks up: the path after "labels" joined with '.'. */
static void test_label_key(void **state)
{
	const char *const one[] = { "labels", "containerd.io/gc.root" };
	const char *const split[] = { "labels", "a", "b", "c" };
	const char *const other[] = { "name", "a" };
	char buf[8];

	(void)state;
	assert_false(thinsnap_filter_label_key(one, 2, buf, 0));
	assert_false(thinsnap_filter_label_key(one, 2, buf, sizeof(buf))); /* too long */
	assert_true(thinsnap_filter_label_key(split, 4, buf, sizeof(buf)));
	assert_string_equal(buf, "a.b.c");
	assert_false(thinsnap_filter_label_key(split, 4, buf, 5)); /* no room for the NUL */
	assert_true(thinsnap_filter_label_key(split, 4, buf, 6));
	assert_string_equal(buf, "a.b.c");
	assert_false(thinsnap_filter_label_key(split, 1, buf, sizeof(buf))); /* labels alone */
	assert_false(thinsnap_filter_label_key(other, 2, buf, sizeof(buf)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containerd_matches),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_or_across_strings),
		cmocka_unit_test(test_snapshot_fields),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_label_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
