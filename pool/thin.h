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
