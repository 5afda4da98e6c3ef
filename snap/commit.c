/*
 * commit: an active snapshot becomes committed, either by renaming it in the journal (its
 * device deactivated) or, when the key is kept or its device is still open, as a thin snapshot
 * of the live device in a pool transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "mkfs/mkfs.h"
#include "pool/thin.h"
#include "snap/internal.h"

/* The inodes e's filesystem uses: from its superblock while its device dm is active, else as
 * the journal last counted them. */
static uint64_t inodes_used(const struct thinsnap_meta_snap *e,
			    const struct thinsnap_pool_thin_info *ti, const char *dm)
{
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	uint64_t inodes = e->usage_inodes;

	if (ti->exists && !ti->suspended && thinsnap_pool_dev_path(dm, path, sizeof(path)) == 0)
		(void)thinsnap_mkfs_inodes_used(path, &inodes, NULL);
	return inodes;
}

/*
 * Commits active e as `name` by a thin snapshot of its device (suspended around it when
 * active). retire: the key goes too, and its device becomes a pending delete (deleted by
 * cleanup once nothing holds it open); else the key stays active.
 */
static int commit_by_snapshot(struct thinsnap_snapshotter *s, const char *name,
			      const struct thinsnap_meta_snap *e,
			      const struct thinsnap_meta_label *ml, size_t n_labels,
			      const struct thinsnap_pool_thin_info *ti, const char *dm, int64_t now,
			      const uint8_t *uid, bool retire, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *parent = e->parent ? strdup(e->parent) : NULL;
	CLEANUP_FREE char *fs_type = strdup(e->fs_type);
	CLEANUP_FREE char *key = strdup(e->key);
	uint64_t inodes;
	uint32_t dev_id, old_id = e->dev_id;
	int r;

	if ((e->parent && !parent) || !fs_type || !key)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (!retire) { /* a kept key adds a device; a retired one gives its own back */
		r = thinsnap_snap_check_space_floors(s, reterr);
		if (r < 0)
			return r;
	}
	inodes = inodes_used(e, ti, dm);
	r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0)
		return r;
	struct thinsnap_meta_op ops[4] = {
		{ .type = THINSNAP_META_OP_SNAP_CREATE,
		  .key = name,
		  .parent = parent,
		  .kind = THINSNAP_META_COMMITTED,
		  .dev_id = dev_id,
		  .size_bytes = e->size_bytes,
		  .fs_type = fs_type,
		  .labels = ml,
		  .n_labels = n_labels,
		  .created_ns = now,
		  .updated_ns = now,
		  .usage_bytes = ti->mapped_sectors * 512,
		  .usage_inodes = inodes },
		{ .type = THINSNAP_META_OP_UID_SET, .key = name, .uid = uid },
		{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = key },
		{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = old_id },
	};
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_CREATE_SNAP,
					     .dev_id = dev_id,
					     .origin_id = old_id };
	struct create_ctx c = { .dev_id = dev_id,
				.origin_id = old_id,
				.origin_dm_name = ti->exists ? dm : NULL };
	struct pool_step step = { .run = thinsnap_snap_create_run,
				  .undo = thinsnap_snap_create_undo,
				  .ctx = &c,
				  .decidable = true };
	r = thinsnap_snap_pool_txn(s, &pop, 1, ops, retire ? 4 : 2, &step, reterr);
	if (r >= 0 && retire)
		thinsnap_snap_logf(s, THINSNAP_LOG_INFO,
				   "committed '%s' from its open device %s: deleting it at cleanup",
				   name, dm);
	return r;
}

int thinsnap_commit(struct thinsnap_snapshotter *s, const char *name, const char *key,
		    const struct thinsnap_label *labels, size_t n_labels, unsigned flags,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	CLEANUP_FREE struct thinsnap_meta_label *ml = NULL;
	struct thinsnap_pool_thin_info ti = { 0 };
	uint8_t uid[THINSNAP_META_UID_SIZE];
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80], nb[80];
	int64_t now = now_ns();
	int r;

	r = thinsnap_snap_check_key("name", name, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_check_key("key", key, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_check_labels(labels, n_labels, reterr);
	if (r < 0)
		return r;
	if (flags & ~THINSNAP_COMMIT_KEEP_ACTIVE)
		return thinsnap_error_setf(reterr, -EINVAL, "unknown commit flags 0x%x", flags);
	r = thinsnap_snap_new_uid(uid, reterr); /* the committed snapshot's identity */
	if (r < 0)
		return r;
	r = thinsnap_snap_write_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind != THINSNAP_META_ACTIVE)
		return thinsnap_error_setf(
			reterr, -EROFS,
			"snapshot '%s' is %s, not active: only active "
			"snapshots can be committed",
			thinsnap_snap_shown(key, kb),
			thinsnap_kind_name(thinsnap_snap_kind_from_meta(e->kind)));
	if (thinsnap_meta_get(s->meta, name))
		return thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists",
					   thinsnap_snap_shown(name, nb));
	if (thinsnap_snap_meta_labels(labels, n_labels, &ml) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	thinsnap_snap_dm_name_of(s, e, dm);
	r = thinsnap_pool_thin_info(s->pool, dm, &ti, reterr);
	if (r < 0)
		return r;
	if (ti.suspended) { /* no operation of ours is in flight (write lock): left over */
		r = thinsnap_pool_resume_thin(s->pool, dm, reterr);
		if (r < 0)
			return r;
		ti.suspended = false;
	}

	/* A kept key, or one still open (mounted): the committed snapshot is a thin snapshot
	 * of the live device, taken while it is suspended (the filesystem frozen). */
	if ((flags & THINSNAP_COMMIT_KEEP_ACTIVE) || (ti.exists && ti.open_count > 0))
		return commit_by_snapshot(s, name, e, ml, n_labels, &ti, dm, now, uid,
					  !(flags & THINSNAP_COMMIT_KEEP_ACTIVE), reterr);

	/* retire the key: its device becomes the committed snapshot, inactive */
	uint64_t inodes = inodes_used(e, &ti, dm);
	r = thinsnap_pool_deactivate_thin(s->pool, dm, reterr);
	if (r == -EBUSY) /* opened after we looked */
		return commit_by_snapshot(s, name, e, ml, n_labels, &ti, dm, now, uid, true,
					  reterr);
	if (r < 0)
		return r;
	struct thinsnap_meta_op ops[3] = {
		{ .type = THINSNAP_META_OP_SNAP_COMMIT,
		  .key = key,
		  .name = name,
		  .labels = ml,
		  .n_labels = n_labels,
		  .updated_ns = now },
		{ .type = THINSNAP_META_OP_USAGE_SET,
		  .key = name,
		  .usage_bytes = ti.mapped_sectors * 512,
		  .usage_inodes = inodes },
		{ .type = THINSNAP_META_OP_UID_SET, .key = name, .uid = uid },
	};
	uint64_t size = e->size_bytes;
	uint32_t dev_id = e->dev_id;
	r = THINSNAP_FAULT("snap.commit.after_deactivate");
	if (r >= 0)
		r = thinsnap_snap_journal_apply(s, ops, ELEMENTSOF(ops), reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault after deactivation");
	if (r < 0)
		(void)thinsnap_pool_activate_thin(s->pool, dev_id, dm, size, false, NULL);
	return r;
}
