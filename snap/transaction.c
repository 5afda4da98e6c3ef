/*
 * The pool transaction: journal an intent, run the pool step, journal the completion. Most
 * steps are decided after a crash by the pool's device list, and the intent's fdatasync runs
 * while the pool commits; a step that does more than pool messages ends by moving the pool's
 * transaction id N -> N+1 (LVM's protocol). Also the pool steps every caller shares: create
 * (and undo) a thin device, discard and delete one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/fault.h"
#include "snap/internal.h"

static int journal_intent_begin(struct thinsnap_snapshotter *s,
				const struct thinsnap_meta_intent *in, bool synced,
				uint64_t *ret_id, struct thinsnap_error *reterr)
{
	int r;

	pthread_rwlock_wrlock(&s->state_lock);
	r = synced ? thinsnap_meta_intent_begin(s->meta, in, ret_id, reterr)
		   : thinsnap_meta_intent_begin_unsynced(s->meta, in, ret_id, reterr);
	pthread_rwlock_unlock(&s->state_lock);
	return r;
}

static int journal_intent_finish(struct thinsnap_snapshotter *s, uint64_t id, bool completed,
				 struct thinsnap_error *reterr)
{
	int r;

	pthread_rwlock_wrlock(&s->state_lock);
	/* lazy: recovery decides an unfinished intent at the next open */
	r = thinsnap_meta_intent_finish_lazy(s->meta, id, completed, reterr);
	pthread_rwlock_unlock(&s->state_lock);
	return r;
}

int thinsnap_snap_journal_apply(struct thinsnap_snapshotter *s, const struct thinsnap_meta_op *ops,
				size_t n, struct thinsnap_error *reterr)
{
	int r;

	pthread_rwlock_wrlock(&s->state_lock);
	r = thinsnap_meta_apply(s->meta, ops, n, reterr);
	pthread_rwlock_unlock(&s->state_lock);
	return r;
}

/* The cached usage of the pool's devices (snap/query.c) predates this change: drop it. */
static void usage_cache_invalidate(struct thinsnap_snapshotter *s)
{
	__atomic_store_n(&s->usage_cache_tid, UINT64_MAX, __ATOMIC_RELAXED);
}

/* The pool step, once the intent is written; a change to the pool drops the usage cache. */
static int run_step(struct thinsnap_snapshotter *s, const struct pool_step *step,
		    struct thinsnap_error *reterr)
{
	int r = THINSNAP_FAULT("snap.txn.after_intent");

	if (r < 0)
		return thinsnap_error_setf(reterr, r, "injected fault after the intent");
	r = step->run(s, step->ctx, reterr);
	if (r >= 0)
		usage_cache_invalidate(s);
	return r;
}

/* The pool has the step: the fault point named point (where, for its message), then the
 * completion. */
static int txn_complete(struct thinsnap_snapshotter *s, uint64_t id, const char *point,
			const char *where, struct thinsnap_error *reterr)
{
	int r;

	(void)point; /* unused outside test builds */
	r = THINSNAP_FAULT(point);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "injected fault %s", where);
	r = journal_intent_finish(s, id, true, reterr);
	if (r < 0)
		return r; /* the pool has it; the next open completes it */
	return THINSNAP_FAULT("snap.txn.after_finish");
}

/*
 * The transaction that the pool's device list decides (docs/snapshotter.md, "Recovery"): the
 * intent is written, its fdatasync runs (asynchronously) while the pool step commits, and both
 * must succeed.
 * The transaction id stays; the intent records it (before == after) as the guard against a
 * pool changed by someone else.
 */
static int txn_decidable(struct thinsnap_snapshotter *s, struct thinsnap_meta_intent *in,
			 const struct pool_step *step, struct thinsnap_error *reterr)
{
	uint64_t id = 0;
	int r, rs;

	in->transaction_id_before = in->transaction_id_after = s->tid;
	r = journal_intent_begin(s, in, false, &id, reterr);
	if (r < 0)
		return r;
	thinsnap_meta_sync_start(s->meta); /* runs while the pool commits */
	r = run_step(s, step, reterr);
	if (r >= 0) {
		r = THINSNAP_FAULT("snap.txn.before_sync_join");
		if (r < 0)
			thinsnap_error_setf(reterr, r, "injected fault before the journal's sync");
	}
	rs = thinsnap_meta_sync_wait(s->meta, r >= 0 ? reterr : NULL);
	if (r >= 0 && rs < 0) {
		/* the intent may not be durable: take back what can be taken back; the journal
		 * has failed, so the next open resolves the intent from the device list */
		if (step->undo)
			step->undo(s, step->ctx);
		thinsnap_snap_forget_boot(s);
		return rs;
	}
	if (r < 0) {
		if (rs >= 0)
			(void)journal_intent_finish(s, id, false, NULL);
		return r;
	}
	return txn_complete(s, id, "snap.txn.after_pool", "after the pool step", reterr);
}

/* The transaction for steps that do more than pool messages (a base device's format, a
 * filesystem's grow): the intent is durable first, and the transaction id's move N -> N+1
 * after the whole step is what completes it. */
static int txn_tid(struct thinsnap_snapshotter *s, struct thinsnap_meta_intent *in,
		   const struct pool_step *step, struct thinsnap_error *reterr)
{
	uint64_t id = 0;
	int r;

	in->transaction_id_before = s->tid;
	in->transaction_id_after = s->tid + 1;
	r = journal_intent_begin(s, in, true, &id, reterr);
	if (r < 0)
		return r;
	r = run_step(s, step, reterr);
	if (r >= 0) {
		r = THINSNAP_FAULT("snap.txn.after_pool");
		if (r >= 0)
			r = thinsnap_pool_set_transaction_id(s->pool, in->transaction_id_before,
							     in->transaction_id_after, reterr);
		else
			thinsnap_error_setf(reterr, r, "injected fault after the pool step");
		if (r < 0 && step->undo)
			step->undo(s, step->ctx);
	}
	if (r < 0) {
		/* nothing of it is in the pool now: drop the intent (if this fails, the
		 * next open rolls it back) */
		(void)journal_intent_finish(s, id, false, NULL);
		return r;
	}
	s->tid = in->transaction_id_after;
	return txn_complete(s, id, "snap.txn.after_tid", "after the transaction id", reterr);
}

int thinsnap_snap_pool_txn(struct thinsnap_snapshotter *s,
			   const struct thinsnap_meta_pool_op *pool_ops, size_t n_pool_ops,
			   const struct thinsnap_meta_op *ops, size_t n_ops,
			   const struct pool_step *step, struct thinsnap_error *reterr)
{
	struct thinsnap_meta_intent in = {
		.pool_ops = pool_ops,
		.n_pool_ops = n_pool_ops,
		.ops = ops,
		.n_ops = n_ops,
	};

	return step->decidable ? txn_decidable(s, &in, step, reterr)
			       : txn_tid(s, &in, step, reterr);
}

/* ---- pool steps ---- */

int thinsnap_snap_create_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct create_ctx *c = v;
	int r;

	if (c->origin_id == UINT32_MAX)
		r = thinsnap_pool_create_thin(s->pool, c->dev_id, reterr);
	else
		r = thinsnap_pool_create_snap(s->pool, c->dev_id, c->origin_id, c->origin_dm_name,
					      reterr);
	if (r < 0)
		return r;
	if (!c->dm_name)
		return 0;
	r = thinsnap_pool_activate_thin(s->pool, c->dev_id, c->dm_name, c->size_bytes, c->read_only,
					reterr);
	if (r < 0)
		(void)thinsnap_pool_delete_thin(s->pool, c->dev_id, NULL);
	return r;
}

void thinsnap_snap_create_undo(struct thinsnap_snapshotter *s, void *v)
{
	struct create_ctx *c = v;

	if (c->dm_name)
		(void)thinsnap_pool_deactivate_thin(s->pool, c->dm_name, NULL);
	(void)thinsnap_pool_delete_thin(s->pool, c->dev_id, NULL);
}

/* A thin device whose size is forgotten (a pending delete) is activated this large to
 * discard it: only the part up to its highest mapped block is discarded. */
#define DISCARD_UNKNOWN_SIZE (1ull << 50)

/*
 * Discards every mapped block of an inactive thin device, so the pool gets them back at once
 * (and, with discard passdown, the data device: a loop file gets holes). size_bytes 0: unknown.
 */
static int discard_device(struct thinsnap_snapshotter *s, uint32_t dev_id, uint64_t size_bytes,
			  struct thinsnap_error *reterr)
{
	char name[THINSNAP_POOL_DM_NAME_MAX + 1], path[THINSNAP_POOL_DM_NAME_MAX + 32];
	struct thinsnap_pool_thin_info ti = { 0 };
	CLEANUP_CLOSE int fd = -EBADF;
	uint64_t range[2] = { 0, size_bytes };
	int r;

	if (!size_bytes)
		size_bytes = DISCARD_UNKNOWN_SIZE;
	(void)snprintf(name, sizeof(name), "%s-discard-%" PRIu32, s->pool_name, dev_id);
	(void)thinsnap_pool_dev_path(name, path, sizeof(path));
	r = thinsnap_pool_activate_thin(s->pool, dev_id, name, size_bytes, false, reterr);
	if (r < 0)
		return r;
	/* discard up to the highest mapped block: nothing beyond it is in the pool */
	if (thinsnap_pool_thin_info(s->pool, name, &ti, NULL) == 0 && ti.exists)
		range[1] = ti.mapped_end_bytes < size_bytes ? ti.mapped_end_bytes : size_bytes;
	else
		range[1] = size_bytes;
	if (range[1] == 0)
		return thinsnap_pool_deactivate_thin(s->pool, name, reterr);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKDISCARD, range) < 0)
		thinsnap_snap_logf(s, THINSNAP_LOG_WARNING, "discard of '%s' failed: %s", name,
				   strerror(errno));
	if (fd >= 0)
		(void)close(TAKE_FD(fd));
	/* a crash here leaves the device active as <pool>-discard-<id> for recovery */
	(void)THINSNAP_FAULT("snap.discard.before_deactivate");
	return thinsnap_pool_deactivate_thin(s->pool, name, reterr);
}

struct delete_ctx {
	uint32_t dev_id;
	uint64_t size_bytes;
};

static int delete_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct delete_ctx *c = v;
	int r;

	if (s->discard_blocks)
		(void)discard_device(s, c->dev_id, c->size_bytes, NULL);
	r = thinsnap_pool_delete_thin(s->pool, c->dev_id, reterr);
	if (r == -ENOENT)
		return 0; /* already gone: the intent only records it */
	return r;
}

int thinsnap_snap_delete_txn(struct thinsnap_snapshotter *s, uint32_t dev_id, uint64_t size_bytes,
			     const struct thinsnap_meta_op *ops, size_t n_ops,
			     struct thinsnap_error *reterr)
{
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_DELETE, .dev_id = dev_id };
	struct delete_ctx c = { .dev_id = dev_id, .size_bytes = size_bytes };
	struct pool_step step = { .run = delete_run, .undo = NULL, .ctx = &c, .decidable = true };

	return thinsnap_snap_pool_txn(s, &pop, 1, ops, n_ops, &step, reterr);
}
