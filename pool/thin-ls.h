/*
 * pool/'s parser of thin_ls output (internal to pool/ and its tests).
 */
#pragma once

#include <stddef.h>

#include <thinsnap/pool.h>

/*
 * Parses lines "DEV MAPPED_BYTES EXCLUSIVE_BYTES SHARED_BYTES" (decimal, blank-separated,
 * blank lines ignored) into a malloc'd array sorted by dev_id (NULL when *ret_n is 0).
 * -EIO on anything else (a missing or extra field, a dev_id >= 2^24, overflow); -ENOMEM.
 */
int thinsnap_pool_parse_thin_ls(const char *out, struct thinsnap_pool_thin_usage **ret,
				size_t *ret_n);
