/*
 * thinsnap_receive: a stream into a new thin device (fresh, or a thin snapshot of the base),
 * committed only once every checksum verified and the device is flushed. The whole receive is
 * the pool step of one pool transaction: a failure undoes it, and a crash leaves an intent
 * that the next writer's open rolls back, so no key and no thin device stay behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <thinsnap/stream.h>

#include "base/crc32c.h"
#include "base/fault.h"
#include "base/le.h"
#include "base/version.h"
#include "snap/internal.h"
#include "stream/format.h"

/* Reads exactly n bytes: 0, or -EPROTO at the end of the stream (truncated), or -errno. */
static int read_full(int fd, void *buf, size_t n, uint64_t *pos)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EPROTO;
		p += k;
		n -= (size_t)k;
		*pos += (uint64_t)k;
	}
	return 0;
}

static int read_header(int fd, struct stream_header *ret, uint64_t *pos, uint32_t *ret_crc,
		       struct thinsnap_error *reterr)
{
	CLEANUP_FREE uint8_t *p = NULL;
	uint8_t fixed[STREAM_FIXED_SIZE];
	uint32_t len = 0;
	int r;

	r = read_full(fd, fixed, sizeof(fixed), pos);
	if (r == 0)
		r = thinsnap_stream_header_len(fixed, &len);
	if (r == -EOPNOTSUPP)
		return thinsnap_error_setf(reterr, r,
					   "stream header: version %u or its flags 0x%x are newer "
					   "than this thinsnap reads",
					   get_le32(fixed + 8), get_le32(fixed + 12));
	if (r < 0)
		return thinsnap_error_setf(reterr, r == -EBADMSG ? r : r,
					   "stream header (byte %" PRIu64 "): %s", *pos,
					   r == -EBADMSG  ? "not a thinsnap stream"
					   : r == -EPROTO ? "truncated"
							  : strerror(-r));
	p = malloc(len);
	if (!p)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	memcpy(p, fixed, sizeof(fixed));
	r = read_full(fd, p + sizeof(fixed), len - sizeof(fixed), pos);
	if (r == 0)
		r = thinsnap_stream_header_decode(p, len, ret);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "stream header (%u bytes): %s", len,
					   r == -EBADMSG  ? "checksum mismatch or malformed"
					   : r == -EPROTO ? "truncated"
							  : strerror(-r));
	*ret_crc = thinsnap_crc32c(0, p, len);
	return 0;
}

struct recv_ctx {
	int in;
	const struct stream_header *h;
	struct create_ctx create;
	uint64_t pos; /* bytes of the stream read */
	uint32_t crc; /* running, over the header and chunk headers */
	uint32_t block_bytes;
	struct thinsnap_stream_stats st;
};

/* A hole: discarded (unmapped) when it covers whole blocks of this pool, else zeroed. */
static int make_hole(struct recv_ctx *c, int dev, uint64_t off, uint64_t len)
{
	uint64_t range[2] = { off, len };
	bool whole_blocks = off % c->block_bytes == 0 && len % c->block_bytes == 0;

	if (whole_blocks && ioctl(dev, BLKDISCARD, range) == 0)
		return 0;
	return ioctl(dev, BLKZEROOUT, range) < 0 ? -errno : 0;
}

/* Reads the chunks into dev up to the end chunk, verifying each; where it fails, says so. */
static int receive_chunks(struct recv_ctx *c, int dev, uint8_t *buf, struct thinsnap_error *reterr)
{
	const struct stream_header *h = c->h;

	for (;;) {
		uint8_t raw[CHUNK_HEADER_SIZE];
		uint64_t at = c->pos, n = c->st.chunks;
		struct chunk k = { 0 };
		int r = read_full(c->in, raw, sizeof(raw), &c->pos);

		if (r < 0)
			return thinsnap_error_setf(
				reterr, r, "stream chunk %" PRIu64 " (byte %" PRIu64 "): %s", n, at,
				r == -EPROTO ? "truncated: the stream ends early" : strerror(-r));
		if (thinsnap_stream_chunk_decode(raw, &k) < 0)
			return thinsnap_error_setf(reterr, -EBADMSG,
						   "stream chunk %" PRIu64 " (byte %" PRIu64
						   "): bad chunk header (checksum mismatch)",
						   n, at);
		if (k.type == CHUNK_END) {
			if (k.offset != n || k.length != c->st.data_bytes ||
			    k.length != h->data_bytes || k.crc != c->crc)
				return thinsnap_error_setf(reterr, -EBADMSG,
							   "stream end (byte %" PRIu64
							   "): chunks or data missing, or the "
							   "stream's checksum does not match",
							   at);
			return 0;
		}
		c->crc = thinsnap_crc32c(c->crc, raw, sizeof(raw));
		if (k.offset % 512 || k.length % 512 || k.length > h->size_bytes ||
		    k.offset > h->size_bytes - k.length)
			return thinsnap_error_setf(reterr, -EBADMSG,
						   "stream chunk %" PRIu64 " (byte %" PRIu64
						   "): range %" PRIu64 "+%" PRIu64
						   " is outside the %" PRIu64 "-byte device",
						   n, at, k.offset, k.length, h->size_bytes);
		if (k.type == CHUNK_DATA) {
			r = read_full(c->in, buf, k.length, &c->pos);
			if (r < 0)
				return thinsnap_error_setf(
					reterr, r,
					"stream chunk %" PRIu64 " (byte %" PRIu64 "): %s", n, at,
					r == -EPROTO ? "truncated: the stream ends in its data"
						     : strerror(-r));
			if (thinsnap_crc32c(0, buf, k.length) != k.crc)
				return thinsnap_error_setf(reterr, -EBADMSG,
							   "stream chunk %" PRIu64 " (byte %" PRIu64
							   "): data checksum mismatch",
							   n, at);
			ssize_t w = pwrite(dev, buf, k.length, (off_t)k.offset);
			if (w != (ssize_t)k.length)
				return thinsnap_error_setf(
					reterr, w < 0 ? -errno : -EIO,
					"writing %" PRIu64 " bytes at %" PRIu64 ": %s", k.length,
					k.offset, w < 0 ? strerror(errno) : "short write");
			c->st.data_bytes += k.length;
		} else {
			r = make_hole(c, dev, k.offset, k.length);
			if (r < 0)
				return thinsnap_error_setf(
					reterr, r, "zeroing %" PRIu64 " bytes at %" PRIu64 ": %s",
					k.length, k.offset, strerror(-r));
			c->st.hole_bytes += k.length;
		}
		c->st.chunks++;
		r = THINSNAP_FAULT("stream.receive.chunk");
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "injected fault after a chunk");
	}
}

/* The pool step: create and activate the device, fill it, flush it, deactivate it. */
static int receive_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct recv_ctx *c = v;
	CLEANUP_CLOSE int dev = -EBADF;
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	void *buf = NULL;
	int r;

	r = thinsnap_snap_create_run(s, &c->create, reterr);
	if (r < 0)
		return r;
	(void)thinsnap_pool_dev_path(c->create.dm_name, path, sizeof(path));
	dev = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (dev < 0)
		r = thinsnap_error_setf(reterr, -errno, "opening '%s': %m", path);
	else if (posix_memalign(&buf, 4096, CHUNK_DATA_MAX) != 0)
		r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (r >= 0)
		r = receive_chunks(c, dev, buf, reterr);
	free(buf);
	if (r >= 0 && fsync(dev) < 0) /* a flush: the pool commits the mappings too */
		r = thinsnap_error_setf(reterr, -errno, "flushing '%s': %m", path);
	if (dev >= 0)
		(void)close(TAKE_FD(dev));
	if (r >= 0)
		r = thinsnap_pool_deactivate_thin(s->pool, c->create.dm_name, reterr);
	if (r < 0)
		thinsnap_snap_create_undo(s, &c->create);
	return r;
}

static void undo_run(struct thinsnap_snapshotter *s, void *v)
{
	struct recv_ctx *c = v;

	thinsnap_snap_create_undo(s, &c->create);
}

static int check_parent(struct thinsnap_snapshotter *s, const struct stream_header *h,
			const char *parent, const struct thinsnap_meta_snap **ret,
			struct thinsnap_error *reterr)
{
	const struct thinsnap_meta_snap *p;
	char want[THINSNAP_ID_LEN + 1], have[THINSNAP_ID_LEN + 1], kb[80];

	if (!(h->flags & STREAM_F_INCREMENTAL)) {
		if (parent)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "the stream is whole: it takes no parent");
		*ret = NULL;
		return 0;
	}
	thinsnap_snap_format_uid(h->base_id, want);
	if (!parent)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "the stream is incremental: give its base (id %s) "
					   "as the parent",
					   want);
	p = thinsnap_meta_get(s->meta, parent);
	if (!p)
		return thinsnap_error_setf(reterr, -ENOENT, "parent '%s' not found",
					   thinsnap_snap_shown(parent, kb));
	thinsnap_snap_format_uid(p->uid, have);
	if (p->kind != THINSNAP_META_COMMITTED || memcmp(p->uid, h->base_id, STREAM_ID_SIZE))
		return thinsnap_error_setf(
			reterr, -EINVAL, "parent '%s' (id %s) is not the stream's base (id %s)",
			thinsnap_snap_shown(parent, kb), *have ? have : "none", want);
	*ret = p;
	return 0;
}

int thinsnap_receive(struct thinsnap_snapshotter *s, const char *name, int fd,
		     const struct thinsnap_receive_opts *opts,
		     struct thinsnap_stream_stats *ret_stats, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	CLEANUP_FREE struct thinsnap_meta_label *ml = NULL;
	CLEANUP_FREE char *parent_key = NULL;
	struct stream_header h = { 0 };
	const struct thinsnap_meta_snap *p = NULL;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], origin_dm[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80];
	struct thinsnap_pool_thin_info oti = { 0 };
	uint32_t dev_id = 0, crc = 0;
	uint64_t pos = 0;
	int r;

	if (!opts || fd < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "receive: missing argument");
	r = thinsnap_version_check(opts->version, THINSNAP_RECEIVE_OPTS_VERSION,
				   "thinsnap_receive_opts", reterr);
	if (r < 0)
		return r;
	if ((r = thinsnap_snap_check_key("name", name, reterr)) < 0 ||
	    (opts->parent && (r = thinsnap_snap_check_key("parent", opts->parent, reterr)) < 0))
		return r;
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	r = read_header(fd, &h, &pos, &crc, reterr);
	if (r < 0)
		return r;
	if (h.n_labels) {
		ml = calloc(h.n_labels, sizeof(*ml));
		if (!ml) {
			thinsnap_stream_header_clear(&h);
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < h.n_labels; i++)
			ml[i] = (struct thinsnap_meta_label){ h.labels[i].key, h.labels[i].value };
	}
	locked = lock_writes(s);
	r = thinsnap_snap_check_writable(s, reterr);
	if (r >= 0 && thinsnap_meta_get(s->meta, name))
		r = thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists",
					thinsnap_snap_shown(name, kb));
	if (r >= 0)
		r = check_parent(s, &h, opts->parent, &p, reterr);
	if (r >= 0 && p && !(parent_key = strdup(p->key)))
		r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (r >= 0 && p) { /* an active origin is suspended around the snapshot */
		thinsnap_snap_dm_name_of(s, p, origin_dm);
		r = thinsnap_pool_thin_info(s->pool, origin_dm, &oti, reterr);
	}
	if (r >= 0)
		r = thinsnap_snap_check_space_floors(s, reterr);
	if (r >= 0)
		r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0) {
		thinsnap_stream_header_clear(&h);
		return r;
	}
	thinsnap_snap_dm_name(s->pool_name, dev_id, false, dm, sizeof(dm));
	int64_t now = now_ns();
	struct thinsnap_meta_op ops[2] = {
		{ .type = THINSNAP_META_OP_SNAP_CREATE,
		  .key = name,
		  .parent = parent_key,
		  .kind = THINSNAP_META_COMMITTED,
		  .dev_id = dev_id,
		  .size_bytes = h.size_bytes,
		  .fs_type = h.fs_type,
		  .labels = ml,
		  .n_labels = h.n_labels,
		  .created_ns = now,
		  .updated_ns = now,
		  .usage_bytes = h.data_bytes },
		{ .type = THINSNAP_META_OP_UID_SET, .key = name, .uid = h.id },
	};
	struct thinsnap_meta_pool_op pop = {
		.type = p ? THINSNAP_META_POOL_CREATE_SNAP : THINSNAP_META_POOL_CREATE_THIN,
		.dev_id = dev_id,
		.origin_id = p ? p->dev_id : 0,
	};
	struct recv_ctx c = { .in = fd,
			      .h = &h,
			      .create = { .dev_id = dev_id,
					  .origin_id = p ? p->dev_id : UINT32_MAX,
					  .origin_dm_name = oti.exists ? origin_dm : NULL,
					  .dm_name = dm,
					  .size_bytes = h.size_bytes },
			      .pos = pos,
			      .crc = crc,
			      .block_bytes = thinsnap_pool_data_block_sectors(s->pool) * 512u,
			      .st = { .stream_bytes = pos } };
	/* not decidable: a device in the pool proves nothing about its contents; only the
	 * transaction id's move after the verified, flushed fill completes the receive */
	struct pool_step step = {
		.run = receive_run, .undo = undo_run, .ctx = &c, .decidable = false
	};
	r = thinsnap_snap_pool_txn(s, &pop, 1, ops, ELEMENTSOF(ops), &step, reterr);
	thinsnap_stream_header_clear(&h);
	if (r < 0)
		return r;
	if (ret_stats) {
		c.st.stream_bytes = c.pos;
		*ret_stats = c.st;
	}
	return 0;
}
