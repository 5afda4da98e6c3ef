/*
 * Fuzz target: the thin-pool status, thin status and pool table parsers (dm/status.c) on
 * arbitrary bytes. The input is copied into a NUL-terminated buffer; results are checked
 * for internal consistency.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm/dm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thinsnap_dm_pool_status ps;
	struct thinsnap_dm_thin_status ts;
	struct thinsnap_dm_pool_table pt;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (thinsnap_dm_parse_pool_status(s, &ps) == 0 && ps.mode != THINSNAP_DM_POOL_FAIL) {
		if (ps.used_data_blocks > ps.total_data_blocks ||
		    ps.used_metadata_blocks > ps.total_metadata_blocks)
			abort();
	}
	(void)thinsnap_dm_parse_thin_status(s, &ts);
	if (thinsnap_dm_parse_pool_table(s, &pt) == 0 && pt.data_block_sectors == 0)
		abort();
	free(s);
	return 0;
}
