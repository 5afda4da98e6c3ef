/*
 * Crash recovery's rule: what a writer's open does with an unfinished intent, decided from the
 * pool's device list (or, for an intent that moves it, the pool's transaction id), and carried out through a pool interface so that the same code runs
 * on the real pool (snap/recovery.c) and on a model of it (tests/unit/test-snap-recovery.c).
 */
#include <errno.h>
#include <stdbool.h>

#include "snap/snap.h"

ssize_t thinsnap_snap_find_id(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] == id)
			return (ssize_t)mid;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static bool deletes(const struct thinsnap_meta_intent *in)
{
	for (size_t i = 0; i < in->n_pool_ops; i++)
		if (in->pool_ops[i].type == THINSNAP_META_POOL_DELETE)
			return true;
	return false;
}

enum thinsnap_recovery
thinsnap_snap_recovery_decide_ids(const struct thinsnap_meta_intent *in,
				  uint64_t pool_transaction_id, const uint32_t *pool_ids,
				  size_t n_pool_ids, struct thinsnap_snap_recovery_plan *ret_plan)
{
	struct thinsnap_snap_recovery_plan plan = { 0 };
	enum thinsnap_recovery outcome = THINSNAP_RECOVERY_ROLL_BACK;

	if (in->transaction_id_before == in->transaction_id_after) {
		/* decided by the device list; the transaction id only guards the pool */
		if (pool_transaction_id != in->transaction_id_before) {
			outcome = THINSNAP_RECOVERY_MISMATCH;
		} else if (deletes(in)) {
			outcome = THINSNAP_RECOVERY_ROLL_FORWARD; /* finish the delete */
			plan.delete_dev_ids = true;
		} else {
			outcome = THINSNAP_RECOVERY_ROLL_FORWARD;
			for (size_t i = 0; i < in->n_pool_ops; i++)
				if (!pool_ids || thinsnap_snap_find_id(pool_ids, n_pool_ids,
								       in->pool_ops[i].dev_id) < 0)
					outcome = THINSNAP_RECOVERY_ROLL_BACK;
			plan.delete_dev_ids = outcome == THINSNAP_RECOVERY_ROLL_BACK;
		}
	} else if (pool_transaction_id == in->transaction_id_after) {
		outcome = THINSNAP_RECOVERY_ROLL_FORWARD;
	} else if (pool_transaction_id != in->transaction_id_before) {
		outcome = THINSNAP_RECOVERY_MISMATCH;
	} else {
		/* Not committed by the pool: undo what may have reached it. A delete can't be
		 * undone; finish it instead. */
		plan.delete_dev_ids = true;
		if (deletes(in))
			outcome = THINSNAP_RECOVERY_ROLL_FORWARD;
		plan.set_transaction_id = outcome == THINSNAP_RECOVERY_ROLL_FORWARD;
	}
	if (ret_plan)
		*ret_plan = plan;
	return outcome;
}

enum thinsnap_recovery thinsnap_snap_recovery_decide(const struct thinsnap_meta_intent *in,
						     uint64_t pool_transaction_id,
						     struct thinsnap_snap_recovery_plan *ret_plan)
{
	return thinsnap_snap_recovery_decide_ids(in, pool_transaction_id, NULL, 0, ret_plan);
}

bool thinsnap_snap_recovery_needs_ids(const struct thinsnap_meta_intent *in)
{
	return in->transaction_id_before == in->transaction_id_after;
}

int thinsnap_snap_recovery_apply(const struct thinsnap_meta_intent *in,
				 const struct thinsnap_snap_recovery_plan *plan,
				 const struct thinsnap_snap_recovery_pool *pool,
				 struct thinsnap_error *reterr)
{
	int r;

	for (size_t i = 0; plan->delete_dev_ids && i < in->n_pool_ops; i++) {
		const struct thinsnap_meta_pool_op *p = &in->pool_ops[i];

		/* a delete's too: a crash while its blocks were discarded leaves it active */
		r = pool->deactivate(pool->userdata, p->dev_id, reterr);
		if (r < 0)
			return r;
		r = pool->delete_thin(pool->userdata, p->dev_id, reterr);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (!plan->set_transaction_id)
		return 0;
	return pool->set_transaction_id(pool->userdata, in->transaction_id_before,
					in->transaction_id_after, reterr);
}
