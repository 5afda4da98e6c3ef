/*
 * stream/: encoding and decoding of the snapshot stream, field by field, little-endian. The
 * same tables, with the rules, are in docs/stream-format.md.
 *
 * Header (written once, first):
 *   off  size  field
 *     0     8  magic "TSNPSTRM"
 *     8     4  version (1); a reader refuses a newer one
 *    12     4  flags: 0x1 incremental (base_id is set); a reader refuses unknown bits
 *    16     4  header length, this crc included (96 .. 1 MiB)
 *    20     4  block size in bytes (the sender pool's data block)
 *    24     8  size_bytes: the snapshot's device size
 *    32    16  id: the snapshot's unique id
 *    48    16  base_id: the base's unique id (incremental), else zeros
 *    64     8  created_ns: when the stream was made (CLOCK_REALTIME)
 *    72     8  data_bytes: the sum of the data chunks' lengths
 *    80     4  label count
 *    84        str fs_type, str name, count x (str key, str value);  str = u32 length, bytes
 *   len-4   4  crc32c of bytes 0 .. len-5
 * Chunk (32-byte header, then the payload of a data chunk):
 *     0     4  magic 0x4b435354 ("TSCK")
 *     4     4  type: 1 data, 2 hole, 3 end
 *     8     8  offset: byte offset in the device (end: number of chunks before it)
 *    16     8  length: bytes (data: payload length, <= 4 MiB; end: data bytes in all)
 *    24     4  data: crc32c of the payload; end: crc32c over the header and every chunk
 *              header before the end (the whole stream: each payload through its crc)
 *    28     4  crc32c of bytes 0..27
 */
#include "stream/format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/le.h"

void thinsnap_stream_header_clear(struct stream_header *h)
{
	free(h->fs_type);
	free(h->name);
	for (size_t i = 0; i < h->n_labels; i++) {
		free(h->labels[i].key);
		free(h->labels[i].value);
	}
	free(h->labels);
	*h = (struct stream_header){ 0 };
}

static int put_u32(struct thinsnap_buf *b, uint32_t v)
{
	uint8_t t[4];

	put_le32(t, v);
	return thinsnap_buf_append(b, t, 4);
}

static int put_str(struct thinsnap_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int r = put_u32(b, (uint32_t)n);

	return r < 0 ? r : thinsnap_buf_append(b, s ? s : "", n);
}

int thinsnap_stream_header_encode(const struct stream_header *h, struct thinsnap_buf *b)
{
	uint8_t f[STREAM_FIXED_SIZE] = { 0 };
	size_t start = b->len;
	int r;

	memcpy(f, STREAM_MAGIC, 8);
	put_le32(f + 8, STREAM_VERSION);
	put_le32(f + 12, h->flags);
	put_le32(f + 20, h->block_bytes);
	put_le64(f + 24, h->size_bytes);
	memcpy(f + 32, h->id, STREAM_ID_SIZE);
	memcpy(f + 48, h->base_id, STREAM_ID_SIZE);
	put_le64(f + 64, (uint64_t)h->created_ns);
	put_le64(f + 72, h->data_bytes);
	put_le32(f + 80, (uint32_t)h->n_labels);
	r = thinsnap_buf_append(b, f, sizeof(f));
	if (r == 0)
		r = put_str(b, h->fs_type);
	if (r == 0)
		r = put_str(b, h->name);
	for (size_t i = 0; r == 0 && i < h->n_labels; i++) {
		r = put_str(b, h->labels[i].key);
		if (r == 0)
			r = put_str(b, h->labels[i].value);
	}
	if (r == 0)
		r = put_u32(b, 0); /* the crc, below */
	if (r < 0)
		return r;
	if (b->len - start > STREAM_HEADER_MAX)
		return -EINVAL;
	put_le32(b->p + start + 16, (uint32_t)(b->len - start));
	put_le32(b->p + b->len - 4, thinsnap_crc32c(0, b->p + start, b->len - start - 4));
	return 0;
}

int thinsnap_stream_header_len(const uint8_t *fixed, uint32_t *ret_len)
{
	uint32_t len;

	if (memcmp(fixed, STREAM_MAGIC, 8) != 0)
		return -EBADMSG;
	if (get_le32(fixed + 8) == 0)
		return -EBADMSG;
	if (get_le32(fixed + 8) > STREAM_VERSION || (get_le32(fixed + 12) & ~STREAM_F_KNOWN))
		return -EOPNOTSUPP;
	len = get_le32(fixed + 16);
	if (len < STREAM_FIXED_SIZE + 12 || len > STREAM_HEADER_MAX)
		return -EBADMSG;
	*ret_len = len;
	return 0;
}

struct cur {
	const uint8_t *p;
	size_t len, pos;
};

static int get_str(struct cur *c, char **ret)
{
	uint32_t n;
	char *s;

	if (c->len - c->pos < 4)
		return -EBADMSG;
	n = get_le32(c->p + c->pos);
	c->pos += 4;
	if (n > c->len - c->pos || memchr(c->p + c->pos, 0, n))
		return -EBADMSG;
	s = strndup((const char *)c->p + c->pos, n);
	if (!s)
		return -ENOMEM;
	c->pos += n;
	*ret = s;
	return 0;
}

int thinsnap_stream_header_decode(const uint8_t *p, size_t len, struct stream_header *ret)
{
	struct stream_header h = { 0 };
	struct cur c = { .p = p, .len = len - 4, .pos = STREAM_FIXED_SIZE };
	uint32_t hlen = 0, n;
	int r;

	r = thinsnap_stream_header_len(p, &hlen);
	if (r < 0)
		return r;
	if (hlen != len || get_le32(p + len - 4) != thinsnap_crc32c(0, p, len - 4))
		return -EBADMSG;
	h.version = get_le32(p + 8);
	h.flags = get_le32(p + 12);
	h.block_bytes = get_le32(p + 20);
	h.size_bytes = get_le64(p + 24);
	memcpy(h.id, p + 32, STREAM_ID_SIZE);
	memcpy(h.base_id, p + 48, STREAM_ID_SIZE);
	h.created_ns = (int64_t)get_le64(p + 64);
	h.data_bytes = get_le64(p + 72);
	n = get_le32(p + 80);
	if (h.block_bytes == 0 || h.block_bytes % 512 || h.size_bytes == 0 || h.size_bytes % 512 ||
	    n > (len - STREAM_FIXED_SIZE) / 8)
		return -EBADMSG;
	if ((r = get_str(&c, &h.fs_type)) < 0 || (r = get_str(&c, &h.name)) < 0) {
		thinsnap_stream_header_clear(&h);
		return r;
	}
	if (n) {
		h.labels = calloc(n, sizeof(*h.labels));
		if (!h.labels) {
			thinsnap_stream_header_clear(&h);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		h.n_labels = i + 1;
		if ((r = get_str(&c, &h.labels[i].key)) < 0 ||
		    (r = get_str(&c, &h.labels[i].value)) < 0) {
			thinsnap_stream_header_clear(&h);
			return r;
		}
	}
	if (c.pos != c.len) {
		thinsnap_stream_header_clear(&h);
		return -EBADMSG;
	}
	*ret = h;
	return 0;
}

void thinsnap_stream_chunk_encode(const struct chunk *c, uint8_t out[CHUNK_HEADER_SIZE])
{
	put_le32(out, CHUNK_MAGIC);
	put_le32(out + 4, c->type);
	put_le64(out + 8, c->offset);
	put_le64(out + 16, c->length);
	put_le32(out + 24, c->crc);
	put_le32(out + 28, thinsnap_crc32c(0, out, 28));
}

int thinsnap_stream_chunk_decode(const uint8_t in[CHUNK_HEADER_SIZE], struct chunk *ret)
{
	struct chunk c;

	if (get_le32(in) != CHUNK_MAGIC || get_le32(in + 28) != thinsnap_crc32c(0, in, 28))
		return -EBADMSG;
	c.type = get_le32(in + 4);
	c.offset = get_le64(in + 8);
	c.length = get_le64(in + 16);
	c.crc = get_le32(in + 24);
	if (c.type < CHUNK_DATA || c.type > CHUNK_END)
		return -EBADMSG;
	if (c.type == CHUNK_DATA && (c.length == 0 || c.length > CHUNK_DATA_MAX))
		return -EBADMSG;
	*ret = c;
	return 0;
}
