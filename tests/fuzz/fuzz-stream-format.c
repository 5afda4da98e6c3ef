/*
 * Fuzz target: the snapshot stream's decoders (stream/format.c) on arbitrary bytes: the
 * header (its length from the fixed part, then the whole), and every 32-byte chunk header
 * after it. A header that decodes must encode again to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream_header h = { 0 };
	struct thinsnap_buf b = { 0 };
	uint32_t len = 0;
	struct chunk c;

	if (size < STREAM_FIXED_SIZE || thinsnap_stream_header_len(data, &len) < 0 || len > size)
		return 0;
	if (thinsnap_stream_header_decode(data, len, &h) == 0) {
		if (thinsnap_stream_header_encode(&h, &b) == 0 &&
		    (b.len != len || memcmp(b.p, data, len) != 0))
			abort();
		thinsnap_buf_free(&b);
		thinsnap_stream_header_clear(&h);
	}
	for (size_t off = len; size - off >= CHUNK_HEADER_SIZE; off += CHUNK_HEADER_SIZE)
		if (thinsnap_stream_chunk_decode(data + off, &c) == 0 &&
		    (c.type < CHUNK_DATA || c.type > CHUNK_END ||
		     (c.type == CHUNK_DATA && (c.length == 0 || c.length > CHUNK_DATA_MAX))))
			abort();
	return 0;
}
