/*
 * snap/: the snapshotter core's internals shared with its tests. The public API is
 * include/thinsnap/snapshotter.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The dm name of a snapshot's (or, with base, a base device's) thin device:
 * "<pool>-snap-<dev_id>" / "<pool>-base-<dev_id>"; never made from key text. */
void thinsnap_snap_dm_name(const char *pool_name, uint32_t dev_id, bool base, char *buf,
			   size_t size);
