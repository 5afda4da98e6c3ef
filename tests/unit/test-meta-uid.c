/* meta/: UID_SET (type 11), a committed snapshot's unique id: validation, the incompat bit set
 * by a checkpoint, the id kept by a rename commit's group, replay and compaction. */
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

#include "base/buf.h"
#include "meta/format.h"
#include "meta/meta.h"
#include "testutil.h"

static struct thinsnap_meta *open_w(const char *dir)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .pool_uuid = "pool-1" };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };

	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	return m;
}

static uint32_t header_incompat(const char *dir)
{
	char path[4096];
	uint8_t h[16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/journal", dir);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
	return get_le32(h + 12);
}

static const uint8_t UID1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void test_uid_set(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta *m = open_w(dir);
	struct thinsnap_error err = { 0 };
	static const uint8_t zero[16] = { 0 };
	struct thinsnap_meta_op act = { .type = THINSNAP_META_OP_SNAP_CREATE,
					.key = "a",
					.kind = THINSNAP_META_ACTIVE,
					.dev_id = 1,
					.size_bytes = 1 << 20 };
	struct thinsnap_meta_op commit[2] = {
		{ .type = THINSNAP_META_OP_SNAP_COMMIT, .key = "a", .name = "c", .updated_ns = 5 },
		{ .type = THINSNAP_META_OP_UID_SET, .key = "c", .uid = UID1 },
	};
	struct thinsnap_meta_op op;

	(void)state;
	assert_int_equal(thinsnap_meta_apply(m, &act, 1, &err), 0);
	assert_int_equal(header_incompat(dir), 0);
	/* only a committed entry, only a non-zero id; nothing written on refusal */
	op = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_UID_SET, .key = "a", .uid = UID1 };
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), -EINVAL);
	op.key = "nope";
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), -ENOENT);
	assert_int_equal(header_incompat(dir), 0);
	assert_true(thinsnap_meta_uid_is_null(thinsnap_meta_get(m, "a")->uid));
	/* the commit and its id in one group: the first one sets the incompat bit */
	assert_int_equal(thinsnap_meta_apply(m, commit, 2, &err), 0);
	assert_int_equal(header_incompat(dir), JNL_INCOMPAT_UID);
	assert_memory_equal(thinsnap_meta_get(m, "c")->uid, UID1, 16);
	/* set once */
	op = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_UID_SET, .key = "c", .uid = zero };
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), -EINVAL);
	op.uid = UID1;
	assert_int_equal(thinsnap_meta_apply(m, &op, 1, &err), -EEXIST);
	thinsnap_meta_free(m);

	m = open_w(dir); /* replayed */
	assert_memory_equal(thinsnap_meta_get(m, "c")->uid, UID1, 16);
	assert_int_equal(thinsnap_meta_compact(m, NULL), 0);
	thinsnap_meta_free(m);
	m = open_w(dir); /* from the checkpoint */
	assert_memory_equal(thinsnap_meta_get(m, "c")->uid, UID1, 16);
	assert_int_equal(header_incompat(dir), JNL_INCOMPAT_UID);
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uid_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
