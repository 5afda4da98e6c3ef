/*
 * prepare and view: a new active (or read-only view) snapshot, a thin snapshot of its
 * committed parent or of the base device, in one pool transaction; grown past its parent's
 * size when the max-size label asks for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/parse.h"
#include "mkfs/mkfs.h"
#include "snap/internal.h"

/* thinsnap_snap_create_run, then (for a snapshot larger than its origin) an online grow of its
 * fs. */
static int create_grow_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct create_ctx *c = v;
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	int r;

	r = thinsnap_snap_create_run(s, c, reterr);
	if (r < 0 || !c->grow_fs_type || !c->dm_name)
		return r;
	(void)thinsnap_pool_dev_path(c->dm_name, path, sizeof(path));
	r = THINSNAP_FAULT("snap.create.before_grow");
	if (r >= 0)
		r = thinsnap_mkfs_grow(path, c->grow_fs_type, c->size_bytes, s->state_dir, reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault before growing the filesystem");
	if (r < 0)
		thinsnap_snap_create_undo(s, c);
	return r;
}

/* The max-size label: 0 if absent, else the size rounded up to SIZE_ALIGN. */
static int size_label(const struct thinsnap_label *labels, size_t n, uint64_t *ret,
		      struct thinsnap_error *reterr)
{
	const char *v = NULL;
	uint64_t size = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].key, THINSNAP_LABEL_MAX_SIZE) == 0)
			v = labels[i].value ? labels[i].value : "";
	*ret = 0;
	if (!v)
		return 0;
	if (!*v)
		return thinsnap_error_setf(reterr, -EINVAL, "label %s is empty",
					   THINSNAP_LABEL_MAX_SIZE);
	r = thinsnap_parse_u64(v, &size);
	if (r == -EINVAL)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "label %s='%.32s' is not a number of bytes",
					   THINSNAP_LABEL_MAX_SIZE, v);
	if (r < 0 || size > UINT64_MAX - SIZE_ALIGN)
		return thinsnap_error_setf(reterr, -EINVAL, "label %s='%.32s' is too large",
					   THINSNAP_LABEL_MAX_SIZE, v);
	if (size == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "label %s must not be 0",
					   THINSNAP_LABEL_MAX_SIZE);
	*ret = (size + SIZE_ALIGN - 1) / SIZE_ALIGN * SIZE_ALIGN;
	return 0;
}

static int create_snapshot(struct thinsnap_snapshotter *s, enum thinsnap_meta_kind kind,
			   const char *key, const char *parent, const struct thinsnap_label *labels,
			   size_t n_labels, struct thinsnap_mount **ret_mount,
			   struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *origin = NULL, *e;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80], pb[80];
	uint32_t dev_id;
	int64_t now;
	int r;

	r = thinsnap_snap_check_key("key", key, reterr);
	if (r < 0)
		return r;
	if (parent && !*parent)
		parent = NULL;
	if (parent) {
		r = thinsnap_snap_check_key("parent", parent, reterr);
		if (r < 0)
			return r;
	}
	r = thinsnap_snap_check_labels(labels, n_labels, reterr);
	if (r < 0)
		return r;
	uint64_t want_size = 0;
	r = size_label(labels, n_labels, &want_size, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_writes(s);
	struct thinsnap_pool_status st;
	r = thinsnap_snap_check_writable_status(s, &st, reterr);
	if (r < 0)
		return r;
	/* the status stays current unless thinsnap_snap_ensure_base() creates the base device below */
	bool st_current = parent || thinsnap_meta_get(s->meta, s->base_key);

	if (thinsnap_meta_get(s->meta, key))
		return thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists",
					   thinsnap_snap_shown(key, kb));
	if (parent) {
		origin = thinsnap_meta_get(s->meta, parent);
		if (!origin)
			return thinsnap_error_setf(reterr, -ENOENT, "parent '%s' not found",
						   thinsnap_snap_shown(parent, pb));
		if (origin->kind != THINSNAP_META_COMMITTED)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "parent '%s' is not a committed snapshot",
						   thinsnap_snap_shown(parent, pb));
	} else {
		r = thinsnap_snap_ensure_base(s, &origin, reterr);
		if (r < 0)
			return r;
	}
	r = thinsnap_snap_check_space_floors_status(s, st_current ? &st : NULL, reterr);
	if (r < 0)
		return r;

	r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0)
		return r;
	thinsnap_snap_dm_name(s->pool_name, dev_id, false, name, sizeof(name));
	now = now_ns();
	/* origin points into the journal's state, which the intent may move: copy it */
	char fs_type[32];
	(void)snprintf(fs_type, sizeof(fs_type), "%s", origin->fs_type);
	uint64_t size_bytes = origin->size_bytes;
	uint32_t origin_id = origin->dev_id;
	bool grow = false;
	if (want_size && want_size < size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "snapshot '%s' cannot be smaller (%" PRIu64
					   " bytes) than its parent (%" PRIu64 " bytes)",
					   thinsnap_snap_shown(key, kb), want_size, size_bytes);
	if (want_size > size_bytes) {
		if (kind == THINSNAP_META_VIEW)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "view '%s' cannot be larger than its parent",
						   thinsnap_snap_shown(key, kb));
		size_bytes = want_size;
		grow = true;
	}
	CLEANUP_FREE struct thinsnap_meta_label *ml = NULL;
	if (thinsnap_snap_meta_labels(labels, n_labels, &ml) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = key,
				       .parent = parent,
				       .kind = kind,
				       .dev_id = dev_id,
				       .size_bytes = size_bytes,
				       .fs_type = fs_type,
				       .labels = ml,
				       .n_labels = n_labels,
				       .created_ns = now,
				       .updated_ns = now };
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_CREATE_SNAP,
					     .dev_id = dev_id,
					     .origin_id = origin_id };
	struct create_ctx c = { .dev_id = dev_id,
				.origin_id = origin_id,
				.dm_name = name,
				.size_bytes = size_bytes,
				.read_only = kind == THINSNAP_META_VIEW,
				.grow_fs_type = grow ? fs_type : NULL };
	struct pool_step step = { .run = create_grow_run,
				  .undo = thinsnap_snap_create_undo,
				  .ctx = &c,
				  .decidable = !grow };

	r = thinsnap_snap_pool_txn(s, &pop, 1, &op, 1, &step, reterr);
	if (r < 0)
		return r;
	if (!ret_mount)
		return 0;
	e = thinsnap_meta_get(s->meta, key);
	if (!e)
		return thinsnap_error_setf(reterr, -EIO, "snapshot '%s' vanished",
					   thinsnap_snap_shown(key, kb));
	return thinsnap_snap_mount_for(s, e, ret_mount, reterr);
}

int thinsnap_prepare(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		     const struct thinsnap_label *labels, size_t n_labels,
		     struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	return create_snapshot(s, THINSNAP_META_ACTIVE, key, parent, labels, n_labels, ret_mount,
			       reterr);
}

int thinsnap_view(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		  const struct thinsnap_label *labels, size_t n_labels,
		  struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	return create_snapshot(s, THINSNAP_META_VIEW, key, parent, labels, n_labels, ret_mount,
			       reterr);
}
