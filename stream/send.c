/*
 * thinsnap_send: a committed snapshot as a stream. The block runs come from the pool's
 * metadata (pool/delta.c): every mapped run, or the runs that differ from a committed
 * ancestor; their contents are read from the snapshot's thin device, activated read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <thinsnap/stream.h>

#include "base/crc32c.h"
#include "base/fileio.h"
#include "base/version.h"
#include "pool/delta.h"
#include "snap/internal.h"
#include "stream/format.h"

struct sender {
	int fd;
	uint32_t running_crc;
	struct thinsnap_stream_stats st;
};

static int emit(struct sender *w, const struct chunk *c, const void *payload,
		struct thinsnap_error *reterr)
{
	uint8_t h[CHUNK_HEADER_SIZE];
	int r;

	thinsnap_stream_chunk_encode(c, h);
	if (c->type != CHUNK_END)
		w->running_crc = thinsnap_crc32c(w->running_crc, h, sizeof(h));
	if (payload) { /* header and payload in one call, the rest (if short) after it */
		struct iovec iov[2] = { { h, sizeof(h) }, { (void *)payload, c->length } };
		ssize_t n = writev(w->fd, iov, 2);
		size_t done = n < 0 ? 0 : (size_t)n;

		r = n < 0 && errno != EINTR ? -errno : 0;
		if (r == 0 && done < sizeof(h))
			r = thinsnap_write_all(w->fd, h + done, sizeof(h) - done);
		done = done > sizeof(h) ? done - sizeof(h) : 0;
		if (r == 0 && done < c->length)
			r = thinsnap_write_all(w->fd, (const uint8_t *)payload + done,
					       c->length - done);
	} else {
		r = thinsnap_write_all(w->fd, h, sizeof(h));
	}
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "writing the stream: %s", strerror(-r));
	w->st.stream_bytes += sizeof(h) + (payload ? c->length : 0);
	w->st.chunks++;
	return 0;
}

/* Sends the data run [off, end) of the device open as dev, in chunks of CHUNK_DATA_SEND. */
static int send_data(struct sender *w, int dev, uint8_t *buf, uint64_t off, uint64_t end,
		     struct thinsnap_error *reterr)
{
	while (off < end) {
		size_t n = end - off < CHUNK_DATA_SEND ? (size_t)(end - off) : CHUNK_DATA_SEND;
		ssize_t k = pread(dev, buf, n, (off_t)off);
		struct chunk c = { .type = CHUNK_DATA, .offset = off, .length = n };
		int r;

		if (k < 0 && errno == EINTR)
			continue;
		if (k != (ssize_t)n)
			return thinsnap_error_setf(reterr, k < 0 ? -errno : -EIO,
						   "reading the snapshot at byte %llu: %s",
						   (unsigned long long)off,
						   k < 0 ? strerror(errno) : "short read");
		c.crc = thinsnap_crc32c(0, buf, n);
		r = emit(w, &c, buf, reterr);
		if (r < 0)
			return r;
		w->st.data_bytes += n;
		off += n;
	}
	return 0;
}

/* Whether committed anc is name's entry or one of its ancestors. */
static bool is_ancestor(struct thinsnap_meta *m, const struct thinsnap_meta_snap *e,
			const struct thinsnap_meta_snap *anc)
{
	while (e) {
		if (e == anc)
			return true;
		e = e->parent ? thinsnap_meta_get(m, e->parent) : NULL;
	}
	return false;
}

/* Unlinks pin (under the write lock); the last pin of its device deactivates it if any had to. */
static int unpin(struct thinsnap_snapshotter *s, struct snap_pin *pin, const char *dm,
		 struct thinsnap_error *reterr)
{
	struct snap_pin **pp = &s->pins, *other = NULL;

	while (*pp != pin)
		pp = &(*pp)->next;
	*pp = pin->next;
	for (struct snap_pin *q = s->pins; q && !other; q = q->next)
		if (q->dev_id == pin->dev_id)
			other = q;
	if (other) {
		other->deactivate |= pin->deactivate;
		return 0;
	}
	return pin->deactivate ? thinsnap_pool_deactivate_thin(s->pool, dm, reterr) : 0;
}

/*
 * Under the write lock: checks name (and base), finds the block runs, encodes the header and
 * opens the device, read-only, activating it if it is not; then pins the snapshot so that the
 * blocks can be read without the lock.
 */
static int send_setup(struct thinsnap_snapshotter *s, const char *name,
		      const struct thinsnap_send_opts *opts, struct snap_pin *pin,
		      char dm[static THINSNAP_POOL_DM_NAME_MAX + 1], struct thinsnap_buf *hb,
		      struct stream_header *h, struct thinsnap_pool_delta_range **ret_ranges,
		      size_t *ret_n_ranges, int *ret_dev, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	CLEANUP_FREE struct thinsnap_pool_delta_range *ranges = NULL;
	CLEANUP_FREE struct stream_label *labels = NULL;
	CLEANUP_CLOSE int dev = -EBADF;
	const struct thinsnap_meta_snap *e, *b = NULL;
	struct thinsnap_pool_thin_info ti = { 0 };
	char path[THINSNAP_POOL_DM_NAME_MAX + 32], kb[80];
	size_t n_ranges = 0;
	uint32_t block_sectors = 0;
	int r;

	r = thinsnap_snap_write_lookup(s, name, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind != THINSNAP_META_COMMITTED)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "snapshot '%s' is not committed: only committed "
					   "snapshots can be sent",
					   thinsnap_snap_shown(name, kb));
	if (thinsnap_meta_uid_is_null(e->uid))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "snapshot '%s' was committed without a unique id "
					   "(by an older thinsnap): it cannot be sent",
					   thinsnap_snap_shown(name, kb));
	if (opts->base) {
		b = thinsnap_meta_get(s->meta, opts->base);
		if (!b)
			return thinsnap_error_setf(reterr, -ENOENT, "base '%s' not found",
						   thinsnap_snap_shown(opts->base, kb));
		if (b->kind != THINSNAP_META_COMMITTED || thinsnap_meta_uid_is_null(b->uid) ||
		    b == e || !is_ancestor(s->meta, e, b))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "base '%s' is not a committed ancestor of '%s' "
						   "with a unique id",
						   thinsnap_snap_shown(opts->base, kb), name);
	}

	r = thinsnap_pool_delta(s->pool, b ? b->dev_id : THINSNAP_POOL_DELTA_WHOLE, e->dev_id,
				&ranges, &n_ranges, &block_sectors, reterr);
	if (r < 0)
		return r;

	*h = (struct stream_header){ .flags = b ? STREAM_F_INCREMENTAL : 0,
				     .block_bytes = block_sectors * 512u,
				     .size_bytes = e->size_bytes,
				     .created_ns = now_ns(),
				     .fs_type = (char *)e->fs_type,
				     .name = (char *)e->key,
				     .n_labels = e->n_labels };
	memcpy(h->id, e->uid, STREAM_ID_SIZE);
	if (b)
		memcpy(h->base_id, b->uid, STREAM_ID_SIZE);
	if (e->n_labels) {
		labels = calloc(e->n_labels, sizeof(*labels));
		if (!labels)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		for (size_t i = 0; i < e->n_labels; i++)
			labels[i] = (struct stream_label){ (char *)e->labels[i].key,
							   (char *)e->labels[i].value };
		h->labels = labels;
	}
	/* clip the runs to the device and count the data the stream carries */
	for (size_t i = 0; i < n_ranges; i++) {
		uint64_t off = ranges[i].begin * h->block_bytes;
		uint64_t end = off + ranges[i].length * h->block_bytes;
		if (end > e->size_bytes)
			end = e->size_bytes;
		if (ranges[i].kind == THINSNAP_POOL_DELTA_DATA && off < end)
			h->data_bytes += end - off;
	}
	/* the header is encoded here, while the journal's strings it borrows are safe */
	r = thinsnap_stream_header_encode(h, hb);
	h->fs_type = h->name = NULL;
	h->labels = NULL;
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "stream header: %s",
					   r == -ENOMEM ? "out of memory" : "labels too large");

	/* the snapshot's device, read-only, unless it is active already */
	thinsnap_snap_dm_name_of(s, e, dm);
	(void)thinsnap_pool_dev_path(dm, path, sizeof(path));
	r = thinsnap_pool_thin_info(s->pool, dm, &ti, reterr);
	if (r < 0)
		return r;
	/* a committed snapshot's device is active only while it is sent: one left active and
	 * unopened (a send killed part-way) is taken over, and deactivated at the end */
	*pin = (struct snap_pin){ .dev_id = e->dev_id,
				  .deactivate = (!ti.exists || ti.open_count == 0) &&
						(ti.exists || h->data_bytes) };
	if (!ti.exists && h->data_bytes) {
		r = thinsnap_pool_activate_thin(s->pool, e->dev_id, dm, e->size_bytes, true,
						reterr);
		if (r < 0)
			return r;
	}
	if (h->data_bytes) {
		/* direct reads of whole chunks: no copy through the page cache */
		dev = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (dev < 0)
			r = thinsnap_error_setf(reterr, -errno, "opening '%s': %s", path,
						strerror(errno));
	}
	pin->next = s->pins;
	s->pins = pin;
	if (r < 0) {
		(void)unpin(s, pin, dm, NULL);
		return r;
	}
	*ret_ranges = TAKE_PTR(ranges);
	*ret_n_ranges = n_ranges;
	*ret_dev = TAKE_FD(dev);
	return 0;
}

int thinsnap_send(struct thinsnap_snapshotter *s, const char *name, int fd,
		  const struct thinsnap_send_opts *opts, struct thinsnap_stream_stats *ret_stats,
		  struct thinsnap_error *reterr)
{
	CLEANUP_FREE struct thinsnap_pool_delta_range *ranges = NULL;
	CLEANUP_FREE uint8_t *buf = NULL;
	CLEANUP_CLOSE int dev = -EBADF;
	struct thinsnap_buf hb = { 0 };
	struct stream_header h = { 0 };
	struct snap_pin pin = { 0 };
	struct sender w = { .fd = fd };
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1];
	size_t n_ranges = 0;
	int r;

	if (!opts || fd < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "send: missing argument");
	r = thinsnap_version_check(opts->version, THINSNAP_SEND_OPTS_VERSION, "thinsnap_send_opts",
				   reterr);
	if (r < 0)
		return r;
	if ((r = thinsnap_snap_check_key("name", name, reterr)) < 0 ||
	    (opts->base && (r = thinsnap_snap_check_key("base", opts->base, reterr)) < 0))
		return r;
	r = send_setup(s, name, opts, &pin, dm, &hb, &h, &ranges, &n_ranges, &dev, reterr);
	if (r < 0) {
		thinsnap_buf_free(&hb);
		return r;
	}

	/* the stream itself, without the write lock: the pin keeps the snapshot and its device */
	w.running_crc = thinsnap_crc32c(0, hb.p, hb.len);
	r = thinsnap_write_all(fd, hb.p, hb.len);
	w.st.stream_bytes += hb.len;
	thinsnap_buf_free(&hb);
	if (r < 0)
		r = thinsnap_error_setf(reterr, r, "writing the stream: %s", strerror(-r));
	if (r >= 0 && h.data_bytes && posix_memalign((void **)&buf, 4096, CHUNK_DATA_SEND) != 0) {
		buf = NULL;
		r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; r >= 0 && i < n_ranges; i++) {
		uint64_t off = ranges[i].begin * h.block_bytes;
		uint64_t end = off + ranges[i].length * h.block_bytes;
		if (end > h.size_bytes)
			end = h.size_bytes;
		if (off >= end)
			continue;
		if (ranges[i].kind == THINSNAP_POOL_DELTA_DATA) {
			r = send_data(&w, dev, buf, off, end, reterr);
		} else {
			struct chunk c = { .type = CHUNK_HOLE, .offset = off, .length = end - off };
			r = emit(&w, &c, NULL, reterr);
			w.st.hole_bytes += end - off;
		}
	}
	if (dev >= 0)
		(void)close(TAKE_FD(dev));
	{
		CLEANUP_UNLOCK pthread_mutex_t *locked = lock_writes(s);
		int r2 = unpin(s, &pin, dm, r < 0 ? NULL : reterr);
		if (r >= 0)
			r = r2;
	}
	if (r < 0)
		return r;
	struct chunk end = { .type = CHUNK_END,
			     .offset = w.st.chunks,
			     .length = w.st.data_bytes,
			     .crc = w.running_crc };
	r = emit(&w, &end, NULL, reterr);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = w.st;
	return 0;
}
