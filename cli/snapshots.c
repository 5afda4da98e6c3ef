/*
 * The snapshot verbs, with ctr's names and output: prepare, view, commit, remove, list, info,
 * mounts, label, tree, usage. Reading verbs open the snapshotter read-only (no lock) and take
 * --json; every failure is one line on stderr naming the verb and the key.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "base/cleanup.h"
#include "base/mountopt.h"
#include "base/parse.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/format.h"

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)
DEFINE_CLEANUP(struct thinsnap_mount *, thinsnap_mount_free)
DEFINE_CLEANUP(struct thinsnap_info *, thinsnap_info_free)
DEFINE_CLEANUP(struct thinsnap_cli_table *, thinsnap_cli_table_free)

/* Labels given as --label K=V (or as arguments); the strings are owned. */
struct labels {
	struct thinsnap_label *v;
	size_t n;
};

static void labels_clear(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].key);
		free((char *)l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* 0, -EINVAL for a malformed argument, -ENOMEM. */
static int labels_add(struct labels *l, const char *arg)
{
	struct thinsnap_label *v = reallocarray(l->v, l->n + 1, sizeof(*v));
	char *k = NULL, *val = NULL;
	int r;

	if (!v)
		return -ENOMEM;
	l->v = v;
	r = thinsnap_cli_parse_label(arg, &k, &val);
	if (r < 0)
		return r;
	l->v[l->n].key = k;
	l->v[l->n].value = val;
	l->n++;
	return 0;
}

/* Adds a label argument; on a bad one (or no memory) reports it, clears l and returns the
 * exit code. */
static int label_arg(struct thinsnap_cli *c, struct labels *l, const char *arg)
{
	int r = labels_add(l, arg);

	if (r == 0)
		return 0;
	labels_clear(l);
	if (r == -ENOMEM)
		return thinsnap_cli_fail(c, NULL, "out of memory");
	return thinsnap_cli_usage_error(c, "bad label '%s' (want KEY=VALUE)", arg);
}

/* What prepare's, view's and commit's getopt loops leave over: --label K=V, --json and -q
 * (where the verb takes them), or a bad option. Clears l on failure; 0 or the exit code. */
static int label_or_output_option(struct thinsnap_cli *c, struct labels *l, char **argv, int opt)
{
	int r;

	if (opt == 'l')
		return label_arg(c, l, optarg);
	r = thinsnap_cli_output_option(c, argv, opt);
	if (r)
		labels_clear(l);
	return r;
}

static int print_json(struct thinsnap_cli *c, const char *key, json_t *v)
{
	int r = thinsnap_cli_json_print(v, stdout);
	if (r < 0)
		return thinsnap_cli_fail(c, key, "%s", strerror(-r));
	return 0;
}

static int mount_at(struct thinsnap_cli *c, const char *key, const struct thinsnap_mount *m,
		    const char *target)
{
	CLEANUP_FREE char *data = NULL;
	unsigned long flags = 0;

	if (thinsnap_mountopt_parse((const char *const *)m->options, m->n_options, &flags, &data) <
	    0)
		return thinsnap_cli_fail(c, key, "out of memory");
	if (mount(m->source, target, m->type, flags, data[0] ? data : NULL) < 0)
		return thinsnap_cli_fail(c, key, "mounting %s on '%s': %s", m->source, target,
					 strerror(errno));
	return 0;
}

static int create(struct thinsnap_cli *c, int argc, char **argv, bool view)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "mounts", no_argument, NULL, 'm' },
		{ "label", required_argument, NULL, 'l' },
		THINSNAP_CLI_OUTPUT_OPTIONS, /* --json, -q */
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP(thinsnap_mount_freep) struct thinsnap_mount *m = NULL;
	uint64_t size = 0;
	char arg[64];
	struct labels l = { NULL, 0 };
	struct thinsnap_error e = { 0 };
	const char *target = NULL, *key, *parent;
	bool print_mounts = false;
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":t:l:q", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			target = optarg;
			break;
		case 'm':
			print_mounts = true;
			break;
		case 's':
			/* the label containerd sends, in bytes */
			if (thinsnap_parse_size(optarg, &size) < 0 || size == 0) {
				labels_clear(&l);
				return thinsnap_cli_usage_error(c, "bad size '%s'", optarg);
			}
			(void)snprintf(arg, sizeof(arg), THINSNAP_LABEL_MAX_SIZE "=%" PRIu64, size);
			r = label_arg(c, &l, arg);
			if (r)
				return r;
			break;
		default:
			r = label_or_output_option(c, &l, argv, opt);
			if (r)
				return r;
			break;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		labels_clear(&l);
		return thinsnap_cli_usage_error(c, "want KEY [PARENT]");
	}
	key = argv[optind];
	parent = argc - optind == 2 ? argv[optind + 1] : NULL;
	r = thinsnap_cli_open(c, key, false, &s);
	if (r == 0) {
		r = (view ? thinsnap_view : thinsnap_prepare)(s, key, parent, l.v, l.n, &m, &e);
		r = r < 0 ? thinsnap_cli_fail_err(c, key, r, &e) : 0;
	}
	labels_clear(&l);
	if (r)
		return r;
	if (target) {
		r = mount_at(c, key, m, target);
		if (r)
			return r;
	}
	if (c->json)
		return print_json(c, key, thinsnap_cli_mount_json(m, target));
	if (print_mounts)
		thinsnap_cli_mount_line(m, target ? target : "", stdout);
	return 0;
}

int thinsnap_cli_prepare(struct thinsnap_cli *c, int argc, char **argv)
{
	return create(c, argc, argv, false);
}

int thinsnap_cli_view(struct thinsnap_cli *c, int argc, char **argv)
{
	return create(c, argc, argv, true);
}

int thinsnap_cli_resize(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	uint64_t size = 0;
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":", (const struct option[]){ { NULL, 0, NULL, 0 } },
				  NULL)) != -1)
		return thinsnap_cli_bad_option(c, argv, opt);
	if (argc - optind != 2)
		return thinsnap_cli_usage_error(c, "want KEY SIZE");
	if (thinsnap_parse_size(argv[optind + 1], &size) < 0 || size == 0)
		return thinsnap_cli_usage_error(c, "bad size '%s'", argv[optind + 1]);
	r = thinsnap_cli_open(c, argv[optind], false, &s);
	if (r)
		return r;
	r = thinsnap_resize(s, argv[optind], size, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, argv[optind], r, &e);
	return 0;
}

int thinsnap_cli_commit(struct thinsnap_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-active", no_argument, NULL, 'k' },
		{ "label", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct labels l = { NULL, 0 };
	struct thinsnap_error e = { 0 };
	unsigned flags = 0;
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":l:", opts, NULL)) != -1) {
		if (opt == 'k') {
			flags |= THINSNAP_COMMIT_KEEP_ACTIVE;
			continue;
		}
		r = label_or_output_option(c, &l, argv, opt);
		if (r)
			return r;
	}
	if (argc - optind != 2) {
		labels_clear(&l);
		return thinsnap_cli_usage_error(c, "want NAME KEY");
	}
	const char *name = argv[optind], *key = argv[optind + 1];
	r = thinsnap_cli_open(c, key, false, &s);
	if (r == 0) {
		r = thinsnap_commit(s, name, key, l.v, l.n, flags, &e);
		r = r < 0 ? thinsnap_cli_fail_err(c, key, r, &e) : 0;
	}
	labels_clear(&l);
	return r;
}

/* Options of the reading verbs: --json, -q, -b. */
static int reading_options(struct thinsnap_cli *c, int argc, char **argv, bool *bytes)
{
	static const struct option opts[] = {
		THINSNAP_CLI_OUTPUT_OPTIONS, /* --json, -q */
		{ "bytes", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, bytes ? ":qb" : ":q", opts, NULL)) != -1) {
		if (opt == 'b' && bytes) {
			*bytes = true;
			continue;
		}
		r = thinsnap_cli_output_option(c, argv, opt == 'b' ? '?' : opt);
		if (r)
			return r;
	}
	return 0;
}

int thinsnap_cli_remove(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	int r, failed = 0;

	r = reading_options(c, argc, argv, NULL);
	if (r)
		return r;
	if (optind >= argc)
		return thinsnap_cli_usage_error(c, "want KEY...");
	r = thinsnap_cli_open(c, argv[optind], false, &s);
	if (r)
		return r;
	for (int i = optind; i < argc; i++) {
		struct thinsnap_error e = { 0 };
		r = thinsnap_remove(s, argv[i], &e);
		if (r < 0)
			failed = thinsnap_cli_fail_err(c, argv[i], r, &e);
	}
	return failed;
}

/* ---- reading verbs ---- */

/* Collects infos as JSON objects. */
struct collect {
	json_t **v;
	size_t n, cap;
};

static void collect_clear(struct collect *col)
{
	for (size_t i = 0; i < col->n; i++)
		json_decref(col->v[i]);
	free(col->v);
}

static int collect_fn(void *userdata, const struct thinsnap_info *info)
{
	struct collect *col = userdata;
	json_t *o;

	if (col->n == col->cap) {
		size_t cap = col->cap ? col->cap * 2 : 64;
		json_t **v = reallocarray(col->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		col->v = v;
		col->cap = cap;
	}
	o = thinsnap_cli_info_json(info);
	if (!o)
		return -ENOMEM;
	col->v[col->n++] = o;
	return 0;
}

static const char *jstr(const json_t *o, const char *field)
{
	const char *s = json_string_value(json_object_get(o, field));
	return s ? s : "";
}

static int cmp_json_name(const void *a, const void *b)
{
	return strcmp(jstr(*(json_t *const *)a, "name"), jstr(*(json_t *const *)b, "name"));
}

/* Walks s with filters into col, sorted by name. Reports failures; returns 0 or 1. */
static int walk_with(struct thinsnap_cli *c, struct thinsnap_snapshotter *s,
		     const char *const *filters, size_t n_filters, struct collect *col)
{
	struct thinsnap_error e = { 0 };
	int r;

	r = thinsnap_walk(s, filters, n_filters, collect_fn, col, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, NULL, r, &e);
	if (col->n)
		qsort(col->v, col->n, sizeof(*col->v), cmp_json_name);
	return 0;
}

/* The same on a read-only handle of its own. */
static int walk_all(struct thinsnap_cli *c, const char *const *filters, size_t n_filters,
		    struct collect *col)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	int r;

	r = thinsnap_cli_open(c, NULL, true, &s);
	return r ? r : walk_with(c, s, filters, n_filters, col);
}

int thinsnap_cli_list(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_cli_table_freep) struct thinsnap_cli_table *t = NULL;
	struct collect col = { NULL, 0, 0 };
	int r;

	r = reading_options(c, argc, argv, NULL);
	if (r)
		return r;
	r = walk_all(c, (const char *const *)argv + optind, (size_t)(argc - optind), &col);
	if (r) {
		collect_clear(&col);
		return r;
	}
	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < col.n; i++)
			if (json_array_append(arr, col.v[i]) < 0) {
				json_decref(arr);
				arr = NULL;
			}
		collect_clear(&col);
		return print_json(c, NULL, arr);
	}
	if (c->quiet) {
		for (size_t i = 0; i < col.n; i++) {
			CLEANUP_FREE char *name = thinsnap_cli_escape(jstr(col.v[i], "name"));
			printf("%s\n", name ? name : "?");
		}
		collect_clear(&col);
		return 0;
	}
	t = thinsnap_cli_table_new(3);
	r = t ? thinsnap_cli_table_add(t, (const char *[]){ "KEY", "PARENT", "KIND" }) : -ENOMEM;
	for (size_t i = 0; r == 0 && i < col.n; i++) {
		const char *kind = jstr(col.v[i], "kind");
		char Kind[16];
		/* ctr prints kinds capitalised: Active, Committed, View */
		(void)snprintf(Kind, sizeof(Kind), "%c%s", kind[0] ? kind[0] - 'a' + 'A' : ' ',
			       kind[0] ? kind + 1 : "");
		r = thinsnap_cli_table_add(t, (const char *[]){ jstr(col.v[i], "name"),
								jstr(col.v[i], "parent"), Kind });
	}
	collect_clear(&col);
	if (r == 0)
		r = thinsnap_cli_table_print(t, stdout);
	return r < 0 ? thinsnap_cli_fail(c, NULL, "%s", strerror(-r)) : 0;
}

/* info KEY and mounts TARGET KEY: one snapshot, read-only. */
static int show(struct thinsnap_cli *c, int argc, char **argv, bool mounts)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *info = NULL;
	CLEANUP(thinsnap_mount_freep) struct thinsnap_mount *m = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	r = reading_options(c, argc, argv, NULL);
	if (r)
		return r;
	if (argc - optind != (mounts ? 2 : 1))
		return thinsnap_cli_usage_error(c, "%s", mounts ? "want TARGET KEY" : "want KEY");
	const char *target = argv[optind], *key = argv[argc - 1];
	r = thinsnap_cli_open(c, key, true, &s);
	if (r)
		return r;
	r = mounts ? thinsnap_mounts(s, key, &m, &e) : thinsnap_stat(s, key, &info, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, key, r, &e);
	if (!mounts)
		return print_json(c, key, thinsnap_cli_info_json(info));
	if (c->json)
		return print_json(c, key, json_pack("[o]", thinsnap_cli_mount_json(m, target)));
	thinsnap_cli_mount_line(m, target, stdout);
	return 0;
}

int thinsnap_cli_info(struct thinsnap_cli *c, int argc, char **argv)
{
	return show(c, argc, argv, false);
}

int thinsnap_cli_mounts(struct thinsnap_cli *c, int argc, char **argv)
{
	return show(c, argc, argv, true);
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct thinsnap_label *)a)->key,
		      ((const struct thinsnap_label *)b)->key);
}

int thinsnap_cli_label(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *info = NULL;
	CLEANUP_FREE char **paths = NULL;
	CLEANUP_FREE struct thinsnap_label *set = NULL;
	struct labels l = { NULL, 0 };
	struct thinsnap_error e = { 0 };
	size_t n_set = 0;
	int r;

	r = reading_options(c, argc, argv, NULL);
	if (r)
		return r;
	if (argc - optind < 1)
		return thinsnap_cli_usage_error(c, "want NAME [KEY=VALUE...]");
	const char *name = argv[optind];
	for (int i = optind + 1; i < argc; i++) {
		r = label_arg(c, &l, argv[i]);
		if (r)
			return r;
	}
	r = thinsnap_cli_open(c, name, l.n == 0, &s);
	if (r) {
		labels_clear(&l);
		return r;
	}
	if (l.n == 0) {
		r = thinsnap_stat(s, name, &info, &e);
	} else {
		paths = calloc(l.n, sizeof(*paths));
		set = calloc(l.n, sizeof(*set));
		r = paths && set ? 0 : -ENOMEM;
		for (size_t i = 0; r == 0 && i < l.n; i++) {
			if (asprintf(&paths[i], "labels.%s", l.v[i].key) < 0) {
				paths[i] = NULL;
				r = -ENOMEM;
			} else if (l.v[i].value[0]) {
				set[n_set++] = l.v[i];
			}
		}
		if (r == 0) {
			struct thinsnap_info want = { .name = (char *)name,
						      .labels = set,
						      .n_labels = n_set };
			r = thinsnap_update(s, &want, (const char *const *)paths, l.n, &info, &e);
		} else {
			thinsnap_error_setf(&e, r, "out of memory");
		}
		for (size_t i = 0; paths && i < l.n; i++)
			free(paths[i]);
	}
	labels_clear(&l);
	if (r < 0)
		return thinsnap_cli_fail_err(c, name, r, &e);
	if (!info) /* a library without the optional *ret: show what we asked for */
		return 0;
	if (c->json)
		return print_json(c, name, thinsnap_cli_info_json(info));
	qsort(info->labels, info->n_labels, sizeof(*info->labels), cmp_label);
	for (size_t i = 0; i < info->n_labels; i++) {
		CLEANUP_FREE char *k = thinsnap_cli_escape(info->labels[i].key);
		CLEANUP_FREE char *v = thinsnap_cli_escape(info->labels[i].value);
		printf("%s%s=%s", i ? "," : "", k ? k : "?", v ? v : "?");
	}
	if (info->n_labels)
		printf("\n");
	return 0;
}

static enum thinsnap_kind kind_of(const char *s)
{
	if (strcmp(s, "committed") == 0)
		return THINSNAP_KIND_COMMITTED;
	if (strcmp(s, "active") == 0)
		return THINSNAP_KIND_ACTIVE;
	if (strcmp(s, "view") == 0)
		return THINSNAP_KIND_VIEW;
	return THINSNAP_KIND_UNKNOWN;
}

int thinsnap_cli_tree(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP_FREE struct thinsnap_cli_node *nodes = NULL;
	struct collect col = { NULL, 0, 0 };
	int r;

	r = reading_options(c, argc, argv, NULL);
	if (r)
		return r;
	if (optind != argc)
		return thinsnap_cli_usage_error(c, "takes no arguments");
	r = walk_all(c, NULL, 0, &col);
	if (r == 0 && col.n) {
		nodes = calloc(col.n, sizeof(*nodes));
		if (!nodes)
			r = thinsnap_cli_fail(c, NULL, "out of memory");
	}
	for (size_t i = 0; r == 0 && i < col.n; i++) {
		nodes[i].name = jstr(col.v[i], "name");
		nodes[i].parent = jstr(col.v[i], "parent");
		nodes[i].kind = kind_of(jstr(col.v[i], "kind"));
	}
	if (r == 0) {
		r = thinsnap_cli_tree_print(nodes, col.n, c->json, stdout);
		r = r < 0 ? thinsnap_cli_fail(c, NULL, "%s", strerror(-r)) : 0;
	}
	collect_clear(&col);
	return r;
}

int thinsnap_cli_usage(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP(thinsnap_cli_table_freep) struct thinsnap_cli_table *t = NULL;
	CLEANUP(json_decrefp) json_t *arr = NULL;
	struct collect col = { NULL, 0, 0 };
	bool bytes = false;
	int r, failed = 0;

	r = reading_options(c, argc, argv, &bytes);
	if (r)
		return r;
	if (argc - optind > 1)
		return thinsnap_cli_usage_error(c, "want [KEY]");
	const char *one = argc - optind == 1 ? argv[optind] : NULL;
	r = thinsnap_cli_open(c, one, true, &s);
	if (r == 0 && !one)
		r = walk_with(c, s, NULL, 0, &col);
	arr = json_array();
	t = thinsnap_cli_table_new(5);
	if (r == 0 && (!arr || !t))
		r = thinsnap_cli_fail(c, one, "out of memory");
	if (r == 0 && thinsnap_cli_table_add(t, (const char *[]){ "KEY", "SIZE", "EXCLUSIVE",
								  "SHARED", "INODES" }) < 0)
		r = thinsnap_cli_fail(c, one, "out of memory");
	size_t n = one ? 1 : col.n;
	CLEANUP_FREE const char **keys = calloc(n ? n : 1, sizeof(*keys));
	CLEANUP_FREE struct thinsnap_usage_detail *d = calloc(n ? n : 1, sizeof(*d));
	if (r == 0 && (!keys || !d))
		r = thinsnap_cli_fail(c, one, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++)
		keys[i] = one ? one : jstr(col.v[i], "name");
	if (r == 0) {
		/* one metadata snapshot read for all of them */
		struct thinsnap_error e = { 0 };
		int q = thinsnap_usage_detail(s, keys, n, d, &e);
		if (q < 0)
			r = thinsnap_cli_fail_err(c, one, q, &e);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *key = keys[i];
		char size[32], excl[32], shared[32], inodes[32];
		thinsnap_cli_format_size(d[i].size_bytes, bytes, size, sizeof(size));
		thinsnap_cli_format_size(d[i].exclusive_bytes, bytes, excl, sizeof(excl));
		thinsnap_cli_format_size(d[i].shared_bytes, bytes, shared, sizeof(shared));
		(void)snprintf(inodes, sizeof(inodes), "%lld", (long long)d[i].inodes);
		if (thinsnap_cli_table_add(t, (const char *[]){ key, size, excl, shared, inodes }) <
			    0 ||
		    json_array_append_new(arr, json_pack("{s:o, s:I, s:I, s:I, s:I}", "name",
							 thinsnap_cli_json_string(key), "size",
							 (json_int_t)d[i].size_bytes, "exclusive",
							 (json_int_t)d[i].exclusive_bytes, "shared",
							 (json_int_t)d[i].shared_bytes, "inodes",
							 (json_int_t)d[i].inodes)) < 0)
			r = thinsnap_cli_fail(c, key, "out of memory");
	}
	collect_clear(&col);
	if (r)
		return r;
	if (one && failed)
		return failed;
	if (c->json) {
		if (one && json_array_size(arr) == 1)
			r = print_json(c, one, json_incref(json_array_get(arr, 0)));
		else if (!one)
			r = print_json(c, NULL, json_incref(arr));
		return r ? r : failed;
	}
	if (thinsnap_cli_table_print(t, stdout) < 0)
		return thinsnap_cli_fail(c, NULL, "writing output failed");
	return failed;
}
