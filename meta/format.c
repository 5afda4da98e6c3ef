/*
 * meta/: the journal's on-disk format: header, record framing and op encoding, field by
 * field, little-endian. The same tables are in docs/journal.md with the recovery rules.
 *
 * Assumptions: rename within a directory is atomic; anything not fsync'd may be lost,
 * reordered, or half-written as zeros or garbage; only a directory fsync makes a new name
 * durable. After a failed fsync we never retry and trust it: fail, re-read on open.
 *
 * File header (256 bytes, written whole via write + fsync + rename + fsync dir):
 *   off  size  field
 *     0     8  magic "TSNPJRNL"
 *     8     4  version (1); a reader refuses a newer one
 *    12     4  incompat feature bits; a reader refuses bits it does not know
 *    16     4  compat feature bits (ignored)
 *    20     4  header size (256)
 *    24     8  salt: random, new for every generation (file)
 *    32     8  first_seq: sequence number of the first record
 *    40     8  generation (1 for a new journal, +1 per checkpoint)
 *    48     8  checkpoint_end: offset where the checkpoint records end (appends follow)
 *    56     8  created_ns (CLOCK_REALTIME)
 *    64     4  pool_id length (<= 128)
 *    68   128  pool_id bytes (the thin-pool identity), zero padded
 *   196    56  zero
 *   252     4  crc32c of bytes 0..251
 *
 * Record (32-byte header + payload; a record counts only if complete, its crc verifies,
 * its salt is the header's and its seq is the previous one + 1):
 *     0     4  magic 0x43525354 ("TSRC")
 *     4     2  type: 1 group, 2 intent, 3 intent end
 *     6     2  zero
 *     8     4  payload length (<= 4 MiB)
 *    12     8  seq
 *    20     8  salt
 *    28     4  crc32c of bytes 0..27 and the payload
 *
 * Payloads. str = u32 length, bytes, one NUL byte (no NUL inside); length 0 = absent/empty.
 * labels = u32 count, then count x (str key, str value).
 *   group:      ops = u32 count, then count x op
 *   intent:     u64 id, u64 transaction_id_before, u64 transaction_id_after,
 *               u32 n_pool_ops, n x (u8 type, u32 dev_id, u32 origin_id), ops
 *   intent end: u64 id, u8 completed (1) or aborted (0)
 * op = u8 type, then by type:
 *   1 snap create:  u8 kind, u32 dev_id, u64 size_bytes, i64 created_ns, i64 updated_ns,
 *                   u64 usage_bytes, u64 usage_inodes, str key, str parent, str fs_type, labels
 *   2 snap remove:  str key
 *   3 snap commit:  str key, str name, i64 updated_ns, labels
 *   4 labels set:   str key, i64 updated_ns, labels
 *   5 usage set:    str key, u64 usage_bytes, u64 usage_inodes
 *   6..9 id alloc, id release, delete pending add, delete pending remove: u32 dev_id
 *   10 size set:    str key, u64 size_bytes (only with incompat bit 0x1, SIZE_SET)
 *   11 uid set:     str key, 16 bytes uid (only with incompat bit 0x2, UID)
 */
#include "meta/format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"

int thinsnap_meta_fmt_put_u8(struct thinsnap_buf *b, uint8_t v)
{
	return thinsnap_buf_append(b, &v, 1);
}

int thinsnap_meta_fmt_put_u32(struct thinsnap_buf *b, uint32_t v)
{
	uint8_t t[4];

	put_le32(t, v);
	return thinsnap_buf_append(b, t, 4);
}

int thinsnap_meta_fmt_put_u64(struct thinsnap_buf *b, uint64_t v)
{
	uint8_t t[8];

	put_le64(t, v);
	return thinsnap_buf_append(b, t, 8);
}

static int put_str(struct thinsnap_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int r;

	r = thinsnap_meta_fmt_put_u32(b, (uint32_t)n);
	if (r == 0)
		r = thinsnap_buf_append(b, s ? s : "", n);
	if (r == 0)
		r = thinsnap_meta_fmt_put_u8(b, 0);
	return r;
}

static int put_labels(struct thinsnap_buf *b, const struct thinsnap_meta_label *l, size_t n)
{
	int r = thinsnap_meta_fmt_put_u32(b, (uint32_t)n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		r = put_str(b, l[i].key);
		if (r == 0)
			r = put_str(b, l[i].value);
	}
	return r;
}

static int put_op(struct thinsnap_buf *b, const struct thinsnap_meta_op *o)
{
	int r = thinsnap_meta_fmt_put_u8(b, (uint8_t)o->type);

	if (r < 0)
		return r;
	switch (o->type) {
	case THINSNAP_META_OP_SNAP_CREATE:
		if ((r = thinsnap_meta_fmt_put_u8(b, (uint8_t)o->kind)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u32(b, o->dev_id)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, o->size_bytes)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, (uint64_t)o->created_ns)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, (uint64_t)o->updated_ns)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, o->usage_bytes)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, o->usage_inodes)) < 0 ||
		    (r = put_str(b, o->key)) < 0 || (r = put_str(b, o->parent)) < 0 ||
		    (r = put_str(b, o->fs_type)) < 0)
			return r;
		return put_labels(b, o->labels, o->n_labels);
	case THINSNAP_META_OP_SNAP_REMOVE:
		return put_str(b, o->key);
	case THINSNAP_META_OP_SNAP_COMMIT:
		if ((r = put_str(b, o->key)) < 0 || (r = put_str(b, o->name)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, (uint64_t)o->updated_ns)) < 0)
			return r;
		return put_labels(b, o->labels, o->n_labels);
	case THINSNAP_META_OP_LABELS_SET:
		if ((r = put_str(b, o->key)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, (uint64_t)o->updated_ns)) < 0)
			return r;
		return put_labels(b, o->labels, o->n_labels);
	case THINSNAP_META_OP_USAGE_SET:
		if ((r = put_str(b, o->key)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u64(b, o->usage_bytes)) < 0)
			return r;
		return thinsnap_meta_fmt_put_u64(b, o->usage_inodes);
	case THINSNAP_META_OP_ID_ALLOC:
	case THINSNAP_META_OP_ID_RELEASE:
	case THINSNAP_META_OP_DELETE_PENDING_ADD:
	case THINSNAP_META_OP_DELETE_PENDING_REMOVE:
		return thinsnap_meta_fmt_put_u32(b, o->dev_id);
	case THINSNAP_META_OP_SIZE_SET:
		if ((r = put_str(b, o->key)) < 0)
			return r;
		return thinsnap_meta_fmt_put_u64(b, o->size_bytes);
	case THINSNAP_META_OP_UID_SET:
		if ((r = put_str(b, o->key)) < 0)
			return r;
		return thinsnap_buf_append(b, o->uid, THINSNAP_META_UID_SIZE);
	}
	return -EINVAL;
}

int thinsnap_meta_fmt_put_ops(struct thinsnap_buf *b, const struct thinsnap_meta_op *ops, size_t n)
{
	int r = thinsnap_meta_fmt_put_u32(b, (uint32_t)n);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = put_op(b, &ops[i]);
	return r;
}

void thinsnap_meta_fmt_header_encode(const struct jnl_header *h, uint8_t out[JNL_HEADER_SIZE])
{
	size_t plen = strnlen(h->pool_id, JNL_POOL_ID_MAX);

	memset(out, 0, JNL_HEADER_SIZE);
	memcpy(out, JNL_MAGIC, 8);
	put_le32(out + 8, h->version);
	put_le32(out + 12, h->incompat);
	put_le32(out + 16, h->compat);
	put_le32(out + 20, JNL_HEADER_SIZE);
	put_le64(out + 24, h->salt);
	put_le64(out + 32, h->first_seq);
	put_le64(out + 40, h->generation);
	put_le64(out + 48, h->checkpoint_end);
	put_le64(out + 56, (uint64_t)h->created_ns);
	put_le32(out + 64, (uint32_t)plen);
	memcpy(out + 68, h->pool_id, plen);
	put_le32(out + 252, thinsnap_crc32c(0, out, 252));
}

int thinsnap_meta_fmt_header_decode(const uint8_t *in, size_t len, struct jnl_header *ret)
{
	struct jnl_header h = { 0 };
	uint32_t plen;

	if (len < JNL_HEADER_SIZE || memcmp(in, JNL_MAGIC, 8) != 0)
		return -EUCLEAN;
	if (get_le32(in + 252) != thinsnap_crc32c(0, in, 252))
		return -EUCLEAN;
	h.version = get_le32(in + 8);
	h.incompat = get_le32(in + 12);
	h.compat = get_le32(in + 16);
	if (h.version > JNL_VERSION || (h.incompat & ~JNL_INCOMPAT_KNOWN))
		return -EOPNOTSUPP;
	if (h.version == 0 || get_le32(in + 20) != JNL_HEADER_SIZE)
		return -EUCLEAN;
	h.salt = get_le64(in + 24);
	h.first_seq = get_le64(in + 32);
	h.generation = get_le64(in + 40);
	h.checkpoint_end = get_le64(in + 48);
	h.created_ns = (int64_t)get_le64(in + 56);
	plen = get_le32(in + 64);
	if (plen > JNL_POOL_ID_MAX || memchr(in + 68, 0, plen))
		return -EUCLEAN;
	memcpy(h.pool_id, in + 68, plen);
	h.pool_id[plen] = '\0';
	*ret = h;
	return 0;
}

int thinsnap_meta_fmt_put_zeros(struct thinsnap_buf *b, size_t n)
{
	int r = thinsnap_buf_reserve(b, n);

	if (r < 0)
		return r;
	memset(b->p + b->len, 0, n);
	b->len += n;
	return 0;
}

int thinsnap_meta_fmt_rec_begin(struct thinsnap_buf *b, size_t *ret_start)
{
	size_t start = b->len;
	int r = thinsnap_meta_fmt_put_zeros(b, REC_HEADER_SIZE);

	if (r < 0)
		return r;
	*ret_start = start;
	return 0;
}

void thinsnap_meta_fmt_rec_end(struct thinsnap_buf *b, size_t start, enum rec_type type,
			       uint64_t seq, uint64_t salt)
{
	uint8_t *h = b->p + start;
	size_t plen = b->len - start - REC_HEADER_SIZE;
	uint32_t crc;

	put_le32(h, REC_MAGIC);
	h[4] = (uint8_t)type;
	h[5] = (uint8_t)(type >> 8);
	h[6] = h[7] = 0;
	put_le32(h + 8, (uint32_t)plen);
	put_le64(h + 12, seq);
	put_le64(h + 20, salt);
	crc = thinsnap_crc32c(0, h, 28);
	crc = thinsnap_crc32c(crc, h + REC_HEADER_SIZE, plen);
	put_le32(h + 28, crc);
}

bool thinsnap_meta_fmt_rec_check(const uint8_t *p, size_t avail, struct rec_view *v)
{
	uint32_t len, crc;

	if (avail < REC_HEADER_SIZE || get_le32(p) != REC_MAGIC)
		return false;
	len = get_le32(p + 8);
	if (len > REC_PAYLOAD_MAX || len > avail - REC_HEADER_SIZE)
		return false;
	crc = thinsnap_crc32c(0, p, 28);
	crc = thinsnap_crc32c(crc, p + REC_HEADER_SIZE, len);
	if (crc != get_le32(p + 28))
		return false;
	v->type = (uint16_t)(p[4] | p[5] << 8);
	v->len = len;
	v->seq = get_le64(p + 12);
	v->salt = get_le64(p + 20);
	v->payload = p + REC_HEADER_SIZE;
	return true;
}

/* The next n bytes of the payload, or NULL (and the cursor marked bad) past its end. */
static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

uint8_t thinsnap_meta_fmt_get_u8(struct rd *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

uint32_t thinsnap_meta_fmt_get_u32(struct rd *r)
{
	const uint8_t *p = take(r, 4);

	return p ? get_le32(p) : 0;
}

uint64_t thinsnap_meta_fmt_get_u64(struct rd *r)
{
	const uint8_t *p = take(r, 8);

	return p ? get_le64(p) : 0;
}

/* NULL for an absent string when absent_null, else "" */
static const char *get_str(struct rd *r, bool absent_null)
{
	uint32_t n = thinsnap_meta_fmt_get_u32(r);
	const char *s;

	if (r->bad || n > r->len - r->pos || r->len - r->pos - n < 1 || r->p[r->pos + n] != 0 ||
	    memchr(r->p + r->pos, 0, n)) {
		r->bad = true;
		return NULL;
	}
	s = (const char *)r->p + r->pos;
	r->pos += (size_t)n + 1;
	if (n == 0 && absent_null)
		return NULL;
	return s;
}

void thinsnap_meta_fmt_scratch_free(struct op_scratch *s)
{
	free(s->ops);
	free(s->labels);
	free(s->label_idx);
	*s = (struct op_scratch){ 0 };
}

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
	size_t c = *cap ? *cap : 16;
	void *n;

	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	n = realloc(*p, c * elem);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = c;
	return 0;
}

static int get_labels(struct rd *r, struct op_scratch *s, size_t *n_used, size_t *ret_idx,
		      size_t *ret_n)
{
	uint32_t n = thinsnap_meta_fmt_get_u32(r);

	if (r->bad || n > (r->len - r->pos) / 10) /* each label takes >= 10 bytes */
		return -EBADMSG;
	if (grow((void **)&s->labels, &s->labels_cap, *n_used + n, sizeof(*s->labels)) < 0)
		return -ENOMEM;
	*ret_idx = *n_used;
	*ret_n = n;
	for (uint32_t i = 0; i < n; i++) {
		s->labels[*n_used].key = get_str(r, false);
		s->labels[*n_used].value = get_str(r, false);
		if (r->bad)
			return -EBADMSG;
		(*n_used)++;
	}
	return 0;
}

int thinsnap_meta_fmt_get_ops(struct rd *r, struct op_scratch *s,
			      const struct thinsnap_meta_op **ret_ops, size_t *ret_n)
{
	uint32_t n = thinsnap_meta_fmt_get_u32(r);
	size_t n_labels = 0, ops_cap_before;
	int k;

	if (r->bad || n > r->len - r->pos) /* each op takes >= 1 byte */
		return -EBADMSG;
	ops_cap_before = s->ops_cap;
	if (grow((void **)&s->ops, &s->ops_cap, n, sizeof(*s->ops)) < 0)
		return -ENOMEM;
	if (s->ops_cap != ops_cap_before || !s->label_idx) {
		size_t *li = realloc(s->label_idx, s->ops_cap * sizeof(*li));
		if (!li)
			return -ENOMEM;
		s->label_idx = li;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct thinsnap_meta_op *o = &s->ops[i];

		*o = (struct thinsnap_meta_op){ 0 };
		s->label_idx[i] = 0;
		o->type = thinsnap_meta_fmt_get_u8(r);
		switch (o->type) {
		case THINSNAP_META_OP_SNAP_CREATE:
			o->kind = thinsnap_meta_fmt_get_u8(r);
			o->dev_id = thinsnap_meta_fmt_get_u32(r);
			o->size_bytes = thinsnap_meta_fmt_get_u64(r);
			o->created_ns = (int64_t)thinsnap_meta_fmt_get_u64(r);
			o->updated_ns = (int64_t)thinsnap_meta_fmt_get_u64(r);
			o->usage_bytes = thinsnap_meta_fmt_get_u64(r);
			o->usage_inodes = thinsnap_meta_fmt_get_u64(r);
			o->key = get_str(r, false);
			o->parent = get_str(r, true);
			o->fs_type = get_str(r, false);
			k = get_labels(r, s, &n_labels, &s->label_idx[i], &o->n_labels);
			break;
		case THINSNAP_META_OP_SNAP_REMOVE:
			o->key = get_str(r, false);
			k = 0;
			break;
		case THINSNAP_META_OP_SNAP_COMMIT:
			o->key = get_str(r, false);
			o->name = get_str(r, false);
			o->updated_ns = (int64_t)thinsnap_meta_fmt_get_u64(r);
			k = get_labels(r, s, &n_labels, &s->label_idx[i], &o->n_labels);
			break;
		case THINSNAP_META_OP_LABELS_SET:
			o->key = get_str(r, false);
			o->updated_ns = (int64_t)thinsnap_meta_fmt_get_u64(r);
			k = get_labels(r, s, &n_labels, &s->label_idx[i], &o->n_labels);
			break;
		case THINSNAP_META_OP_USAGE_SET:
			o->key = get_str(r, false);
			o->usage_bytes = thinsnap_meta_fmt_get_u64(r);
			o->usage_inodes = thinsnap_meta_fmt_get_u64(r);
			k = 0;
			break;
		case THINSNAP_META_OP_ID_ALLOC:
		case THINSNAP_META_OP_ID_RELEASE:
		case THINSNAP_META_OP_DELETE_PENDING_ADD:
		case THINSNAP_META_OP_DELETE_PENDING_REMOVE:
			o->dev_id = thinsnap_meta_fmt_get_u32(r);
			k = 0;
			break;
		case THINSNAP_META_OP_SIZE_SET:
			o->key = get_str(r, false);
			o->size_bytes = thinsnap_meta_fmt_get_u64(r);
			k = 0;
			break;
		case THINSNAP_META_OP_UID_SET:
			o->key = get_str(r, false);
			o->uid = take(r, THINSNAP_META_UID_SIZE);
			k = 0;
			break;
		default:
			return -EBADMSG;
		}
		if (k < 0)
			return k;
		if (r->bad)
			return -EBADMSG;
	}
	for (uint32_t i = 0; i < n; i++)
		s->ops[i].labels = s->ops[i].n_labels ? s->labels + s->label_idx[i] : NULL;
	*ret_ops = s->ops;
	*ret_n = n;
	return 0;
}
