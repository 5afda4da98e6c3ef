/*
 * The pool's capacity picture for planning: its devices' sizes, the room they can still grow
 * into (the volume group's free space, the loop files' filesystem, a device grown beyond the
 * pool) and what auto-grow has added so far.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "pool/internal.h"

static int part(struct thinsnap_pool *pool, bool metadata, uint64_t pool_bytes,
		uint64_t *ret_device_bytes, uint64_t *ret_room_bytes,
		struct thinsnap_pool_lv *ret_lv, struct thinsnap_error *reterr)
{
	const char *dev = metadata ? pool->metadata_dev : pool->data_dev;
	char path[4096];
	int r, is_lv = 0;

	if (pool->loop) {
		(void)path_in(pool, metadata ? METADATA_FILE : DATA_FILE, path, sizeof(path));
		dev = path;
	} else {
		is_lv = thinsnap_pool_lvm_find(metadata ? pool->metadata_rdev : pool->data_rdev,
					       ret_lv, reterr);
		if (is_lv < 0)
			return is_lv;
	}
	r = thinsnap_pool_device_size(dev, ret_device_bytes);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': size of '%s': %s", pool->name,
					   dev, strerror(-r));
	if (is_lv) {
		*ret_room_bytes =
			ret_lv->vg_free_bytes +
			(*ret_device_bytes > pool_bytes ? *ret_device_bytes - pool_bytes : 0);
	} else if (pool->loop) {
		/* what the sparse file allocates plus the free space, beyond what the pool uses */
		struct statvfs vfs;
		struct stat st;
		uint64_t limit;
		if (stat(path, &st) < 0 || statvfs(path, &vfs) < 0)
			return thinsnap_error_setf(reterr, -errno, "stat '%s': %m", path);
		limit = (uint64_t)st.st_blocks * 512 + (uint64_t)vfs.f_bavail * vfs.f_frsize;
		*ret_room_bytes = limit > pool_bytes ? limit - pool_bytes : 0;
	} else {
		*ret_room_bytes =
			*ret_device_bytes > pool_bytes ? *ret_device_bytes - pool_bytes : 0;
	}
	return is_lv;
}

/*
 * What auto-grow added as the identity file records it: another handle (the writer's, another
 * process's) may have grown the pool since this one was opened. The handle's own figures stay
 * when the file cannot be read or is another pool's.
 */
static void recorded_growth(const struct thinsnap_pool *pool, struct thinsnap_pool_capacity *c)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *rec = NULL;

	if (thinsnap_pool_read_identity(pool->state_dir, &rec, NULL) < 0 ||
	    strcmp(rec->uuid, pool->uuid) != 0)
		return;
	c->autogrow_data_bytes = rec->autogrow_data_bytes;
	c->autogrow_metadata_bytes = rec->autogrow_metadata_bytes;
}

int thinsnap_pool_capacity(struct thinsnap_pool *pool, struct thinsnap_pool_capacity *ret,
			   struct thinsnap_error *reterr)
{
	struct thinsnap_pool_capacity c = { 0 };
	struct thinsnap_pool_lv dlv = { 0 }, mlv = { 0 };
	struct thinsnap_pool_status st;
	int d, m;

	if (!pool || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "capacity: missing argument");
	d = thinsnap_pool_status(pool, &st, reterr);
	if (d < 0)
		return d;
	d = part(pool, false, st.total_data_bytes, &c.data_device_bytes, &c.data_room_bytes, &dlv,
		 reterr);
	if (d < 0)
		return d;
	m = part(pool, true, st.total_metadata_bytes, &c.metadata_device_bytes,
		 &c.metadata_room_bytes, &mlv, reterr);
	if (m < 0)
		return m;
	c.loop = pool->loop;
	c.lvm = d > 0 && m > 0;
	if (c.lvm)
		(void)snprintf(c.volume_group, sizeof(c.volume_group), "%s", dlv.vg);
	c.autogrow_data_bytes = pool->autogrow_data_bytes;
	c.autogrow_metadata_bytes = pool->autogrow_metadata_bytes;
	recorded_growth(pool, &c);
	*ret = c;
	return 0;
}
