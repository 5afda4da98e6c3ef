/*
 * pool/: the thin device calls the snapshotter makes beyond the public API (pool/thin.c):
 * the fewest ioctls for its hot paths.
 */
#pragma once

#include <stdint.h>

#include <thinsnap/pool.h>

/*
 * Deactivates thin device dev_id of this pool whatever its dm name, found by the uuid that
 * names the pool and dev_id, in one ioctl: as thinsnap_pool_deactivate_thin() otherwise (an
 * inactive device is a no-op returning 0; -EBUSY if it stays open).
 */
int thinsnap_pool_deactivate_thin_id(struct thinsnap_pool *pool, uint32_t dev_id,
				     struct thinsnap_error *reterr);

/*
 * Resumes thin device dm_name of this pool if it is suspended: a process killed between
 * suspending it and resuming it (a snapshot of it, a resize), or a resume that failed, left it
 * so, and its I/O, and every read of it, would wait forever. Inactive, running, or not ours:
 * 0, nothing done.
 */
int thinsnap_pool_resume_thin(struct thinsnap_pool *pool, const char *dm_name,
			      struct thinsnap_error *reterr);

/*
 * Resumes every thin device of this pool that is suspended (after a writer died holding the
 * state directory's lock: see meta/lock.c); *ret_n (optional): how many. One list ioctl and
 * an info ioctl per active device of the pool.
 */
int thinsnap_pool_resume_left_suspended(struct thinsnap_pool *pool, size_t *ret_n,
					struct thinsnap_error *reterr);
