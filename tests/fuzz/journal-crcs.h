/*
 * For the journal fuzz targets: fixes up the crc32c of a journal's header and of each record
 * whose length fits, so that the fuzzer gets past the checksums into decoding.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/crc32c.h"
#include "meta/format.h"

static inline void fuzz_fix_journal_crcs(uint8_t *p, size_t n)
{
	size_t off = JNL_HEADER_SIZE;

	if (n < JNL_HEADER_SIZE)
		return;
	put_le32(p + 252, thinsnap_crc32c(0, p, 252));
	while (off + REC_HEADER_SIZE <= n) {
		uint32_t len = get_le32(p + off + 8), crc;
		if (len > n - off - REC_HEADER_SIZE)
			break;
		crc = thinsnap_crc32c(0, p + off, 28);
		crc = thinsnap_crc32c(crc, p + off + REC_HEADER_SIZE, len);
		put_le32(p + off + 28, crc);
		off += REC_HEADER_SIZE + len;
	}
}
