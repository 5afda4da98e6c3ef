/*
 * Output formatting of the thinsnap command: sizes, times, aligned tables, the parent forest,
 * mount lines and JSON. Pure functions over FILE *, unit-tested in test-cli-format.c.
 */
#include "cli/format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"

void thinsnap_cli_format_size(int64_t bytes, bool raw, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)(bytes < 0 ? 0 : bytes);
	size_t u = 0;

	if (raw) {
		(void)snprintf(buf, len, "%" PRId64, bytes);
		return;
	}
	while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024.0;
		u++;
	}
	(void)snprintf(buf, len, "%.1f %s", v, units[u]);
}

void thinsnap_cli_format_time(int64_t unix_ns, char *buf, size_t len)
{
	int64_t sec = unix_ns / 1000000000, nsec = unix_ns % 1000000000;
	char date[64], frac[16] = "";
	struct tm tm;
	time_t t;

	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		(void)snprintf(buf, len, "%" PRId64, unix_ns);
		return;
	}
	if (nsec) {
		size_t n;
		(void)snprintf(frac, sizeof(frac), ".%09" PRId64, nsec);
		n = strlen(frac);
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	(void)snprintf(buf, len, "%s%sZ", date, frac);
}

struct thinsnap_cli_table {
	size_t n_cols, n_rows, cap;
	char **cells; /* n_rows * n_cols */
};

struct thinsnap_cli_table *thinsnap_cli_table_new(size_t n_cols)
{
	struct thinsnap_cli_table *t;

	if (n_cols == 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t)
		t->n_cols = n_cols;
	return t;
}

void thinsnap_cli_table_free(struct thinsnap_cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int thinsnap_cli_table_add(struct thinsnap_cli_table *t, const char *const *cells)
{
	if (t->n_rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = reallocarray(t->cells, cap * t->n_cols, sizeof(*c));
		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->n_cols; i++) {
		char *s = thinsnap_cli_escape(cells[i]);
		if (!s) {
			for (size_t k = 0; k < i; k++)
				free(t->cells[t->n_rows * t->n_cols + k]);
			return -ENOMEM;
		}
		t->cells[t->n_rows * t->n_cols + i] = s;
	}
	t->n_rows++;
	return 0;
}

/* Display width: UTF-8 code points (continuation bytes don't count). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

int thinsnap_cli_table_print(const struct thinsnap_cli_table *t, FILE *f)
{
	CLEANUP_FREE size_t *w = calloc(t->n_cols, sizeof(size_t));

	if (!w)
		return -ENOMEM;
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t cw = width(t->cells[r * t->n_cols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		size_t last = t->n_cols;
		while (last > 1 && t->cells[r * t->n_cols + last - 1][0] == '\0')
			last--; /* no trailing blanks */
		for (size_t c = 0; c < last; c++) {
			const char *cell = t->cells[r * t->n_cols + c];
			fputs(cell, f);
			if (c + 1 < last)
				fprintf(f, "%*s", (int)(w[c] - width(cell) + 1), "");
		}
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

/* ---- the forest ---- */

struct tree {
	const struct thinsnap_cli_node *nodes;
	size_t n;
	size_t *by_name;      /* indices sorted by name */
	size_t *order;        /* indices sorted committed first, then by name */
	size_t *first_child;  /* per node, in `order` terms: SIZE_MAX = none */
	size_t *next_sibling; /* per node */
	bool *seen;
};

static const struct thinsnap_cli_node *sort_nodes;

static int cmp_name(const void *a, const void *b)
{
	return strcmp(sort_nodes[*(const size_t *)a].name, sort_nodes[*(const size_t *)b].name);
}

static int cmp_order(const void *a, const void *b)
{
	const struct thinsnap_cli_node *x = &sort_nodes[*(const size_t *)a];
	const struct thinsnap_cli_node *y = &sort_nodes[*(const size_t *)b];
	int cx = x->kind == THINSNAP_KIND_COMMITTED ? 0 : 1;
	int cy = y->kind == THINSNAP_KIND_COMMITTED ? 0 : 1;

	if (cx != cy)
		return cx - cy;
	return strcmp(x->name, y->name);
}

static size_t find(const struct tree *t, const char *name)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->nodes[t->by_name[mid]].name, name);
		if (c == 0)
			return t->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static size_t parent_of(const struct tree *t, size_t i)
{
	const char *p = t->nodes[i].parent;

	if (!p || !*p)
		return SIZE_MAX;
	size_t k = find(t, p);
	return k == i ? SIZE_MAX : k;
}

static void print_node(struct tree *t, size_t i, size_t level, FILE *f)
{
	/* iterative over siblings, recursive over depth (bounded by the chain length) */
	for (; i != SIZE_MAX; i = t->next_sibling[i]) {
		if (t->seen[i])
			continue;
		t->seen[i] = true;
		for (size_t l = 0; l < level; l++)
			fputs("  ", f);
		CLEANUP_FREE char *name = thinsnap_cli_escape(t->nodes[i].name);
		fprintf(f, "%s %s\n", level ? "\\_" : "", name ? name : "?");
		print_node(t, t->first_child[i], level + 1, f);
	}
}

static json_t *json_node(struct tree *t, size_t i)
{
	json_t *arr = json_array();

	for (; arr && i != SIZE_MAX; i = t->next_sibling[i]) {
		json_t *children;
		if (t->seen[i])
			continue;
		t->seen[i] = true;
		children = json_node(t, t->first_child[i]);
		/* "o" steals its reference, also when json_pack fails */
		if (!children ||
		    json_array_append_new(arr,
					  json_pack("{s:o, s:s, s:o}", "name",
						    thinsnap_cli_json_string(t->nodes[i].name),
						    "kind", thinsnap_kind_name(t->nodes[i].kind),
						    "children", children))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int thinsnap_cli_tree_print(const struct thinsnap_cli_node *nodes, size_t n, bool json, FILE *f)
{
	CLEANUP_FREE size_t *by_name = calloc(n + 1, sizeof(size_t));
	CLEANUP_FREE size_t *order = calloc(n + 1, sizeof(size_t));
	CLEANUP_FREE size_t *first = calloc(n + 1, sizeof(size_t));
	CLEANUP_FREE size_t *next = calloc(n + 1, sizeof(size_t));
	CLEANUP_FREE size_t *last = calloc(n + 1, sizeof(size_t));
	CLEANUP_FREE bool *seen = calloc(n + 1, sizeof(bool));
	struct tree t = { .nodes = nodes,
			  .n = n,
			  .by_name = by_name,
			  .order = order,
			  .first_child = first,
			  .next_sibling = next,
			  .seen = seen };
	size_t root_first = SIZE_MAX, root_last = SIZE_MAX;

	if (!by_name || !order || !first || !next || !last || !seen)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		by_name[i] = order[i] = i;
		first[i] = next[i] = last[i] = SIZE_MAX;
	}
	sort_nodes = nodes;
	qsort(by_name, n, sizeof(size_t), cmp_name);
	qsort(order, n, sizeof(size_t), cmp_order);
	sort_nodes = NULL;
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k], p = parent_of(&t, i);
		size_t *head = p == SIZE_MAX ? &root_first : &first[p];
		size_t *tail = p == SIZE_MAX ? &root_last : &last[p];
		if (*head == SIZE_MAX)
			*head = i;
		else
			next[*tail] = i;
		*tail = i;
	}
	if (json) {
		json_t *v = json_node(&t, root_first);
		if (!v)
			return -ENOMEM;
		return thinsnap_cli_json_print(v, f);
	}
	print_node(&t, root_first, 0, f);
	return ferror(f) ? -EIO : 0;
}

/* ---- mounts ---- */

static void put_word(const char *s, FILE *f)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "_-./=,:+@%") == strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

void thinsnap_cli_mount_line(const struct thinsnap_mount *m, const char *target, FILE *f)
{
	fputs("mount -t ", f);
	put_word(m->type ? m->type : "", f);
	fputc(' ', f);
	put_word(m->source ? m->source : "", f);
	fputc(' ', f);
	put_word(target, f);
	if (m->n_options) {
		size_t len = 1;
		for (size_t i = 0; i < m->n_options; i++)
			len += strlen(m->options[i]) + 1;
		CLEANUP_FREE char *opts = malloc(len);
		if (opts) {
			opts[0] = '\0';
			for (size_t i = 0; i < m->n_options; i++) {
				if (i)
					strcat(opts, ",");
				strcat(opts, m->options[i]);
			}
			fputs(" -o ", f);
			put_word(opts, f);
		}
	}
	fputc('\n', f);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		return (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

json_t *thinsnap_cli_json_string(const char *s)
{
	json_t *v;
	size_t n, o = 0;

	if (!s)
		return json_null();
	v = json_string(s);
	if (v)
		return v;
	n = strlen(s);
	CLEANUP_FREE char *out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_len((const unsigned char *)s + i);
		if (k == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return json_string(out);
}

static bool valid_utf8(const char *s)
{
	while (*s) {
		size_t k = utf8_len((const unsigned char *)s);
		if (!k)
			return false;
		s += k;
	}
	return true;
}

json_t *thinsnap_cli_info_json(const struct thinsnap_info *info)
{
	CLEANUP(json_decrefp) json_t *labels = json_object();
	char created[64], updated[64];

	if (!labels)
		return NULL;
	for (size_t i = 0; i < info->n_labels; i++) {
		const char *k = info->labels[i].key ? info->labels[i].key : "";
		json_t *val = thinsnap_cli_json_string(info->labels[i].value);
		int r;
		if (valid_utf8(k)) {
			r = json_object_set_new(labels, k, val);
		} else { /* a key that is not UTF-8: store it with U+FFFD */
			json_t *ks = thinsnap_cli_json_string(k);
			r = ks ? json_object_set_new(labels, json_string_value(ks), val)
			       : (json_decref(val), -1);
			json_decref(ks);
		}
		if (r)
			return NULL;
	}
	thinsnap_cli_format_time(info->created_ns, created, sizeof(created));
	thinsnap_cli_format_time(info->updated_ns, updated, sizeof(updated));
	return json_pack(
		"{s:o, s:o, s:s, s:s, s:s, s:O, s:o}", "name", thinsnap_cli_json_string(info->name),
		"parent",
		thinsnap_cli_json_string(info->parent && *info->parent ? info->parent : NULL),
		"kind", thinsnap_kind_name(info->kind), "created", created, "updated", updated,
		"labels", labels, "id", thinsnap_cli_json_string(*info->id ? info->id : NULL));
}

json_t *thinsnap_cli_mount_json(const struct thinsnap_mount *m, const char *target)
{
	CLEANUP(json_decrefp) json_t *opts = json_array();

	if (!opts)
		return NULL;
	for (size_t i = 0; i < m->n_options; i++)
		if (json_array_append_new(opts, thinsnap_cli_json_string(m->options[i])))
			return NULL;
	return json_pack("{s:o, s:o, s:o, s:O}", "type", thinsnap_cli_json_string(m->type),
			 "source", thinsnap_cli_json_string(m->source), "target",
			 thinsnap_cli_json_string(target), "options", opts);
}

int thinsnap_cli_json_print(json_t *v, FILE *f)
{
	CLEANUP(json_decrefp) json_t *own = v;

	if (!v)
		return -ENOMEM;
	if (json_dumpf(v, f, JSON_INDENT(4) | JSON_ENCODE_ANY) < 0)
		return -EIO;
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

/* ---- escaping ---- */

char *thinsnap_cli_escape(const char *s)
{
	size_t n = s ? strlen(s) : 0, o = 0;
	char *out = malloc(n * 4 + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = utf8_len((const unsigned char *)s + i);
		const char *named = c == '\\'   ? "\\\\"
				    : c == '\n' ? "\\n"
				    : c == '\t' ? "\\t"
				    : c == '\r' ? "\\r"
						: NULL;
		if (named) {
			memcpy(out + o, named, 2);
			o += 2;
			i++;
		} else if (k == 0 || c < 0x20 || c == 0x7f ||
			   (k == 2 && c == 0xC2 && (unsigned char)s[i + 1] < 0xA0)) {
			/* controls (C0, DEL, C1 such as U+009B CSI) and bytes that are not UTF-8 */
			for (size_t j = 0; j < (k ? k : 1); j++)
				o += (size_t)sprintf(out + o, "\\x%02x", (unsigned char)s[i + j]);
			i += k ? k : 1;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
	return out;
}
