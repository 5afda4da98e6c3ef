/*
 * resize: grows an active snapshot's device and filesystem, journaling the new size first so
 * that a crash never leaves a filesystem larger than its device.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/fault.h"
#include "mkfs/mkfs.h"
#include "snap/internal.h"

int thinsnap_resize(struct thinsnap_snapshotter *s, const char *key, uint64_t size_bytes,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], path[THINSNAP_POOL_DM_NAME_MAX + 32], kb[80];
	char fs_type[32];
	int r;

	r = thinsnap_snap_check_key("key", key, reterr);
	if (r < 0)
		return r;
	if (size_bytes == 0 || size_bytes > UINT64_MAX - SIZE_ALIGN)
		return thinsnap_error_setf(reterr, -EINVAL, "size %" PRIu64 " is out of range",
					   size_bytes);
	size_bytes = (size_bytes + SIZE_ALIGN - 1) / SIZE_ALIGN * SIZE_ALIGN;
	r = thinsnap_snap_write_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind != THINSNAP_META_ACTIVE)
		return thinsnap_error_setf(
			reterr, -EROFS, "snapshot '%s' is %s: only active snapshots can be resized",
			thinsnap_snap_shown(key, kb),
			thinsnap_kind_name(thinsnap_snap_kind_from_meta(e->kind)));
	if (size_bytes < e->size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "snapshot '%s' is %" PRIu64
					   " bytes: it cannot shrink to %" PRIu64,
					   thinsnap_snap_shown(key, kb), e->size_bytes, size_bytes);
	/* e points into the journal's state, which the op below changes: copy what we need */
	uint64_t old_size = e->size_bytes;
	(void)snprintf(fs_type, sizeof(fs_type), "%s", *e->fs_type ? e->fs_type : "ext4");
	thinsnap_snap_dm_name_of(s, e, dm);
	(void)thinsnap_pool_dev_path(dm, path, sizeof(path));
	if (strncmp(fs_type, "ext", 3) != 0 && strcmp(fs_type, "xfs") != 0)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "snapshot '%s': growing %s is not supported",
					   thinsnap_snap_shown(key, kb), fs_type);

	/* journal first: a crash after it activates the device at the new size on the next
	 * open, and a second resize grows the filesystem; the reverse order could leave a
	 * filesystem larger than its device */
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SIZE_SET,
				       .key = key,
				       .size_bytes = size_bytes };
	if (size_bytes != old_size) {
		r = thinsnap_snap_journal_apply(s, &op, 1, reterr);
		if (r < 0)
			return r;
	}
	r = THINSNAP_FAULT("snap.resize.after_journal");
	if (r >= 0)
		r = thinsnap_pool_resize_thin(s->pool, dm, size_bytes, reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault after journaling the size");
	if (r < 0) {
		if (size_bytes != old_size) { /* the device kept its size: so does the journal */
			op.size_bytes = old_size;
			(void)thinsnap_snap_journal_apply(s, &op, 1, NULL);
		}
		return r;
	}
	r = thinsnap_mkfs_grow(path, fs_type, size_bytes, s->state_dir, reterr);
	if (r < 0)
		return r; /* device and journal agree on the new size: a retry grows the fs */
	thinsnap_snap_logf(s, THINSNAP_LOG_INFO,
			   "resized '%s' from %" PRIu64 " to %" PRIu64 " bytes",
			   thinsnap_snap_shown(key, kb), old_size, size_bytes);
	return 0;
}
