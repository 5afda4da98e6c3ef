/*
 * pool/: the blocks that differ between two thin devices of a pool, or every block one maps,
 * read from the pool's metadata (thin_delta / thin_dump on its metadata snapshot), never by
 * reading the devices. snapshot streams (stream/) are made from it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>

enum thinsnap_pool_delta_kind {
	THINSNAP_POOL_DELTA_DATA = 1, /* mapped in the device, unlike (or absent in) the base */
	THINSNAP_POOL_DELTA_HOLE = 2, /* mapped in the base only: unmapped (zeros) in the device */
};

/* A run of data blocks (units: the pool's data block size), in ascending order. */
struct thinsnap_pool_delta_range {
	uint64_t begin;
	uint64_t length;
	enum thinsnap_pool_delta_kind kind;
};

#define THINSNAP_POOL_DELTA_WHOLE UINT32_MAX /* base_dev_id: every block dev_id maps */

/*
 * The runs of blocks by which thin device dev_id differs from base_dev_id (thin_delta), or
 * with base_dev_id THINSNAP_POOL_DELTA_WHOLE every run it maps (thin_dump), adjacent runs of a
 * kind merged. Both devices should be inactive or flushed: the pool's committed metadata is
 * read. *ret_ranges (NULL when *ret_n is 0): free(). *ret_block_sectors: the data block size.
 * -ENOENT: a device does not exist; -EIO: the tool failed or printed what we can't read.
 */
int thinsnap_pool_delta(struct thinsnap_pool *pool, uint32_t base_dev_id, uint32_t dev_id,
			struct thinsnap_pool_delta_range **ret_ranges, size_t *ret_n,
			uint32_t *ret_block_sectors, struct thinsnap_error *reterr);

/* The parser behind it (pure, for tests): thin_delta's or thin_dump's XML. -EBADMSG. */
int thinsnap_pool_parse_delta(const char *xml, struct thinsnap_pool_delta_range **ret_ranges,
			      size_t *ret_n, uint32_t *ret_block_sectors);
