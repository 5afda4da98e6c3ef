/*
 * snap/recovery-rule: the rule for intents that keep the transaction id (decided by the
 * pool's device list): a create rolls forward only when all its dev_ids are in the pool, a
 * delete is always finished, a moved transaction id means someone else changed the pool.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>

#include "base/cleanup.h"
#include "snap/snap.h"

#define TID 7

/* An intent of one pool op, journaled at transaction id TID, expecting after. */
static struct thinsnap_meta_intent one_op(const struct thinsnap_meta_pool_op *op, uint64_t after)
{
	return (struct thinsnap_meta_intent){ .pool_ops = op,
					      .n_pool_ops = 1,
					      .transaction_id_before = TID,
					      .transaction_id_after = after };
}

static void test_decide_by_device_list(void **state)
{
	static const uint32_t with[] = { 1, 4, 9, 12 }, without[] = { 1, 4, 12 };
	static const struct {
		enum thinsnap_meta_pool_op_type type;
		bool present;
		uint64_t tid;
		enum thinsnap_recovery outcome;
		bool delete_dev_ids;
	} cases[] = {
		{ THINSNAP_META_POOL_CREATE_SNAP, true, TID, THINSNAP_RECOVERY_ROLL_FORWARD,
		  false },
		{ THINSNAP_META_POOL_CREATE_THIN, true, TID, THINSNAP_RECOVERY_ROLL_FORWARD,
		  false },
		{ THINSNAP_META_POOL_CREATE_SNAP, false, TID, THINSNAP_RECOVERY_ROLL_BACK, true },
		{ THINSNAP_META_POOL_CREATE_THIN, false, TID, THINSNAP_RECOVERY_ROLL_BACK, true },
		{ THINSNAP_META_POOL_DELETE, true, TID, THINSNAP_RECOVERY_ROLL_FORWARD, true },
		{ THINSNAP_META_POOL_DELETE, false, TID, THINSNAP_RECOVERY_ROLL_FORWARD, true },
		{ THINSNAP_META_POOL_CREATE_SNAP, true, TID + 1, THINSNAP_RECOVERY_MISMATCH,
		  false },
		{ THINSNAP_META_POOL_DELETE, false, TID - 1, THINSNAP_RECOVERY_MISMATCH, false },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct thinsnap_meta_pool_op op = { .type = cases[i].type, .dev_id = 9 };
		struct thinsnap_meta_intent in = one_op(&op, TID);
		struct thinsnap_snap_recovery_plan plan = { true, true };
		const uint32_t *ids = cases[i].present ? with : without;
		size_t n = cases[i].present ? ELEMENTSOF(with) : ELEMENTSOF(without);

		assert_true(thinsnap_snap_recovery_needs_ids(&in));
		assert_int_equal(
			thinsnap_snap_recovery_decide_ids(&in, cases[i].tid, ids, n, &plan),
			cases[i].outcome);
		assert_int_equal(plan.delete_dev_ids, cases[i].delete_dev_ids);
		assert_false(plan.set_transaction_id); /* the transaction id never moves */
	}
	/* no device list: a create counts as absent */
	struct thinsnap_meta_pool_op op = { .type = THINSNAP_META_POOL_CREATE_SNAP, .dev_id = 9 };
	struct thinsnap_meta_intent in = one_op(&op, TID);
	assert_int_equal(thinsnap_snap_recovery_decide_ids(&in, TID, NULL, 0, NULL),
			 THINSNAP_RECOVERY_ROLL_BACK);
	/* an intent that moves the transaction id needs no list, and is decided as before */
	in.transaction_id_after = TID + 1;
	assert_false(thinsnap_snap_recovery_needs_ids(&in));
	assert_int_equal(thinsnap_snap_recovery_decide_ids(&in, TID + 1, NULL, 0, NULL),
			 THINSNAP_RECOVERY_ROLL_FORWARD);
	assert_int_equal(thinsnap_snap_recovery_decide_ids(&in, TID, with, ELEMENTSOF(with), NULL),
			 THINSNAP_RECOVERY_ROLL_BACK);
}

static void test_find_id(void **state)
{
	static const uint32_t ids[] = { 2, 3, 5, 8, 13 };

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(ids); i++)
		assert_int_equal(thinsnap_snap_find_id(ids, ELEMENTSOF(ids), ids[i]), (ssize_t)i);
	assert_int_equal(thinsnap_snap_find_id(ids, ELEMENTSOF(ids), 4), -1);
	assert_int_equal(thinsnap_snap_find_id(ids, ELEMENTSOF(ids), 14), -1);
	assert_int_equal(thinsnap_snap_find_id(NULL, 0, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_by_device_list),
		cmocka_unit_test(test_find_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
