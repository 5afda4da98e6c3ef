/*
 * Space: the free-space floors checked before creating a device, the counts for `pool
 * status`, auto-grow of a loop-backed pool's data, waiting for pool events, and the pool's
 * status and capacity for readers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "base/version.h"
#include "snap/internal.h"

/* "62.0 MiB", "1.0 GiB": a size for messages. */
static const char *human_size(uint64_t bytes, char buf[static 32])
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		(void)snprintf(buf, 32, "%" PRIu64 " bytes", bytes);
		return buf;
	}
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	(void)snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

static int check_floor(struct thinsnap_snapshotter *s, const char *what, uint64_t used,
		       uint64_t total, int floor_percent, struct thinsnap_error *reterr)
{
	char fb[32], tb[32];
	uint64_t free_bytes = total > used ? total - used : 0;

	if (floor_percent <= 0 || total == 0)
		return 0;
	/* free / total < floor / 100, in integers */
	if ((unsigned __int128)free_bytes * 100 >=
	    (unsigned __int128)total * (unsigned)floor_percent)
		return 0;
	return thinsnap_error_setf(reterr, -ENOSPC,
				   "pool '%s': %.1f%% of %s space free (%s of %s), below the %d%% "
				   "floor",
				   s->pool_name, (double)free_bytes * 100.0 / (double)total, what,
				   human_size(free_bytes, fb), human_size(total, tb),
				   floor_percent);
}

int thinsnap_snap_check_space_floors_status(struct thinsnap_snapshotter *s,
					    const struct thinsnap_pool_status *known,
					    struct thinsnap_error *reterr)
{
	struct thinsnap_pool_status st;
	int r;

	if (s->min_free_data_percent <= 0 && s->min_free_metadata_percent <= 0)
		return 0;
	if (known) {
		st = *known;
	} else {
		r = thinsnap_pool_status(s->pool, &st, reterr);
		if (r < 0)
			return r;
	}
	r = check_floor(s, "data", st.used_data_bytes, st.total_data_bytes,
			s->min_free_data_percent, reterr);
	if (r < 0)
		return r;
	return check_floor(s, "metadata", st.used_metadata_bytes, st.total_metadata_bytes,
			   s->min_free_metadata_percent, reterr);
}

int thinsnap_snap_check_space_floors(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	return thinsnap_snap_check_space_floors_status(s, NULL, reterr);
}

/* ---- counters for `pool status` ---- */

static int count_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct thinsnap_counts *c = userdata;

	c->virtual_bytes += e->size_bytes;
	switch (e->kind) {
	case THINSNAP_META_VIEW:
		c->views++;
		break;
	case THINSNAP_META_ACTIVE:
		c->active++;
		break;
	case THINSNAP_META_COMMITTED:
		c->committed++;
		break;
	case THINSNAP_META_INTERNAL:
		c->base_devices++;
		break;
	}
	return 0;
}

static int count_pending(uint32_t dev_id, void *userdata)
{
	struct thinsnap_counts *c = userdata;

	(void)dev_id;
	c->pending_deletes++;
	return 0;
}

int thinsnap_counts(struct thinsnap_snapshotter *s, struct thinsnap_counts *ret,
		    struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	struct thinsnap_counts c = { 0 };
	int r;

	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_state_read(s);
	if (s->meta) {
		(void)thinsnap_meta_walk(s->meta, count_one, &c);
		(void)thinsnap_meta_each_delete_pending(s->meta, count_pending, &c);
	}
	*ret = c;
	return 0;
}

/* ---- space: auto-grow and pool events ---- */

int thinsnap_autogrow(struct thinsnap_snapshotter *s, const struct thinsnap_autogrow_policy *policy,
		      struct thinsnap_space_report *ret, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	struct thinsnap_space_report rep = { 0 };
	struct thinsnap_pool_status st;
	int r;

	if (policy) {
		r = thinsnap_version_check(policy->version, THINSNAP_AUTOGROW_POLICY_VERSION,
					   "thinsnap_autogrow_policy", reterr);
		if (r < 0)
			return r;
	}
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	if (!ret)
		return thinsnap_error_setf(reterr, -EINVAL, "autogrow: no result pointer");
	locked = lock_writes(s);
	r = policy ? thinsnap_snap_check_writable(s, reterr) : thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_status(s->pool, &st, reterr);
	if (r < 0)
		return r;
	rep.loop_backed = thinsnap_pool_loop_backed(s->pool);
	rep.old_data_bytes = st.total_data_bytes;
	if (policy) {
		struct thinsnap_pool_autogrow_result g;
		r = thinsnap_pool_autogrow(s->pool, policy, &g, reterr);
		if (r < 0)
			return r;
		rep.grown = g.data_grown || g.metadata_grown;
		rep.capped = g.data_capped || g.metadata_capped;
		rep.data_capped = g.data_capped;
		rep.metadata_capped = g.metadata_capped;
		if (rep.grown) {
			thinsnap_snap_logf(s, THINSNAP_LOG_DEBUG,
					   "pool '%s': grown: data %" PRIu64 " to %" PRIu64
					   ", metadata %" PRIu64 " to %" PRIu64,
					   s->pool_name, g.old_data_bytes, g.data_bytes,
					   g.old_metadata_bytes, g.metadata_bytes);
			r = thinsnap_pool_status(s->pool, &st, reterr);
		}
		uint64_t lw = thinsnap_pool_low_water_for(policy->threshold_percent,
							  st.total_data_blocks);
		if (r == 0)
			r = thinsnap_pool_set_low_water(s->pool, lw, reterr);
		if (r < 0)
			return r;
		rep.low_water_blocks = lw;
	}
	rep.used_data_bytes = st.used_data_bytes;
	rep.total_data_bytes = st.total_data_bytes;
	rep.used_metadata_bytes = st.used_metadata_bytes;
	rep.total_metadata_bytes = st.total_metadata_bytes;
	rep.min_free_data_percent = s->min_free_data_percent > 0 ? s->min_free_data_percent : 0;
	rep.min_free_metadata_percent =
		s->min_free_metadata_percent > 0 ? s->min_free_metadata_percent : 0;
	*ret = rep;
	return 0;
}

int thinsnap_wait_pool_event(struct thinsnap_snapshotter *s, uint32_t *event_nr, int timeout_ms,
			     struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	int r;

	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->event_lock);
	locked = &s->event_lock;
	if (!s->epool) {
		r = thinsnap_snap_open_pool(s, &s->epool, reterr);
		if (r < 0)
			return r;
	}
	return thinsnap_pool_wait_event(s->epool, event_nr, timeout_ms, reterr);
}

/* Checks the arguments and locks the readers' pool handle (unlocked again on failure). */
static int lock_rpool(struct thinsnap_snapshotter *s, const void *ret, const char *what,
		      struct thinsnap_error *reterr)
{
	int r;

	if (!ret)
		return thinsnap_error_setf(reterr, -EINVAL, "%s: missing argument", what);
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->rpool_lock);
	if (!s->rpool) {
		pthread_mutex_unlock(&s->rpool_lock);
		return thinsnap_error_setf(reterr, -EBADF, "snapshotter is closed");
	}
	return 0;
}

int thinsnap_status(struct thinsnap_snapshotter *s, struct thinsnap_pool_status *ret,
		    struct thinsnap_error *reterr)
{
	int r = lock_rpool(s, ret, "status", reterr);

	if (r < 0)
		return r;
	r = thinsnap_pool_status(s->rpool, ret, reterr);
	pthread_mutex_unlock(&s->rpool_lock);
	return r;
}

int thinsnap_capacity(struct thinsnap_snapshotter *s, struct thinsnap_pool_capacity *ret,
		      struct thinsnap_error *reterr)
{
	int r = lock_rpool(s, ret, "capacity", reterr);

	if (r < 0)
		return r;
	r = thinsnap_pool_capacity(s->rpool, ret, reterr);
	pthread_mutex_unlock(&s->rpool_lock);
	return r;
}
