/* meta/: the in-memory index alone, without files: ops applied, validated and rolled back whole,
 * the hash under growth and deletion, parent/child links, dev_id bitmaps, intents touching
 * dev_ids and their resolution, and the key and label checks snap/ shares. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/format.h"
#include "meta/index.h"

static const struct thinsnap_meta_label two_labels[] = { { "containerd.io/gc.root", "x" },
							 { "a", "" } };

/* A SNAP_CREATE op: ext4, 1 GiB, two labels, created 11, updated 22. */
#define CREATE(k, p, kd, id)                                              \
	((struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE, \
				    .key = (k),                           \
				    .parent = (p),                        \
				    .kind = (kd),                         \
				    .dev_id = (id),                       \
				    .size_bytes = 1ull << 30,             \
				    .fs_type = "ext4",                    \
				    .labels = two_labels,                 \
				    .n_labels = 2,                        \
				    .created_ns = 11,                     \
				    .updated_ns = 22 })

/* Applies a group and keeps it (commit) on success; the undo log is empty either way. */
static int apply(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *ops, size_t n)
{
	struct thinsnap_error err = { 0 };
	int r = thinsnap_meta_ops_apply(ix, ops, n, &err);

	if (r == 0)
		thinsnap_meta_undo_commit(ix);
	else
		assert_true(err.msg[0] != '\0');
	assert_int_equal(ix->n_undo, 0);
	return r;
}

static int apply1(struct thinsnap_meta_index *ix, struct thinsnap_meta_op op)
{
	return apply(ix, &op, 1);
}

/* base (internal, 1) <- c1 (committed, 2) <- a1 (active, 3), a2 (active, 4) */
static struct thinsnap_meta_index *tree(void)
{
	struct thinsnap_meta_index *ix = calloc(1, sizeof(*ix));
	struct thinsnap_meta_op ops[] = {
		CREATE("base", NULL, THINSNAP_META_INTERNAL, 1),
		CREATE("c1", "base", THINSNAP_META_COMMITTED, 2),
		CREATE("a1", "c1", THINSNAP_META_ACTIVE, 3),
		CREATE("a2", "c1", THINSNAP_META_ACTIVE, 4),
	};

	assert_non_null(ix);
	assert_int_equal(apply(ix, ops, 4), 0);
	return ix;
}

static void tree_free(struct thinsnap_meta_index *ix)
{
	thinsnap_meta_index_free(ix);
	free(ix);
}

static size_t n_children(struct thinsnap_meta_index *ix, const char *key)
{
	size_t n = 0;

	for (struct entry *c = thinsnap_meta_index_find(ix, key)->first_child; c; c = c->next_sib) {
		assert_string_equal(c->pub.parent, key);
		n++;
	}
	return n;
}

static void test_tree(void **state)
{
	struct thinsnap_meta_index *ix = tree();
	struct entry *e;

	(void)state;
	assert_int_equal(ix->count, 4);
	e = thinsnap_meta_index_find(ix, "a1");
	assert_non_null(e);
	assert_string_equal(e->pub.key, "a1");
	assert_string_equal(e->pub.parent, "c1");
	assert_int_equal(e->pub.kind, THINSNAP_META_ACTIVE);
	assert_int_equal(e->pub.dev_id, 3);
	assert_string_equal(e->pub.fs_type, "ext4");
	assert_int_equal(e->pub.n_labels, 2);
	assert_string_equal(e->pub.labels[0].key, "containerd.io/gc.root");
	assert_string_equal(e->pub.labels[1].value, "");
	assert_null(thinsnap_meta_index_find(ix, "base")->pub.parent);
	assert_int_equal(n_children(ix, "c1"), 2);
	assert_int_equal(n_children(ix, "base"), 1);
	assert_int_equal(n_children(ix, "a1"), 0);
	for (uint32_t id = 1; id <= 4; id++)
		assert_true(thinsnap_meta_map_get(ix, MAP_ENTRY, id));
	assert_false(thinsnap_meta_map_get(ix, MAP_ENTRY, 5));
	assert_null(thinsnap_meta_index_find(ix, "nope"));
	assert_null(thinsnap_meta_index_find(ix, ""));
	assert_null(thinsnap_meta_index_find(ix, NULL));
	tree_free(ix);
}

/* A group that fails at its last op leaves nothing of the earlier ones. */
static void test_group_rolls_back(void **state)
{
	struct thinsnap_meta_index *ix = tree();
	static const struct thinsnap_meta_label one[] = { { "k", "v" } };
	struct thinsnap_meta_op ops[] = {
		CREATE("x", "c1", THINSNAP_META_ACTIVE, 10),
		{ .type = THINSNAP_META_OP_LABELS_SET, .key = "a1", .labels = one, .n_labels = 1 },
		{ .type = THINSNAP_META_OP_USAGE_SET, .key = "a1", .usage_bytes = 99 },
		{ .type = THINSNAP_META_OP_SIZE_SET, .key = "a1", .size_bytes = 4096 },
		{ .type = THINSNAP_META_OP_ID_ALLOC, .dev_id = 20 },
		{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "a2" },
		{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = 4 },
		CREATE("x", NULL, THINSNAP_META_ACTIVE, 11), /* -EEXIST: x from op 0 */
	};
	struct entry *e;

	(void)state;
	assert_int_equal(apply(ix, ops, sizeof(ops) / sizeof(ops[0])), -EEXIST);
	assert_int_equal(ix->count, 4);
	assert_null(thinsnap_meta_index_find(ix, "x"));
	e = thinsnap_meta_index_find(ix, "a1");
	assert_int_equal(e->pub.n_labels, 2);
	assert_int_equal(e->pub.updated_ns, 22);
	assert_int_equal(e->pub.usage_bytes, 0);
	assert_int_equal(e->pub.size_bytes, 1ull << 30);
	assert_non_null(thinsnap_meta_index_find(ix, "a2"));
	assert_int_equal(n_children(ix, "c1"), 2);
	assert_false(thinsnap_meta_map_get(ix, MAP_ENTRY, 10));
	assert_false(thinsnap_meta_map_get(ix, MAP_RESERVED, 20));
	assert_false(thinsnap_meta_map_get(ix, MAP_PENDING, 4));
	assert_true(thinsnap_meta_map_get(ix, MAP_ENTRY, 4));
	/* without the failing op, the same group applies */
	assert_int_equal(apply(ix, ops, sizeof(ops) / sizeof(ops[0]) - 1), 0);
	assert_int_equal(ix->count, 4); /* x in, a2 out */
	assert_string_equal(thinsnap_meta_index_find(ix, "a1")->pub.labels[0].key, "k");
	assert_true(thinsnap_meta_map_get(ix, MAP_PENDING, 4));
	assert_false(thinsnap_meta_map_get(ix, MAP_ENTRY, 4));
	tree_free(ix);
}

static void test_commit_and_undo(void **state)
{
	struct thinsnap_meta_index *ix = tree();
	static const struct thinsnap_meta_label one[] = { { "k", "v" } };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_COMMIT,
				       .key = "a1",
				       .name = "c2",
				       .labels = one,
				       .n_labels = 1,
				       .updated_ns = 33 };
	struct thinsnap_error err = { 0 };
	struct entry *e;

	(void)state;
	/* applied, then rolled back (as when the record cannot be appended) */
	assert_int_equal(thinsnap_meta_ops_apply(ix, &op, 1, &err), 0);
	assert_null(thinsnap_meta_index_find(ix, "a1"));
	assert_non_null(thinsnap_meta_index_find(ix, "c2"));
	thinsnap_meta_undo_rollback(ix);
	assert_int_equal(ix->n_undo, 0);
	assert_null(thinsnap_meta_index_find(ix, "c2"));
	e = thinsnap_meta_index_find(ix, "a1");
	assert_int_equal(e->pub.kind, THINSNAP_META_ACTIVE);
	assert_int_equal(e->pub.n_labels, 2);
	assert_int_equal(n_children(ix, "c1"), 2);
	assert_true(thinsnap_meta_map_get(ix, MAP_ENTRY, 3));
	/* and kept */
	assert_int_equal(apply1(ix, op), 0);
	e = thinsnap_meta_index_find(ix, "c2");
	assert_int_equal(e->pub.kind, THINSNAP_META_COMMITTED);
	assert_int_equal(e->pub.dev_id, 3);
	assert_int_equal(e->pub.created_ns, 33);
	assert_int_equal(e->pub.updated_ns, 33);
	assert_string_equal(e->pub.fs_type, "ext4");
	assert_int_equal(e->pub.n_labels, 1);
	assert_string_equal(e->pub.parent, "c1");
	assert_int_equal(n_children(ix, "c1"), 2);
	assert_true(thinsnap_meta_map_get(ix, MAP_ENTRY, 3));
	/* a committed snapshot is a parent */
	assert_int_equal(apply1(ix, CREATE("a3", "c2", THINSNAP_META_ACTIVE, 5)), 0);
	tree_free(ix);
}

static void test_errnos(void **state)
{
	char big[THINSNAP_META_KEY_MAX + 2];
	const struct {
		struct thinsnap_meta_op op;
		int err;
	} cases[] = {
		{ CREATE("x", NULL, THINSNAP_META_ACTIVE, 0), -ERANGE },
		{ CREATE("x", NULL, THINSNAP_META_ACTIVE, THINSNAP_META_DEV_ID_LIMIT), -ERANGE },
		{ CREATE("", NULL, THINSNAP_META_ACTIVE, 9), -EINVAL },
		{ CREATE(NULL, NULL, THINSNAP_META_ACTIVE, 9), -EINVAL },
		{ CREATE(big, NULL, THINSNAP_META_ACTIVE, 9), -EINVAL },
		{ CREATE("x", NULL, (enum thinsnap_meta_kind)7, 9), -EINVAL },
		{ CREATE("a1", NULL, THINSNAP_META_ACTIVE, 9), -EEXIST },
		{ CREATE("x", NULL, THINSNAP_META_ACTIVE, 3), -EEXIST },
		{ CREATE("x", "nope", THINSNAP_META_ACTIVE, 9), -ENOENT },
		{ CREATE("x", "a1", THINSNAP_META_ACTIVE, 9), -EINVAL },
		{ { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "c1" }, -ENOTEMPTY },
		{ { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "nope" }, -ENOENT },
		{ { .type = THINSNAP_META_OP_SNAP_COMMIT, .key = "c1", .name = "y" }, -EINVAL },
		{ { .type = THINSNAP_META_OP_SNAP_COMMIT, .key = "a1", .name = "a2" }, -EEXIST },
		{ { .type = THINSNAP_META_OP_SNAP_COMMIT, .key = "a1", .name = "" }, -EINVAL },
		{ { .type = THINSNAP_META_OP_LABELS_SET, .key = "a1", .n_labels = 1 }, -EINVAL },
		{ { .type = THINSNAP_META_OP_USAGE_SET, .key = "nope" }, -ENOENT },
		{ { .type = THINSNAP_META_OP_SIZE_SET, .key = "a1" }, -EINVAL },
		{ { .type = THINSNAP_META_OP_ID_ALLOC, .dev_id = 2 }, -EEXIST },
		{ { .type = THINSNAP_META_OP_ID_RELEASE, .dev_id = 9 }, -ENOENT },
		{ { .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = 3 }, -EBUSY },
		{ { .type = THINSNAP_META_OP_DELETE_PENDING_REMOVE, .dev_id = 9 }, -ENOENT },
		{ { .type = (enum thinsnap_meta_op_type)99 }, -EINVAL },
	};
	struct thinsnap_meta_index *ix;

	(void)state;
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ix = tree();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = apply1(ix, cases[i].op);
		if (r != cases[i].err)
			fail_msg("case %zu: %d, want %d", i, r, cases[i].err);
		assert_int_equal(ix->count, 4);
	}
	assert_int_equal(thinsnap_meta_ops_apply(ix, NULL, 1, NULL), -EINVAL);
	tree_free(ix);
}

/* Reservations are consumed by a create; pending deletes keep a dev_id until removed. */
static void test_dev_ids(void **state)
{
	struct thinsnap_meta_index *ix = tree();
	struct thinsnap_meta_op rm[] = {
		{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "a2" },
		{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = 4 },
	};

	(void)state;
	assert_int_equal(apply1(ix, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC,
							       .dev_id = 30 }),
			 0);
	assert_true(thinsnap_meta_map_get(ix, MAP_RESERVED, 30));
	assert_int_equal(apply1(ix, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC,
							       .dev_id = 30 }),
			 -EEXIST);
	assert_int_equal(apply1(ix, CREATE("x", "c1", THINSNAP_META_ACTIVE, 30)), 0);
	assert_false(thinsnap_meta_map_get(ix, MAP_RESERVED, 30));
	assert_true(thinsnap_meta_map_get(ix, MAP_ENTRY, 30));
	assert_int_equal(apply(ix, rm, 2), 0);
	assert_true(thinsnap_meta_map_get(ix, MAP_PENDING, 4));
	assert_int_equal(apply1(ix, CREATE("y", NULL, THINSNAP_META_ACTIVE, 4)), -EEXIST);
	assert_int_equal(apply1(ix, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC,
							       .dev_id = 4 }),
			 -EEXIST);
	assert_int_equal(
		apply1(ix,
		       (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_REMOVE,
						  .dev_id = 4 }),
		0);
	assert_int_equal(apply1(ix, CREATE("y", NULL, THINSNAP_META_ACTIVE, 4)), 0);
	/* the highest dev_id, in the last bitmap chunk */
	assert_int_equal(
		apply1(ix, CREATE("z", NULL, THINSNAP_META_ACTIVE, THINSNAP_META_DEV_ID_LIMIT - 1)),
		0);
	assert_true(thinsnap_meta_map_get(ix, MAP_ENTRY, THINSNAP_META_DEV_ID_LIMIT - 1));
	tree_free(ix);
}

/* Thousands of keys: the table grows; backward-shift deletion keeps every probe chain. */
static void test_hash_growth_and_removal(void **state)
{
	struct thinsnap_meta_index *ix = calloc(1, sizeof(*ix));
	enum { N = 5000 };
	char key[32];

	(void)state;
	assert_non_null(ix);
	for (uint32_t i = 1; i <= N; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		assert_int_equal(apply1(ix, CREATE(key, NULL, THINSNAP_META_ACTIVE, i)), 0);
	}
	assert_int_equal(ix->count, N);
	assert_true(ix->n_slots >= 2 * N);
	for (uint32_t i = 1; i <= N; i += 3) {
		snprintf(key, sizeof(key), "k%u", i);
		assert_int_equal(
			apply1(ix, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE,
							      .key = key }),
			0);
	}
	for (uint32_t i = 1; i <= N; i++) {
		struct entry *e;
		snprintf(key, sizeof(key), "k%u", i);
		e = thinsnap_meta_index_find(ix, key);
		if (i % 3 == 1) {
			assert_null(e);
			assert_false(thinsnap_meta_map_get(ix, MAP_ENTRY, i));
		} else {
			assert_non_null(e);
			assert_int_equal(e->pub.dev_id, i);
		}
	}
	assert_int_equal(ix->count, N - (N + 2) / 3);
	tree_free(ix);
}

/* An intent over dev_id 7 (a snapshot of 2) and the op that completes it. */
static struct intent *new_intent(uint64_t id)
{
	static const struct thinsnap_meta_pool_op pool[] = {
		{ THINSNAP_META_POOL_CREATE_SNAP, 7, 2 },
	};
	struct thinsnap_meta_op op = CREATE("i", "c1", THINSNAP_META_ACTIVE, 7);
	struct thinsnap_meta_intent src = { .pool_ops = pool,
					    .n_pool_ops = 1,
					    .transaction_id_before = 5,
					    .transaction_id_after = 6,
					    .ops = &op,
					    .n_ops = 1 };
	struct thinsnap_buf b = { 0 };
	struct intent *in = NULL;

	assert_int_equal(thinsnap_meta_pool_ops_check(&src, NULL), 0);
	assert_int_equal(thinsnap_meta_fmt_put_ops(&b, &op, 1), 0);
	assert_int_equal(thinsnap_meta_intent_new(&src, id, b.p, b.len, &op, 1, &in), 0);
	thinsnap_buf_free(&b);
	return in;
}

static void test_intents(void **state)
{
	struct thinsnap_meta_index *ix = tree();
	struct op_scratch scratch = { 0 };
	struct intent *in = new_intent(1);
	struct thinsnap_error err = { 0 };

	(void)state;
	thinsnap_meta_intent_link(ix, in);
	assert_ptr_equal(thinsnap_meta_intent_find(ix, 1), in);
	assert_null(thinsnap_meta_intent_find(ix, 2));
	assert_ptr_equal(thinsnap_meta_intent_touching(ix, 7), in);
	assert_ptr_equal(thinsnap_meta_intent_touching(ix, 2), in);
	assert_null(thinsnap_meta_intent_touching(ix, 3));
	/* its dev_id is taken until it is resolved */
	assert_int_equal(apply1(ix, CREATE("x", NULL, THINSNAP_META_ACTIVE, 7)), -EBUSY);
	assert_int_equal(apply1(ix, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC,
							       .dev_id = 7 }),
			 -EBUSY);
	/* completed, then rolled back: the intent is back, its op undone */
	assert_int_equal(thinsnap_meta_intent_resolve(ix, &scratch, in, true, &err), 0);
	assert_non_null(thinsnap_meta_index_find(ix, "i"));
	assert_null(thinsnap_meta_intent_find(ix, 1));
	thinsnap_meta_undo_rollback(ix);
	assert_null(thinsnap_meta_index_find(ix, "i"));
	assert_ptr_equal(thinsnap_meta_intent_find(ix, 1), in);
	/* completed and kept */
	assert_int_equal(thinsnap_meta_intent_resolve(ix, &scratch, in, true, &err), 0);
	thinsnap_meta_undo_commit(ix);
	assert_int_equal(ix->n_intents, 0);
	assert_int_equal(thinsnap_meta_index_find(ix, "i")->pub.dev_id, 7);
	assert_null(thinsnap_meta_intent_touching(ix, 7));
	/* aborted: its op is dropped */
	assert_int_equal(apply1(ix, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE,
							       .key = "i" }),
			 0);
	in = new_intent(2);
	thinsnap_meta_intent_link(ix, in);
	assert_int_equal(thinsnap_meta_intent_resolve(ix, &scratch, in, false, &err), 0);
	thinsnap_meta_undo_commit(ix);
	assert_null(thinsnap_meta_index_find(ix, "i"));
	assert_int_equal(ix->n_intents, 0);
	/* an unfinished intent is freed with the index */
	thinsnap_meta_intent_link(ix, new_intent(3));
	thinsnap_meta_fmt_scratch_free(&scratch);
	tree_free(ix);
}

static void test_pool_ops_check(void **state)
{
	struct thinsnap_meta_pool_op pool = { THINSNAP_META_POOL_CREATE_SNAP, 7, 0 };
	struct thinsnap_meta_intent in = { .pool_ops = &pool, .n_pool_ops = 1 };

	(void)state;
	assert_int_equal(thinsnap_meta_pool_ops_check(&in, NULL), -ERANGE); /* origin 0 */
	pool.type = THINSNAP_META_POOL_DELETE;
	assert_int_equal(thinsnap_meta_pool_ops_check(&in, NULL), 0);
	pool.dev_id = THINSNAP_META_DEV_ID_LIMIT;
	assert_int_equal(thinsnap_meta_pool_ops_check(&in, NULL), -ERANGE);
	pool = (struct thinsnap_meta_pool_op){ (enum thinsnap_meta_pool_op_type)9, 7, 0 };
	assert_int_equal(thinsnap_meta_pool_ops_check(&in, NULL), -EINVAL);
	in.pool_ops = NULL;
	assert_int_equal(thinsnap_meta_pool_ops_check(&in, NULL), -EINVAL);
	in.n_pool_ops = 1025;
	assert_int_equal(thinsnap_meta_pool_ops_check(&in, NULL), -EINVAL);
}

/* The checks snap/ shares: errnos and the words users see. */
static void test_checks(void **state)
{
	char big[THINSNAP_META_LABEL_MAX + 2];
	struct thinsnap_meta_label l[] = { { "k", "v" } };
	struct thinsnap_error err = { 0 };

	(void)state;
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(thinsnap_meta_check_key("key", "a", &err), 0);
	assert_int_equal(thinsnap_meta_check_key("parent", "", &err), -EINVAL);
	assert_string_equal(err.msg, "parent must not be empty");
	assert_int_equal(thinsnap_meta_check_key("name", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "name must not be empty");
	assert_int_equal(thinsnap_meta_check_key("key", big, &err), -EINVAL);
	assert_string_equal(err.msg, "key is 4097 bytes long, more than 4096");
	big[THINSNAP_META_KEY_MAX] = '\0';
	assert_int_equal(thinsnap_meta_check_key("key", big, &err), 0);

	assert_int_equal(thinsnap_meta_check_label("k", NULL, &err), 0);
	assert_int_equal(thinsnap_meta_check_label("", "v", &err), -EINVAL);
	assert_string_equal(err.msg, "label key must not be empty");
	assert_int_equal(thinsnap_meta_check_label("k", big + 1, &err), 0); /* 1 + 4095 */
	assert_int_equal(thinsnap_meta_check_label("k", big, &err), -EINVAL);
	assert_string_equal(err.msg, "label key and value of 'k' are 4097 bytes, more than 4096");

	assert_int_equal(thinsnap_meta_check_labels(l, 1, &err), 0);
	assert_int_equal(thinsnap_meta_check_labels(NULL, 0, &err), 0);
	assert_int_equal(thinsnap_meta_check_labels(NULL, 1, &err), -EINVAL);
	l[0].value = NULL; /* the journal stores a string */
	assert_int_equal(thinsnap_meta_check_labels(l, 1, &err), -EINVAL);
	l[0].key = NULL;
	assert_int_equal(thinsnap_meta_check_labels(l, 1, &err), -EINVAL);
	assert_string_equal(err.msg, "label key must not be empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_group_rolls_back),
		cmocka_unit_test(test_commit_and_undo),
		cmocka_unit_test(test_errnos),
		cmocka_unit_test(test_dev_ids),
		cmocka_unit_test(test_hash_growth_and_removal),
		cmocka_unit_test(test_intents),
		cmocka_unit_test(test_pool_ops_check),
		cmocka_unit_test(test_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
