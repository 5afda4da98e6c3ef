/*
 * meta/: the journal's on-disk encoding (byte tables in meta/format.c and docs/journal.md).
 * Internal to meta/ and its tests: headers, record framing, op groups, little-endian fields.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/le.h"
#include "meta/meta.h"

#define JNL_MAGIC             "TSNPJRNL"
#define JNL_VERSION           1u
#define JNL_INCOMPAT_SIZE_SET 0x1u /* the journal may hold SIZE_SET ops (type 10) */
#define JNL_INCOMPAT_UID      0x2u /* the journal may hold UID_SET ops (type 11) */
#define JNL_INCOMPAT_KNOWN    (JNL_INCOMPAT_SIZE_SET | JNL_INCOMPAT_UID)
#define JNL_HEADER_SIZE       256u
#define JNL_POOL_ID_MAX       128u
#define REC_MAGIC             0x43525354u /* "TSRC" little-endian */
#define REC_HEADER_SIZE       32u
#define REC_PAYLOAD_MAX       (4u << 20)
#define FS_TYPE_MAX           64u

enum rec_type {
	REC_GROUP = 1,      /* an atomic group of ops */
	REC_INTENT = 2,     /* a pool operation in flight, with its ops */
	REC_INTENT_END = 3, /* completion (ops applied) or abort of an intent */
};

struct jnl_header {
	uint32_t version;
	uint32_t incompat;
	uint32_t compat;
	uint64_t salt;
	uint64_t first_seq;
	uint64_t generation;
	uint64_t checkpoint_end; /* file offset where the checkpoint records end */
	int64_t created_ns;
	char pool_id[JNL_POOL_ID_MAX + 1];
};

void thinsnap_meta_fmt_header_encode(const struct jnl_header *h, uint8_t out[JNL_HEADER_SIZE]);
/* -EUCLEAN (bad magic/crc/size), -EOPNOTSUPP (newer version, unknown incompat bits) */
int thinsnap_meta_fmt_header_decode(const uint8_t *in, size_t len, struct jnl_header *ret);

/* Appends n zero bytes to b; -ENOMEM. */
int thinsnap_meta_fmt_put_zeros(struct thinsnap_buf *b, size_t n);
/* Starts a record in b (reserves its header); returns the start offset or -ENOMEM. */
int thinsnap_meta_fmt_rec_begin(struct thinsnap_buf *b, size_t *ret_start);
/* Fills in the header of the record begun at start, covering b->len - start - header bytes. */
void thinsnap_meta_fmt_rec_end(struct thinsnap_buf *b, size_t start, enum rec_type type,
			       uint64_t seq, uint64_t salt);

struct rec_view {
	uint16_t type;
	uint32_t len;
	uint64_t seq;
	uint64_t salt;
	const uint8_t *payload;
};

/* Whether a complete record with a valid magic, length and checksum starts at p (avail bytes
 * available); fills v. Salt and seq are left to the caller. */
bool thinsnap_meta_fmt_rec_check(const uint8_t *p, size_t avail, struct rec_view *v);

/* Encoders: append to b; -ENOMEM. They assume valid input (meta/apply.c validates). */
int thinsnap_meta_fmt_put_u8(struct thinsnap_buf *b, uint8_t v);
int thinsnap_meta_fmt_put_u32(struct thinsnap_buf *b, uint32_t v);
int thinsnap_meta_fmt_put_u64(struct thinsnap_buf *b, uint64_t v);
int thinsnap_meta_fmt_put_ops(struct thinsnap_buf *b, const struct thinsnap_meta_op *ops, size_t n);

/* A cursor over a payload. */
struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool bad;
};

uint8_t thinsnap_meta_fmt_get_u8(struct rd *r);
uint32_t thinsnap_meta_fmt_get_u32(struct rd *r);
uint64_t thinsnap_meta_fmt_get_u64(struct rd *r);

/* Decoded ops point into the payload (strings are stored NUL-terminated) and into s. */
struct op_scratch {
	struct thinsnap_meta_op *ops;
	size_t ops_cap;
	struct thinsnap_meta_label *labels;
	size_t labels_cap;
	size_t *label_idx;
};

void thinsnap_meta_fmt_scratch_free(struct op_scratch *s);
/* -EBADMSG (malformed), -ENOMEM */
int thinsnap_meta_fmt_get_ops(struct rd *r, struct op_scratch *s,
			      const struct thinsnap_meta_op **ret_ops, size_t *ret_n);
