/* meta/: every allocation of open, apply, intents and compaction fails in turn (failalloc):
 * each returns -ENOMEM, leaks nothing (ASan), leaves ret_ untouched and the state unchanged. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "failalloc.h"
#include "meta/meta.h"
#include "testutil.h"

static const struct thinsnap_meta_label labels[] = { { "containerd.io/gc.root", "2026" },
						     { "k", "v" } };

static struct thinsnap_meta_op mkcreate(const char *key, const char *parent,
					enum thinsnap_meta_kind kind, uint32_t id)
{
	return (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
					  .key = key,
					  .parent = parent,
					  .kind = kind,
					  .dev_id = id,
					  .fs_type = "ext4",
					  .labels = labels,
					  .n_labels = 2 };
}

static void populate(const char *dir)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .pool_uuid = "p" };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_meta_op ops[3];
	struct thinsnap_meta_pool_op po = { THINSNAP_META_POOL_CREATE_SNAP, 7, 2 };
	uint64_t iid = 0;

	assert_int_equal(thinsnap_meta_open(&o, &m, NULL), 0);
	ops[0] = mkcreate("base", NULL, THINSNAP_META_INTERNAL, 1);
	ops[1] = mkcreate("c1", "base", THINSNAP_META_COMMITTED, 2);
	ops[2] = mkcreate("a1", "c1", THINSNAP_META_ACTIVE, 3);
	assert_int_equal(thinsnap_meta_apply(m, ops, 3, NULL), 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC, .dev_id = 5 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
					    .dev_id = 6 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 2, NULL), 0);
	ops[0] = mkcreate("v1", "c1", THINSNAP_META_VIEW, 7);
	struct thinsnap_meta_intent in = {
		.pool_ops = &po, .n_pool_ops = 1, .ops = ops, .n_ops = 1
	};
	assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, NULL), 0);
	thinsnap_meta_free(m);
}

static void test_open(void **state)
{
	char *dir = tu_mkdtemp();
	long n;

	(void)state;
	populate(dir);
	for (int ro = 0; ro < 2; ro++) {
		for (n = 0;; n++) {
			struct thinsnap_meta_open_opts o = { .state_dir = dir, .read_only = ro };
			struct thinsnap_meta *m = NULL;
			struct thinsnap_error err = { 0 };
			failalloc_arm(n);
			int r = thinsnap_meta_open(&o, &m, &err);
			bool fired = failalloc_fired();
			failalloc_disarm();
			if (!fired) {
				assert_int_equal(r, 0);
				assert_int_equal(thinsnap_meta_count(m), 3);
				thinsnap_meta_free(m);
				break;
			}
			assert_int_equal(r, -ENOMEM);
			assert_null(m);
		}
		assert_true(n > 10);
	}
	tu_rmrf(dir);
}

static void test_create_journal(void **state)
{
	(void)state;
	for (long n = 0;; n++) {
		char *dir = tu_mkdtemp();
		struct thinsnap_meta_open_opts o = { .state_dir = dir };
		struct thinsnap_meta *m = NULL;
		failalloc_arm(n);
		int r = thinsnap_meta_open(&o, &m, NULL);
		bool fired = failalloc_fired();
		failalloc_disarm();
		tu_rmrf(dir);
		if (!fired) {
			assert_int_equal(r, 0);
			thinsnap_meta_free(m);
			break;
		}
		assert_int_equal(r, -ENOMEM);
		assert_null(m);
	}
}

enum what { APPLY, BEGIN, FINISH, COMPACT, ABORT };

static void loop(enum what w)
{
	char *dir = tu_mkdtemp();
	long n;

	populate(dir);
	for (n = 0;; n++) {
		struct thinsnap_meta_open_opts o = { .state_dir = dir };
		struct thinsnap_meta *m = NULL;
		struct thinsnap_meta_op ops[3];
		struct thinsnap_meta_pool_op po = { THINSNAP_META_POOL_CREATE_THIN, 9, 0 };
		struct thinsnap_meta_intent in = {
			.pool_ops = &po, .n_pool_ops = 1, .ops = ops, .n_ops = 2
		};
		uint64_t iid = 0;
		int r = 0;

		assert_int_equal(thinsnap_meta_open(&o, &m, NULL), 0);
		uint64_t bytes = thinsnap_meta_journal_bytes(m);
		ops[0] = mkcreate("x/1", "c1", THINSNAP_META_ACTIVE, 9);
		ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_LABELS_SET,
						    .key = "c1",
						    .labels = labels,
						    .n_labels = 1 };
		ops[2] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_COMMIT,
						    .key = "a1",
						    .name = "c2",
						    .labels = labels,
						    .n_labels = 2 };
		failalloc_arm(n);
		switch (w) {
		case APPLY:
			r = thinsnap_meta_apply(m, ops, 3, NULL);
			break;
		case BEGIN:
			r = thinsnap_meta_intent_begin(m, &in, &iid, NULL);
			break;
		case FINISH:
		case ABORT:
			r = thinsnap_meta_intent_finish(m, 2 + 1, w == FINISH, NULL);
			break;
		case COMPACT:
			r = thinsnap_meta_compact(m, NULL);
			break;
		}
		bool fired = failalloc_fired();
		failalloc_disarm();
		if (!fired) {
			assert_int_equal(r, 0);
			thinsnap_meta_free(m);
			break;
		}
		assert_int_equal(r, -ENOMEM);
		/* nothing changed, and the handle still works */
		assert_int_equal(thinsnap_meta_count(m), 3);
		assert_null(thinsnap_meta_get(m, "x/1"));
		assert_non_null(thinsnap_meta_get(m, "a1"));
		if (w != COMPACT)
			assert_int_equal(thinsnap_meta_journal_bytes(m), bytes);
		assert_int_equal(thinsnap_meta_get(m, "c1")->n_labels, 2);
		ops[0] = mkcreate("y", NULL, THINSNAP_META_ACTIVE, 11);
		assert_int_equal(thinsnap_meta_apply(m, ops, 1, NULL), 0);
		ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE,
						    .key = "y" };
		assert_int_equal(thinsnap_meta_apply(m, ops, 1, NULL), 0);
		thinsnap_meta_free(m);
	}
	assert_true(n > 0);
	tu_rmrf(dir);
}

static void test_apply(void **state)
{
	(void)state;
	loop(APPLY);
}

static void test_intent_begin(void **state)
{
	(void)state;
	loop(BEGIN);
}

static void test_intent_finish(void **state)
{
	(void)state;
	loop(FINISH);
	loop(ABORT);
}

static void test_compact(void **state)
{
	(void)state;
	loop(COMPACT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),          cmocka_unit_test(test_create_journal),
		cmocka_unit_test(test_apply),         cmocka_unit_test(test_intent_begin),
		cmocka_unit_test(test_intent_finish), cmocka_unit_test(test_compact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
