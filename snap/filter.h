/*
 * snap/: containerd's filter syntax (github.com/containerd/containerd/filters), used by walk()
 * and `thinsnap ls FILTER...`. One filter string is selectors joined by ',' (all must match);
 * several strings are alternatives (any may match).
 *
 *   selector  := fieldpath [ operator value ]     a bare fieldpath means "present"
 *   fieldpath := field ( '.' field )*
 *   field     := [A-Za-z0-9_-]+ | "quoted"        e.g. labels."containerd.io/gc.root"
 *   operator  := '==' | '!=' | '~='
 *   value     := [^\s,]+ | "quoted"               ~= also takes /regexp/ and |regexp|
 *
 * Quoted strings take Go's escapes (\n \t \\ \" \xHH \ooo \uHHHH \UHHHHHHHH); in /.../ and
 * |...| the delimiter is escaped (\/, \|). Whitespace may come before a field, an operator or a
 * value, not after a value (containerd's rules). ~= is an unanchored POSIX extended regular
 * expression (regcomp), where containerd has Go's RE2: \d, \w and (?i) don't exist here, and
 * '.' matches a byte unless the program runs in a UTF-8 locale (the library never sets one).
 * Patterns whose counted repetitions multiply past 1000 (a{100}{100}) are refused.
 * '!=' matches an absent field ("" != value), '==' and '~=' need it present.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <thinsnap/error.h>

struct thinsnap_filter;

/*
 * Looks up fieldpath[0..depth-1] in the object; returns whether the field is present and, if
 * so, sets *ret_value to its value (borrowed until the call returns to the matcher). For
 * snapshots: "name", "parent", "kind" ("view", "active", "committed"), and "labels" + the label
 * key; a key that came unquoted with dots is split (labels.a.b gives {"labels","a","b"}), so
 * the snapshot adaptor joins fieldpath[1..] with '.' to form the key, as containerd does.
 */
typedef bool (*thinsnap_filter_get_fn)(void *userdata, const char *const *fieldpath, size_t depth,
				       const char **ret_value);

/*
 * Parses n filter strings into *ret (the caller frees it with thinsnap_filter_free). n == 0 or
 * an empty string matches everything. A syntax error is -EINVAL with containerd's message, e.g.
 * "filters: parse error: [name==]: expected value or quoted" or, with the position marked,
 * "filters: parse error: [image~= >|,|< x]: expected value or quoted"; a bad regexp too.
 * -ENOMEM when out of memory. *ret is only written on success.
 */
int thinsnap_filter_parse(const char *const *filters, size_t n, struct thinsnap_filter **ret,
			  struct thinsnap_error *reterr);

/* Whether the object that get describes matches any of the filter strings. */
bool thinsnap_filter_match(const struct thinsnap_filter *f, thinsnap_filter_get_fn get,
			   void *userdata);

/* Frees f; NULL is fine. */
void thinsnap_filter_free(struct thinsnap_filter *f);

/*
 * For getters over labels: whether fieldpath is labels.<key>, with the key (fieldpath[1..]
 * joined with '.') written to buf; false when it is not, or the key does not fit in size bytes.
 */
bool thinsnap_filter_label_key(const char *const *fieldpath, size_t depth, char *buf, size_t size);
