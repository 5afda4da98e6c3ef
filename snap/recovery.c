/*
 * Crash recovery at a writer's open: each unfinished intent is rolled forward or back by the
 * pool's transaction id, then every active snapshot and view whose device is missing (after a
 * reboot) is activated again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap/internal.h"

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata);

struct resolve_ctx {
	struct thinsnap_snapshotter *s;
	struct thinsnap_error *reterr;
	uint64_t ids[64];
	bool completed[64];
	size_t n;
	int r;
};

/*
 * What recovery does with an unfinished intent when the pool's transaction id is tid: the
 * pool committed it (after): complete it; it did not (before): undo it, except a delete,
 * which can't be undone and is finished instead; anything else: the journal does not
 * describe this pool.
 */
enum thinsnap_recovery thinsnap_snap_intent_recovery(const struct thinsnap_meta_intent *in,
						     uint64_t tid)
{
	if (tid == in->transaction_id_after)
		return THINSNAP_RECOVERY_ROLL_FORWARD;
	if (tid != in->transaction_id_before)
		return THINSNAP_RECOVERY_MISMATCH;
	for (size_t i = 0; i < in->n_pool_ops; i++)
		if (in->pool_ops[i].type == THINSNAP_META_POOL_DELETE)
			return THINSNAP_RECOVERY_ROLL_FORWARD;
	return THINSNAP_RECOVERY_ROLL_BACK;
}

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata)
{
	struct resolve_ctx *c = userdata;
	struct thinsnap_snapshotter *s = c->s;
	uint64_t tid = s->tid;

	if (c->n >= ELEMENTSOF(c->ids))
		return thinsnap_error_setf(c->reterr, -EUCLEAN, "too many unfinished intents");
	if (tid == in->transaction_id_after) {
		c->ids[c->n] = in->id;
		c->completed[c->n++] = true;
		return 0;
	}
	if (thinsnap_snap_intent_recovery(in, tid) == THINSNAP_RECOVERY_MISMATCH)
		return thinsnap_error_setf(c->reterr, -EUCLEAN,
					   "pool '%s' has transaction id %" PRIu64
					   ", but the unfinished operation %" PRIu64
					   " expects %" PRIu64 " or %" PRIu64
					   ": run 'thinsnap check'",
					   s->pool_name, tid, in->id, in->transaction_id_before,
					   in->transaction_id_after);
	/* Not committed by the pool: undo what may have reached it. A delete can't be
	 * undone; finish it instead. */
	bool roll_forward = false;
	for (size_t i = 0; i < in->n_pool_ops; i++) {
		const struct thinsnap_meta_pool_op *p = &in->pool_ops[i];
		char name[THINSNAP_POOL_DM_NAME_MAX + 1];
		int r;

		if (p->type == THINSNAP_META_POOL_DELETE) {
			r = thinsnap_pool_delete_thin(s->pool, p->dev_id, c->reterr);
			if (r < 0 && r != -ENOENT)
				return r;
			roll_forward = true;
			continue;
		}
		for (int base = 0; base < 2; base++) {
			thinsnap_snap_dm_name(s->pool_name, p->dev_id, base, name, sizeof(name));
			r = thinsnap_pool_deactivate_thin(s->pool, name, c->reterr);
			if (r < 0)
				return r;
		}
		(void)snprintf(name, sizeof(name), "%s-discard-%" PRIu32, s->pool_name, p->dev_id);
		(void)thinsnap_pool_deactivate_thin(s->pool, name, NULL);
		r = thinsnap_pool_delete_thin(s->pool, p->dev_id, c->reterr);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (roll_forward) {
		int r = thinsnap_pool_set_transaction_id(s->pool, in->transaction_id_before,
							 in->transaction_id_after, c->reterr);
		if (r < 0)
			return r;
		s->tid = in->transaction_id_after;
	}
	c->ids[c->n] = in->id;
	c->completed[c->n++] = roll_forward;
	return 0;
}

int thinsnap_snap_recover(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	struct resolve_ctx c = { .s = s, .reterr = reterr };
	int r;

	r = thinsnap_meta_unfinished(s->meta, resolve_intent, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c.n; i++) {
		r = thinsnap_meta_intent_finish(s->meta, c.ids[i], c.completed[i], reterr);
		if (r < 0)
			return r;
		thinsnap_snap_logf(s, THINSNAP_LOG_INFO, "recovered operation %" PRIu64 ": %s",
				   c.ids[i], c.completed[i] ? "completed" : "rolled back");
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int thinsnap_snap_reactivate_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct reactivate_ctx *c = userdata;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	struct thinsnap_pool_thin_info ti = { 0 };
	int r;

	if (e->kind != THINSNAP_META_ACTIVE && e->kind != THINSNAP_META_VIEW)
		return 0;
	thinsnap_snap_dm_name_of(c->s, e, name);
	const char *key = name;
	if (c->n_active && bsearch(&key, c->active, c->n_active, sizeof(*c->active), cmp_name))
		return 0;
	r = thinsnap_pool_thin_info(c->s->pool, name, &ti, c->reterr);
	if (r < 0)
		return r;
	if (ti.exists)
		return 0;
	r = thinsnap_pool_activate_thin(c->s->pool, e->dev_id, name, e->size_bytes,
					e->kind == THINSNAP_META_VIEW, c->reterr);
	if (r < 0)
		return r;
	thinsnap_snap_logf(c->s, THINSNAP_LOG_INFO, "re-activated %s", name);
	return 0;
}
