/*
 * Crash recovery at a writer's open: each unfinished intent is resolved by the rule in
 * snap/recovery-rule.c (the pool's transaction id decides), carried out on the pool; then every
 * active snapshot and view whose device is missing (after a reboot) is activated again.
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

/* The pool recovery drives (thinsnap_snap_recovery_apply()), userdata: the snapshotter. */
static int recovery_deactivate(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = userdata;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	int r;

	for (int base = 0; base < 2; base++) {
		thinsnap_snap_dm_name(s->pool_name, dev_id, base, name, sizeof(name));
		r = thinsnap_pool_deactivate_thin(s->pool, name, reterr);
		if (r < 0)
			return r;
	}
	(void)snprintf(name, sizeof(name), "%s-discard-%" PRIu32, s->pool_name, dev_id);
	(void)thinsnap_pool_deactivate_thin(s->pool, name, NULL);
	return 0;
}

static int recovery_delete_thin(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = userdata;

	return thinsnap_pool_delete_thin(s->pool, dev_id, reterr);
}

static int recovery_set_transaction_id(void *userdata, uint64_t old_tid, uint64_t new_tid,
				       struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = userdata;

	return thinsnap_pool_set_transaction_id(s->pool, old_tid, new_tid, reterr);
}

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata)
{
	struct resolve_ctx *c = userdata;
	struct thinsnap_snapshotter *s = c->s;
	const struct thinsnap_snap_recovery_pool pool = {
		.deactivate = recovery_deactivate,
		.delete_thin = recovery_delete_thin,
		.set_transaction_id = recovery_set_transaction_id,
		.userdata = s,
	};
	struct thinsnap_snap_recovery_plan plan;
	enum thinsnap_recovery outcome;
	uint64_t tid = s->tid;
	int r;

	if (c->n >= ELEMENTSOF(c->ids))
		return thinsnap_error_setf(c->reterr, -EUCLEAN, "too many unfinished intents");
	outcome = thinsnap_snap_recovery_decide(in, tid, &plan);
	if (outcome == THINSNAP_RECOVERY_MISMATCH)
		return thinsnap_error_setf(c->reterr, -EUCLEAN,
					   "pool '%s' has transaction id %" PRIu64
					   ", but the unfinished operation %" PRIu64
					   " expects %" PRIu64 " or %" PRIu64
					   ": run 'thinsnap check'",
					   s->pool_name, tid, in->id, in->transaction_id_before,
					   in->transaction_id_after);
	r = thinsnap_snap_recovery_apply(in, &plan, &pool, c->reterr);
	if (r < 0)
		return r;
	if (plan.set_transaction_id)
		s->tid = in->transaction_id_after;
	c->ids[c->n] = in->id;
	c->completed[c->n++] = outcome == THINSNAP_RECOVERY_ROLL_FORWARD;
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
