/*
 * Auto-grow arithmetic, pure: how large a loop pool's data file should become once data use
 * crosses the threshold (lvm's thin_pool_autoextend_threshold/_percent, plus a cap), and the
 * low-water mark that makes the kernel raise its event at that threshold.
 */
#include <errno.h>

#include <thinsnap/pool.h>

#include "base/version.h"

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
