/* meta/: round trips of every op and record type, validation, intents, compaction, locking,
 * read-only opens, pool identity, damage detection and salvage, the state-directory calls. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thinsnap/snapshotter.h>

#include "meta/format.h"
#include "meta/meta.h"
#include "testutil.h"

static struct thinsnap_meta *open_w(const char *dir, const char *pool)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .pool_uuid = pool };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	int r = thinsnap_meta_open(&o, &m, &err);

	if (r < 0)
		fprintf(stderr, "open: %s\n", err.msg);
	assert_int_equal(r, 0);
	return m;
}

static int create(struct thinsnap_meta *m, const char *key, const char *parent,
		  enum thinsnap_meta_kind kind, uint32_t id)
{
	static const struct thinsnap_meta_label l[] = { { "containerd.io/gc.root", "x" },
							{ "a", "" } };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = key,
				       .parent = parent,
				       .kind = kind,
				       .dev_id = id,
				       .size_bytes = 10ull << 30,
				       .fs_type = "ext4",
				       .labels = l,
				       .n_labels = 2,
				       .created_ns = 111,
				       .updated_ns = 222,
				       .usage_bytes = 5,
				       .usage_inodes = 6 };
	struct thinsnap_error err = { 0 };
	return thinsnap_meta_apply(m, &op, 1, &err);
}

static void check_state(struct thinsnap_meta *m)
{
	const struct thinsnap_meta_snap *s;

	assert_int_equal(thinsnap_meta_count(m), 4);
	s = thinsnap_meta_get(m, "base");
	assert_non_null(s);
	assert_int_equal(s->kind, THINSNAP_META_INTERNAL);
	assert_null(s->parent);
	s = thinsnap_meta_get(m, "default/1/sha256:abc");
	assert_non_null(s);
	assert_int_equal(s->kind, THINSNAP_META_COMMITTED);
	assert_string_equal(s->parent, "base");
	assert_int_equal(s->dev_id, 2);
	assert_int_equal(s->size_bytes, 10ull << 30);
	assert_string_equal(s->fs_type, "ext4");
	assert_int_equal(s->created_ns, 999); /* a commit creates the committed snapshot */
	assert_int_equal(s->updated_ns, 999);
	assert_int_equal(s->n_labels, 1);
	assert_string_equal(s->labels[0].key, "k");
	assert_string_equal(s->labels[0].value, "v");
	assert_int_equal(s->usage_bytes, 5);
	s = thinsnap_meta_get(m, "/abs/view");
	assert_non_null(s);
	assert_int_equal(s->kind, THINSNAP_META_VIEW);
	assert_int_equal(s->usage_bytes, 77);
	assert_int_equal(s->usage_inodes, 88);
	assert_int_equal(s->n_labels, 0);
	assert_null(thinsnap_meta_get(m, "active-1"));
	s = thinsnap_meta_get(m, "active-2");
	assert_non_null(s);
	assert_int_equal(s->n_labels, 2);
	assert_string_equal(s->labels[0].key, "containerd.io/gc.root");
	assert_true(thinsnap_meta_has_children(m, "base"));
	assert_true(thinsnap_meta_has_children(m, "default/1/sha256:abc"));
	assert_false(thinsnap_meta_has_children(m, "active-2"));
	assert_true(thinsnap_meta_delete_pending(m, 9));
	assert_false(thinsnap_meta_delete_pending(m, 10));
}

static int count_cb(const struct thinsnap_meta_snap *s, void *ud)
{
	(void)s;
	(*(int *)ud)++;
	return 0;
}

static void build_state(struct thinsnap_meta *m)
{
	struct thinsnap_error err = { 0 };
	static const struct thinsnap_meta_label nl[] = { { "k", "v" } };
	struct thinsnap_meta_op ops[3];

	assert_int_equal(create(m, "base", NULL, THINSNAP_META_INTERNAL, 1), 0);
	assert_int_equal(create(m, "active-1", "base", THINSNAP_META_ACTIVE, 2), 0);
	/* commit: active-1 -> default/1/sha256:abc */
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_COMMIT,
					    .key = "active-1",
					    .name = "default/1/sha256:abc",
					    .labels = nl,
					    .n_labels = 1,
					    .updated_ns = 999 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 1, &err), 0);
	assert_int_equal(create(m, "/abs/view", "default/1/sha256:abc", THINSNAP_META_VIEW, 3), 0);
	assert_int_equal(create(m, "active-2", "default/1/sha256:abc", THINSNAP_META_ACTIVE, 4), 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_LABELS_SET,
					    .key = "/abs/view",
					    .updated_ns = 5 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_USAGE_SET,
					    .key = "/abs/view",
					    .usage_bytes = 77,
					    .usage_inodes = 88 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 2, &err), 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC, .dev_id = 8 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC, .dev_id = 9 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 2, &err), 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_RELEASE, .dev_id = 8 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
					    .dev_id = 9 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 2, &err), 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
					    .dev_id = 10 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 1, &err), 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_REMOVE,
					    .dev_id = 10 };
	assert_int_equal(thinsnap_meta_apply(m, ops, 1, &err), 0);
}

static void test_roundtrip(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, "pool-1");
	uint32_t id = 0;
	int n = 0;

	(void)state;
	build_state(m);
	check_state(m);
	thinsnap_meta_free(m);
	m = open_w(dir, "pool-1");
	check_state(m);
	assert_int_equal(thinsnap_meta_walk(m, count_cb, &n), 0);
	assert_int_equal(n, 4);
	n = 0;
	assert_int_equal(thinsnap_meta_children(m, "default/1/sha256:abc", count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(thinsnap_meta_children(m, "nope", count_cb, &n), -ENOENT);
	assert_int_equal(thinsnap_meta_alloc_dev_id(m, &id, NULL), 0);
	assert_int_equal(id, 5);
	/* compaction keeps everything */
	assert_int_equal(thinsnap_meta_compact(m, NULL), 0);
	check_state(m);
	thinsnap_meta_free(m);
	m = open_w(dir, NULL);
	check_state(m);
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

static void test_validation(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, NULL);
	struct thinsnap_error err = { 0 };
	char *big = malloc(THINSNAP_META_KEY_MAX + 2);
	struct thinsnap_meta_label l = { "k", NULL };
	struct thinsnap_meta_op op = {
		.type = THINSNAP_META_OP_LABELS_SET, .key = "base", .labels = &l, .n_labels = 1
	};
	struct thinsnap_meta_op two[2];
	uint64_t bytes;

	(void)state;
	build_state(m);
	bytes = thinsnap_meta_journal_bytes(m);
	memset(big, 'k', THINSNAP_META_KEY_MAX + 1);
	big[THINSNAP_META_KEY_MAX + 1] = '\0';
	/* 4097-byte key refused, nothing written */
	assert_int_equal(create(m, big, NULL, THINSNAP_META_ACTIVE, 20), -EINVAL);
	assert_int_equal(thinsnap_meta_journal_bytes(m), bytes);
	big[THINSNAP_META_KEY_MAX] = '\0';
	assert_int_equal(create(m, big, NULL, THINSNAP_META_ACTIVE, 20), 0);
	assert_non_null(thinsnap_meta_get(m, big));
	assert_int_equal(create(m, "", NULL, THINSNAP_META_ACTIVE, 21), -EINVAL);
	/* label key + value: 4096 ok, 4097 refused */
	l.value = big + 2; /* 4094 bytes + "k" = 4095 */
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), 0);
	l.value = big + 1; /* 4095 + 1 = 4096 */
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), 0);
	bytes = thinsnap_meta_journal_bytes(m);
	l.value = big; /* 4097 */
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "more than 4096"));
	assert_int_equal(thinsnap_meta_journal_bytes(m), bytes);
	assert_int_equal(strlen(thinsnap_meta_get(m, "base")->labels[0].value), 4095);
	/* errnos */
	assert_int_equal(create(m, "base", NULL, THINSNAP_META_ACTIVE, 22), -EEXIST);
	assert_int_equal(create(m, "x", "nope", THINSNAP_META_ACTIVE, 22), -ENOENT);
	assert_int_equal(create(m, "x", "active-2", THINSNAP_META_ACTIVE, 22), -EINVAL);
	assert_int_equal(create(m, "x", NULL, THINSNAP_META_ACTIVE, 1), -EEXIST);
	assert_int_equal(create(m, "x", NULL, THINSNAP_META_ACTIVE, 9), -EEXIST); /* pending */
	assert_int_equal(create(m, "x", NULL, THINSNAP_META_ACTIVE, 0), -ERANGE);
	assert_int_equal(create(m, "x", NULL, THINSNAP_META_ACTIVE, 1u << 24), -ERANGE);
	assert_int_equal(create(m, "x", NULL, (enum thinsnap_meta_kind)9, 30), -EINVAL);
	two[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "base" };
	assert_int_equal(thinsnap_meta_apply(m, two, 1, &err), -ENOTEMPTY);
	two[0].key = "nope";
	assert_int_equal(thinsnap_meta_apply(m, two, 1, &err), -ENOENT);
	two[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_COMMIT,
					    .key = "base",
					    .name = "n" };
	assert_int_equal(thinsnap_meta_apply(m, two, 1, &err), -EINVAL);
	two[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_RELEASE, .dev_id = 40 };
	assert_int_equal(thinsnap_meta_apply(m, two, 1, &err), -ENOENT);
	/* a group is atomic: the second op fails, the first is not applied */
	bytes = thinsnap_meta_journal_bytes(m);
	two[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE,
					    .key = "/abs/view" };
	two[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "nope" };
	assert_int_equal(thinsnap_meta_apply(m, two, 2, &err), -ENOENT);
	assert_non_null(thinsnap_meta_get(m, "/abs/view"));
	assert_int_equal(thinsnap_meta_journal_bytes(m), bytes);
	/* remove + create of the same dev_id in one group */
	two[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE,
					    .key = "/abs/view" };
	two[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
					    .dev_id = 3 };
	assert_int_equal(thinsnap_meta_apply(m, two, 2, &err), 0);
	assert_null(thinsnap_meta_get(m, "/abs/view"));
	assert_true(thinsnap_meta_delete_pending(m, 3));
	thinsnap_meta_free(m);
	m = open_w(dir, NULL);
	assert_non_null(thinsnap_meta_get(m, big));
	assert_true(thinsnap_meta_delete_pending(m, 3));
	thinsnap_meta_free(m);
	free(big);
	tu_rmrf(dir);
}

struct seen {
	int n;
	uint64_t id;
	uint64_t before;
};

static int intent_cb(const struct thinsnap_meta_intent *in, void *ud)
{
	struct seen *s = ud;

	s->n++;
	s->id = in->id;
	s->before = in->transaction_id_before;
	assert_int_equal(in->n_pool_ops, 1);
	assert_int_equal(in->pool_ops[0].type, THINSNAP_META_POOL_CREATE_SNAP);
	assert_int_equal(in->n_ops, 1);
	assert_string_equal(in->ops[0].key, "new");
	return 0;
}

static void test_intents(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, NULL);
	struct thinsnap_error err = { 0 };
	uint32_t id = 0, id2 = 0;
	uint64_t iid = 0;
	struct seen s = { 0 };

	(void)state;
	build_state(m);
	assert_int_equal(thinsnap_meta_alloc_dev_id(m, &id, NULL), 0);
	assert_int_equal(id, 5);
	struct thinsnap_meta_pool_op po = { THINSNAP_META_POOL_CREATE_SNAP, id, 2 };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = "new",
				       .parent = "default/1/sha256:abc",
				       .kind = THINSNAP_META_ACTIVE,
				       .dev_id = id };
	struct thinsnap_meta_intent in = { .pool_ops = &po,
					   .n_pool_ops = 1,
					   .transaction_id_before = 7,
					   .transaction_id_after = 8,
					   .ops = &op,
					   .n_ops = 1 };
	assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, &err), 0);
	assert_null(thinsnap_meta_get(m, "new"));
	/* the allocator skips ids touched by the intent; others may not touch it */
	assert_int_equal(thinsnap_meta_alloc_dev_id(m, &id2, NULL), 0);
	assert_int_equal(id2, 6);
	assert_int_equal(create(m, "y", NULL, THINSNAP_META_ACTIVE, 5), -EBUSY);
	assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, &err), -EBUSY);
	thinsnap_meta_free(m);

	m = open_w(dir, NULL);
	assert_int_equal(thinsnap_meta_unfinished(m, intent_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.id, iid);
	assert_int_equal(s.before, 7);
	assert_int_equal(thinsnap_meta_alloc_dev_id(m, &id2, NULL), 0);
	assert_int_equal(id2, 6);
	/* survives compaction */
	assert_int_equal(thinsnap_meta_compact(m, NULL), 0);
	thinsnap_meta_free(m);
	m = open_w(dir, NULL);
	s.n = 0;
	assert_int_equal(thinsnap_meta_unfinished(m, intent_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(thinsnap_meta_intent_finish(m, iid + 100, true, &err), -ENOENT);
	assert_int_equal(thinsnap_meta_intent_finish(m, iid, true, &err), 0);
	assert_non_null(thinsnap_meta_get(m, "new"));
	assert_int_equal(thinsnap_meta_get(m, "new")->dev_id, 5);
	thinsnap_meta_free(m);
	m = open_w(dir, NULL);
	s.n = 0;
	assert_int_equal(thinsnap_meta_unfinished(m, intent_cb, &s), 0);
	assert_int_equal(s.n, 0);
	assert_non_null(thinsnap_meta_get(m, "new"));
	/* an aborted intent applies nothing */
	po.dev_id = 6;
	op.dev_id = 6;
	op.key = "other";
	assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, &err), 0);
	assert_int_equal(thinsnap_meta_intent_finish(m, iid, false, &err), 0);
	assert_null(thinsnap_meta_get(m, "other"));
	/* a bad op is refused at begin */
	op.parent = "nope";
	assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, &err), -ENOENT);
	thinsnap_meta_free(m);
	m = open_w(dir, NULL);
	assert_null(thinsnap_meta_get(m, "other"));
	assert_int_equal(thinsnap_meta_alloc_dev_id(m, &id2, NULL), 0);
	assert_int_equal(id2, 6);
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

static int count_sync(void *userdata, int fd, bool datasync)
{
	(*(int *)userdata)++;
	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

/* A lazy completion costs no sync; lost in a crash, it leaves the intent unfinished. */
static void test_lazy_finish(void **state)
{
	char *dir = tu_mkdtemp(), *lost = tu_mkdtemp();
	int syncs = 0;
	struct thinsnap_io io = { .sync = count_sync, .userdata = &syncs };
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .io = &io };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	struct seen s = { 0 };
	uint64_t iid = 0;
	size_t len = 0;

	(void)state;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	build_state(m);
	struct thinsnap_meta_pool_op po = { THINSNAP_META_POOL_CREATE_SNAP, 5, 2 };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = "new",
				       .parent = "default/1/sha256:abc",
				       .kind = THINSNAP_META_ACTIVE,
				       .dev_id = 5 };
	struct thinsnap_meta_intent in = { .pool_ops = &po,
					   .n_pool_ops = 1,
					   .transaction_id_before = 1,
					   .transaction_id_after = 2,
					   .ops = &op,
					   .n_ops = 1 };
	assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, &err), 0);
	int before = syncs;
	uint8_t *pre = tu_read(tu_path(dir, "journal"), &len);
	assert_non_null(pre);
	assert_int_equal(thinsnap_meta_intent_finish_lazy(m, iid, true, &err), 0);
	assert_int_equal(syncs, before); /* no sync for the completion */
	assert_non_null(thinsnap_meta_get(m, "new"));
	/* the crash: the unsynced completion is lost */
	assert_int_equal(tu_write(tu_path(lost, "journal"), pre, len), 0);
	free(pre);
	thinsnap_meta_free(m); /* syncs it */
	assert_int_equal(syncs, before + 1);
	m = open_w(lost, NULL);
	assert_int_equal(thinsnap_meta_unfinished(m, intent_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_null(thinsnap_meta_get(m, "new"));
	thinsnap_meta_free(m);
	/* without the crash, it is complete */
	m = open_w(dir, NULL);
	s.n = 0;
	assert_int_equal(thinsnap_meta_unfinished(m, intent_cb, &s), 0);
	assert_int_equal(s.n, 0);
	assert_non_null(thinsnap_meta_get(m, "new"));
	thinsnap_meta_free(m);
	tu_rmrf(dir);
	tu_rmrf(lost);
}

static void test_compaction(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .compact_threshold_bytes = 4096 };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	char key[32];

	(void)state;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	assert_int_equal(create(m, "base", NULL, THINSNAP_META_INTERNAL, 1), 0);
	for (int i = 0; i < 500; i++) {
		struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_USAGE_SET,
					       .key = "base",
					       .usage_bytes = (uint64_t)i };
		snprintf(key, sizeof(key), "k%d", i % 50);
		if (i < 50)
			assert_int_equal(
				create(m, key, "base", THINSNAP_META_VIEW, (uint32_t)(i + 2)), 0);
		assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), 0);
		assert_true(thinsnap_meta_journal_bytes(m) < 30000);
	}
	thinsnap_meta_free(m);
	m = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	assert_int_equal(thinsnap_meta_count(m), 51);
	assert_int_equal(thinsnap_meta_get(m, "base")->usage_bytes, 499);
	assert_string_equal(thinsnap_meta_get(m, "k7")->parent, "base");
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

static void test_lock_and_readonly(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, "p"), *m2 = NULL, *ro = NULL;
	struct thinsnap_meta_open_opts o = { .state_dir = dir };
	struct thinsnap_error err = { 0 };
	char pid[32];

	(void)state;
	assert_int_equal(create(m, "base", NULL, THINSNAP_META_INTERNAL, 1), 0);
	assert_int_equal(thinsnap_meta_open(&o, &m2, &err), -EAGAIN);
	assert_null(m2);
	/* the holder's name (its comm: the program's name cut to 15 bytes), then its pid */
	snprintf(pid, sizeof(pid), "(%.15s, pid %d)", program_invocation_short_name, (int)getpid());
	assert_non_null(strstr(err.msg, "locked by another writer"));
	assert_non_null(strstr(err.msg, pid));
	o.read_only = true;
	assert_int_equal(thinsnap_meta_open(&o, &ro, &err), 0);
	assert_non_null(thinsnap_meta_get(ro, "base"));
	assert_int_equal(create(ro, "x", NULL, THINSNAP_META_ACTIVE, 3), -EROFS);
	assert_int_equal(thinsnap_meta_compact(ro, &err), -EROFS);
	/* a reader tells whether the journal moved since it read it: an append, a compaction */
	struct thinsnap_meta *ro2 = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &ro2, &err), 0);
	assert_true(thinsnap_meta_same_position(ro, ro2));
	assert_true(thinsnap_meta_same_position(NULL, NULL));
	assert_false(thinsnap_meta_same_position(ro, NULL));
	thinsnap_meta_free(ro2);
	assert_int_equal(create(m, "y", NULL, THINSNAP_META_ACTIVE, 4), 0);
	assert_int_equal(thinsnap_meta_open(&o, &ro2, &err), 0);
	assert_false(thinsnap_meta_same_position(ro, ro2));
	thinsnap_meta_free(ro);
	ro = ro2;
	assert_int_equal(thinsnap_meta_compact(m, &err), 0);
	assert_int_equal(thinsnap_meta_open(&o, &ro2, &err), 0);
	assert_false(thinsnap_meta_same_position(ro, ro2));
	thinsnap_meta_free(ro2);
	thinsnap_meta_free(ro);
	thinsnap_meta_free(m);
	o.read_only = false;
	assert_int_equal(thinsnap_meta_open(&o, &m2, &err), 0);
	thinsnap_meta_free(m2);
	/* read-only open of a missing journal: -ENOENT, nothing created */
	o.state_dir = tu_path(dir, "missing");
	o.read_only = true;
	assert_int_equal(thinsnap_meta_open(&o, &ro, &err), -ENOENT);
	assert_int_equal(access(o.state_dir, F_OK), -1);
	tu_rmrf(dir);
}

/* The lock's last holder let go of it in order, or died holding it (a pid left in the file). */
static void test_lock_holder_died(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, "p");
	struct stat st;
	char want[64];
	uint8_t *got;
	size_t len = 0;

	(void)state;
	assert_false(thinsnap_meta_writer_died(m)); /* a new state directory */
	assert_int_equal(stat(tu_path(dir, "lock"), &st), 0);
	assert_true(st.st_size > 0); /* the holder's pid, while it holds it */
	thinsnap_meta_free(m);
	/* let go of in order: its pid, marked released */
	snprintf(want, sizeof(want), "%d released\n", (int)getpid());
	assert_int_equal(stat(tu_path(dir, "lock"), &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(want));
	got = tu_read(tu_path(dir, "lock"), &len);
	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
	m = open_w(dir, "p");
	assert_false(thinsnap_meta_writer_died(m));
	thinsnap_meta_free(m);
	/* a holder killed holding it leaves its pid */
	assert_int_equal(tu_write(tu_path(dir, "lock"), "4242\n", 5), 0);
	m = open_w(dir, "p");
	assert_true(thinsnap_meta_writer_died(m));
	thinsnap_meta_free(m);
	m = open_w(dir, "p");
	assert_false(thinsnap_meta_writer_died(m));
	assert_false(thinsnap_meta_writer_died(NULL));
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

/* The public calls on a state directory: journal presence, the writer lock, forgetting a pool. */
static void test_state_dir(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta_open_opts o = { .state_dir = dir };
	struct thinsnap_state_lock *lock = NULL;
	struct thinsnap_error err = { 0 };
	struct thinsnap_meta *m = NULL;

	(void)state;
	assert_int_equal(thinsnap_state_has_journal(dir), 0);
	assert_int_equal(thinsnap_state_has_journal(tu_path(dir, "missing")), 0);
	m = open_w(dir, "pool-A");
	assert_int_equal(thinsnap_state_has_journal(dir), 1);
	/* the same lock as a writing journal's, both ways */
	assert_int_equal(thinsnap_state_lock(dir, &lock, &err), -EAGAIN);
	assert_null(lock);
	assert_non_null(strstr(err.msg, "locked by another writer"));
	thinsnap_meta_free(m);
	m = NULL;
	assert_int_equal(thinsnap_state_lock(dir, &lock, &err), 0);
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EAGAIN);
	/* the journal is set aside under the pool's uuid; the next pool starts a new one */
	assert_int_equal(thinsnap_state_forget_pool(lock, "", &err), -EINVAL);
	assert_int_equal(thinsnap_state_forget_pool(lock, "../x", &err), -EINVAL);
	assert_int_equal(thinsnap_state_forget_pool(lock, "pool-A", &err), 0);
	assert_int_equal(thinsnap_state_has_journal(dir), 0);
	assert_int_equal(access(tu_path(dir, "journal.pool-A.destroyed"), F_OK), 0);
	assert_int_equal(thinsnap_state_forget_pool(lock, "pool-A", &err), 0); /* none left */
	thinsnap_state_lock_free(lock);
	thinsnap_state_lock_free(NULL);
	m = open_w(dir, "pool-B"); /* -EXDEV had pool-A's journal stayed */
	thinsnap_meta_free(m);
	lock = NULL;
	assert_int_equal(thinsnap_state_lock(tu_path(dir, "missing"), &lock, &err), -ENOENT);
	assert_null(lock);
	tu_rmrf(dir);
}

static void test_pool_identity(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, "pool-A");
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .pool_uuid = "pool-B" };
	struct thinsnap_error err = { 0 };

	(void)state;
	thinsnap_meta_free(m);
	m = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EXDEV);
	assert_non_null(strstr(err.msg, "pool-A"));
	assert_null(m);
	o.read_only = true;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EXDEV);
	/* a writer of another pool refuses before touching the file (no torn-tail cut) */
	{
		const char *jp = tu_path(dir, "journal");
		size_t len = 0, len2 = 0;
		uint8_t *p = tu_read(jp, &len);
		uint8_t *q = calloc(1, len + 10);
		memcpy(q, p, len);
		assert_int_equal(tu_write(jp, q, len + 10), 0);
		o.read_only = false;
		assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EXDEV);
		free(tu_read(jp, &len2));
		assert_int_equal(len2, len + 10);
		free(p);
		free(q);
		o.read_only = true;
	}
	o.pool_uuid = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

static void count_note(void *userdata, uint64_t offset, const char *what)
{
	(void)offset;
	assert_non_null(what);
	++*(int *)userdata;
}

static void test_damage_and_salvage(void **state)
{
	int notes = 0;
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, NULL);
	struct thinsnap_meta_open_opts o = { .state_dir = dir };
	struct thinsnap_error err = { 0 };
	const char *jp = tu_path(dir, "journal");
	uint8_t *p;
	size_t len = 0, cut, full;
	char want[64];

	(void)state;
	build_state(m);
	cut = thinsnap_meta_journal_bytes(m);
	assert_int_equal(create(m, "late", NULL, THINSNAP_META_ACTIVE, 40), 0);
	full = thinsnap_meta_journal_bytes(m);
	thinsnap_meta_free(m);
	m = NULL;
	p = tu_read(jp, &len);
	assert_non_null(p);
	/* the records, then zeros written ahead of the end; the test works on the records (as
	 * a journal written before those zeros: one that ends where its records do) */
	assert_true(len > full);
	for (size_t i = full; i < len; i++)
		assert_int_equal(p[i], 0);
	len = full;
	/* flip a bit in the second record: damage before the tail */
	{
		size_t off = JNL_HEADER_SIZE + REC_HEADER_SIZE + get_le32(p + JNL_HEADER_SIZE + 8);
		p[off + 40] ^= 1;
		assert_int_equal(tu_write(jp, p, len), 0);
		assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EUCLEAN);
		snprintf(want, sizeof(want), "offset %zu", off);
		assert_non_null(strstr(err.msg, want));
		/* nothing was modified */
		size_t len2 = 0;
		uint8_t *q = tu_read(jp, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(p, q, len);
		free(q);
		/* salvage keeps every record that still verifies and applies: "base", and "late"
		 * (no parent); what depended on the lost "active-1" is noted */
		o.salvage = true;
		o.salvage_note = count_note;
		o.salvage_userdata = &notes;
		assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
		assert_int_equal(thinsnap_meta_count(m), 2);
		assert_non_null(thinsnap_meta_get(m, "late"));
		assert_true(notes >=
			    2); /* the unreadable record, then the ones that depend on it */
		thinsnap_meta_free(m);
		m = NULL;
		o.salvage = false;
		o.salvage_note = NULL;
		assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
		assert_int_equal(thinsnap_meta_count(m), 2);
		thinsnap_meta_free(m);
		m = NULL;
		snprintf(want, sizeof(want), "ls %s/journal.corrupt-* >/dev/null", dir);
		assert_int_equal(system(want), 0);
		p[off + 40] ^= 1;
	}
	/* a flipped bit in the last record is a torn tail: cut off */
	p[len - 3] ^= 0x10;
	assert_int_equal(tu_write(jp, p, len), 0);
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	assert_null(thinsnap_meta_get(m, "late"));
	check_state(m);
	assert_int_equal(thinsnap_meta_journal_bytes(m), cut);
	thinsnap_meta_free(m);
	m = NULL;
	/* unknown incompat bit: refused */
	put_le32(p + 12, 1u << 7);
	put_le32(p + 252, 0);
	{
		extern uint32_t thinsnap_crc32c(uint32_t, const void *, size_t);
		put_le32(p + 252, thinsnap_crc32c(0, p, 252));
	}
	assert_int_equal(tu_write(jp, p, len), 0);
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EOPNOTSUPP);
	/* damaged header */
	p[30] ^= 1;
	assert_int_equal(tu_write(jp, p, len), 0);
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), -EUCLEAN);
	free(p);
	tu_rmrf(dir);
}

static uint32_t header_incompat(const char *dir)
{
	size_t len = 0;
	uint8_t *p = tu_read(tu_path(dir, "journal"), &len);
	uint32_t v;

	assert_non_null(p);
	assert_true(len >= JNL_HEADER_SIZE);
	v = get_le32(p + 12);
	free(p);
	return v;
}

/* SIZE_SET (type 10): round trip, validation, and the incompat bit set by a checkpoint. */
static void test_size_set(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, "pool-1");
	struct thinsnap_error err = { 0 };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SIZE_SET,
				       .key = "a",
				       .size_bytes = 20ull << 30 };

	(void)state;
	assert_int_equal(create(m, "a", NULL, THINSNAP_META_ACTIVE, 1), 0);
	assert_int_equal(create(m, "b", NULL, THINSNAP_META_ACTIVE, 2), 0);
	assert_int_equal(header_incompat(dir), 0); /* old readers still read it */
	/* invalid ones change nothing and write nothing */
	struct thinsnap_meta_op bad = op;
	bad.size_bytes = 0;
	assert_int_equal(thinsnap_meta_apply(m, &bad, 1, &err), -EINVAL);
	bad = op;
	bad.key = "nope";
	assert_int_equal(thinsnap_meta_apply(m, &bad, 1, &err), -ENOENT);
	assert_int_equal(header_incompat(dir), 0);
	/* the first one sets the bit, atomically with a group of other ops */
	struct thinsnap_meta_op ops[2] = { op,
					   { .type = THINSNAP_META_OP_USAGE_SET,
					     .key = "b",
					     .usage_bytes = 7,
					     .usage_inodes = 8 } };
	assert_int_equal(thinsnap_meta_apply(m, ops, 2, &err), 0);
	assert_int_equal(header_incompat(dir), JNL_INCOMPAT_SIZE_SET);
	assert_int_equal(thinsnap_meta_get(m, "a")->size_bytes, 20ull << 30);
	assert_int_equal(thinsnap_meta_get(m, "b")->size_bytes, 10ull << 30);
	assert_int_equal(thinsnap_meta_get(m, "b")->usage_bytes, 7);
	/* a later one is appended as is */
	op.size_bytes = 30ull << 30;
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), 0);
	/* a group failing after it rolls it back */
	struct thinsnap_meta_op rb[2] = {
		{ .type = THINSNAP_META_OP_SIZE_SET, .key = "b", .size_bytes = 1ull << 40 },
		{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "nope" }
	};
	assert_int_equal(thinsnap_meta_apply(m, rb, 2, &err), -ENOENT);
	assert_int_equal(thinsnap_meta_get(m, "b")->size_bytes, 10ull << 30);
	thinsnap_meta_free(m);

	m = open_w(dir, "pool-1");
	assert_int_equal(thinsnap_meta_get(m, "a")->size_bytes, 30ull << 30);
	assert_int_equal(thinsnap_meta_get(m, "b")->size_bytes, 10ull << 30);
	assert_int_equal(thinsnap_meta_compact(m, NULL), 0);
	assert_int_equal(header_incompat(dir), JNL_INCOMPAT_SIZE_SET); /* kept */
	thinsnap_meta_free(m);
	m = open_w(dir, NULL);
	assert_int_equal(thinsnap_meta_get(m, "a")->size_bytes, 30ull << 30);
	thinsnap_meta_free(m);

	tu_rmrf(dir);
}

/* Read-only opens while a writer process appends and compacts: each sees a consistent prefix
 * (never -EUCLEAN), and the state never goes backwards. */
static void test_readers_during_writes(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, NULL);
	int status = 0, opens = 0;
	size_t last = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(create(m, "base", NULL, THINSNAP_META_INTERNAL, 1), 0);
	thinsnap_meta_free(m);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct thinsnap_meta_open_opts o = { .state_dir = dir,
						     .compact_threshold_bytes = 8192 };
		char key[32];
		if (thinsnap_meta_open(&o, &m, NULL) < 0)
			_exit(1);
		for (int i = 0; i < 400; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			if (create(m, key, "base", THINSNAP_META_VIEW, (uint32_t)i + 2) < 0)
				_exit(2);
		}
		thinsnap_meta_free(m);
		_exit(0);
	}
	for (;;) {
		struct thinsnap_meta_open_opts o = { .state_dir = dir, .read_only = true };
		struct thinsnap_meta *ro = NULL;
		struct thinsnap_error err = { 0 };
		bool done = waitpid(pid, &status, WNOHANG) == pid;
		int r = thinsnap_meta_open(&o, &ro, &err);
		if (r < 0)
			fail_msg("read-only open during writes: %s", err.msg);
		assert_true(thinsnap_meta_count(ro) >= last);
		last = thinsnap_meta_count(ro);
		/* a prefix of the writer's groups: base, k0 .. k<last - 2>, nothing after */
		char key[32];
		snprintf(key, sizeof(key), "k%zu", last - 2);
		assert_true(last == 1 || thinsnap_meta_get(ro, key) != NULL);
		snprintf(key, sizeof(key), "k%zu", last - 1);
		assert_null(thinsnap_meta_get(ro, key));
		thinsnap_meta_free(ro);
		opens++;
		if (done)
			break;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(last, 401);
	assert_true(opens > 1);
	tu_rmrf(dir);
}

/*
 * Replay reads through a window that starts small and grows for a large record: a journal
 * several times the start window, with 4 KiB records and one ~400 KiB group, replays whole;
 * that group torn at the end of the file is cut off, and everything before it stays.
 */
static void test_large_records(void **state)
{
	enum { N_SMALL = 120, N_GROUP = 100 };
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir, NULL);
	struct thinsnap_error err = { 0 };
	struct thinsnap_meta_label l = { "containerd.io/snapshot/big", NULL };
	struct thinsnap_meta_op ops[N_GROUP];
	char *value = malloc(4000), keys[N_GROUP][32];
	uint64_t before_group, full;
	uint8_t *p;
	size_t len = 0;

	(void)state;
	assert_non_null(value);
	memset(value, 'v', 3999);
	value[3999] = '\0';
	l.value = value;
	for (int i = 0; i < N_SMALL; i++) {
		char k[32];
		snprintf(k, sizeof(k), "small-%d", i);
		ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
						    .key = k,
						    .kind = THINSNAP_META_ACTIVE,
						    .dev_id = (uint32_t)(1 + i),
						    .labels = &l,
						    .n_labels = 1 };
		assert_int_equal(thinsnap_meta_apply(m, ops, 1, &err), 0);
	}
	before_group = thinsnap_meta_journal_bytes(m);
	for (int i = 0; i < N_GROUP; i++) {
		snprintf(keys[i], sizeof(keys[i]), "group-%d", i);
		ops[i] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
						    .key = keys[i],
						    .kind = THINSNAP_META_VIEW,
						    .dev_id = (uint32_t)(1000 + i),
						    .labels = &l,
						    .n_labels = 1 };
	}
	assert_int_equal(thinsnap_meta_apply(m, ops, N_GROUP, &err), 0);
	full = thinsnap_meta_journal_bytes(m);
	thinsnap_meta_free(m);
	assert_true(before_group > 256u << 10); /* past the start window */
	m = open_w(dir, NULL);
	assert_int_equal(thinsnap_meta_count(m), N_SMALL + N_GROUP);
	assert_string_equal(thinsnap_meta_get(m, "group-99")->labels[0].value, value);
	assert_string_equal(thinsnap_meta_get(m, "small-0")->labels[0].value, value);
	thinsnap_meta_free(m);
	/* the group's record torn: cut off at the end, the rest replayed */
	p = tu_read(tu_path(dir, "journal"), &len);
	assert_non_null(p);
	len = full; /* the records (zeros follow them) */
	assert_true(len - before_group > 256u << 10);
	assert_int_equal(tu_write(tu_path(dir, "journal"), p, len - 100), 0);
	m = open_w(dir, NULL);
	assert_int_equal(thinsnap_meta_count(m), N_SMALL);
	assert_null(thinsnap_meta_get(m, "group-0"));
	assert_int_equal(thinsnap_meta_journal_bytes(m), before_group);
	thinsnap_meta_free(m);
	free(p);
	free(value);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_size_set),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_intents),
		cmocka_unit_test(test_lazy_finish),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_lock_and_readonly),
		cmocka_unit_test(test_lock_holder_died),
		cmocka_unit_test(test_state_dir),
		cmocka_unit_test(test_pool_identity),
		cmocka_unit_test(test_damage_and_salvage),
		cmocka_unit_test(test_readers_during_writes),
		cmocka_unit_test(test_large_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
