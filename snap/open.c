/*
 * Opening a snapshotter (options, the pool and journal handles, recovery for a writer),
 * closing it and freeing it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/version.h"
#include "snap/internal.h"

#define DEFAULT_BASE_SIZE (10ull << 30)
#define DEFAULT_MIN_FREE  10 /* percent of data and of metadata space */

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)

static int dup_opt(const char *v, const char *def, char **ret)
{
	*ret = strdup(v && *v ? v : def);
	return *ret ? 0 : -ENOMEM;
}

/* The one place that names the pool's directory in the state directory. */
int thinsnap_state_pool_dir(const char *state_dir, char *buf, size_t size)
{
	int n;

	if (!state_dir || !*state_dir || !buf)
		return -EINVAL;
	n = snprintf(buf, size, "%s/pool", state_dir);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int thinsnap_snap_open_pool(struct thinsnap_snapshotter *s, struct thinsnap_pool **ret,
			    struct thinsnap_error *reterr)
{
	char pool_dir[PATH_MAX];

	if (thinsnap_state_pool_dir(s->state_dir, pool_dir, sizeof(pool_dir)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG,
					   "state dir '%.80s...' is too long", s->state_dir);
	return thinsnap_pool_open(s->pool_name, pool_dir, ret, reterr);
}

int thinsnap_snap_open_meta(struct thinsnap_snapshotter *s, struct thinsnap_meta **ret,
			    struct thinsnap_error *reterr)
{
	struct thinsnap_meta_open_opts mo = {
		.state_dir = s->state_dir,
		.pool_uuid = thinsnap_pool_uuid(s->pool),
		.read_only = s->read_only,
		.redundant = true, /* journal.copy: docs/journal.md, "Redundancy" */
	};
	int r = thinsnap_meta_open(&mo, ret, reterr);

	if (r == -ENOENT && s->read_only) {
		/* nothing written yet: a reader sees no snapshots */
		thinsnap_error_clear(reterr);
		*ret = NULL;
		r = 0;
	}
	return r;
}

int thinsnap_open(const struct thinsnap_options *o, struct thinsnap_snapshotter **ret,
		  struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	int r;

	if (!o || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "state_dir and pool_name are required");
	r = thinsnap_version_check(o->version, THINSNAP_OPTIONS_VERSION, "thinsnap_options",
				   reterr);
	if (r < 0)
		return r;
	if (!o->state_dir || !*o->state_dir || !o->pool_name || !*o->pool_name)
		return thinsnap_error_setf(reterr, -EINVAL, "state_dir and pool_name are required");
	if (strlen(o->pool_name) > THINSNAP_POOL_DM_NAME_MAX - 14)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG,
					   "pool name '%.40s...' is longer than %d bytes",
					   o->pool_name, THINSNAP_POOL_DM_NAME_MAX - 14);
	if (o->fs_type && *o->fs_type && strcmp(o->fs_type, "ext4") != 0 &&
	    strcmp(o->fs_type, "ext3") != 0 && strcmp(o->fs_type, "ext2") != 0 &&
	    strcmp(o->fs_type, "xfs") != 0)
		return thinsnap_error_setf(reterr, -EINVAL, "fs_type '%s' is not supported",
					   o->fs_type);
	if (o->base_size_bytes % 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "base size %" PRIu64 " is not a multiple of 512",
					   o->base_size_bytes);
	if (o->min_free_data_percent > 100 || o->min_free_metadata_percent > 100)
		return thinsnap_error_setf(
			reterr, -EINVAL,
			"a free space floor above 100%% (data %d%%, metadata %d%%)",
			o->min_free_data_percent, o->min_free_metadata_percent);

	s = calloc(1, sizeof(*s));
	if (!s)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->rpool_lock, NULL);
	pthread_mutex_init(&s->event_lock, NULL);
	pthread_rwlock_init(&s->state_lock, NULL);
	s->closed = true; /* until everything is open */
	if (dup_opt(o->state_dir, "", &s->state_dir) < 0 ||
	    dup_opt(o->pool_name, "", &s->pool_name) < 0 ||
	    dup_opt(o->fs_type, "ext4", &s->fs_type) < 0 ||
	    dup_opt(o->fs_options, "", &s->fs_options) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	s->base_size_bytes = o->base_size_bytes ? o->base_size_bytes : DEFAULT_BASE_SIZE;
	s->async_remove = o->async_remove;
	s->min_free_data_percent =
		o->min_free_data_percent ? o->min_free_data_percent : DEFAULT_MIN_FREE;
	s->min_free_metadata_percent =
		o->min_free_metadata_percent ? o->min_free_metadata_percent : DEFAULT_MIN_FREE;
	s->discard_blocks = o->discard_blocks;
	s->read_only = o->read_only;
	s->log = o->log;
	s->log_userdata = o->log_userdata;
	if (thinsnap_snap_make_base_key(s) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");

	r = thinsnap_snap_open_pool(s, &s->pool, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_open_pool(s, &s->rpool, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_open_meta(s, &s->meta, reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_transaction_id(s->pool, &s->tid, reterr);
	if (r < 0)
		return r;
	if (!s->read_only) {
		r = thinsnap_snap_recover(s, reterr);
		if (r < 0)
			return r;
		/* one list ioctl, then a check only for what is not active (after a reboot) */
		struct reactivate_ctx rc = { .s = s, .reterr = reterr };
		r = thinsnap_pool_active_names(s->pool, &rc.active, &rc.n_active, reterr);
		if (r < 0)
			return r;
		r = thinsnap_meta_walk(s->meta, thinsnap_snap_reactivate_one, &rc);
		thinsnap_pool_names_free(rc.active, rc.n_active);
		if (r < 0)
			return r;
	}
	s->closed = false;
	*ret = TAKE_PTR(s);
	return 0;
}

void thinsnap_close(struct thinsnap_snapshotter *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->write_lock);
	pthread_rwlock_wrlock(&s->state_lock);
	s->closed = true;
	thinsnap_meta_free(TAKE_PTR(s->meta));
	thinsnap_pool_free(TAKE_PTR(s->pool));
	thinsnap_pool_free(TAKE_PTR(s->rpool));
	pthread_rwlock_unlock(&s->state_lock);
	pthread_mutex_unlock(&s->write_lock);
	pthread_mutex_lock(&s->event_lock);
	thinsnap_pool_free(TAKE_PTR(s->epool));
	pthread_mutex_unlock(&s->event_lock);
}

void thinsnap_free(struct thinsnap_snapshotter *s)
{
	if (!s)
		return;
	thinsnap_close(s);
	pthread_rwlock_destroy(&s->state_lock);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->rpool_lock);
	pthread_mutex_destroy(&s->event_lock);
	free(s->state_dir);
	free(s->pool_name);
	free(s->fs_type);
	free(s->fs_options);
	free(s->base_key);
	thinsnap_pool_thin_usage_free(s->usage_cache);
	free(s);
}
