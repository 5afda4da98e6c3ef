/*
 * stream/: the snapshot stream's encoding (byte tables in stream/format.c and
 * docs/stream-format.md): the header, and the 32-byte chunk headers of data, holes and the
 * end. Pure: no I/O, for send, receive and their tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define STREAM_MAGIC         "TSNPSTRM"
#define STREAM_VERSION       1u
#define STREAM_F_INCREMENTAL 0x1u /* the header names a base id */
#define STREAM_F_KNOWN       STREAM_F_INCREMENTAL
#define STREAM_FIXED_SIZE    84u        /* the header's fixed part */
#define STREAM_HEADER_MAX    (1u << 20) /* the whole header, labels included */
#define STREAM_ID_SIZE       16u
#define CHUNK_MAGIC          0x4b435354u /* "TSCK" little-endian */
#define CHUNK_HEADER_SIZE    32u
#define CHUNK_DATA_MAX       (4u << 20) /* a data chunk's payload, at most */
#define CHUNK_DATA_SEND      (4u << 20) /* what send puts in one */

enum chunk_type {
	CHUNK_DATA = 1, /* payload: length bytes at offset */
	CHUNK_HOLE = 2, /* no payload: length bytes at offset read as zeros */
	CHUNK_END = 3,  /* no payload: offset = chunks before it, length = data bytes */
};

struct stream_label {
	char *key;
	char *value;
};

struct stream_header {
	uint32_t version;
	uint32_t flags;
	uint32_t block_bytes;
	uint64_t size_bytes;
	uint8_t id[STREAM_ID_SIZE];
	uint8_t base_id[STREAM_ID_SIZE]; /* zeros unless incremental */
	int64_t created_ns;
	uint64_t data_bytes;
	char *fs_type; /* decoded: owned */
	char *name;
	struct stream_label *labels;
	size_t n_labels;
};

void thinsnap_stream_header_clear(struct stream_header *h);

/* Appends h encoded (its labels and strings borrowed) to b. -ENOMEM, -EINVAL (too large). */
int thinsnap_stream_header_encode(const struct stream_header *h, struct thinsnap_buf *b);
/* The total header length from its fixed part (STREAM_FIXED_SIZE bytes), after checking the
 * magic and version. -EBADMSG (not a stream), -EOPNOTSUPP (newer version, unknown flags). */
int thinsnap_stream_header_len(const uint8_t *fixed, uint32_t *ret_len);
/* Decodes a whole header of len bytes; *ret owns its strings (clear it). -EBADMSG, -ENOMEM. */
int thinsnap_stream_header_decode(const uint8_t *p, size_t len, struct stream_header *ret);

struct chunk {
	uint32_t type;
	uint64_t offset;
	uint64_t length;
	uint32_t crc; /* data: the payload's crc32c; end: the stream's running crc */
};

void thinsnap_stream_chunk_encode(const struct chunk *c, uint8_t out[CHUNK_HEADER_SIZE]);
/* -EBADMSG: bad magic, checksum, type or length. */
int thinsnap_stream_chunk_decode(const uint8_t in[CHUNK_HEADER_SIZE], struct chunk *ret);
