/*
 * Growing the pool: its data or metadata on loop files or on devices (that the operator grew:
 * lvextend, a grown partition or LUN), the limit auto-grow may grow to, and the low-water mark
 * that raises the kernel's event; each reloads the pool's table.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/fault.h"
#include "pool/internal.h"
#include "pool/loop.h"

/* --- grow --- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Loads the pool's table from *pool (length, low water) and makes it live: reload, then a
 * noflush suspend and a resume (resumed on every path after the suspend but the injected
 * fault, which stands for a kill there). Everything that can fail (the table, its load) comes
 * before the suspend. noflush: I/O in flight, and I/O the pool queued while out of space, is
 * kept and goes to the new table on the resume instead of being flushed to the old one (which
 * could wait forever on a full pool); pool->last_pause_ns is the time spent suspended.
 */
static int reload_pool(struct thinsnap_pool *pool, const char *fault, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_table table;
	char params[256];
	uint64_t t0;
	int r;

	r = thinsnap_pool_table(pool, params, sizeof(params), &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_reload(pool->name, &table, reterr);
	if (r < 0)
		return r;
	t0 = now_ns();
	r = thinsnap_dm_suspend(pool->name, true, reterr);
	if (r < 0)
		return r;
	(void)fault; /* unused outside test builds */
	r = THINSNAP_FAULT(fault);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "injected fault after the suspend");
	r = thinsnap_dm_resume(pool->name, reterr);
	pool->last_pause_ns = now_ns() - t0;
	return r;
}

/*
 * Grows a loop-backed pool's data or metadata file to new_size_bytes, refreshes its loop
 * device and reloads the pool: the kernel takes the new data length from the table and the
 * metadata size from the device (its preresume resizes the metadata space map, and a pool
 * out of metadata space goes back to write mode).
 */
static int grow_loop(struct thinsnap_pool *pool, bool metadata, uint64_t new_size_bytes,
		     struct thinsnap_error *reterr)
{
	const char *what = metadata ? "metadata" : "data";
	char path[4096];
	uint64_t old;
	struct stat st;
	int r;

	if (new_size_bytes == 0)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': a loop-file pool's %s grows to a given size",
					   pool->name, what);
	(void)path_in(pool, metadata ? METADATA_FILE : DATA_FILE, path, sizeof(path));
	if (stat(path, &st) < 0)
		return thinsnap_error_setf(reterr, -errno, "stat '%s': %m", path);
	old = (uint64_t)st.st_size;
	if (new_size_bytes < old)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': cannot shrink %s from %" PRIu64
					   " to %" PRIu64 " bytes",
					   pool->name, what, old, new_size_bytes);
	/* refreshes data_rdev and metadata_rdev */
	r = thinsnap_pool_check_live_table(pool, reterr);
	if (r < 0)
		return r;
	if (truncate(path, (off_t)new_size_bytes) < 0)
		return thinsnap_error_setf(reterr, -errno, "cannot grow '%s': %m", path);
	r = thinsnap_pool_loop_refresh(metadata ? pool->metadata_rdev : pool->data_rdev);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': loop capacity refresh: %s",
					   pool->name, strerror(-r));
	if (!metadata)
		pool->data_size_bytes = new_size_bytes;
	r = reload_pool(pool, "pool.grow.after_suspend", reterr);
	if (r < 0)
		return r;
	return thinsnap_pool_write_identity(pool, reterr);
}

int thinsnap_pool_device_size(const char *path, uint64_t *ret_bytes)
{
	CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t size;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return -errno;
	} else {
		size = (uint64_t)st.st_size;
	}
	*ret_bytes = size;
	return 0;
}

/*
 * A device-backed pool takes its device's size (size 0), or a size the device already has:
 * the operator grew the device (lvextend, a grown partition or LUN) and this only reloads
 * the pool. The identity is written first: a crash after it activates the pool at the new
 * size, which the device has.
 */
static int grow_device(struct thinsnap_pool *pool, bool metadata, uint64_t new_size_bytes,
		       struct thinsnap_error *reterr)
{
	const char *what = metadata ? "metadata" : "data";
	const char *dev = metadata ? pool->metadata_dev : pool->data_dev;
	uint64_t *recorded = metadata ? &pool->metadata_size_bytes : &pool->data_size_bytes;
	uint64_t have = 0, old = *recorded, live = 0;
	int r;

	r = thinsnap_pool_check_live_table(pool, reterr); /* the devices are the recorded ones */
	if (r < 0)
		return r;
	r = thinsnap_pool_device_size(dev, &have);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': size of '%s': %s", pool->name,
					   dev, strerror(-r));
	if (new_size_bytes == 0)
		new_size_bytes = have;
	if (new_size_bytes > have)
		return thinsnap_error_setf(
			reterr, -ENOSPC,
			"pool '%s': %s device '%s' holds %" PRIu64 " bytes, not %" PRIu64
			"; grow the device first "
			"(lvextend -L SIZE VG/LV), or give no size to take its size",
			pool->name, what, dev, have, new_size_bytes);
	if (new_size_bytes < old)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': cannot shrink %s from %" PRIu64
					   " to %" PRIu64 " bytes",
					   pool->name, what, old, new_size_bytes);
	if (!metadata && thinsnap_dm_table(pool->name, false, &live, NULL, NULL, NULL) == 0 &&
	    new_size_bytes == old && live == pool_length_sectors(pool))
		return 0; /* nothing new */
	*recorded = new_size_bytes;
	r = thinsnap_pool_write_identity(pool, reterr);
	if (r < 0) {
		*recorded = old;
		return r;
	}
	return reload_pool(pool, "pool.grow.after_suspend", reterr);
}

int thinsnap_pool_grow_part(struct thinsnap_pool *pool, bool metadata, uint64_t new_size_bytes,
			    struct thinsnap_error *reterr)
{
	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	return pool->loop ? grow_loop(pool, metadata, new_size_bytes, reterr)
			  : grow_device(pool, metadata, new_size_bytes, reterr);
}

int thinsnap_pool_grow(struct thinsnap_pool *pool, uint64_t new_data_size_bytes,
		       struct thinsnap_error *reterr)
{
	return thinsnap_pool_grow_part(pool, false, new_data_size_bytes, reterr);
}

int thinsnap_pool_grow_metadata(struct thinsnap_pool *pool, uint64_t new_metadata_size_bytes,
				struct thinsnap_error *reterr)
{
	return thinsnap_pool_grow_part(pool, true, new_metadata_size_bytes, reterr);
}

uint64_t thinsnap_pool_last_pause_ns(const struct thinsnap_pool *pool)
{
	return pool ? pool->last_pause_ns : 0;
}

/* --- auto-grow: limit, low-water mark, events --- */

bool thinsnap_pool_loop_backed(const struct thinsnap_pool *pool)
{
	return pool && pool->loop;
}

int thinsnap_pool_grow_limit(struct thinsnap_pool *pool, uint64_t *ret_bytes,
			     struct thinsnap_error *reterr)
{
	struct statvfs vfs;
	struct stat st;
	char path[4096];

	if (!pool || !ret_bytes)
		return thinsnap_error_setf(reterr, -EINVAL, "grow limit: missing argument");
	if (!pool->loop)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "pool '%s': only loop-file pools can grow", pool->name);
	(void)path_in(pool, DATA_FILE, path, sizeof(path));
	if (stat(path, &st) < 0 || statvfs(path, &vfs) < 0)
		return thinsnap_error_setf(reterr, -errno, "stat '%s': %m", path);
	*ret_bytes = (uint64_t)st.st_blocks * 512 + (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}

int thinsnap_pool_set_low_water(struct thinsnap_pool *pool, uint64_t low_water_blocks,
				struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_dm_pool_table t;
	uint64_t old, live_sectors = 0;
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	if (low_water_blocks > 0 &&
	    low_water_blocks >= pool_length_sectors(pool) / pool->data_block_sectors)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': low water mark %" PRIu64
					   " blocks is not below the pool's size",
					   pool->name, low_water_blocks);
	r = thinsnap_dm_table(pool->name, false, &live_sectors, NULL, &params, reterr);
	if (r < 0)
		return r;
	if (thinsnap_dm_parse_pool_table(params, &t) < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "dm device '%s' is not a thin-pool",
					   pool->name);
	if (live_sectors > pool_length_sectors(pool))
		pool->data_size_bytes = live_sectors * 512; /* grown by another handle */
	if (t.low_water_blocks == low_water_blocks && pool->low_water_blocks == low_water_blocks)
		return 0;
	r = thinsnap_pool_check_live_table(pool, reterr); /* refreshes the devices */
	if (r < 0)
		return r;
	old = pool->low_water_blocks;
	pool->low_water_blocks = low_water_blocks;
	r = reload_pool(pool, "pool.low_water.after_suspend", reterr);
	if (r == 0)
		r = thinsnap_pool_write_identity(pool, reterr);
	if (r < 0)
		pool->low_water_blocks = old;
	return r;
}
