/*
 * Thin devices of the pool, by 24-bit dev_id: created, snapshotted and deleted by pool
 * messages (a snapshot's active origin suspended around its message), activated as dm
 * devices whose uuid names the pool and dev_id, resized, deactivated, inspected.
 */
#include "pool/thin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "base/fault.h"
#include "base/parse.h"
#include "pool/internal.h"

/* A call about dev_id needs a pool, and dev_id within the kernel's 24 bits. */
static int check_dev_id(const struct thinsnap_pool *pool, uint32_t dev_id, const char *what,
			struct thinsnap_error *reterr)
{
	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	if (dev_id > THINSNAP_POOL_DEV_ID_MAX)
		return thinsnap_error_setf(reterr, -ERANGE,
					   "pool '%s': %s %" PRIu32 " is out of range (max %u)",
					   pool->name, what, dev_id, THINSNAP_POOL_DEV_ID_MAX);
	return 0;
}

/*
 * What the kernel said about thin device dev_id, in words: -EEXIST it is taken, -ENODATA it
 * does not exist, -EBUSY it is open, -ENXIO the pool is not active. Any other r (0, or an
 * error reterr already says) is returned as it is.
 */
static int thin_error(const struct thinsnap_pool *pool, uint32_t dev_id, int r,
		      struct thinsnap_error *reterr)
{
	if (r == -EEXIST)
		return thinsnap_error_setf(reterr, -EEXIST,
					   "pool '%s': dev_id %" PRIu32 " already exists",
					   pool->name, dev_id);
	if (r == -ENODATA)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': dev_id %" PRIu32 " does not exist",
					   pool->name, dev_id);
	if (r == -EBUSY)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "pool '%s': dev_id %" PRIu32 " is in use (active)",
					   pool->name, dev_id);
	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	return r;
}

static void thin_uuid(const struct thinsnap_pool *pool, uint32_t dev_id, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%s%" PRIu32, pool->thin_prefix, dev_id);
}

/* The dm name thin device dev_id is active as (malloc'd) in *ret_name, NULL if inactive. */
static int active_as(const struct thinsnap_pool *pool, uint32_t dev_id, char **ret_name,
		     struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *name = NULL;
	struct thinsnap_dm_info info;
	char uuid[96];
	int r;

	thin_uuid(pool, dev_id, uuid, sizeof(uuid));
	r = thinsnap_dm_info_by_uuid(uuid, &info, &name, reterr);
	if (r < 0)
		return r;
	*ret_name = info.exists ? TAKE_PTR(name) : NULL;
	return 0;
}

/* --- messages: create, snapshot, delete --- */

int thinsnap_pool_create_thin(struct thinsnap_pool *pool, uint32_t dev_id,
			      struct thinsnap_error *reterr)
{
	char msg[64];
	int r;

	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	(void)snprintf(msg, sizeof(msg), "create_thin %" PRIu32, dev_id);
	return thin_error(pool, dev_id, pool_message(pool, msg, reterr), reterr);
}

int thinsnap_pool_create_snap(struct thinsnap_pool *pool, uint32_t dev_id, uint32_t origin_id,
			      const char *origin_dm_name, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *found = NULL;
	struct thinsnap_dm_info info;
	char msg[80], uuid[96];
	const char *origin = NULL;
	int r, r2;

	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r == 0)
		r = check_dev_id(pool, origin_id, "origin dev_id", reterr);
	if (r < 0)
		return r;
	if (dev_id == origin_id)
		return thinsnap_error_setf(
			reterr, -EINVAL, "pool '%s': snapshot and origin are both dev_id %" PRIu32,
			pool->name, dev_id);
	(void)snprintf(msg, sizeof(msg), "create_snap %" PRIu32 " %" PRIu32, dev_id, origin_id);
	/* everything that can fail happens before the suspend */
	if (origin_dm_name) {
		thin_uuid(pool, origin_id, uuid, sizeof(uuid));
		r = thinsnap_dm_info(origin_dm_name, &info, reterr);
		if (r < 0)
			return r;
		if (info.exists && strcmp(info.uuid, uuid) != 0)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "pool '%s': '%s' is not dev_id %" PRIu32
						   " of this pool",
						   pool->name, origin_dm_name, origin_id);
		if (info.exists)
			origin = origin_dm_name;
	} else {
		r = active_as(pool, origin_id, &found, reterr);
		if (r < 0)
			return r;
		origin = found;
	}
	if (origin) {
		r = thinsnap_dm_suspend(origin, false, reterr);
		if (r < 0)
			return r;
		/* a kill here leaves the origin suspended: see thinsnap_pool_resume_left_suspended() */
		r = THINSNAP_FAULT("pool.create_snap.after_suspend");
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "injected fault after the suspend");
	}
	r = pool_message(pool, msg, reterr);
	if (origin) {
		r2 = thinsnap_dm_resume(origin, r < 0 ? NULL : reterr);
		if (r >= 0 && r2 < 0)
			return r2; /* the snapshot exists; the origin stays suspended */
	}
	if (r == -ENODATA)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': origin dev_id %" PRIu32 " does not exist",
					   pool->name, origin_id);
	return thin_error(pool, dev_id, r, reterr);
}

int thinsnap_pool_delete_thin(struct thinsnap_pool *pool, uint32_t dev_id,
			      struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *active = NULL;
	char msg[64];
	int r;

	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	/* the kernel refuses to delete an open (active) thin device: ask which name it has
	 * only then, for the message */
	(void)snprintf(msg, sizeof(msg), "delete %" PRIu32, dev_id);
	r = pool_message(pool, msg, reterr);
	if (r == -EBUSY && active_as(pool, dev_id, &active, NULL) == 0 && active)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "pool '%s': dev_id %" PRIu32
					   " is active as '%s'; deactivate it first",
					   pool->name, dev_id, active);
	return thin_error(pool, dev_id, r, reterr);
}

/* --- thin devices: activate, resize, deactivate, info --- */

static int thin_params(const struct thinsnap_pool *pool, uint32_t dev_id, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%u:%u %" PRIu32, major(pool->pool_rdev), minor(pool->pool_rdev),
		       dev_id);
	return 0;
}

static bool is_our_thin(const struct thinsnap_pool *pool, const char *uuid, uint32_t *ret_id)
{
	size_t n = strlen(pool->thin_prefix);
	uint64_t v;

	if (strncmp(uuid, pool->thin_prefix, n) != 0 || thinsnap_parse_u64(uuid + n, &v) < 0 ||
	    v > THINSNAP_POOL_DEV_ID_MAX)
		return false;
	if (ret_id)
		*ret_id = (uint32_t)v;
	return true;
}

int thinsnap_pool_activate_thin(struct thinsnap_pool *pool, uint32_t dev_id, const char *dm_name,
				uint64_t size_bytes, bool read_only, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_table table;
	struct thinsnap_dm_info info;
	char params[64], uuid[96];
	int r;

	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "activate: no pool or name");
	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	if (size_bytes == 0 || size_bytes % 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': size %" PRIu64
					   " is not a positive multiple of 512",
					   pool->name, size_bytes);
	thin_params(pool, dev_id, params, sizeof(params));
	thin_uuid(pool, dev_id, uuid, sizeof(uuid));
	table.length_sectors = size_bytes / 512;
	table.target = "thin";
	table.params = params;
	r = thinsnap_dm_create(dm_name, uuid, &table, read_only, NULL, reterr);
	if (r == -ENODATA)
		return thin_error(pool, dev_id, r, reterr);
	if (r != -EBUSY && r != -EEXIST)
		return r;
	/* name or uuid taken: the same activation (idempotent), or a conflict */
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (info.exists) {
		CLEANUP_FREE char *target = NULL;
		CLEANUP_FREE char *live = NULL;
		uint64_t len = 0;
		r = thinsnap_dm_table(dm_name, false, &len, &target, &live, reterr);
		if (r < 0)
			return r;
		if (strcmp(info.uuid, uuid) == 0 && strcmp(target, "thin") == 0 &&
		    strcmp(live, params) == 0 && len == table.length_sectors &&
		    info.read_only == read_only)
			return 0;
		return thinsnap_error_setf(reterr, -EEXIST,
					   "dm device '%s' already exists with another table",
					   dm_name);
	}
	{
		CLEANUP_FREE char *other = NULL;
		r = active_as(pool, dev_id, &other, reterr);
		if (r < 0)
			return r;
		if (other)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "pool '%s': dev_id %" PRIu32
						   " is already active as '%s'",
						   pool->name, dev_id, other);
	}
	return thinsnap_error_setf(reterr, -EBUSY, "cannot activate '%s': busy", dm_name);
}

int thinsnap_pool_resize_thin(struct thinsnap_pool *pool, const char *dm_name, uint64_t size_bytes,
			      struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_dm_table table;
	struct thinsnap_dm_info info;
	uint64_t len = 0;
	int r, r2;

	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "resize: no pool or name");
	if (size_bytes == 0 || size_bytes % 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': size %" PRIu64
					   " is not a positive multiple of 512",
					   pool->name, size_bytes);
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (!info.exists)
		return thinsnap_error_setf(reterr, -ENXIO, "dm device '%s' is not active", dm_name);
	if (!is_our_thin(pool, info.uuid, NULL))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not a thin device of pool '%s'",
					   dm_name, pool->name);
	if (info.read_only)
		return thinsnap_error_setf(reterr, -EROFS, "dm device '%s' is read-only", dm_name);
	if (info.suspended) { /* left so by a resize killed between its suspend and resume */
		r = thinsnap_dm_resume(dm_name, reterr);
		if (r < 0)
			return r;
	}
	r = thinsnap_dm_table(dm_name, false, &len, &target, &params, reterr);
	if (r < 0)
		return r;
	if (len * 512 == size_bytes)
		return 0;
	if (len * 512 > size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "'%s': cannot shrink from %" PRIu64 " to %" PRIu64
					   " bytes",
					   dm_name, len * 512, size_bytes);
	table.length_sectors = size_bytes / 512;
	table.target = target;
	table.params = params;
	/* everything that can fail before the suspend; then resume on every path */
	r = thinsnap_dm_reload(dm_name, &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_suspend(dm_name, false, reterr);
	if (r >= 0) {
		r = THINSNAP_FAULT("pool.resize.after_suspend");
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "injected fault after the suspend");
	}
	r2 = thinsnap_dm_resume(dm_name, r < 0 ? NULL : reterr);
	return r < 0 ? r : r2;
}

/* Resumes dm_name if it is a suspended thin device of this pool: 1 when it did, else 0. */
static int resume_if_suspended(struct thinsnap_pool *pool, const char *dm_name,
			       struct thinsnap_error *reterr)
{
	struct thinsnap_dm_info info;
	int r;

	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0 || !info.exists || !info.suspended || !is_our_thin(pool, info.uuid, NULL))
		return r;
	r = thinsnap_dm_resume(dm_name, reterr);
	return r < 0 ? r : 1;
}

int thinsnap_pool_resume_thin(struct thinsnap_pool *pool, const char *dm_name,
			      struct thinsnap_error *reterr)
{
	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "resume: no pool or name");
	int r = resume_if_suspended(pool, dm_name, reterr);
	return r < 0 ? r : 0;
}

int thinsnap_pool_resume_left_suspended(struct thinsnap_pool *pool, size_t *ret_n,
					struct thinsnap_error *reterr)
{
	char **names = NULL;
	size_t n = 0, resumed = 0;
	int r;

	r = thinsnap_pool_active_names(pool, &names, &n, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = resume_if_suspended(pool, names[i], reterr);
		resumed += r > 0;
	}
	thinsnap_pool_names_free(names, n);
	if (ret_n)
		*ret_n = resumed;
	return r < 0 ? r : 0;
}

int thinsnap_pool_deactivate_thin(struct thinsnap_pool *pool, const char *dm_name,
				  struct thinsnap_error *reterr)
{
	struct thinsnap_dm_info info;
	int r;

	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "deactivate: no pool or name");
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (!info.exists)
		return 0;
	if (!is_our_thin(pool, info.uuid, NULL))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not a thin device of pool '%s'",
					   dm_name, pool->name);
	r = thinsnap_dm_remove(dm_name, false, reterr);
	if (r == -ENXIO)
		return 0; /* gone meanwhile */
	return r;
}

int thinsnap_pool_deactivate_thin_id(struct thinsnap_pool *pool, uint32_t dev_id,
				     struct thinsnap_error *reterr)
{
	char uuid[96];
	int r;

	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	thin_uuid(pool, dev_id, uuid, sizeof(uuid));
	r = thinsnap_dm_remove_by_uuid(uuid, reterr);
	return r == -ENXIO ? 0 : r;
}

int thinsnap_pool_thin_info(struct thinsnap_pool *pool, const char *dm_name,
			    struct thinsnap_pool_thin_info *ret_info, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_pool_thin_info ti;
	struct thinsnap_dm_thin_status ts;
	struct thinsnap_dm_info info;
	uint64_t len = 0;
	int r;

	if (!pool || !dm_name || !ret_info)
		return thinsnap_error_setf(reterr, -EINVAL, "thin info: missing argument");
	memset(&ti, 0, sizeof(ti));
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (!info.exists) {
		*ret_info = ti;
		return 0;
	}
	if (!is_our_thin(pool, info.uuid, &ti.dev_id))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not a thin device of pool '%s'",
					   dm_name, pool->name);
	ti.exists = true;
	ti.read_only = info.read_only;
	ti.suspended = info.suspended;
	ti.open_count = info.open_count;
	ti.major = info.major;
	ti.minor = info.minor;
	if (!info.suspended) { /* status of a suspended thin may block on the pool */
		struct thinsnap_error table_err = { 0 };

		r = thinsnap_dm_table(dm_name, true, &len, &target, &params, &table_err);
		/* removed since thinsnap_dm_info(): a writer deleted it (-ENXIO), or also made
		 * the next device of that id, whose table is not loaded yet (-ENODATA) */
		if (r == -ENXIO || r == -ENODATA) {
			memset(&ti, 0, sizeof(ti));
			*ret_info = ti;
			return 0;
		}
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "%s", table_err.msg);
		if (thinsnap_dm_parse_thin_status(params, &ts) < 0)
			return thinsnap_error_setf(
				reterr, -EIO, "'%s': unexpected thin status '%s'", dm_name, params);
		ti.mapped_sectors = ts.mapped_sectors;
		if (ts.has_highest_mapped)
			ti.mapped_end_bytes = (ts.highest_mapped_sector + 1) * 512;
		ti.size_bytes = len * 512;
	}
	*ret_info = ti;
	return 0;
}

/* --- the pool's active thin devices, by dm name --- */

void thinsnap_pool_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int thinsnap_pool_active_names(struct thinsnap_pool *pool, char ***ret_names, size_t *ret_n,
			       struct thinsnap_error *reterr)
{
	char **all = NULL;
	size_t n_all = 0, n = 0, plen;
	int r;

	if (!pool || !ret_names || !ret_n)
		return thinsnap_error_setf(reterr, -EINVAL, "active names: missing argument");
	r = thinsnap_dm_list(&all, &n_all, reterr);
	if (r < 0)
		return r;
	/* keep this pool's thin devices, in place; the others are freed */
	plen = strlen(pool->name);
	for (size_t i = 0; i < n_all; i++) {
		if (strncmp(all[i], pool->name, plen) == 0 && all[i][plen] == '-')
			all[n++] = all[i];
		else
			free(all[i]);
	}
	if (n == 0) {
		free(all);
		all = NULL;
	}
	qsort(all, n, sizeof(*all), cmp_str);
	*ret_names = all;
	*ret_n = n;
	return 0;
}
