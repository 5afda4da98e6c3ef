/*
 * The base device: one formatted thin device per filesystem configuration (type, size,
 * options), created and formatted in its own pool transaction on first use; every snapshot
 * without a parent is a thin snapshot of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "mkfs/mkfs.h"
#include "snap/internal.h"

int thinsnap_snap_make_base_key(struct thinsnap_snapshotter *s)
{
	if (asprintf(&s->base_key, INTERNAL_PREFIX "base/%s/%" PRIu64 "/%s", s->fs_type,
		     s->base_size_bytes, s->fs_options ? s->fs_options : "") < 0) {
		s->base_key = NULL;
		return -ENOMEM;
	}
	return 0;
}

struct base_ctx {
	struct create_ctx create;
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	const struct thinsnap_mkfs_opts *mkfs;
	uint64_t mapped_bytes;
};

static int base_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct base_ctx *c = v;
	struct thinsnap_pool_thin_info ti = { 0 };
	int r;

	r = thinsnap_snap_create_run(s, &c->create, reterr);
	if (r < 0)
		return r;
	r = thinsnap_mkfs_format(c->path, c->create.size_bytes, c->mkfs, reterr);
	if (r >= 0)
		r = thinsnap_mkfs_verify(c->path, s->fs_type, reterr);
	if (r >= 0)
		r = thinsnap_pool_thin_info(s->pool, c->create.dm_name, &ti, reterr);
	if (r >= 0) {
		c->mapped_bytes = ti.mapped_sectors * 512;
		r = thinsnap_pool_deactivate_thin(s->pool, c->create.dm_name, reterr);
	}
	if (r < 0)
		thinsnap_snap_create_undo(s, &c->create);
	return r;
}

int thinsnap_snap_ensure_base(struct thinsnap_snapshotter *s, const struct thinsnap_meta_snap **ret,
			      struct thinsnap_error *reterr)
{
	struct thinsnap_mkfs_opts mo = { .fs_type = s->fs_type, .fs_options = s->fs_options };
	struct base_ctx c = { .mkfs = &mo };
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	const struct thinsnap_meta_snap *e;
	uint32_t dev_id;
	int64_t now = now_ns();
	int r;

	e = thinsnap_meta_get(s->meta, s->base_key);
	if (e) {
		*ret = e;
		return 0;
	}
	r = thinsnap_snap_check_space_floors(s, reterr);
	if (r < 0)
		return r;
	r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0)
		return r;
	thinsnap_snap_dm_name(s->pool_name, dev_id, true, name, sizeof(name));
	(void)thinsnap_pool_dev_path(name, c.path, sizeof(c.path));
	c.create = (struct create_ctx){ .dev_id = dev_id,
					.origin_id = UINT32_MAX,
					.dm_name = name,
					.size_bytes = s->base_size_bytes };
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_CREATE_THIN,
					     .dev_id = dev_id };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = s->base_key,
				       .kind = THINSNAP_META_INTERNAL,
				       .dev_id = dev_id,
				       .size_bytes = s->base_size_bytes,
				       .fs_type = s->fs_type,
				       .created_ns = now,
				       .updated_ns = now };
	struct pool_step step = { .run = base_run, .undo = thinsnap_snap_create_undo, .ctx = &c };

	r = thinsnap_snap_pool_txn(s, &pop, 1, &op, 1, &step, reterr);
	if (r < 0)
		return r;
	/* remember how much the empty filesystem maps: usage is counted beyond it */
	struct thinsnap_meta_op us = { .type = THINSNAP_META_OP_USAGE_SET,
				       .key = s->base_key,
				       .usage_bytes = c.mapped_bytes };
	(void)thinsnap_snap_journal_apply(s, &us, 1, NULL);
	thinsnap_snap_logf(s, THINSNAP_LOG_INFO, "formatted base device %s (%s, %" PRIu64 " bytes)",
			   name, s->fs_type, s->base_size_bytes);
	e = thinsnap_meta_get(s->meta, s->base_key);
	if (!e)
		return thinsnap_error_setf(reterr, -EIO, "base device vanished from the journal");
	*ret = e;
	return 0;
}
