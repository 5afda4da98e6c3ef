/*
 * The thinsnap command's output, kept free of I/O on the library so it can be unit-tested:
 * human sizes, aligned tables (like ctr's tabwriter), the parent forest, mount command lines,
 * times, and the JSON forms of infos (jansson).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <thinsnap/snapshotter.h>

/* ctr's sizes: "0.0 B", "4.0 KiB", "1.5 GiB" (binary units, one decimal); raw: "4096". */
void thinsnap_cli_format_size(int64_t bytes, bool raw, char *buf, size_t len);

/* Go's RFC 3339 with nanoseconds in UTC, trailing zeros trimmed: "2026-11-27T21:05:04.5Z". */
void thinsnap_cli_format_time(int64_t unix_ns, char *buf, size_t len);

/*
 * A string safe to print on a terminal, C-style: backslash as "\\", newline, tab and CR as
 * "\n", "\t", "\r", every other control character (C0, DEL, C1) and every byte that is not
 * UTF-8 as "\xHH"; the rest unchanged. malloc'd (the caller frees); NULL on ENOMEM. NULL
 * gives "".
 */
char *thinsnap_cli_escape(const char *s);

/* A table: rows of n_cols cells, printed with columns padded to their widest cell + 1 space
 * (UTF-8 counted in code points), no trailing blanks. */
struct thinsnap_cli_table;

struct thinsnap_cli_table *thinsnap_cli_table_new(size_t n_cols);
/* Copies n_cols cells, escaped (thinsnap_cli_escape; NULL prints as ""). -ENOMEM. */
int thinsnap_cli_table_add(struct thinsnap_cli_table *t, const char *const *cells);
int thinsnap_cli_table_print(const struct thinsnap_cli_table *t, FILE *f);
void thinsnap_cli_table_free(struct thinsnap_cli_table *t);

/* One snapshot in the forest; strings borrowed. */
struct thinsnap_cli_node {
	const char *name;
	const char *parent; /* NULL or "" for none */
	enum thinsnap_kind kind;
};

/*
 * Draws the parent forest as ctr does (" root", "  \_ child", "    \_ grandchild"): roots are
 * snapshots without a parent (or whose parent is not listed); siblings are ordered committed
 * first, then the others, each by name. With json, prints an array of
 * {"name","kind","children":[...]} instead. -ENOMEM.
 */
int thinsnap_cli_tree_print(const struct thinsnap_cli_node *nodes, size_t n, bool json, FILE *f);

/* Prints `mount -t TYPE SOURCE TARGET -o OPT,...` (paths shell-quoted when needed). */
void thinsnap_cli_mount_line(const struct thinsnap_mount *m, const char *target, FILE *f);

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD. NULL gives JSON null. */
json_t *thinsnap_cli_json_string(const char *s);

/* {"name","parent","kind","created","updated","labels":{}} for an info; NULL on ENOMEM. */
json_t *thinsnap_cli_info_json(const struct thinsnap_info *info);

/* {"type","source","target","options":[...]} for a mount; NULL on ENOMEM. */
json_t *thinsnap_cli_mount_json(const struct thinsnap_mount *m, const char *target);

/* Prints v (indented by 4, as ctr does) and a newline to f; takes v's reference. -EIO/-ENOMEM. */
int thinsnap_cli_json_print(json_t *v, FILE *f);
