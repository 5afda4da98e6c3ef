/*
 * remove and cleanup: a snapshot's device is deleted in a pool transaction, or, while it is
 * busy (or removal is asynchronous), recorded as a pending delete that cleanup finishes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "pool/thin.h"
#include "snap/internal.h"

int thinsnap_remove(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80];
	bool busy = false;
	int r;

	r = thinsnap_snap_check_key("key", key, reterr);
	if (r < 0)
		return r;
	/* the pool's mode is asked only if the pool refuses (thinsnap_snap_diagnose_pool) */
	r = thinsnap_snap_write_lookup_lazy(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	/* a refusal names a pool that refuses writes first, as every writer's does */
	if (thinsnap_snap_pinned(s, e->dev_id))
		return thinsnap_snap_diagnose_pool(
			s,
			thinsnap_error_setf(reterr, -EBUSY,
					    "cannot remove snapshot '%s': it is in use by a send",
					    thinsnap_snap_shown(key, kb)),
			reterr);
	if (thinsnap_meta_has_children(s->meta, key))
		return thinsnap_snap_diagnose_pool(
			s,
			thinsnap_error_setf(reterr, -ENOTEMPTY,
					    "cannot remove snapshot '%s': it has children",
					    thinsnap_snap_shown(key, kb)),
			reterr);
	thinsnap_snap_dm_name_of(s, e, dm);
	uint32_t dev_id = e->dev_id;
	uint64_t size = e->size_bytes;
	bool was_active = e->kind != THINSNAP_META_COMMITTED;
	bool ro = e->kind == THINSNAP_META_VIEW;

	if (!s->async_remove && was_active) {
		r = thinsnap_pool_deactivate_thin_id(s->pool, dev_id, reterr);
		if (r == -EBUSY)
			busy = true;
		else if (r < 0)
			return r;
	}
	if (s->async_remove || busy) {
		/* no pool message to refuse it: a pool that refuses writes is asked now */
		r = thinsnap_snap_check_writable(s, reterr);
		if (r < 0)
			return r;
		struct thinsnap_meta_op ops[2] = {
			{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = key },
			{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = dev_id },
		};
		r = thinsnap_snap_journal_apply(s, ops, 2, reterr);
		if (r >= 0 && busy)
			thinsnap_snap_logf(s, THINSNAP_LOG_WARNING,
					   "device %s of '%s' is busy: deleting it at cleanup", dm,
					   thinsnap_snap_shown(key, kb));
		return r;
	}
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = key };
	r = thinsnap_snap_delete_txn(s, dev_id, size, &op, 1, reterr);
	if (r >= 0)
		return r;
	/* as it was (a failed pool refuses even that: its next open after the repair does it) */
	if (was_active)
		(void)thinsnap_pool_activate_thin(s->pool, dev_id, dm, size, ro, NULL);
	return thinsnap_snap_diagnose_pool(s, r, reterr);
}

struct pending_list {
	uint32_t *ids;
	size_t n, cap;
};

static int collect_pending(uint32_t dev_id, void *userdata)
{
	struct pending_list *l = userdata;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint32_t *ids = realloc(l->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = dev_id;
	return 0;
}

int thinsnap_cleanup(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	struct pending_list l = { 0 };
	CLEANUP_FREE uint32_t *ids = NULL;
	int r, first_err = 0;

	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_writes(s);
	r = thinsnap_snap_check_writable(s, reterr);
	if (r < 0)
		return r;
	r = thinsnap_meta_each_delete_pending(s->meta, collect_pending, &l);
	ids = l.ids;
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "listing pending deletes");
	for (size_t i = 0; i < l.n; i++) {
		char dm[THINSNAP_POOL_DM_NAME_MAX + 1];
		struct thinsnap_error err = { 0 };

		thinsnap_snap_dm_name(s->pool_name, ids[i], false, dm, sizeof(dm));
		r = thinsnap_pool_deactivate_thin(s->pool, dm, &err);
		if (r == 0) {
			struct thinsnap_meta_op op = {
				.type = THINSNAP_META_OP_DELETE_PENDING_REMOVE, .dev_id = ids[i]
			};
			r = thinsnap_snap_delete_txn(s, ids[i], 0, &op, 1, &err);
		}
		if (r < 0) {
			thinsnap_snap_logf(s, THINSNAP_LOG_WARNING,
					   "cleanup of device %" PRIu32 ": %s", ids[i], err.msg);
			if (!first_err) {
				first_err = r;
				if (reterr)
					*reterr = err;
			}
		}
	}
	return first_err;
}
