/*
 * The pool's status line (mode, transaction id and its compare-and-swap, space) and waiting
 * for the pool's dm events; growing the pool is in grow.c.
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

/* --- events --- */

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
