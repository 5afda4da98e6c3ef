/*
 * Crash recovery's rule: what a writer's open does with an unfinished intent, decided from the
 * pool's transaction id, and carried out through a pool interface so that the same code runs
 * on the real pool (snap/recovery.c) and on a model of it (tests/unit/test-snap-recovery.c).
 */
#include <errno.h>

#include "snap/snap.h"

enum thinsnap_recovery thinsnap_snap_recovery_decide(const struct thinsnap_meta_intent *in,
						     uint64_t pool_transaction_id,
						     struct thinsnap_snap_recovery_plan *ret_plan)
{
	struct thinsnap_snap_recovery_plan plan = { 0 };
	enum thinsnap_recovery outcome = THINSNAP_RECOVERY_ROLL_BACK;

	if (pool_transaction_id == in->transaction_id_after) {
		outcome = THINSNAP_RECOVERY_ROLL_FORWARD;
	} else if (pool_transaction_id != in->transaction_id_before) {
		outcome = THINSNAP_RECOVERY_MISMATCH;
	} else {
		/* Not committed by the pool: undo what may have reached it. A delete can't be
		 * undone; finish it instead. */
		plan.delete_dev_ids = true;
		for (size_t i = 0; i < in->n_pool_ops; i++)
			if (in->pool_ops[i].type == THINSNAP_META_POOL_DELETE)
				outcome = THINSNAP_RECOVERY_ROLL_FORWARD;
		plan.set_transaction_id = outcome == THINSNAP_RECOVERY_ROLL_FORWARD;
	}
	if (ret_plan)
		*ret_plan = plan;
	return outcome;
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
