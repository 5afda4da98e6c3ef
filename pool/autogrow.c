/*
 * Auto-grow: the arithmetic, pure (how large the data should become once use crosses the
 * threshold, lvm's thin_pool_autoextend_threshold/_percent plus a cap, and the low-water mark
 * that makes the kernel raise its event there), and the step that grows a pool's data and
 * metadata: loop files, LVM logical volumes (lvextend from the volume group), plain devices.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <thinsnap/pool.h>

#include "base/version.h"
#include "pool/internal.h"

static bool crossed(uint64_t used, uint64_t size, unsigned threshold)
{
	return (unsigned __int128)used * 100 >= (unsigned __int128)size * threshold;
}

int thinsnap_pool_autogrow_size(const struct thinsnap_autogrow_policy *policy, uint64_t size_bytes,
				uint64_t used_bytes, uint64_t block_bytes, uint64_t limit_bytes,
				uint64_t *ret_new_size_bytes)
{
	uint64_t cap = UINT64_MAX, target;

	if (!policy || block_bytes == 0 ||
	    thinsnap_version_check(policy->version, THINSNAP_AUTOGROW_POLICY_VERSION,
				   "thinsnap_autogrow_policy", NULL) < 0)
		return -EINVAL;
	if (policy->threshold_percent == 0 || policy->threshold_percent >= 100 ||
	    policy->grow_percent == 0)
		return THINSNAP_POOL_AUTOGROW_NONE;
	/* the pool only uses whole blocks of the file */
	target = size_bytes - size_bytes % block_bytes;
	if (!crossed(used_bytes, target, policy->threshold_percent))
		return THINSNAP_POOL_AUTOGROW_NONE;
	if (policy->max_data_size_bytes && policy->max_data_size_bytes < cap)
		cap = policy->max_data_size_bytes;
	if (limit_bytes && limit_bytes < cap)
		cap = limit_bytes;
	cap -= cap % block_bytes;
	while (target < cap && crossed(used_bytes, target, policy->threshold_percent)) {
		uint64_t step = (uint64_t)((unsigned __int128)target * policy->grow_percent / 100);
		if (step < block_bytes)
			step = block_bytes;
		target = step > cap - target ? cap : target + step;
	}
	target -= target % block_bytes;
	if (target <= size_bytes)
		return THINSNAP_POOL_AUTOGROW_CAPPED;
	*ret_new_size_bytes = target;
	return THINSNAP_POOL_AUTOGROW_GROW;
}

uint64_t thinsnap_pool_low_water_for(unsigned threshold_percent, uint64_t total_blocks)
{
	if (threshold_percent == 0 || threshold_percent >= 100)
		return 0;
	return (uint64_t)((unsigned __int128)total_blocks * (100 - threshold_percent) / 100);
}

/*
 * Where part (data or metadata) can grow to: *ret_limit_bytes, and for an LVM logical volume
 * 1 with *ret_lv filled. Loop file: what it allocates plus its filesystem's free space; LV:
 * its size plus the volume group's free space, whole extents; plain device: its size.
 */
static int part_limit(struct thinsnap_pool *pool, bool metadata, uint64_t *ret_limit_bytes,
		      struct thinsnap_pool_lv *ret_lv, struct thinsnap_error *reterr)
{
	const char *dev = metadata ? pool->metadata_dev : pool->data_dev;
	uint64_t size = 0;
	int r;

	if (pool->loop) {
		*ret_limit_bytes = 0;
		return metadata ? 0 : thinsnap_pool_grow_limit(pool, ret_limit_bytes, reterr);
	}
	r = thinsnap_pool_lvm_find(metadata ? pool->metadata_rdev : pool->data_rdev, ret_lv,
				   reterr);
	if (r < 0)
		return r;
	if (r > 0) {
		uint64_t lim = ret_lv->size_bytes + ret_lv->vg_free_bytes;
		*ret_limit_bytes = lim - lim % ret_lv->extent_bytes;
		return 1;
	}
	r = thinsnap_pool_device_size(dev, &size);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': size of '%s': %s", pool->name,
					   dev, strerror(-r));
	*ret_limit_bytes = size;
	return 0;
}

/* Grows part to about want_bytes: an LV is extended first (whole extents), then the pool
 * takes its size. */
static int grow_part_to(struct thinsnap_pool *pool, bool metadata, uint64_t want_bytes, int is_lv,
			const struct thinsnap_pool_lv *lv, struct thinsnap_error *reterr)
{
	if (pool->loop)
		return thinsnap_pool_grow_part(pool, metadata, want_bytes, reterr);
	if (is_lv) {
		uint64_t whole = want_bytes - want_bytes % lv->extent_bytes;
		if (whole > lv->size_bytes) {
			int r = thinsnap_pool_lvm_extend(lv, whole, reterr);
			if (r < 0)
				return r;
		}
		return thinsnap_pool_grow_part(pool, metadata, 0, reterr);
	}
	return thinsnap_pool_grow_part(pool, metadata, want_bytes, reterr);
}

static int autogrow_part(struct thinsnap_pool *pool, const struct thinsnap_autogrow_policy *policy,
			 bool metadata, uint64_t size_bytes, uint64_t used_bytes, bool *ret_grown,
			 bool *ret_capped, struct thinsnap_error *reterr)
{
	struct thinsnap_autogrow_policy p = *policy;
	struct thinsnap_pool_lv lv = { 0 };
	uint64_t limit = 0, want = 0, block;
	int is_lv, r;

	/* below the threshold: no lvs run (the monitor asks every interval) */
	r = thinsnap_pool_autogrow_size(&p, size_bytes, used_bytes, 1, 0, &want);
	if (r <= THINSNAP_POOL_AUTOGROW_NONE)
		return r < 0 ? thinsnap_error_setf(reterr, r, "pool '%s': bad auto-grow policy",
						   pool->name)
			     : 0;
	is_lv = part_limit(pool, metadata, &limit, &lv, reterr);
	if (is_lv < 0)
		return is_lv;
	if (metadata) {
		/* the metadata's cap: the policy's (version 2 on), never above the kernel's */
		uint64_t cap = policy->version >= 2 ? policy->max_metadata_size_bytes : 0;
		p.max_data_size_bytes = cap && cap < THINSNAP_POOL_METADATA_MAX_BYTES
						? cap
						: THINSNAP_POOL_METADATA_MAX_BYTES;
		block = 4096;
	} else {
		block = (uint64_t)pool->data_block_sectors * 512;
	}
	if (is_lv && lv.extent_bytes > block)
		block = lv.extent_bytes; /* lvextend adds whole extents */
	r = thinsnap_pool_autogrow_size(&p, size_bytes, used_bytes, block, limit, &want);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': bad auto-grow policy",
					   pool->name);
	*ret_capped = r == THINSNAP_POOL_AUTOGROW_CAPPED;
	if (r != THINSNAP_POOL_AUTOGROW_GROW)
		return 0;
	r = grow_part_to(pool, metadata, want, is_lv, &lv, reterr);
	if (r < 0)
		return r;
	*ret_grown = true;
	return 0;
}

int thinsnap_pool_autogrow(struct thinsnap_pool *pool,
			   const struct thinsnap_autogrow_policy *policy,
			   struct thinsnap_pool_autogrow_result *ret, struct thinsnap_error *reterr)
{
	struct thinsnap_pool_autogrow_result res = { 0 };
	struct thinsnap_pool_status st;
	int r;

	if (!pool || !policy || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "autogrow: missing argument");
	r = thinsnap_version_check(policy->version, THINSNAP_AUTOGROW_POLICY_VERSION,
				   "thinsnap_autogrow_policy", reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_status(pool, &st, reterr);
	if (r < 0)
		return r;
	res.old_data_bytes = st.total_data_bytes;
	res.old_metadata_bytes = st.total_metadata_bytes;
	r = autogrow_part(pool, policy, false, st.total_data_bytes, st.used_data_bytes,
			  &res.data_grown, &res.data_capped, reterr);
	if (r == 0 && !pool->loop)
		r = autogrow_part(pool, policy, true, st.total_metadata_bytes,
				  st.used_metadata_bytes, &res.metadata_grown, &res.metadata_capped,
				  reterr);
	if ((res.data_grown || res.metadata_grown) &&
	    thinsnap_pool_status(pool, &st, r < 0 ? NULL : reterr) == 0) {
		int w;
		if (st.total_data_bytes > res.old_data_bytes)
			pool->autogrow_data_bytes += st.total_data_bytes - res.old_data_bytes;
		if (st.total_metadata_bytes > res.old_metadata_bytes)
			pool->autogrow_metadata_bytes +=
				st.total_metadata_bytes - res.old_metadata_bytes;
		w = thinsnap_pool_write_identity(pool, r < 0 ? NULL : reterr);
		if (r == 0)
			r = w;
	}
	if (r < 0)
		return r;
	res.data_bytes = st.total_data_bytes;
	res.metadata_bytes = st.total_metadata_bytes;
	*ret = res;
	return 0;
}
