/*
 * The pool's status line (mode, transaction id and its compare-and-swap, space) and its
 * space: growing a loop-file pool's data or metadata, the limit auto-grow may grow to, the
 * low-water mark that raises the kernel's event, and waiting for that event.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/fault.h"
#include "pool/internal.h"
#include "pool/loop.h"

/* --- transaction id, status --- */

/* commit: let the kernel commit the pool's metadata first (exact block counts; a superblock
 * write and two flushes), else the counts are as of its last commit */
static int read_status(struct thinsnap_pool *pool, bool commit, struct thinsnap_dm_pool_status *s,
		       struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	int r = commit ? thinsnap_dm_table(pool->name, true, NULL, &target, &params, reterr)
		       : thinsnap_dm_status_noflush(pool->name, &target, &params, reterr);

	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	if (r < 0)
		return r;
	if (strcmp(target, "thin-pool") != 0 || thinsnap_dm_parse_pool_status(params, s) < 0)
		return thinsnap_error_setf(reterr, -EIO, "pool '%s': unexpected status '%s'",
					   pool->name, params);
	return 0;
}

int thinsnap_pool_transaction_id(struct thinsnap_pool *pool, uint64_t *ret_tid,
				 struct thinsnap_error *reterr)
{
	struct thinsnap_dm_pool_status s;
	int r;

	if (!pool || !ret_tid)
		return thinsnap_error_setf(reterr, -EINVAL, "transaction id: missing argument");
	r = read_status(pool, false, &s, reterr); /* the in-core id is the current one */
	if (r < 0)
		return r;
	if (s.mode == THINSNAP_DM_POOL_FAIL)
		return thinsnap_error_setf(reterr, -EIO, "pool '%s' has failed", pool->name);
	*ret_tid = s.transaction_id;
	return 0;
}

int thinsnap_pool_set_transaction_id(struct thinsnap_pool *pool, uint64_t old_tid, uint64_t new_tid,
				     struct thinsnap_error *reterr)
{
	char msg[80];
	uint64_t cur;
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	/* the kernel compares and swaps (-EINVAL on a mismatch): no status read before it */
	(void)snprintf(msg, sizeof(msg), "set_transaction_id %" PRIu64 " %" PRIu64, old_tid,
		       new_tid);
	r = pool_message(pool, msg, reterr);
	if (r == -EINVAL && thinsnap_pool_transaction_id(pool, &cur, NULL) == 0 && cur != old_tid)
		return thinsnap_error_setf(reterr, -ESTALE,
					   "pool '%s': transaction id is %" PRIu64 ", not %" PRIu64,
					   pool->name, cur, old_tid);
	return r;
}

static int pool_status(struct thinsnap_pool *pool, bool commit,
		       struct thinsnap_pool_status *ret_status, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_pool_status s;
	struct thinsnap_pool_status out;
	int r;

	if (!pool || !ret_status)
		return thinsnap_error_setf(reterr, -EINVAL, "status: missing argument");
	r = read_status(pool, commit, &s, reterr);
	if (r < 0)
		return r;
	memset(&out, 0, sizeof(out));
	out.mode = (enum thinsnap_pool_mode)s.mode;
	out.needs_check = s.needs_check;
	out.transaction_id = s.transaction_id;
	out.data_block_sectors = pool->data_block_sectors;
	out.used_data_blocks = s.used_data_blocks;
	out.total_data_blocks = s.total_data_blocks;
	out.used_metadata_blocks = s.used_metadata_blocks;
	out.total_metadata_blocks = s.total_metadata_blocks;
	out.used_data_bytes = s.used_data_blocks * pool->data_block_sectors * 512;
	out.total_data_bytes = s.total_data_blocks * pool->data_block_sectors * 512;
	out.used_metadata_bytes = s.used_metadata_blocks * 4096;
	out.total_metadata_bytes = s.total_metadata_blocks * 4096;
	*ret_status = out;
	return 0;
}

int thinsnap_pool_status(struct thinsnap_pool *pool, struct thinsnap_pool_status *ret_status,
			 struct thinsnap_error *reterr)
{
	return pool_status(pool, true, ret_status, reterr);
}

int thinsnap_pool_status_nocommit(struct thinsnap_pool *pool,
				  struct thinsnap_pool_status *ret_status,
				  struct thinsnap_error *reterr)
{
	return pool_status(pool, false, ret_status, reterr);
}

/* --- grow --- */

/*
 * Loads the pool's table from *pool (length, low water) and makes it live: reload, then a
 * noflush suspend and a resume (resumed on every path after the suspend but the injected
 * fault, which stands for a kill there).
 */
static int reload_pool(struct thinsnap_pool *pool, const char *fault, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_table table;
	char params[256];
	int r;

	r = thinsnap_pool_table(pool, params, sizeof(params), &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_reload(pool->name, &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_suspend(pool->name, true, reterr);
	if (r < 0)
		return r;
	(void)fault; /* unused outside test builds */
	r = THINSNAP_FAULT(fault);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "injected fault after the suspend");
	return thinsnap_dm_resume(pool->name, reterr);
}

/*
 * Grows a loop-backed pool's data or metadata file to new_size_bytes, refreshes its loop
 * device and reloads the pool: the kernel takes the new data length from the table and the
 * metadata size from the device (its preresume resizes the metadata space map, and a pool
 * out of metadata space goes back to write mode).
 */
static int grow(struct thinsnap_pool *pool, bool metadata, uint64_t new_size_bytes,
		struct thinsnap_error *reterr)
{
	const char *what = metadata ? "metadata" : "data";
	char path[4096];
	uint64_t old;
	struct stat st;
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	if (!pool->loop)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "pool '%s': only loop-file pools can grow", pool->name);
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

int thinsnap_pool_grow(struct thinsnap_pool *pool, uint64_t new_data_size_bytes,
		       struct thinsnap_error *reterr)
{
	return grow(pool, false, new_data_size_bytes, reterr);
}

int thinsnap_pool_grow_metadata(struct thinsnap_pool *pool, uint64_t new_metadata_size_bytes,
				struct thinsnap_error *reterr)
{
	return grow(pool, true, new_metadata_size_bytes, reterr);
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

int thinsnap_pool_wait_event(struct thinsnap_pool *pool, uint32_t *event_nr, int timeout_ms,
			     struct thinsnap_error *reterr)
{
	struct thinsnap_error e = { 0 };
	uint32_t now = 0;
	int r;

	if (!pool || !event_nr)
		return thinsnap_error_setf(reterr, -EINVAL, "wait event: missing argument");
	r = thinsnap_dm_wait_event(pool->name, *event_nr, timeout_ms, &now, &e);
	if (r == -ETIMEDOUT)
		return 0;
	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	if (r < 0) {
		if (reterr)
			*reterr = e;
		return r;
	}
	*event_nr = now;
	return 1;
}
