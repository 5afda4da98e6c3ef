/*
 * The handle's shared prologues: whether it is open and writable (the pool's mode and
 * needs_check), the readers' and writers' lookups of a key under the right lock, and the
 * debug log callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "snap/internal.h"

void thinsnap_snap_logf(struct thinsnap_snapshotter *s, enum thinsnap_log_level level,
			const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->log(s->log_userdata, level, buf);
}

int thinsnap_snap_check_open(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	if (!s)
		return thinsnap_error_setf(reterr, -EINVAL, "no snapshotter");
	if (s->closed)
		return thinsnap_error_setf(reterr, -EBADF, "snapshotter is closed");
	return 0;
}

/* Open (also once the write lock is held: a close may have come first) and not read-only. */
static int check_open_rw(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	int r = thinsnap_snap_check_open(s, reterr);

	if (r == 0 && s->read_only)
		r = thinsnap_error_setf(reterr, -EROFS, "snapshotter is open read-only");
	return r;
}

/* The pool's mode: -ENODEV naming the repair step if it refuses writes. */
static int check_pool_mode(struct thinsnap_snapshotter *s, struct thinsnap_pool_status *ret_st,
			   struct thinsnap_error *reterr)
{
	struct thinsnap_pool_status st;
	int r;

	/* no metadata commit before it (two flushes): the counts are as of the last commit */
	r = thinsnap_pool_status_nocommit(s->pool, &st, reterr);
	if (r < 0)
		return r;
	if (ret_st)
		*ret_st = st;
	if (st.needs_check)
		return thinsnap_error_setf(reterr, -ENODEV,
					   "pool '%s' needs a check: run 'thinsnap repair' (with "
					   "thinsnapd stopped)",
					   s->pool_name);
	/* read-only without needs_check: the kernel's out-of-metadata-space mode (we never
	 * load pools read-only), which growing the metadata device ends */
	if (st.mode == THINSNAP_POOL_MODE_RO)
		return thinsnap_error_setf(reterr, -ENODEV,
					   "pool '%s' is out of metadata space (%" PRIu64
					   " of %" PRIu64 " blocks used): grow it with 'thinsnap "
					   "pool grow --metadata SIZE' (with thinsnapd stopped)",
					   s->pool_name, st.used_metadata_blocks,
					   st.total_metadata_blocks);
	if (st.mode == THINSNAP_POOL_MODE_FAIL)
		return thinsnap_error_setf(reterr, -ENODEV,
					   "pool '%s' is %s: run 'thinsnap repair' (with thinsnapd "
					   "stopped)",
					   s->pool_name, thinsnap_pool_mode_name(st.mode));
	return 0;
}

int thinsnap_snap_check_writable_status(struct thinsnap_snapshotter *s,
					struct thinsnap_pool_status *ret_st,
					struct thinsnap_error *reterr)
{
	int r = check_open_rw(s, reterr);

	if (r == 0)
		r = check_pool_mode(s, ret_st, reterr);
	return r;
}

int thinsnap_snap_check_writable(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	return thinsnap_snap_check_writable_status(s, NULL, reterr);
}

int thinsnap_snap_read_lookup(struct thinsnap_snapshotter *s, const char *key,
			      pthread_rwlock_t **locked, const struct thinsnap_meta_snap **ret,
			      struct thinsnap_error *reterr)
{
	const struct thinsnap_meta_snap *e;
	char kb[80];
	int r;

	r = thinsnap_snap_check_key("key", key, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	*locked = lock_state_read(s);
	e = s->meta ? thinsnap_meta_get(s->meta, key) : NULL;
	if (!e)
		return thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found",
					   thinsnap_snap_shown(key, kb));
	*ret = e;
	return 0;
}

static int write_lookup(struct thinsnap_snapshotter *s, const char *key, bool pool_checked,
			pthread_mutex_t **locked, const struct thinsnap_meta_snap **ret,
			struct thinsnap_error *reterr)
{
	const struct thinsnap_meta_snap *e;
	char kb[80];
	int r;

	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	*locked = lock_writes(s);
	r = check_open_rw(s, reterr);
	if (r == 0 && pool_checked)
		r = check_pool_mode(s, NULL, reterr);
	if (r < 0)
		return r;
	e = thinsnap_meta_get(s->meta, key);
	if (!e)
		return thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found",
					   thinsnap_snap_shown(key, kb));
	*ret = e;
	return 0;
}

int thinsnap_snap_write_lookup(struct thinsnap_snapshotter *s, const char *key,
			       pthread_mutex_t **locked, const struct thinsnap_meta_snap **ret,
			       struct thinsnap_error *reterr)
{
	return write_lookup(s, key, true, locked, ret, reterr);
}

int thinsnap_snap_write_lookup_lazy(struct thinsnap_snapshotter *s, const char *key,
				    pthread_mutex_t **locked, const struct thinsnap_meta_snap **ret,
				    struct thinsnap_error *reterr)
{
	return write_lookup(s, key, false, locked, ret, reterr);
}

int thinsnap_snap_diagnose_pool(struct thinsnap_snapshotter *s, int r,
				struct thinsnap_error *reterr)
{
	struct thinsnap_error why = { 0 };
	int rw = check_pool_mode(s, NULL, &why);

	if (rw == -ENODEV) { /* the modes that refuse writes */
		if (reterr)
			*reterr = why;
		return rw;
	}
	return r;
}
